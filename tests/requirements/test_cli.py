"""``python -m verification requirements list | show | diff``: what an administrator reads, in text and JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from verification.requirements import available_sets, available_versions
from verification.requirements.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_every_set_with_counts_parts_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert out.startswith("30 requirement sets (3 of them earlier versions):")
    assert "veeam-ec2-backup: 78 actions; trust: appliance\n    parts: base (61), production-workers (17)\n" in out
    assert (
        "veeam-default-backup-restore: 450 actions; trust: appliance, backup.amazonaws.com, "
        "batchoperations.s3.amazonaws.com, ec2.amazonaws.com, instance profile\n"
    ) in out
    assert "https://helpcenter.veeam.com/docs/vbaws/guide/role_permissions_backup_ec2.html" in out
    assert "anomaly: policy #2 on the page is not valid JSON" in out
    assert "veeam-repository@6a: 23 actions" in out


def test_list_json_has_one_row_per_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0 and set(rows) == set(available_sets() + available_versions())
    assert rows["veeam-efs-backup"]["parts"] == {"policy": 69, "manual": 35, "indexing": 5}
    assert rows["veeam-flr-worker-prod"]["actions"] == 82
    assert rows["veeam-flr-worker-prod"]["instance_profile"] is True


def test_show_a_selection_of_parts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "veeam-efs-backup:indexing")
    assert code == 0
    assert "parts: policy (not selected), manual (not selected), indexing" in out
    assert (
        "permission:ec2:StartInstances?ec2:ResourceTag/EfsIndexWorker=EfsIndexWorker [indexing]  "
        "(on * when ec2:ResourceTag/EfsIndexWorker=EfsIndexWorker)"
    ) in out
    assert "5 actions, 7 requirements" in out


def test_show_json_carries_context_and_parts(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "show", "veeam-efs-backup:indexing", "--json")
    data = json.loads(out)
    tags = [r for r in data["requirements"] if r["action"] == "ec2:CreateTags"]
    assert tags == [
        {
            "id": "permission:ec2:CreateTags?aws:RequestTag/EfsIndexWorker=EfsIndexWorker"
            "&ec2:CreateAction=RunInstances",
            "kind": "permission",
            "action": "ec2:CreateTags",
            "resource": "*",
            "context": {"aws:RequestTag/EfsIndexWorker": ["EfsIndexWorker"], "ec2:CreateAction": ["RunInstances"]},
            "parts": ["indexing"],
            "sets": ["veeam-efs-backup:indexing"],
            "story": tags[0]["story"],
        }
    ]


def test_diff_of_two_repository_versions(capsys: pytest.CaptureFixture[str]) -> None:
    """Drift across Veeam releases in one command: 4.0 to 5a adds two actions and nothing else."""
    code, out, _ = run(capsys, "diff", "veeam-repository@4.0", "veeam-repository@5a")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("--- veeam-repository@4.0: 4.0 (archive) (13 actions) https://")
    assert lines[1].startswith("+++ veeam-repository@5a: 5a (archive, via ?ver=5a) (15 actions) https://")
    assert "actions: 2 added, 0 removed, 0 changed" in lines
    assert [line for line in lines if line[:2] in ("+ ", "- ", "~ ")] == [
        "+ iam:GetContextKeysForPrincipalPolicy",
        "+ iam:SimulatePrincipalPolicy",
    ]


def test_diff_to_the_current_page_shows_scope_and_trust_changes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", "veeam-repository@6a", "veeam-repository", "--json")
    data = json.loads(out)
    assert code == 0 and data["same"] is False
    assert data["actions"]["added"] == [
        "ec2:DescribeVpcEndpoints",
        "iam:GetRole",
        "iam:PassRole",
        "s3:CreateJob",
        "s3:DescribeJob",
    ]
    assert data["actions"]["removed"] == []
    assert {"action": "s3:GetObject", "a": ["arn:aws:s3:::<bucket>/*"], "b": ["*"]} in data["actions"]["changed"]
    assert data["trust"] == {"added": ["Service:batchoperations.s3.amazonaws.com", "appliance"], "removed": []}
    assert data["a"]["notes"][0].startswith("The archived lists record actions only")


def test_diff_of_two_sets_names_instance_profile_and_trust(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", "veeam-ec2-backup", "veeam-worker-production")
    assert code == 0
    assert "instance profile: required" in out
    assert "trust:\n+ Service:ec2.amazonaws.com\n" in out
    assert "- ebs:ListChangedBlocks" in out and "+ ssmmessages:OpenDataChannel" in out


def test_diff_of_a_set_with_itself_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "diff", "veeam-flr-worker-prod", "veeam-flr-worker-prod")
    assert "no differences in actions, trust or instance profile" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "veeam-nothing"], "unknown requirement set 'veeam-nothing'"),
        (["show", "veeam-ec2-backup:restore"], "has no part 'restore': its parts are base, production-workers"),
        (["show", "veeam-repository:base"], "has no parts to select"),
        (["diff", "veeam-repository@9z", "veeam-repository"], "unknown requirement set 'veeam-repository@9z'"),
    ],
)
def test_bad_names_get_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_the_command_is_registered() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "verification", "requirements", "diff", "veeam-repository@5a", "veeam-repository@6a"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "actions: 8 added, 0 removed, 6 changed" in result.stdout
