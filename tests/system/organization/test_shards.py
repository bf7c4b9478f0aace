"""Shards of an organization run, merged: the same tests and outcomes as one run, one verifiable bundle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.system.organization.conftest import Org, run_org
from verification.fleet.organization import bucket
from verification.reporting import evidence


def outcomes(results: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(role, requirement) -> (status, history id) for every Allure result of a folder."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for path in results.glob("*-result.json"):
        data = json.loads(path.read_text())
        labels = {label["name"]: label["value"] for label in data["labels"] if label["name"] in ("role", "requirement")}
        key = (labels["role"], labels["requirement"])
        assert key not in found, f"{key} reported twice"
        found[key] = (data["status"], data["historyId"])
    return found


def merge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "verification", "merge", *map(str, args)], capture_output=True, text=True, check=False
    )


def shard_count(org: Org) -> int:
    """Two shards, each holding an assumable account: conftest.ACCOUNT_IDS fixes the ids so."""
    assumable = [org.account(name) for name in ("management", *org.seeded.accounts) if name != "sandbox"]
    assert {bucket(account, 2) for account in assumable} == {1, 2}, "the fixed account ids no longer split"
    return 2


def expected_exit(org: Org, index: int, count: int) -> int:
    """What a shard's run must end with: 1 with any assumable account (each has a failing role),
    10 with only the unassumable sandbox (could not check, none failed), 0 with no account."""
    mine = {name for name in ("management", *org.seeded.accounts) if bucket(org.account(name), count) == index}
    if mine - {"sandbox"}:
        return 1
    return 10 if mine else 0


@pytest.fixture(scope="module")
def runs(org: Org, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One unsharded run, and the same run as N shards merged."""
    root = tmp_path_factory.mktemp("shards")
    count = shard_count(org)

    def one(name: str, status: int, *extra: str) -> Path:
        folder = root / name
        args = org.args(
            "--alluredir",
            str(folder / "allure-results"),
            "--evidence-dir",
            str(folder / "evidence"),
            "--sarif",
            str(folder / "role-verification.sarif"),
        )
        result = run_org(org, [*args, "-q", *extra], root)
        assert result.returncode == status, result.stdout[-2000:] + result.stderr
        return folder

    single = one("single", 1)
    shards = [one(f"shard{i}", expected_exit(org, i, count), "--shard", f"{i}/{count}") for i in range(1, count + 1)]
    merged = merge("--out", root / "merged", *shards)
    assert merged.returncode == 0, merged.stderr
    #: The shards that verified roles (a shard may hold only the sandbox, or nothing, as the ids fall).
    verified = [shard for i, shard in enumerate(shards, start=1) if expected_exit(org, i, count) == 1]
    return {
        "single": single,
        "shards": shards,
        "verified": verified,
        "merged": root / "merged",
        "root": root,
        "count": count,
    }


def test_the_merged_shards_equal_the_single_run(runs: dict[str, Any]) -> None:
    single = outcomes(runs["single"] / "allure-results")
    merged = outcomes(runs["merged"] / "allure-results")

    assert merged == single  # same tests, same outcomes, same history ids (so Allure's trend carries on)
    statuses = {status for status, _ in merged.values()}
    assert {"passed", "failed", "broken"} <= statuses  # the misconfigured roles and the unassumable account


def test_the_shards_sarif_merges_into_one_run_with_the_single_runs_results(runs: dict[str, Any]) -> None:
    """Each shard's SARIF has its own category; the merge writes one run whose results are the single run's."""
    from verification.reporting.sarif import base_category

    def results(log_path: Path) -> set[tuple[str, str, str]]:
        log = json.loads(log_path.read_text())
        return {(r["ruleId"], r["level"], r["properties"]["role"]) for run in log["runs"] for r in run["results"]}

    shard_categories = {
        json.loads((shard / "role-verification.sarif").read_text())["runs"][0]["automationDetails"]["id"]
        for shard in runs["shards"]
    }
    assert len(shard_categories) == runs["count"]  # a category of its own per shard: the upload accepts them
    merged = json.loads((runs["merged"] / "role-verification.sarif").read_text())
    assert len(merged["runs"]) == 1
    single_log = json.loads((runs["single"] / "role-verification.sarif").read_text())
    assert base_category(merged["runs"][0]) == base_category(single_log["runs"][0])
    assert results(runs["merged"] / "role-verification.sarif") == results(runs["single"] / "role-verification.sarif")
    assert results(runs["single"] / "role-verification.sarif")  # the organization demo has failing roles


def test_every_shard_verified_only_its_own_accounts(org: Org, runs: dict[str, Any]) -> None:
    count = runs["count"]
    for index, shard in enumerate(runs["shards"], start=1):
        roles = {role for role, _ in outcomes(shard / "allure-results")}
        accounts = [org.account(name) for name in ("management", *org.seeded.accounts)]
        assert bool(roles) == any(bucket(account, count) == index for account in accounts)
        assert all(bucket(role.split(":")[4], count) == index for role in roles)


