"""--kms-key: the key policy decides the kms: requirements together with the role's own permissions.

A key policy that does not let IAM policies decide fails every kms: call whatever the role holds;
one that names the role grants on its own (an explicit deny, the boundary or an SCP still block).
No simulation sees key policies, so without --kms-key the header only names them as unseen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.suite_run import DEMO_ACCOUNT, DUMMY_CREDENTIALS, run_suite
from tests.system.review.test_never_a_false_pass import ROLE, FakeBackend, requirement_set, result
from verification.backends import RoleRef
from verification.endpoint import Endpoint, start_endpoint
from verification.errors import CheckError, InputError
from verification.requirements import Requirement, load_requirement_set
from verification.scope.catalogue import key_policy_governs
from verification.verdicts import KmsKey, Verdict, gather, judge

ACCOUNT = "123456789012"
KEY = KmsKey.parse(f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab")
CREATE_GRANT = Requirement("permission:kms:CreateGrant", "permission", "s", "critical", action="kms:CreateGrant")


def key_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def grant(principal: str, effect: str = "Allow", **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Principal": {"AWS": principal}, "Action": "kms:*", "Resource": "*", **extra}


DELEGATES = key_policy(grant(f"arn:aws:iam::{ACCOUNT}:root"))  # AWS's default key policy
NAMES_ROLE = key_policy(grant(ROLE))
NAMES_OTHERS = key_policy(grant(f"arn:aws:iam::{ACCOUNT}:role/KeyAdmin"))


class KeyBackend(FakeBackend):
    def __init__(self, identity: str, policy: Mapping[str, Any] | Exception, **extra: Any) -> None:
        super().__init__([result(identity, "kms:CreateGrant", **extra)])
        self.policy = policy

    def get_key_policy(self, key_arn: str, *, evidence_key: str) -> Mapping[str, Any]:
        assert key_arn == KEY.arn
        if isinstance(self.policy, Exception):
            raise self.policy
        return self.policy


def verdict(identity: str, policy: Mapping[str, Any] | Exception, **extra: Any) -> Verdict:
    facts = gather(KeyBackend(identity, policy, **extra), RoleRef.parse(ROLE), requirement_set(CREATE_GRANT), None, KEY)
    return judge(CREATE_GRANT, facts, None)


def test_a_key_policy_that_names_neither_the_role_nor_iam_fails_whatever_the_role_holds() -> None:
    got = verdict("allowed", NAMES_OTHERS)
    assert (got.met, got.cause) == (False, "key-policy")
    assert (
        got.reason
        == f"not allowed by the key policy of {KEY.arn}: it neither names the role nor delegates to IAM policies"
    )


def test_a_key_policy_that_delegates_to_iam_leaves_the_decision_to_the_role() -> None:
    assert verdict("allowed", DELEGATES).met
    denied = verdict("implicitDeny", DELEGATES)
    assert (denied.met, denied.cause) == (False, "implicit-deny")


def test_a_key_policy_that_names_the_role_grants_on_its_own() -> None:
    got = verdict("implicitDeny", NAMES_ROLE)
    assert got.met and got.reason == f"allowed by the key policy of {KEY.arn}, which names the role"


def test_the_boundary_still_blocks_where_the_key_policy_names_the_role() -> None:
    got = verdict("implicitDeny", NAMES_ROLE, PermissionsBoundaryDecisionDetail={"AllowedByPermissionsBoundary": False})
    assert (got.met, got.cause) == (False, "boundary")


def test_a_deny_in_the_key_policy_fails() -> None:
    policy = key_policy(grant(f"arn:aws:iam::{ACCOUNT}:root"), grant(ROLE, "Deny"))
    got = verdict("allowed", policy)
    assert (got.met, got.cause) == (False, "explicit-deny") and "key policy" in got.reason


def test_a_key_policy_that_could_not_be_read_is_broken() -> None:
    with pytest.raises(CheckError, match="could not check: GetKeyPolicy: access denied"):
        verdict("allowed", CheckError("GetKeyPolicy: access denied to the verifying identity"))


def test_requirements_without_kms_actions_never_read_the_key() -> None:
    other = Requirement("permission:s3:GetObject", "permission", "s", "critical", action="s3:GetObject")
    backend = KeyBackend("allowed", AssertionError("read"))
    facts = gather(backend, RoleRef.parse(ROLE), requirement_set(other), None, KEY)
    assert facts.kms_key is None and "kms-key" not in facts.errors


@pytest.mark.parametrize("value", ["alias/backup", f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/backup", "1234abcd"])
def test_a_key_is_named_by_its_arn(value: str) -> None:
    with pytest.raises(InputError, match="is not a KMS key ARN"):
        KmsKey.parse(value)


# --- live, through the local endpoint: moto's KMS holds the key ---------------------------------


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    with start_endpoint(0, seed=json.loads(DEMO_ACCOUNT.read_text())) as running:
        yield running


def create_key(endpoint: Endpoint, policy: Mapping[str, Any]) -> str:
    kms = boto3.client(
        "kms",
        endpoint_url=endpoint.url,
        region_name="eu-west-1",
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    arn: str = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"]
    return arn


WORKER = f"arn:aws:iam::{ACCOUNT}:role/VeeamFLRWorker"


@pytest.mark.parametrize(("policy", "kms_fails"), [(NAMES_OTHERS, True), (DELEGATES, False)], ids=["own", "delegates"])
def test_the_compliant_worker_with_a_key_that_does_or_does_not_let_iam_decide(
    endpoint: Endpoint, tmp_path: Path, policy: dict[str, Any], kms_fails: bool
) -> None:
    key = create_key(endpoint, policy)
    run = run_suite(
        ["--role-arn", WORKER, "--endpoint-url", endpoint.url, "--kms-key", key, f"--alluredir={tmp_path / 'a'}"],
        tmp_path,
    )
    # kms:ListKeys and the like are governed by no key policy (#26): IAM alone judges them.
    kms = {
        f"permission:{a}"
        for a in load_requirement_set("veeam-flr-worker-prod").actions
        if a.startswith("kms:") and key_policy_governs(a)
    }
    assert kms and len(kms) < sum(
        1 for a in load_requirement_set("veeam-flr-worker-prod").actions if a.startswith("kms:")
    )
    outcomes = {test_id.split("-", 1)[1]: o for test_id, o in run.of_role(f"{ACCOUNT}/VeeamFLRWorker").items()}
    failed = {rid for rid, o in outcomes.items() if o.status == "failed"}
    assert failed == (kms if kms_fails else set()), run.summary()
    if kms_fails:
        assert all("not allowed by the key policy" in outcomes[rid].message for rid in kms)
    assert run.returncode == (1 if kms_fails else 0), run.summary()
