"""Fleet mode: 100 roles of one account from GAAD pages, about one call per role, the same verdicts.

One account of 100 worker roles, misconfigured in every way the harness explains (a missing action,
an explicit deny, a boundary, a conditional allow, no instance profile, an AWS and a customer managed
policy, a trust without the appliance, an appliance side that is denied), is verified twice through
a counting proxy: with ``--prefetch always`` and with ``--prefetch never`` (per-role calls).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import proxy as fp
from tests.support.fleet import iam_in
from tests.support.suite_run import Outcome, SuiteRun, run_suite, start_endpoint_process, stop_process

ACCOUNT = "666666666666"
ROLES = 100
APPLIANCE = f"arn:aws:iam::{ACCOUNT}:role/VeeamImpersonation"
ACTIONS = [
    "ec2:DescribeInstances",
    "ec2:CreateVolume",
    "ec2:DeleteSnapshot",
    "ec2:CopySnapshot",
    "kms:CreateGrant",
    "sqs:SendMessage",
    "ssmmessages:CreateControlChannel",
    "iam:PassRole",
]
REQUIREMENTS = f"""
id: fleet-subset
title: FLR worker requirements, a subset for fleet mode
version: "1"
source: {{url: "https://helpcenter.veeam.com/docs/vbaws/guide/role_permissions_flr_prod.html",
          product: Veeam Backup for AWS, product_build: "10.0.0.232", page_updated: "2024-06-17"}}
epic: Veeam Backup for AWS
feature: FLR worker role (fleet)
requirements:
  - {{id: instance-profile, kind: instance-profile, story: "1. In an instance profile"}}
  - {{id: "trust:appliance", kind: trust, principal: appliance, story: "2. The appliance may assume it"}}
  - {{id: "trust:ec2.amazonaws.com", kind: trust, principal: {{Service: ec2.amazonaws.com}}, story: "3. EC2 may"}}
  - kind: permissions
    story: "4. Permissions"
    actions: [{", ".join(ACTIONS)}]
