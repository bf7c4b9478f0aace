"""Terraform plans: after and after_unknown, links through configuration references, plan-level faults."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.backends.template.test_cloudformation import tally
from tests.support.templates import ACCOUNT, FLR, PLAN_KNOWN, PLAN_UNKNOWNS, backend, outcomes
from verification.errors import InputError


@pytest.fixture(scope="module")
def known() -> dict[str, dict[str, tuple[str, str]]]:
    return outcomes(backend(PLAN_KNOWN, account=ACCOUNT), FLR)


@pytest.fixture(scope="module")
def unknowns() -> dict[str, dict[str, tuple[str, str]]]:
    return outcomes(backend(PLAN_UNKNOWNS, account=ACCOUNT), FLR)


def test_the_compliant_role_of_a_known_plan_passes(known: Any) -> None:
    assert tally(known["plan.json/aws_iam_role.worker"]) == {"passed": 85}


def test_the_broken_role_of_a_known_plan_fails_as_offline(known: Any) -> None:
    per = known["plan.json/aws_iam_role.denied"]
    assert tally(per) == {"passed": 73, "failed": 12}
    assert per["permission:ec2:DeleteVolume"] == ("failed", "explicitly denied by no-deletes (lines 3-12)")
    # The boundary's ARN is known only after apply: the configuration's reference names its policy.
    assert per["permission:sqs:SendMessage"][0] == "passed"
    assert per["permission:kms:ListKeys"] == (
        "failed",
        f"not allowed by the permissions boundary arn:aws:iam::{ACCOUNT}:policy/VeeamFLRWorkerTfBoundary",
    )
    assert per["instance-profile"] == ("failed", "not in any instance profile")


def test_an_exclusive_attachment_set_in_another_account_is_not_assumed() -> None:
    """The exclusive set names a policy ARN in 123456789012: without --account it may be another policy.
    https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_role_policy_attachments_exclusive"""
    per = outcomes(backend(PLAN_KNOWN), FLR, roles=("aws_iam_role.worker",))["plan.json/aws_iam_role.worker"]
    assert per["permission:ec2:CreateTags"][0] == "passed"  # granted inline, not by the exclusive set
    outcome, message = per["permission:kms:CreateGrant"]
    assert outcome == "broken"
    assert "aws_iam_role_policy_attachments_exclusive.worker" in message


def test_name_prefix_roles_are_linked_through_configuration_references(unknowns: Any) -> None:
    per = unknowns["plan.json/aws_iam_role.worker"]
    assert tally(per) == {"passed": 85}
    assert per["instance-profile"] == ("passed", "in instance profile(s): aws_iam_instance_profile.worker")


def test_a_policy_known_only_after_apply_is_broken_and_named(unknowns: Any) -> None:
    per = unknowns["plan.json/aws_iam_role.guarded"]
    assert tally(per) == {"passed": 3, "broken": 82}
    message = per["permission:ec2:CreateTags"][1]
    assert "resource_changes[11].change.after.policy (aws_iam_role_policy.guarded_logs)" in message
    assert "(it reads data.aws_iam_policy_document.logs_guard)" in message


def test_a_boundary_known_only_after_apply_is_broken(unknowns: Any) -> None:
    per = unknowns["plan.json/aws_iam_role.bounded"]
    assert tally(per) == {"passed": 3, "broken": 82}
    assert "aws_iam_policy.bucket_boundary.policy is known only after apply" in per["permission:ec2:CreateTags"][1]


def _plan(tmp_path: Path, change: Any) -> Path:
    data = json.loads(PLAN_KNOWN.read_text())
    change(data)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    return path


def test_an_incomplete_or_errored_plan_is_read_with_a_warning(tmp_path: Path) -> None:
    def partial(data: dict[str, Any]) -> None:
        data["complete"] = False
        data["errored"] = True

    path = _plan(tmp_path, partial)
    assert backend(path, account=ACCOUNT).warnings == [
        f"plan {path}: complete is false: applying it leaves more to plan; verdicts cover only this plan",
        f"plan {path}: errored is true: the plan stopped on an error and may be partial",
    ]


def test_a_newer_major_format_is_refused_in_one_line(tmp_path: Path) -> None:
    path = _plan(tmp_path, lambda data: data.update(format_version="2.0"))
    with pytest.raises(InputError) as caught:
        backend(path)
    assert str(caught.value) == f"plan {path}: format_version 2.0 is not supported: this reader knows 0.1, 0.2 and 1.x"


def test_a_deleted_role_is_not_verified(tmp_path: Path) -> None:
    def delete(data: dict[str, Any]) -> None:
        for change in data["resource_changes"]:
            if change["address"] == "aws_iam_role.denied":
                change["change"] = {**copy.deepcopy(change["change"]), "actions": ["delete"], "after": None}

    assert backend(_plan(tmp_path, delete)).role_keys() == ["aws_iam_role.worker"]


# -- exclusive management and count/for_each instances (tests/backends/template/data/terraform/exclusive) --------
# Made by `terraform plan` with hashicorp/aws 5.100.0 from main.tf beside it; each case cites the
# provider's documentation of the resource it applies.

PLAN_EXCLUSIVE = PLAN_KNOWN.parent.parent / "exclusive" / "plan.json"


@pytest.fixture(scope="module")
def exclusive() -> dict[str, dict[str, tuple[str, str]]]:
    return outcomes(backend(PLAN_EXCLUSIVE, account=ACCOUNT))


def _permissions(per: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    return {k: v for k, v in per.items() if k.startswith("permission:")}


def test_a_deny_on_one_for_each_instance_leaves_its_sibling_alone(exclusive: Any) -> None:
    """`role = aws_iam_role.each[each.key].name` on a for_each over ["a"]: only TfEach-a gets the Deny.
    https://developer.hashicorp.com/terraform/language/meta-arguments/for_each"""
    assert exclusive['plan.json/aws_iam_role.each["a"]']["permission:ec2:CreateTags"] == (
        "failed",
        "explicitly denied by deny-tags (lines 3-8)",
    )
    assert set(_permissions(exclusive['plan.json/aws_iam_role.each["b"]']).values()) == {
        ("passed", "allowed by grant (lines 3-11)")
    }


