"""Parts, per-requirement resource and context, versions and unions: the schema as a run uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from verification.errors import InputError
from verification.requirements import REQUIREMENTS_DIR, is_bundled, load_requirement_set


def test_no_selection_means_every_part() -> None:
    whole = load_requirement_set("veeam-ec2-backup")
    both = load_requirement_set("veeam-ec2-backup:base,production-workers")
    assert [r.id for r in whole.requirements] == [r.id for r in both.requirements]
    assert len(whole.actions) == 78 and whole.selected == ("base", "production-workers")


def test_a_part_selects_its_permissions_and_keeps_trust() -> None:
    base = load_requirement_set("veeam-ec2-backup:base")
    workers = load_requirement_set("veeam-ec2-backup:production-workers")
    assert len(base.actions) == 61 and len(workers.actions) == 17
    assert "ec2:RunInstances" in workers.actions and "ec2:RunInstances" not in base.actions
    assert [r.id for r in base.by_kind("trust")] == [r.id for r in workers.by_kind("trust")] == ["trust:appliance"]
    assert base.name == "veeam-ec2-backup:base" and base.selected == ("base",)


def test_an_action_two_parts_share_is_one_requirement_in_both() -> None:
    efs = load_requirement_set("veeam-efs-backup")
    shared = efs.by_id("permission:backup:CopyFromBackupVault")
    assert shared.parts == ("policy", "manual")
    assert len(efs.actions) == len(set(efs.actions)) == 78  # 69 + 35 + 5 listed, 31 shared
    assert "permission:backup:CopyFromBackupVault" in {
        r.id for r in load_requirement_set("veeam-efs-backup:manual").requirements
    }


def test_conditions_as_written_become_the_requirement_context() -> None:
    indexing = load_requirement_set("veeam-efs-backup:indexing")
    start = indexing.by_id("permission:ec2:StartInstances?ec2:ResourceTag/EfsIndexWorker=EfsIndexWorker")
    assert start.context == (("ec2:ResourceTag/EfsIndexWorker", ("EfsIndexWorker",)),)
    assert start.simulation_key == ("ec2:startinstances", "*?ec2:ResourceTag/EfsIndexWorker=EfsIndexWorker")
    run = indexing.by_id("permission:ec2:RunInstances")
    assert run.context == () and run.simulation_key == ("ec2:runinstances", "*")


def test_a_union_verifies_a_shared_requirement_once_and_names_its_sets() -> None:
    backup = load_requirement_set("veeam-ec2-backup")
    restore = load_requirement_set("veeam-ec2-restore")
    both = load_requirement_set("veeam-ec2-backup+veeam-ec2-restore")
    assert set(both.actions) == set(backup.actions) | set(restore.actions)
    assert len(both.actions) == len(set(both.actions))
    shared = both.by_id("veeam-ec2-backup+veeam-ec2-restore/permission:ec2:DescribeInstances")
    assert shared.sets == ("veeam-ec2-backup", "veeam-ec2-restore")
    assert both.by_id("veeam-ec2-backup/permission:ebs:ListChangedBlocks").sets == ("veeam-ec2-backup",)
    assert [r.id for r in both.by_kind("trust")] == ["veeam-ec2-backup+veeam-ec2-restore/trust:appliance"]
    assert both.features_of(shared) == ("EC2 backup role", "EC2 restore role")
    assert backup.features_of(backup.by_id("permission:ec2:DescribeInstances")) == ("EC2 backup role",)
    assert both.name == "veeam-ec2-backup+veeam-ec2-restore" and [m.name for m in both.members] == [
        "veeam-ec2-backup",
        "veeam-ec2-restore",
    ]


def test_a_union_of_parts_and_sets() -> None:
    union = load_requirement_set("veeam-ec2-backup:production-workers+veeam-efs-backup:indexing")
    run = union.by_id("veeam-ec2-backup:production-workers+veeam-efs-backup:indexing/permission:ec2:RunInstances")
    assert run.sets == ("veeam-ec2-backup:production-workers", "veeam-efs-backup:indexing")
    # Unconditional in one, conditional in the other: two requirements, both checked.
    terminate = [r.id for r in union.requirements if r.action == "ec2:TerminateInstances"]
    assert terminate == [
        "veeam-ec2-backup:production-workers/permission:ec2:TerminateInstances",
        "veeam-efs-backup:indexing/permission:ec2:TerminateInstances?ec2:ResourceTag/EfsIndexWorker=EfsIndexWorker",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("veeam-ec2-backup+veeam-ec2-backup", "named twice"),
        ("veeam-ec2-backup++veeam-ec2-restore", "has an empty member"),
        ("veeam-ec2-backup:nope", "has no part 'nope'"),
    ],
)
def test_bad_specs_are_one_line(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_requirement_set(spec)


def test_bundled_specs_are_recognised_for_targets_files() -> None:
    assert is_bundled("veeam-ec2-backup:base,production-workers")
    assert is_bundled("veeam-repository@6a")
    assert is_bundled("veeam-ec2-backup+veeam-flr-worker-prod")
    assert not is_bundled("veeam-ec2-backup+mine")


def _write(tmp_path: Path, edit: dict[str, object], item: dict[str, object] | None = None) -> str:
    data = yaml.safe_load((REQUIREMENTS_DIR / "veeam-flr-worker-prod.yaml").read_text())
    data.update(edit)
    if item is not None:
        data["requirements"].append(item)
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize(
    ("edit", "item", "message"),
    [
        (
            {},
            {"kind": "permissions", "story": "x", "part": "a", "actions": ["s3:GetObject"]},
            "part 'a' is not declared",
        ),
        (
            {"parts": [{"name": "a", "title": "A"}]},
            {"kind": "permissions", "story": "x", "part": "b", "actions": ["s3:GetObject"]},
            "part must be one of the declared parts a",
        ),
        (
            {},
            {"kind": "permissions", "story": "x", "context": {"not a key": "v"}, "actions": ["s3:GetObject"]},
            "context key",
        ),
        (
            {},
            {"kind": "permissions", "story": "x", "context": {"aws:RequestTag/A": 3}, "actions": ["s3:GetObject"]},
            "string",
        ),
        ({"anomalies": "one"}, None, "anomalies must be a list of sentences"),
        ({"parts": [{"name": "Bad Name", "title": "x"}]}, None, "lower-case letters"),
    ],
)
def test_schema_faults_are_one_line(
    tmp_path: Path, edit: dict[str, object], item: dict[str, object] | None, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        load_requirement_set(_write(tmp_path, edit, item))


def test_a_declared_part_without_permissions_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load((REQUIREMENTS_DIR / "veeam-flr-worker-prod.yaml").read_text())
    data["parts"] = [{"name": "all", "title": "everything"}, {"name": "empty", "title": "nothing"}]
    data["requirements"][-1]["part"] = "all"
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="part 'empty' has no permissions"):
        load_requirement_set(str(path))
    data["parts"].pop()
    path.write_text(yaml.safe_dump(data))
    assert load_requirement_set(f"{path}:all").actions == load_requirement_set("veeam-flr-worker-prod").actions


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["veeam-ec2-backup:restore"], "has no part 'restore': its parts are base, production-workers"),
        (["veeam-ec2-backup", "veeam-ec2-backup"], "is named twice"),
    ],
)
def test_a_bad_requirements_option_is_one_line_before_any_call(tmp_path: Path, sets: list[str], message: str) -> None:
    """Through pytest: one line naming the fault, a usage-error exit, no test and no API call."""
    from tests.support.fleet import run_suite

    args = ["--role-arn", "arn:aws:iam::111111111111:role/R", "--endpoint-url", "http://127.0.0.1:9"]
    for name in sets:
        args += ["--requirements", name]
    result = run_suite(args, tmp_path)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and message in errors[0]
    assert "passed" not in result.stdout and "connect" not in (result.stdout + result.stderr).lower()