"""
#: The reads that explain a failing role's implicit denies (per-role runs only).
EXPLAINING = ("ListRolePolicies", "GetRolePolicy", "ListAttachedRolePolicies", "GetPolicy", "GetPolicyVersion")
#: Calls that are not the verification's own: reaching the account, resolving the pattern.
NOT_VERIFICATION = {"AssumeRole", "GetCallerIdentity", "ListRoles"}


def name(number: int) -> str:
    return f"Fleet{number:04d}"


def allow(actions: list[str], **extra: object) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*", **extra}]}
    )


def seed(url: str) -> None:
    """100 roles; the tenth digit of the number picks how the role is misconfigured."""
    iam = iam_in(url, ACCOUNT)
    appliance_trust = {"Effect": "Allow", "Principal": {"AWS": APPLIANCE}, "Action": "sts:AssumeRole"}
    ec2_trust = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    trust = json.dumps({"Version": "2012-10-17", "Statement": [ec2_trust, appliance_trust]})
    denied = [f"arn:aws:iam::{ACCOUNT}:role/{name(n)}" for n in range(8, ROLES, 10)]
    iam.create_role(RoleName="VeeamImpersonation", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(
        RoleName="VeeamImpersonation",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
                    {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": denied},
                ],
            }
        ),
    )
    boundary = iam.create_policy(
        PolicyName="FleetBoundary",
        PolicyDocument=allow([a for a in ACTIONS if a not in ("kms:CreateGrant", "sqs:SendMessage")]),
    )["Policy"]["Arn"]
    managed = iam.create_policy(PolicyName="FleetManaged", PolicyDocument=allow(ACTIONS))["Policy"]["Arn"]
    for number in range(ROLES):
        variant, role = number % 10, name(number)
        kwargs = {"PermissionsBoundary": boundary} if variant == 2 else {}
        role_trust = json.dumps({"Version": "2012-10-17", "Statement": [ec2_trust]}) if variant == 7 else trust
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=role_trust, **kwargs)
        if variant == 0:
            iam.put_role_policy(RoleName=role, PolicyName="worker", PolicyDocument=allow(ACTIONS[:3] + ACTIONS[4:]))
        elif variant == 1:
            iam.put_role_policy(RoleName=role, PolicyName="worker", PolicyDocument=allow(ACTIONS))
            deny = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "ec2:DeleteSnapshot", "Resource": "*"}],
            }
            iam.put_role_policy(RoleName=role, PolicyName="NoDeletes", PolicyDocument=json.dumps(deny))
        elif variant == 3:
            iam.put_role_policy(RoleName=role, PolicyName="worker", PolicyDocument=allow(ACTIONS[:-1]))
            condition = {"StringEquals": {"aws:SourceVpc": "vpc-1234"}}
            iam.put_role_policy(
                RoleName=role, PolicyName="pass", PolicyDocument=allow(["iam:PassRole"], Condition=condition)
            )
        elif variant == 5:
            iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess")
            iam.put_role_policy(RoleName=role, PolicyName="worker", PolicyDocument=allow(ACTIONS[1:]))
        elif variant == 6:
            iam.attach_role_policy(RoleName=role, PolicyArn=managed)
        else:
            iam.put_role_policy(RoleName=role, PolicyName="worker", PolicyDocument=allow(ACTIONS))
        if variant != 4:
            iam.create_instance_profile(InstanceProfileName=role)
            iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)


@dataclass
class Verified:
    """One run of the suite through the counting proxy."""

    run: SuiteRun
    calls: list[fp.Call]
    workdir: Path

    def verification_calls(self) -> Counter[str]:
        """Calls per operation that verify roles: not reaching the account, not checking fixes."""
        return Counter(
            c.action
            for c in self.calls
            if c.action not in NOT_VERIFICATION and "PolicyInputList.member.1" not in c.params
        )

    def fix_checks(self) -> int:
        return sum(1 for c in self.calls if "PolicyInputList.member.1" in c.params)


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The 100-role account on an endpoint of its own (its own process: the session's stays small), and
    the requirement subset."""
    folder = tmp_path_factory.mktemp("fleet-account")
    empty = folder / "empty.json"
    empty.write_text(json.dumps({"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}))
    (folder / "fleet-subset.yaml").write_text(REQUIREMENTS)
    process, url = start_endpoint_process(empty)
    saved = {key: os.environ.get(key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    try:
        seed(url)
        yield url, folder
    finally:
        stop_process(process)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def verify(
    account: tuple[str, Path], workdir: Path, *extra: str, pattern: str = "Fleet*", rules: list[fp.Rule] | None = None
) -> Verified:
    url, folder = account
    targets = workdir / "targets.json"
    entry = {
        "account": ACCOUNT,
        "role_name": pattern,
        "assume_role_arn": f"arn:aws:iam::{ACCOUNT}:role/RoleVerification",
        "appliance_principal": APPLIANCE,
        "requirements": str(folder / "fleet-subset.yaml"),
    }
    targets.write_text(json.dumps({"targets": [entry]}))
    with fp.FaultProxy(url, rules or []) as proxy:
        run = run_suite(
            ["--targets", str(targets), "--endpoint-url", proxy.url, f"--alluredir={workdir / 'allure'}", *extra],
            workdir,
            timeout=600,
        )
    assert run.returncode in (0, 1), run.summary()
    return Verified(run, [entry.call for entry in proxy.log], workdir)


@pytest.fixture(scope="module")
def both(account: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Verified, Verified]]:
    prefetched = verify(account, tmp_path_factory.mktemp("prefetch"), "--prefetch", "always")
    per_role = verify(account, tmp_path_factory.mktemp("per-role"), "--prefetch", "never")
    yield prefetched, per_role


def first_lines(outcomes: dict[str, Outcome]) -> dict[str, tuple[str, str]]:
    return {
        test: (o.status, o.message.strip().splitlines()[0] if o.message.strip() else "") for test, o in outcomes.items()
    }


def test_a_hundred_roles_cost_at_most_1_1_verification_calls_per_role(both: tuple[Verified, Verified]) -> None:
    prefetched, per_role = both
    calls = prefetched.verification_calls()
    assert "GetRole" not in calls and "ListInstanceProfilesForRole" not in calls, calls
    assert calls["GetAccountAuthorizationDetails"] == 1, calls
    # One per role, and the appliance side of all 100 roles in two: the ten it may not assume make the
    # top level explicitDeny, so the other 90 are asked again together (an SCP would look the same).
    # Plus GetPolicy and GetPolicyVersion of the one AWS managed policy.
    assert calls["SimulatePrincipalPolicy"] == ROLES + 2, calls
    assert sum(calls.values()) / ROLES <= 1.1, calls
    per_role_calls = per_role.verification_calls()
    explaining = {op: per_role_calls.pop(op, 0) for op in EXPLAINING}
    # Today's per-role cost, for comparison: 4 calls, --excess report's one simulation of the high-risk table,
    # and the appliance role's own GetRole (its tags, #26), once per backend the run opens, never per role.
    appliance_reads = sum(
        1 for c in per_role.calls if c.action == "GetRole" and c.params.get("RoleName") == "VeeamImpersonation"
    )
    assert 1 <= appliance_reads <= 4, appliance_reads
    assert sum(per_role_calls.values()) == 5 * ROLES + appliance_reads
    # Only roles with an implicit deny AWS leaves unexplained read their own policies (variants 0 and 3:
    # one inline policy, or two), once each: never a passing role, never in fleet mode.
    assert explaining == {
        "ListRolePolicies": 20,
        "GetRolePolicy": 30,
        "ListAttachedRolePolicies": 20,
        "GetPolicy": 0,
        "GetPolicyVersion": 0,
    }, explaining
    assert not any(calls[op] for op in EXPLAINING if op not in ("GetPolicy", "GetPolicyVersion")), calls
    assert "; 1.0" in prefetched.run.stdout or "; 1.1" in prefetched.run.stdout, prefetched.run.summary()


def test_prefetch_gives_the_same_verdicts_as_per_role_calls(both: tuple[Verified, Verified]) -> None:
    prefetched, per_role = both
    assert len(prefetched.run.outcomes) == ROLES * 11
    assert first_lines(prefetched.run.outcomes) == first_lines(per_role.run.outcomes)
    statuses = Counter(o.status for o in prefetched.run.outcomes.values())
    assert statuses["failed"] >= 8 * (ROLES // 10), statuses  # every misconfiguration shows
    reasons = "\n".join(o.message for o in prefetched.run.outcomes.values())
    for expected in (
        "implicitly denied",
        "explicitly denied by NoDeletes",
        "not allowed by the permissions boundary",
        "not in any instance profile",
        "trust policy does not allow",
        "may not assume this role",
    ):
        assert expected in reasons
    # Since #13 AWS's MissingContextValues alone does not show a conditional Allow (it lists every
    # statement's keys), so the verdict reads "implicitly denied" in both modes; the engine, which has
    # the role's policies in fleet mode, names the condition in the verdict's note.
    for number in range(3, ROLES, 10):
        (path,) = (prefetched.workdir / "reports" / "evidence").glob(f"*/roles/{ACCOUNT}_{name(number)}/verdicts.json")
        record = next(
            r for r in json.loads(path.read_text())["verdicts"] if r["requirement"] == "permission:iam:PassRole"
        )
        assert record["outcome"] == "failed" and record["reason"] == "implicitly denied: no statement allows it"
        assert record["note"].startswith(
            "the policy engine, reading the role's policies: allowed only when aws:SourceVpc is present;"
        ), record


def test_the_engine_checks_every_live_permission_answer(both: tuple[Verified, Verified]) -> None:
    prefetched, _ = both
    assert (
        f"double entry: the policy engine also decided {ROLES * len(ACTIONS)} live permission answer(s); "
        "simulator and engine disagree on 0"
    ) in prefetched.run.stdout


def test_identical_fix_checks_are_asked_once(both: tuple[Verified, Verified]) -> None:
    """The ten roles lacking ec2:CopySnapshot hold the same policy: their fix is one simulation, not ten."""
    prefetched, per_role = both
    assert per_role.fix_checks() - prefetched.fix_checks() >= 9 * 4, (per_role.fix_checks(), prefetched.fix_checks())
    assert "fix checks: " in prefetched.run.stdout
    # Which of the ten asks first depends on the threads' timing: one role holds the simulation, the
    # other nine name the identical check that answered them.
    shared = 0
    for number in range(0, ROLES, 10):
        evidence = prefetched.workdir / "reports" / "evidence"
        (path,) = evidence.glob(f"*/roles/{ACCOUNT}_{name(number)}/remediation.json")
        check = json.loads(path.read_text())["check"]
        assert check["verified"] is True and check["allowed"] == ["ec2:CopySnapshot"], check
        shared += "the identical check of" in json.dumps(check["simulations"])
    assert shared == ROLES // 10 - 1


def test_a_disagreement_follows_aws_and_is_noted(account: tuple[str, Path], tmp_path: Path) -> None:
    """A simulator that denies what the policies allow: the test fails as AWS says, with a note naming both."""
    role = name(9)
    rules = [fp.Rule("flip", fp.action("SimulatePrincipalPolicy", source=role), fp.flip_decision("ec2:CreateVolume"))]
    verified = verify(account, tmp_path, "--prefetch", "always", pattern="Fleet000*", rules=rules)
    assert verified.calls and any(c for c in verified.calls if c.params.get("PolicySourceArn", "").endswith(role))
    outcome = verified.run.outcomes[f"{ACCOUNT}/{role}-permission:ec2:CreateVolume"]
    assert outcome.status == "failed" and "implicitly denied" in outcome.message, outcome
    assert "simulator and engine disagree on 1 over 1 role(s)" in verified.run.stdout, verified.run.summary()
    notes = [path.read_text() for path in (tmp_path / "allure").glob("*-attachment*") if "disagree" in path.read_text()]
    assert len(notes) == 1, notes
    assert notes[0].startswith(
        "simulator and engine disagree: AWS's simulator says implicitDeny, the policy engine says allowed"
    )
    assert notes[0].endswith("; the verdict follows AWS"), notes
    (verdicts,) = (tmp_path / "reports" / "evidence").glob(f"*/roles/{ACCOUNT}_{role}/verdicts.json")
    record = next(
        r for r in json.loads(verdicts.read_text())["verdicts"] if r["requirement"] == "permission:ec2:CreateVolume"
    )
    assert record["outcome"] == "failed" and record["engine"]["EvalDecision"] == "allowed", record
    assert "simulator and engine disagree" in record["note"]


def test_gaad_refused_falls_back_to_per_role_calls_and_says_so_once(
    account: tuple[str, Path], both: tuple[Verified, Verified], tmp_path: Path
) -> None:
    rules = [
        fp.Rule(
            "refused",
            fp.action("GetAccountAuthorizationDetails"),
            fp.aws_error(403, "AccessDenied", "not authorized to perform: iam:GetAccountAuthorizationDetails"),
        )
    ]
    verified = verify(account, tmp_path, "--prefetch", "always", pattern="Fleet000*", rules=rules)
    calls = verified.verification_calls()
    # Ten roles, and the appliance role once (its tags: #26) as GAAD could not give it.
    assert calls["GetRole"] == 11 and calls["ListInstanceProfilesForRole"] == 10, calls
    warnings = [line for line in verified.run.stdout.splitlines() if "GetAccountAuthorizationDetails refused" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: account 666666666666"), verified.run.summary()
    expected = {t: v for t, v in first_lines(both[1].run.outcomes).items() if t.startswith(f"{ACCOUNT}/Fleet000")}
    assert first_lines(verified.run.outcomes) == expected
