"""API accounting: the calls a role costs are counted exactly, per operation and per account."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.fleet import Fleet, appliance_in, pattern_targets, run_suite
from verification.backends import RoleRef
from verification.backends.live import LiveBackend
from verification.fleet.accounting import ApiCounter
from verification.requirements import REQUIREMENTS_DIR, RequirementSet, load_requirement_set
from verification.scope.catalogue import all_actions, resource_types
from verification.scope.regions import global_region
from verification.verdicts import AppliancePrincipal, gather


def backend_for(fleet: Fleet, account: str, counter: ApiCounter) -> LiveBackend:
    return LiveBackend(
        endpoint_url=fleet.url,
        assume_role_arn=f"arn:aws:iam::{account}:role/RoleVerification",
        counter=counter,
    )


def big_set(tmp_path: Path, actions: int) -> RequirementSet:
    """The bundled set with its permissions replaced by ``actions`` distinct actions."""
    data = yaml.safe_load((REQUIREMENTS_DIR / "veeam-flr-worker-prod.yaml").read_text())
    permissions = next(item for item in data["requirements"] if item["kind"] == "permissions")
    # Real actions (a set is checked against the IAM catalogue), regional and on Resource "*" only:
    # one region, one resource, so the call count is the page count.
    real = [
        a for a in all_actions() if not resource_types(a) and not global_region(a.split(":")[0], "aws") and ":" in a
    ]
    permissions["actions"] = real[:actions]
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_requirement_set(str(path))


def test_one_role_costs_one_call_of_each_kind_and_one_appliance_simulation(fleet: Fleet) -> None:
    counter = ApiCounter()
    account = fleet.accounts[0]
    ref = RoleRef.parse(fleet.arn(account, fleet.workers[0]))
    facts = gather(
        backend_for(fleet, account, counter),
        ref,
        load_requirement_set(),
        AppliancePrincipal.parse(appliance_in(account)),
    )
    assert not facts.errors
    assert counter.as_dict()["calls"] == {
        account: {
            "iam:GetRole": 2,  # the role, and the appliance role's tags (#26): once per backend, not per role
            "iam:ListInstanceProfilesForRole": 1,
            "iam:SimulatePrincipalPolicy": 2,  # the role's actions, then the appliance side
            "sts:AssumeRole": 1,
        }
    }
    assert counter.total("attempts") == counter.total("calls") and counter.total("throttled") == 0


def test_a_thousand_action_set_is_still_one_simulation_page(fleet: Fleet, tmp_path: Path) -> None:
    counter = ApiCounter()
    account = fleet.accounts[1]
    ref = RoleRef.parse(fleet.arn(account, fleet.workers[0]))
    requirements = big_set(tmp_path, 1000)
    facts = gather(backend_for(fleet, account, counter), ref, requirements, None)
    assert not facts.errors and len(facts.simulations) == 1000
    assert counter.by_operation()["iam:SimulatePrincipalPolicy"] == 1
    # The role is denied most of the 1,000 actions: its one inline policy is read once to explain them.
    explaining = {"iam:ListRolePolicies": 1, "iam:GetRolePolicy": 1, "iam:ListAttachedRolePolicies": 1}
    assert {op: n for op, n in counter.by_operation().items() if op in explaining} == explaining
    assert sum(n for op, n in counter.by_operation().items() if op.startswith("iam:") and op not in explaining) == 3


def test_counts_are_kept_per_account(fleet: Fleet) -> None:
    counter = ApiCounter()
    for account in fleet.accounts[:3]:
        backend = backend_for(fleet, account, counter)
        for name in fleet.workers:
            backend.get_role(RoleRef.parse(fleet.arn(account, name)))
    assert counter.by_account() == {account: 4 for account in fleet.accounts[:3]}  # 3 GetRole + 1 AssumeRole
    assert counter.by_operation() == {"iam:GetRole": 9, "sts:AssumeRole": 3}


def test_worker_counts_merge_into_the_controllers() -> None:
    """What xdist workers send (as_dict) adds up on the controller, and the summary says so."""
    controller, worker_a, worker_b = ApiCounter(), ApiCounter(), ApiCounter()
    controller.add("calls", "111111111111", "iam:ListRoles")
    for worker, account in ((worker_a, "111111111111"), (worker_b, "222222222222")):
        for kind in ("calls", "attempts"):
            worker.add(kind, account, "iam:GetRole", 2)
        worker.add("attempts", account, "iam:GetRole")
        worker.add("throttled", account, "iam:GetRole")
    controller.merge(worker_a.as_dict())
    controller.merge(worker_b.as_dict())
    assert controller.by_operation() == {"iam:GetRole": 4, "iam:ListRoles": 1}
    assert controller.by_account("throttled") == {"111111111111": 1, "222222222222": 1}
    head, per_operation, per_account = controller.summary_lines(roles=2)
    assert head.startswith("API calls: 5 (6 attempts, 1 retries, 2 throttled); 2.00 IAM calls per role")
    assert per_operation == "  per operation: iam:GetRole 4, iam:ListRoles 1"
    assert per_account == "  per account: 111111111111 3 (1 throttled), 222222222222 2 (1 throttled)"


PROBE = """
from verification.plugin import RUN_KEY


def pytest_sessionfinish(session):
    run = session.config.stash[RUN_KEY]
    print(f"facts still held: {len(run.facts)}; roles with tests left: {len(run.tests_left)}")
"""


def test_a_roles_facts_are_let_go_after_its_last_test_and_never_fetched_twice(fleet: Fleet, tmp_path: Path) -> None:
    """Serial over 15 roles: memory does not grow with every role verified (facts are released after a
    role's last test), and releasing them costs no call (fleet mode: one GAAD page per account, one
    simulation per role, one appliance simulation per account, one fix check per failing role)."""
    (tmp_path / "facts_probe.py").write_text(PROBE)
    targets = pattern_targets(fleet, tmp_path / "targets.json")
    result = run_suite(
        ["--targets", str(targets), "--endpoint-url", fleet.url, "-p", "facts_probe", "-s"],
        tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]  # one role lacks an action
    assert "facts still held: 0; roles with tests left: 0" in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("  per operation: "))
    assert line == (
        "  per operation: iam:GetAccountAuthorizationDetails 5, iam:ListRoles 5, iam:SimulatePrincipalPolicy 25, "
        "sts:AssumeRole 5"
    )


def test_policy_documents_still_arrive_decoded_when_simulations_skip_the_walk(fleet: Fleet) -> None:
    """botocore's policy decoding runs only where an answer can hold a policy; every such answer is decoded."""
    account = fleet.accounts[0]
    iam = backend_for(fleet, account, ApiCounter()).iam
    role = fleet.workers[0]

    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    inline = iam.get_role_policy(RoleName=role, PolicyName="worker")["PolicyDocument"]
    details = iam.get_account_authorization_details(Filter=["Role"])["RoleDetailList"]
    listed = next(r for r in details if r["RoleName"] == role)

    assert trust["Statement"][0]["Action"] == "sts:AssumeRole"
    assert inline["Statement"][0]["Effect"] == "Allow"
    assert listed["AssumeRolePolicyDocument"] == trust
    assert listed["RolePolicyList"][0]["PolicyDocument"] == inline
    arn = fleet.arn(account, role)
    simulated = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["ec2:RunInstances"])
    assert simulated["EvaluationResults"][0]["EvalDecision"] == "allowed"
