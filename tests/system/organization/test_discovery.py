"""``--organization``: accounts found, narrowed by OUs and skips, reached by the member role; none silently lost."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.system.organization.conftest import MANAGEMENT, MEMBER_ROLE, Org, collected_ids, run_org
from verification.backends.live import LiveBackend
from verification.fleet.organization import OrganizationSpec, Shard, bucket, discover

WORKERS = ("VeeamFLRWorker", "VeeamFLRWorkerMisconfigured")


def accounts_of(ids: list[str]) -> set[str]:
    """The accounts whose roles a list of test ids verifies (an unreachable account's test included)."""
    return {match[1] for nodeid in ids if (match := re.search(r"\[(\d{12})/", nodeid))}


def backend(org: Org) -> LiveBackend:
    import boto3

    session = boto3.Session(
        aws_access_key_id=org.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=org.env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=org.env["AWS_SESSION_TOKEN"],
        region_name="us-east-1",
    )
    return LiveBackend(session=session, endpoint_url=org.url, region="us-east-1")


def test_discovery_finds_every_active_account_with_its_name_and_ou_path(org: Org) -> None:
    found = discover(backend(org).organization_pages, OrganizationSpec(MEMBER_ROLE, ("x",)), MANAGEMENT)

    paths = {account.name: (account.id, account.ou_path, account.own) for account in found.accounts}
    assert found.management == MANAGEMENT
    assert paths == {
        "master": (MANAGEMENT, "Root", True),
        "prod-a": (org.account("prod-a"), "Root/Workloads/Prod", False),
        "prod-b": (org.account("prod-b"), "Root/Workloads/Prod", False),
        "test-a": (org.account("test-a"), "Root/Workloads/Test", False),
        "sandbox": (org.account("sandbox"), "Root/Sandbox", False),
    }


def test_an_ou_keeps_its_descendants_and_skips_leave_accounts_out(org: Org) -> None:
    pages = backend(org).organization_pages
    spec = OrganizationSpec(
        MEMBER_ROLE,
        ("x",),
        ous=(org.ou("Workloads"),),
        skip_ous=(org.ou("Workloads/Test"),),
        skip_accounts=(org.account("prod-b"),),
    )
    found = discover(pages, spec, MANAGEMENT)

    assert [a.name for a in found.accounts] == ["prod-a"]
    assert found.left_out == 4


def test_the_run_verifies_matching_roles_in_each_account_and_the_management_account_too(
    org: Org, tmp_path: Path
) -> None:
    result = run_org(org, org.args("--collect-only", "-q", "--skip-account", org.account("sandbox")), tmp_path)

    ids = collected_ids(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert accounts_of(ids) == {MANAGEMENT, org.account("prod-a"), org.account("prod-b"), org.account("test-a")}
    roles = {re.search(r"\[\d{12}/(\w+)-", nodeid)[1] for nodeid in ids}  # type: ignore[index]
    assert roles == set(WORKERS)  # VeeamImpersonation and the member role do not match VeeamFLRWorker*


def test_ou_and_skip_options_narrow_the_run(org: Org, tmp_path: Path) -> None:
    args = org.args(
        "--collect-only",
        "-q",
        "--ou",
        org.ou("Workloads"),
        "--skip-ou",
        org.ou("Workloads/Test"),
        "--skip-account",
        org.account("prod-b"),
    )
    result = run_org(org, args, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert accounts_of(collected_ids(result)) == {org.account("prod-a")}


def test_an_unassumable_account_is_one_broken_test_naming_the_reason(org: Org, tmp_path: Path) -> None:
    result = run_org(org, org.args("--ou", org.ou("Sandbox"), "--alluredir", str(tmp_path / "allure")), tmp_path)

    sandbox = org.account("sandbox")
    assert result.returncode == 10, result.stdout + result.stderr  # could not check, nothing failed
    assert f"ERROR at setup of test_account[{sandbox}/{MEMBER_ROLE}]" in result.stdout
    assert "= 1 error in" in result.stdout
    assert f"sandbox ({sandbox})" in result.stdout
    assert "AccessDenied" in result.stdout and "sts:AssumeRole" in result.stdout
    assert f"1 account(s) could not be read (one broken test each): {sandbox}" in result.stdout
    # In Allure: a broken result titled by the account, in the account's suite, its own history.
    (allure,) = [json.loads(path.read_text()) for path in (tmp_path / "allure").glob("*-result.json")]
    labels = {(label["name"], label["value"]) for label in allure["labels"]}
    assert allure["status"] == "broken"
    assert allure["name"] == f"sandbox ({sandbox}): the member role {MEMBER_ROLE} can be assumed"
    assert {("parentSuite", f"sandbox ({sandbox})"), ("suite", "organization"), ("tag", "ou:Root/Sandbox")} <= labels
    assert {"name": "account", "value": repr(sandbox)} in [
        {key: parameter[key] for key in ("name", "value")} for parameter in allure["parameters"]
    ]


def test_a_targets_file_organization_block_is_the_same_as_the_options(org: Org, tmp_path: Path) -> None:
    targets = tmp_path / "org.yaml"
    block = {"member_role": MEMBER_ROLE, "role_name": ["VeeamFLRWorker*"], "ou": [org.ou("Workloads/Prod")]}
    targets.write_text(yaml.safe_dump({"organization": block}))
    by_file = run_org(org, ["--targets", str(targets), "--endpoint-url", org.url, "--collect-only", "-q"], tmp_path)
    by_options = run_org(org, org.args("--ou", org.ou("Workloads/Prod"), "--collect-only", "-q"), tmp_path)

    assert by_file.returncode == 0, by_file.stdout + by_file.stderr
    assert collected_ids(by_file) == collected_ids(by_options)
    assert accounts_of(collected_ids(by_file)) == {org.account("prod-a"), org.account("prod-b")}


def test_the_admin_member_role_is_warned_about_in_the_header(org: Org, tmp_path: Path) -> None:
    args = org.args("--collect-only", "-q", "--ou", org.ou("Workloads/Test"))
    args[args.index(MEMBER_ROLE)] = "OrganizationAccountAccessRole"
    result = run_org(org, [*args, "-v"], tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: the member role OrganizationAccountAccessRole has AdministratorAccess" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--organization", "--role-name", "X*"], "--organization needs --member-role NAME"),
        (["--organization", "--member-role", "R"], "name the roles to verify in each account with --role-name"),
        (["--organization", "--member-role", "R", "--role-name", "X", "--ou", "ou-nope"], "is not an OU id"),
        (["--organization", "--member-role", "R", "--role-name", "X", "--shard", "3/2"], "is not I/N"),
        (["--role-arn", "arn:aws:iam::111111111111:role/X", "--shard", "1/2"], "only with --organization or --targets"),
    ],
)
def test_bad_organization_input_is_one_line(args: list[str], message: str, org: Org, tmp_path: Path) -> None:
    result = run_org(org, [*args, "--endpoint-url", org.url], tmp_path)

    assert result.returncode == 4
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_ou_names_the_organizations_ous(org: Org, tmp_path: Path) -> None:
    result = run_org(org, org.args("--ou", "ou-zzzz-zzzzzzzz", "--collect-only"), tmp_path)

    assert result.returncode == 4
    assert "ou-zzzz-zzzzzzzz: not an OU of the organization" in result.stderr
    assert org.ou("Workloads/Prod") in result.stderr


def test_shards_split_accounts_by_a_stable_hash_each_in_exactly_one() -> None:
    accounts = [f"{n:012d}" for n in range(1000, 1400)]
    for count in (1, 2, 4, 7):
        shards = [Shard(index, count) for index in range(1, count + 1)]
        for account in accounts:
            assert sum(shard.holds(account) for shard in shards) == 1
        sizes = [sum(shard.holds(a) for a in accounts) for shard in shards]
        assert min(sizes) > len(accounts) / count / 2  # no shard left nearly empty
    # sha256, not Python's salted hash(): the same bucket in every process and job.
    assert (
        bucket("111111111111", 4)
        == int.from_bytes(__import__("hashlib").sha256(b"111111111111").digest()[:8], "big") % 4 + 1
    )
