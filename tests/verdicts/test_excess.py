"""Excess offline: the engine over a snapshot's roles finds what each holds beyond the FLR page, ranked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.excess_accounts import FLR, account, role_arn
from verification.backends import RoleRef, create_backend
from verification.backends.snapshot import SnapshotBackend
from verification.requirements import load_requirement_set
from verification.requirements.risk import risk_table
from verification.scope.catalogue import has_action
from verification.verdicts import Scope, gather
from verification.verdicts.excess import Excess, check_narrower, excess_for, narrower_note


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> SnapshotBackend:
    path = tmp_path_factory.mktemp("excess") / "account.json"
    path.write_text(json.dumps(account()))
    made = create_backend("snapshot", snapshot=path)
    assert isinstance(made, SnapshotBackend)
    return made


def excess_of(backend: SnapshotBackend, name: str) -> Excess:
    ref = RoleRef.parse(role_arn(name))
    facts = gather(backend, ref, FLR, None, scope=Scope())
    return excess_for(backend, facts, FLR, Scope())


def test_a_role_made_exactly_from_the_page_holds_nothing_more(backend: SnapshotBackend) -> None:
    excess = excess_of(backend, "Exact")
    assert excess.actions == () and not excess.error
    assert excess.examined == risk_table().groups  # every group looked at, none holds anything
    assert excess.candidates == 0  # nothing but documented actions in its Allows: the engine is not asked


def test_administrator_access_is_excess_in_every_group_escalation_first(backend: SnapshotBackend) -> None:
    excess = excess_of(backend, "Admin")
    counts = excess.counts()
    assert all(counts[group] > 0 for group in risk_table().groups), counts
    assert excess.actions[0].group == "privilege-escalation"
    escalation = {a.action for a in excess.group("privilege-escalation")}
    assert {
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:CreatePolicyVersion",
        "lambda:UpdateFunctionCode",
    } <= escalation
    assert {"s3:GetObject", "secretsmanager:GetSecretValue", "dynamodb:GetItem"} <= {
        a.action for a in excess.group("data-access")
    }
    assert "s3:PutBucketPolicy" in {a.action for a in excess.group("resource-exposure")}
    # Nothing the page requires is ever excess.
    assert not {a.action.lower() for a in excess.actions} & {a.lower() for a in FLR.actions}


def test_administrator_access_under_a_boundary_of_the_documented_actions_has_none(backend: SnapshotBackend) -> None:
    excess = excess_of(backend, "AdminBounded")
    assert excess.actions == () and excess.examined == risk_table().groups


def test_administrator_access_with_iam_denied_escalates_no_more_through_iam(backend: SnapshotBackend) -> None:
    excess = excess_of(backend, "AdminNoIam")
    escalation = [a.action for a in excess.group("privilege-escalation")]
    assert escalation and not [a for a in escalation if a.startswith("iam:")]
    # iam:PassRole is denied, so PassRole pairs (cloudformation:CreateStack...) are no escalation either.
    assert "cloudformation:CreateStack" not in escalation
    assert "lambda:UpdateFunctionCode" in escalation
    assert {"s3:GetObject", "kms:Decrypt"} <= {a.action for a in excess.group("data-access")}
    assert not [a for a in excess.actions if a.action.startswith("iam:")]


def test_an_extra_get_object_on_one_bucket_is_data_access(backend: SnapshotBackend) -> None:
    excess = excess_of(backend, "ExtraGetObject")
    [item] = excess.actions
    assert (item.action, item.group) == ("s3:GetObject", "data-access")
    assert item.resources == ("arn:aws:s3:::backups-bucket/example",)  # the role's own Resource, made concrete


def test_an_extra_put_role_policy_is_privilege_escalation(backend: SnapshotBackend) -> None:
    excess = excess_of(backend, "ExtraPutRolePolicy")
    [item] = excess.actions
    assert (item.action, item.group, item.resources) == ("iam:PutRolePolicy", "privilege-escalation", ("*",))
    assert "rhino" in item.why
    assert excess.names("privilege-escalation") == "iam:PutRolePolicy"


def test_the_flr_pages_passrole_gets_a_checked_narrower_statement() -> None:
    ref = RoleRef.parse(role_arn("Exact"))
    passrole = FLR.by_id("permission:iam:PassRole")
    note = narrower_note(passrole, FLR, ref, "us-east-1")
    assert note.startswith(f"required by {FLR.source_url}, but risky:")
    narrower = {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": role_arn("Exact"),
        "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
    }
    assert f"narrower and still sufficient: {json.dumps(narrower, separators=(',', ':'))}" in note
    assert "checked by the policy engine" in note
    # Not required on * by another requirement: no note.
    assert narrower_note(FLR.by_id("permission:ec2:DescribeInstances"), FLR, ref, "us-east-1") == ""


def test_a_narrower_statement_that_fails_its_check_is_never_offered() -> None:
    ref = RoleRef.parse(role_arn("Exact"))
    entry = risk_table().narrower["iam:passrole"]
    assert check_narrower(entry, ref, "us-east-1").holds
    wrong_service = dict(entry.statement, Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}})
    broken = type(entry)(**{**entry.__dict__, "statement": wrong_service})
    checked = check_narrower(broken, ref, "us-east-1")
    assert not checked.sufficient and "does not allow iam:PassRole" in checked.failures[0]
    too_wide = type(entry)(
        **{**entry.__dict__, "statement": {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}}
    )
    assert not check_narrower(too_wide, ref, "us-east-1").narrower


def test_the_risk_table_names_real_actions_and_cites_every_source() -> None:
    table = risk_table()
    for action in table.high_risk_actions():
        assert has_action(action), action
    for entry in table.narrower.values():
        assert has_action(entry.action)
    assert all(url.startswith("https://") for _, url in table.sources.values())
    assert "ssm:sendcommand" in table.escalation and ("iam:passrole", "ec2:runinstances") in [p for p, _ in table.pairs]


def test_a_required_escalation_without_a_narrower_statement_is_named_and_none_is_offered() -> None:
    ref = RoleRef.parse(role_arn("Exact"))
    impersonation = load_requirement_set("veeam-impersonation")
    note = narrower_note(impersonation.by_id("permission:sts:AssumeRole"), impersonation, ref, "us-east-1")
    assert note.startswith(f"required by {impersonation.source_url}, but risky: sts:AssumeRole on Resource * is")
    assert "holds no narrower statement for it (so none is offered)" in note
    run_instances = narrower_note(FLR.by_id("permission:ec2:RunInstances"), FLR, ref, "us-east-1")
    assert "ec2:RunInstances with iam:PassRole, also required, is a known privilege-escalation path" in run_instances


def test_an_scp_the_run_knows_takes_away_what_it_denies(tmp_path: Path) -> None:
    from verification.snapshot import Snapshot

    full = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    no_s3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    governed = SnapshotBackend(Snapshot(tmp_path / "account.json", "0" * 64, account(), scps=[[full, no_s3]]))
    assert excess_of(governed, "ExtraGetObject").actions == ()
    admin = excess_of(governed, "Admin")
    assert admin.actions and not [a for a in admin.actions if a.action.startswith("s3:")]
