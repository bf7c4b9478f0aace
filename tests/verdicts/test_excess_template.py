"""Excess before deployment: a CloudFormation template's role, weighed in every account it may be."""

from __future__ import annotations

from pathlib import Path

from tests.support.templates import PROFILE, SMALL, backend, document, grant, template, worker
from verification.requirements.risk import risk_table
from verification.verdicts import Scope, gather
from verification.verdicts.excess import excess_for


def test_a_templates_extra_grant_is_found_and_a_parameter_that_may_widen_it_counts(tmp_path: Path) -> None:
    either = {"Fn::If": ["Wide", "iam:PutRolePolicy", "ec2:DescribeVolumes"]}
    policies = [
        {"PolicyName": "page", "PolicyDocument": document(grant("ec2:CreateTags", "ec2:DescribeInstances"))},
        {
            "PolicyName": "extra",
            "PolicyDocument": document({"Effect": "Allow", "Action": either, "Resource": "*"}),
        },
    ]
    path = template(
        tmp_path,
        {"Worker": worker(Policies=policies), "Profile": PROFILE},
        Parameters={"Mode": {"Type": "String", "AllowedValues": ["wide", "narrow"]}},
        Conditions={"Wide": {"Fn::Equals": [{"Ref": "Mode"}, "wide"]}},
    )
    made = backend(path)
    [ref] = made.select(())
    facts = gather(made, ref, SMALL, None)
    excess = excess_for(made, facts, SMALL, Scope())
    assert excess.examined == risk_table().groups and not excess.error
    # Either account the file may deploy: the narrow one holds a read, the wide one iam:PutRolePolicy.
    assert [(a.action, a.group) for a in excess.actions] == [
        ("iam:PutRolePolicy", "privilege-escalation"),
        ("ec2:DescribeVolumes", "read"),
    ]


def test_a_template_made_exactly_from_the_set_holds_nothing_more(tmp_path: Path) -> None:
    made = backend(template(tmp_path, {"Worker": worker(), "Profile": PROFILE}))
    [ref] = made.select(())
    excess = excess_for(made, gather(made, ref, SMALL, None), SMALL, Scope())
    assert excess.actions == () and excess.examined == risk_table().groups
