"""The evidence bundle of a demo run: what it holds, its manifest, and the CI/terminal output."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import botocore
import pytest

import verification
from tests.system.evidence.conftest import MISCONFIGURED, WORKER, Verification
from verification import __version__
from verification.reporting.evidence import main
from verification.requirements import DEFAULT_SET, load_requirement_set

REQUIREMENTS = load_requirement_set(DEFAULT_SET)


def test_run_metadata_names_time_caller_region_harness_requirements_and_backend(demo_run: Verification) -> None:
    run = json.loads((demo_run.bundle / "run.json").read_text())
    assert run["started_at"].endswith("+00:00") and run["finished_at"] >= run["started_at"]
    assert run["caller"]["Account"] == "123456789012" and run["caller"]["Arn"].startswith("arn:aws:sts::")
    assert run["accounts"] == ["123456789012"]
    assert run["region"] == "us-east-1"
    assert run["harness"]["version"] == __version__
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=Path(verification.__file__).parent, capture_output=True, text=True
    )
    revision = run["harness"]["git_revision"]
    assert (revision.split("-")[0] if revision else None) == (head.stdout.strip() if head.returncode == 0 else None)
    [req] = run["requirement_sets"]
    assert (req["id"], req["version"], req["sha256"]) == (REQUIREMENTS.id, REQUIREMENTS.version, REQUIREMENTS.sha256)
    copied = demo_run.bundle / req["file"]
    assert hashlib.sha256(copied.read_bytes()).hexdigest() == REQUIREMENTS.sha256
    assert run["backend"] == "live" and run["botocore"] == botocore.__version__


@pytest.mark.parametrize("arn", [WORKER, MISCONFIGURED])
def test_each_role_keeps_raw_answers_with_request_ids(demo_run: Verification, arn: str) -> None:
    exchanges = demo_run.role_file(arn, "exchanges.json")["exchanges"]
    operations = [e["operation"] for e in exchanges]
    assert operations[:2] == ["GetRole", "ListInstanceProfilesForRole"]
    assert "SimulatePrincipalPolicy" in operations
    assert all(e["request_id"] for e in exchanges)
    get_role = exchanges[0]["response"]
    assert get_role["Role"]["Arn"] == arn
    assert get_role["ResponseMetadata"]["RequestId"] == exchanges[0]["request_id"]
    simulated = {
        r["EvalActionName"]
        for e in exchanges
        if e["operation"] == "SimulatePrincipalPolicy"
        for r in e["response"]["EvaluationResults"]
    }
    assert set(REQUIREMENTS.actions) <= simulated


def test_every_requirement_has_a_verdict_with_its_reason(demo_run: Verification) -> None:
    verdicts = demo_run.verdicts(MISCONFIGURED)
    assert set(verdicts) == {r.id for r in REQUIREMENTS.requirements}
    assert all(v["reason"] for v in verdicts.values())
    assert verdicts["instance-profile"] == {
        **verdicts["instance-profile"],
        "outcome": "failed",
        "reason": "not in any instance profile",
    }
    assert verdicts["permission:kms:CreateGrant"]["cause"] == "boundary"
    assert all(v["outcome"] == "passed" for v in demo_run.verdicts(WORKER).values())


def test_verdict_files_agree_with_the_tests(demo_run: Verification) -> None:
    outcomes = demo_run.outcomes()
    for arn in (WORKER, MISCONFIGURED):
        label = arn.split(":")[4] + "/" + arn.rsplit("/", 1)[-1]
        for requirement, verdict in demo_run.verdicts(arn).items():
            [name] = [n for n in outcomes if n.endswith(f"[{label}-{requirement}]")]
            expected = {"passed": "passed", "failed": "failure", "broken": "error", "skipped": "skipped"}
            assert outcomes[name] == expected[verdict["outcome"]], name


def test_manifest_lists_every_file_with_its_sha256(demo_run: Verification) -> None:
    manifest = json.loads((demo_run.bundle / "manifest.json").read_text())
    files = sorted(p.relative_to(demo_run.bundle).as_posix() for p in demo_run.bundle.rglob("*") if p.is_file())
    assert sorted(manifest["files"]) == [f for f in files if f != "manifest.json"]
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((demo_run.bundle / name).read_bytes()).hexdigest() == digest


def test_evidence_verify_says_ok_for_an_untouched_bundle(
    demo_run: Verification, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(demo_run.bundle)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: ") and len(out.splitlines()) == 1


def _copy(bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    return copy


def test_evidence_verify_names_a_file_with_one_byte_changed(
    demo_run: Verification, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _copy(demo_run.bundle, tmp_path)
    target = bundle / "roles" / "123456789012_VeeamFLRWorkerMisconfigured" / "verdicts.json"
    data = bytearray(target.read_bytes())
    data[data.index(b"failed")] = ord("F")
    target.write_bytes(bytes(data))
    assert main(["verify", str(bundle)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{bundle}: mismatch: roles/123456789012_VeeamFLRWorkerMisconfigured/verdicts.json "
        "(sha256 differs from the manifest)"
    ]


def test_evidence_verify_names_missing_and_extra_files(
    demo_run: Verification, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _copy(demo_run.bundle, tmp_path)
    (bundle / "run.json").unlink()
    (bundle / "roles" / "added.txt").write_text("not in the manifest")
    assert main(["verify", str(bundle)]) == 1
    out = capsys.readouterr().out
    assert f"{bundle}: missing: run.json" in out
    assert f"{bundle}: extra: roles/added.txt (not in the manifest)" in out


def test_evidence_verify_fails_without_a_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run.json").write_text("{}")
    assert main(["verify", str(tmp_path)]) == 1
    assert "missing: manifest.json" in capsys.readouterr().out


def test_junit_test_names_carry_every_requirement_id(demo_run: Verification) -> None:
    names = list(demo_run.outcomes())
    for label in ("123456789012/VeeamFLRWorker", "123456789012/VeeamFLRWorkerMisconfigured"):
        for requirement in REQUIREMENTS.requirements:
            assert sum(name.endswith(f"[{label}-{requirement.id}]") for name in names) == 1, requirement.id


def test_terminal_summary_counts_per_role_and_top_causes(demo_run: Verification) -> None:
    lines = [line.strip() for line in demo_run.stdout.splitlines()]
    verdicts = demo_run.verdicts(MISCONFIGURED).values()
    failed = sum(v["outcome"] == "failed" for v in verdicts)
    passed = sum(v["outcome"] == "passed" for v in verdicts)
    assert f"FAILED {MISCONFIGURED}: {passed} passed, {failed} failed, 0 broken, 0 skipped" in lines
    assert f"ok     {WORKER}: {len(verdicts)} passed, 0 failed, 0 broken, 0 skipped".strip() in lines
    causes = next(line for line in lines if line.startswith("root causes:"))
    # sqs:* is allowed in eu-west-1 only and the demo verifies us-east-1: 7 more implicit denies.
    assert "boundary x7" in causes and "implicit-deny x11" in causes and "explicit-deny x2" in causes
    assert any(line.startswith(f"evidence: {demo_run.bundle}") for line in lines)


def test_remediation_is_attached_to_allure_once_per_failing_role(demo_run: Verification) -> None:
    allure = demo_run.junit.parent / "allure"
    names = [
        attachment["name"]
        for path in allure.glob("*-result.json")
        for attachment in json.loads(path.read_text()).get("attachments", [])
    ]
    assert names.count("remediation for 123456789012/VeeamFLRWorkerMisconfigured") == 1
    assert not any(name.startswith("remediation for 123456789012/VeeamFLRWorker ") for name in names)
    assert "remediation for 123456789012/VeeamFLRWorker" not in names


def test_allure_writes_one_result_per_test_and_no_fixture_containers(demo_run: Verification) -> None:
    """Each test is one result file plus its own attachments: no per-test fixture container (at a
    thousand roles those were 85,000 extra files), and every result of a failing role carries its
    action's evidence; a passing role's evidence is in the bundle only (a role fits in ~100 KiB)."""
    allure = demo_run.junit.parent / "allure"
    results = [json.loads(path.read_text()) for path in allure.glob("*-result.json")]
    assert len(results) == len(demo_run.outcomes())
    assert not list(allure.glob("*-container.json"))
    for result in results:
        labels = {label["name"]: label["value"] for label in result["labels"]}
        role, requirement = labels["role"], labels["requirement"]
        attached = [attachment["name"] for attachment in result.get("attachments", ())]
        if role.endswith("Misconfigured") and result["status"] != "skipped":
            assert f"{requirement} evidence" in attached
        elif role.endswith("/VeeamFLRWorker"):
            # No evidence (a passing role's answers are in the bundle); what --excess report, the
            # default, adds stays: its overview once per role and the "required, but risky" notes.
            label = "123456789012/VeeamFLRWorker"
            assert set(attached) <= {"note", f"excess permissions of {label}", f"excess note for {label}"}, attached
            assert demo_run.verdicts(role)[requirement]["outcome"] == result["status"]


def test_a_compacted_exchange_is_written_as_it_was_read() -> None:
    """A role's raw answers wait for their evidence as JSON text; what is written is the same answer."""
    from datetime import UTC, datetime

    from verification.backends import Exchange, exchanges_json

    created = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    response = {"Role": {"RoleName": "Worker", "CreateDate": created, "Tags": []}}
    exchange = Exchange("GetRole", {"RoleName": "Worker"}, response, "req-1")
    before = json.loads(exchanges_json([exchange]))
    exchange.compact()
    assert json.loads(exchanges_json([exchange])) == before
    assert before[0] == {
        "operation": "GetRole",
        "request_id": "req-1",
        "params": {"RoleName": "Worker"},
        "response": {"Role": {"RoleName": "Worker", "CreateDate": str(created), "Tags": []}},
    }
    assert exchange.response["Role"]["RoleName"] == "Worker"  # still readable, decoded from the text