def test_a_deny_on_one_count_instance_leaves_its_sibling_alone(exclusive: Any) -> None:
    """`role = aws_iam_role.counted[0].name`: the configuration's reference names instance 0 only.
    https://developer.hashicorp.com/terraform/language/meta-arguments/count"""
    assert exclusive["plan.json/aws_iam_role.counted[0]"]["permission:ec2:CreateTags"] == (
        "failed",
        "explicitly denied by TfDenyTags (lines 2-7)",
    )
    assert set(_permissions(exclusive["plan.json/aws_iam_role.counted[1]"]).values()) == {
        ("passed", "allowed by TfGrant (lines 2-10)")
    }


def test_managed_policy_arns_detaches_what_it_does_not_list(exclusive: Any) -> None:
    """aws_iam_role `managed_policy_arns = []`: "Terraform will align the role's managed policy
    attachments with this set", so the grant attached beside it may be gone.
    https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_role"""
    for outcome, message in _permissions(exclusive["plan.json/aws_iam_role.managed_list"]).values():
        assert outcome == "broken"
        assert (
            "(aws_iam_role_policy_attachment.managed_list_grant) (aws_iam_role.managed_list.managed_policy_arns "
            "manages the role's managed policies exclusively and does not list it" in message
        )


def test_a_policy_list_known_after_apply_may_hold_more_than_its_references(exclusive: Any) -> None:
    """`managed_policy_arns = [aws_iam_policy.grant.arn, "arn:aws:iam::aws:policy/AWSDenyAll"]`: the plan
    shows the reference only, never the literal ARN beside it, so neither role passes on the plan alone.
    https://developer.hashicorp.com/terraform/internals/json-format (expression representation)"""
    for role in ("managed_listed", "managed_mixed"):
        for outcome, message in _permissions(exclusive[f"plan.json/aws_iam_role.{role}"]).values():
            assert outcome == "broken"
            assert (
                f"aws_iam_role.{role}.managed_policy_arns is known only after apply, and the plan shows only the "
                "policies it refers to, not ARNs written literally beside them" in message
            )
            assert message.endswith("write the list so it is known at plan time, or verify the applied role")


def test_an_empty_inline_policy_block_removes_the_other_inline_policies(exclusive: Any) -> None:
    """aws_iam_role `inline_policy {}`: every inline policy it does not declare is removed.
    https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_role"""
    for outcome, message in _permissions(exclusive["plan.json/aws_iam_role.inline_blocks"]).values():
        assert outcome == "broken"
        assert (
            "(aws_iam_role_policy.inline_blocks_grant) (aws_iam_role.inline_blocks.inline_policy manages the "
            "role's inline policies exclusively and does not name it" in message
        )


def test_role_policies_exclusive_removes_the_inline_policies_it_does_not_name(exclusive: Any) -> None:
    """aws_iam_role_policies_exclusive names "grant", not "deny-tags": the Deny may be deleted on
    apply, so CreateTags is undecided; the named grant stands.
    https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_role_policies_exclusive"""
    per = exclusive["plan.json/aws_iam_role.policies_exclusive"]
    assert per["permission:ec2:DescribeInstances"] == ("passed", "allowed by grant (lines 3-11)")
    outcome, message = per["permission:ec2:CreateTags"]
    assert outcome == "broken"
    assert (
        "(aws_iam_role_policy.policies_exclusive_deny) (aws_iam_role_policies_exclusive.policies_exclusive "
        "manages the role's inline policies exclusively and does not name it" in message
    )


def test_policy_attachment_revokes_the_policy_from_roles_it_does_not_list(exclusive: Any) -> None:
    """aws_iam_policy_attachment: "all of the users/roles/groups to which a single policy is attached
    must be declared by a single aws_iam_policy_attachment resource".
    https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_policy_attachment"""
    assert set(_permissions(exclusive["plan.json/aws_iam_role.listed"]).values()) == {
        ("passed", "allowed by TfSharedGrant (lines 2-10)")
    }
    for outcome, message in _permissions(exclusive["plan.json/aws_iam_role.shared"]).values():
        assert outcome == "broken"
        assert (
            f"aws_iam_policy_attachment.grant_everywhere attaches arn:aws:iam::{ACCOUNT}:policy/TfSharedGrant "
            "exclusively to the roles, users and groups it lists, not this role: apply revokes it here" in message
        )