def test_the_merged_evidence_is_one_verifiable_bundle_listing_the_shards(runs: dict[str, Any]) -> None:
    bundle = runs["merged"] / "evidence"
    check = subprocess.run(
        [sys.executable, "-m", "verification", "evidence", "verify", str(bundle)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    run = json.loads((bundle / "run.json").read_text())
    assert [s["folder"] for s in run["shards"]] == [str(s) for s in runs["shards"]]
    single = json.loads((runs["single"] / "evidence" / "run.json").read_text())
    assert set(run["roles"]) == set(single["roles"])
    assert set(run["organization"]["accounts"]) == set(single["organization"]["accounts"])
    manifest = json.loads((bundle / evidence.MANIFEST).read_text())["files"]
    assert all(
        {f"{where}/verdicts.json", f"{where}/verdicts.json.gz"} & set(manifest) for where in run["roles"].values()
    )


def test_the_summary_and_junit_cover_every_role(runs: dict[str, Any]) -> None:
    single = outcomes(runs["single"] / "allure-results")
    summary = (runs["merged"] / "summary.md").read_text()
    for role, _ in single:
        assert role in summary
    junit = (runs["merged"] / "junit.xml").read_text()
    assert junit.count("<testcase ") == len(single)
    failed = sum(status == "failed" for status, _ in single.values())
    assert f'failures="{failed}"' in junit


def test_merge_refuses_an_account_in_two_shards(runs: dict[str, Any]) -> None:
    shard = runs["verified"][0]
    refused = merge("--out", runs["root"] / "twice", shard, runs["single"])

    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "is in both" in refused.stderr and "Traceback" not in refused.stderr
    assert not (runs["root"] / "twice").exists()


def test_merge_refuses_other_requirement_sets_or_harness_versions(
    org: Org, runs: dict[str, Any], tmp_path: Path
) -> None:
    # A shard of the other shards' accounts, but another harness version: as an old runner would leave it.
    other = tmp_path / "old"
    first = runs["verified"][0]
    rest = [shard for shard in runs["shards"] if shard != first]
    shutil.copytree(first, other)
    run = json.loads((other / "evidence" / "run.json").read_text())
    run["harness"]["version"] = "0.0.9"
    (other / "evidence" / "run.json").write_text(json.dumps(run))
    evidence.write_manifest(other / "evidence")
    refused = merge("--out", tmp_path / "out", *rest, other)
    assert refused.returncode == 2 and "harness 0.0.9" in refused.stderr

    run["harness"]["version"] = json.loads((runs["single"] / "evidence" / "run.json").read_text())["harness"]["version"]
    run["requirement_sets"][0]["sha256"] = "0" * 64
    (other / "evidence" / "run.json").write_text(json.dumps(run))
    evidence.write_manifest(other / "evidence")
    refused = merge("--out", tmp_path / "out", *rest, other)
    assert refused.returncode == 2 and "other requirement sets" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_merge_refuses_a_shard_whose_evidence_was_altered(runs: dict[str, Any], tmp_path: Path) -> None:
    altered = tmp_path / "altered"
    shutil.copytree(runs["verified"][0], altered)
    verdicts = next((altered / "evidence" / "roles").glob("*/verdicts.json*"))
    verdicts.write_bytes(verdicts.read_bytes() + b" ")  # any change at all
    rest = [shard for shard in runs["shards"] if shard != runs["verified"][0]]
    refused = merge("--out", tmp_path / "out", *rest, altered)

    assert refused.returncode == 2 and "does not match its manifest" in refused.stderr


def test_a_targets_list_is_sharded_too_and_an_empty_shard_still_merges(org: Org, tmp_path: Path) -> None:
    account = org.account("prod-a")
    targets = tmp_path / "targets.json"
    entry = {
        "account": account,
        "role_name": "VeeamFLRWorker",
        "assume_role_arn": f"arn:aws:iam::{account}:role/RoleVerification",
    }
    targets.write_text(json.dumps({"targets": [entry]}))
    mine = bucket(account, 2)
    folders = []
    for index in (1, 2):
        folder = tmp_path / f"s{index}"
        args = ["--targets", str(targets), "--endpoint-url", org.url, "--shard", f"{index}/2", "-q"]
        args += ["--alluredir", str(folder / "allure-results"), "--evidence-dir", str(folder / "evidence")]
        result = run_org(org, args, tmp_path)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr
        ran = outcomes(folder / "allure-results")
        assert bool(ran) == (index == mine)  # the role runs in its account's shard only
        folders.append(folder)
    empty = folders[0] if mine == 2 else folders[1]
    nothing = merge("--out", tmp_path / "nothing", empty)
    # Alone, the empty shard is a night that verified no role: refused, never a green merge.
    assert nothing.returncode == 2 and "no shard verified any role" in nothing.stderr, nothing.stderr
    assert not (tmp_path / "nothing").exists()
    merged = merge("--out", tmp_path / "merged", *folders)

    assert merged.returncode == 0, merged.stderr
    assert {role for role, _ in outcomes(tmp_path / "merged" / "allure-results")} == {
        f"arn:aws:iam::{account}:role/VeeamFLRWorker"
    }
