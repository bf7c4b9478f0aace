"""The whole appliance in one run: docs/veeam-layout.md's targets file, as written, on the local endpoint.

Every role is seeded with exactly what its set asks for (conditions as the page writes them), except
three faults in account 300000000003: the EC2 backup-and-restore role lacks an action both of its
sets need, the worker role is in no instance profile, and the EFS role's indexing grant is
conditioned on another tag. The run must fail those three roles, for those reasons only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.fleet import iam_in, run_suite
from verification.endpoint import start_endpoint
from verification.requirements import RequirementSet, load_requirement_set

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "veeam-layout.md"
APPLIANCE = "arn:aws:iam::100000000001:role/VeeamImpersonation"
FAULTY = "300000000003"


def doc_targets() -> dict[str, Any]:
    """The targets block of docs/veeam-layout.md."""
    text = DOC.read_text()
    block = text.split("<!-- targets", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    data: dict[str, Any] = yaml.safe_load(block)
    return data


def _policy_documents(requirements: RequirementSet, *, drop: str = "", other_tag: bool = False) -> list[str]:
    statements: list[dict[str, Any]] = []
    plain = [r.action for r in requirements.by_kind("permission") if not r.context and r.action != drop]
    for start in range(0, len(plain), 100):  # managed policies stay under IAM's size limit
        statements.append({"Effect": "Allow", "Action": plain[start : start + 100], "Resource": "*"})
    for r in requirements.by_kind("permission"):
        if r.context:
            condition = {k: v[0] for k, v in r.context}
            if other_tag:
                condition = {k.replace("EfsIndexWorker", "Other"): v for k, v in condition.items()}
            when = {"StringEquals": condition}
            statements.append({"Effect": "Allow", "Action": r.action, "Resource": r.resource, "Condition": when})
    return [json.dumps({"Version": "2012-10-17", "Statement": [s]}) for s in statements]


def _seed_role(url: str, account: str, name: str, requirements: RequirementSet) -> None:
    iam = iam_in(url, account)
    services = [r.principal[0][1] for r in requirements.by_kind("trust") if isinstance(r.principal, tuple)]
    principals: list[dict[str, str]] = [{"AWS": APPLIANCE}, *({"Service": s} for s in services)]
    if name == "VeeamImpersonation":  # attached to the appliance instance; its set asks nothing of its trust
        principals = [{"Service": "ec2.amazonaws.com"}]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": p, "Action": "sts:AssumeRole"} for p in principals],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    faulty = account == FAULTY
    drop = "ec2:DescribeInstances" if faulty and name == "VeeamEC2BackupRestore" else ""
    other_tag = faulty and name == "VeeamEFSBackup"
    for number, document in enumerate(_policy_documents(requirements, drop=drop, other_tag=other_tag)):
        arn = iam.create_policy(PolicyName=f"{name}-{number}", PolicyDocument=document)["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    if requirements.by_kind("instance-profile") and not (faulty and name == "VeeamWorker"):
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)


@pytest.fixture(scope="module")
def layout_endpoint(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    """The local endpoint holding every role of the layout (accounts no other test uses: moto state is per process)."""
    with start_endpoint() as endpoint:
        for entry in doc_targets()["targets"]:
            arn = entry.get("role_arn") or f"arn:aws:iam::{entry['account']}:role/{entry['role_name']}"
            account, name = arn.split(":")[4], arn.rsplit("/", 1)[-1]
            _seed_role(endpoint.url, account, name, load_requirement_set(entry["requirements"]))
        yield endpoint.url


@pytest.fixture(scope="module")
def layout_run(tmp_path_factory: pytest.TempPathFactory, layout_endpoint: str) -> tuple[str, Path]:
    workdir = tmp_path_factory.mktemp("layout")
    (workdir / "veeam-layout.yaml").write_text(yaml.safe_dump(doc_targets()))
    args = ["--targets", str(workdir / "veeam-layout.yaml"), "--endpoint-url", layout_endpoint]
    result = run_suite([*args, "--appliance-principal", APPLIANCE, "-n", "2", "-rA"], workdir)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout, workdir


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        yield patch


def test_the_documented_layout_names_every_role_and_a_set_for_each() -> None:
    entries = doc_targets()["targets"]
    assert len(entries) == 15
    for entry in entries:
        assert load_requirement_set(entry["requirements"]).requirements


def test_every_role_is_verified_and_only_the_three_faults_fail(layout_run: tuple[str, Path]) -> None:
    summary = layout_run[0].split("role verification", 1)[1]
    failed = re.findall(r"^FAILED (arn:aws:iam::\d+:role/\w+): (\d+) passed, (\d+) failed, (\d+) broken", summary, re.M)
    ok = re.findall(r"^ok\s+(arn:aws:iam::\d+:role/\w+): (\d+) passed, 0 failed, 0 broken", summary, re.M)
    assert sorted(arn for arn, *_ in failed) == [
        "arn:aws:iam::300000000003:role/VeeamEC2BackupRestore",
        "arn:aws:iam::300000000003:role/VeeamEFSBackup",
        "arn:aws:iam::300000000003:role/VeeamWorker",
    ]
    failures = {arn.rsplit("/", 1)[-1]: (int(bad), int(broken)) for arn, _, bad, broken in failed}
    assert failures == {"VeeamEC2BackupRestore": (1, 0), "VeeamEFSBackup": (3, 0), "VeeamWorker": (1, 0)}
    assert len(ok) == 12
    passed = {arn.split("::")[1]: int(count) for arn, count in ok}
    # The 450-action role: 450 permissions, 4 trusted principals, an instance profile.
    assert passed["100000000001:role/VeeamDefaultBackupRestore"] == 455


def test_a_shared_requirement_fails_once_and_its_id_names_both_sets(layout_run: tuple[str, Path]) -> None:
    failing = re.findall(r"^FAILED \S+\[(300000000003/\S+)\]", layout_run[0], re.M)
    assert sorted(failing) == [
        "300000000003/VeeamEC2BackupRestore-veeam-ec2-backup+veeam-ec2-restore/permission:ec2:DescribeInstances",
        "300000000003/VeeamEFSBackup-permission:ec2:CreateTags"
        "?aws:RequestTag/EfsIndexWorker=EfsIndexWorker&ec2:CreateAction=RunInstances",
        "300000000003/VeeamEFSBackup-permission:ec2:StartInstances?ec2:ResourceTag/EfsIndexWorker=EfsIndexWorker",
        "300000000003/VeeamEFSBackup-permission:ec2:TerminateInstances?ec2:ResourceTag/EfsIndexWorker=EfsIndexWorker",
        "300000000003/VeeamWorker-instance-profile",
    ]


def test_the_evidence_bundle_replays_a_union_and_a_selection(layout_run: tuple[str, Path]) -> None:
    """The bundle keeps every file of a union and the parts a run chose, and its replay verifies the same."""
    _, workdir = layout_run
    [bundle] = (workdir / "reports" / "evidence").iterdir()
    run = json.loads((bundle / "run.json").read_text())
    files = {r["file"] for r in run["requirement_sets"]}
    assert "requirements/veeam-ec2-backup.yaml+requirements/veeam-ec2-restore.yaml" in files
    assert "requirements/veeam-efs-backup.yaml:policy,indexing" in files
    [command] = [c for c in run["replay"]["commands"] if "veeam-ec2-restore.yaml" in c]
    args = [arg.replace("DIR/", f"{bundle}/") for arg in command.split()[1:]]
    replay = run_suite([*args, "-rA"], workdir)
    assert replay.returncode == 1, replay.stdout[-3000:] + replay.stderr[-2000:]
    failing = re.findall(r"^FAILED \S+\[(\S+)\]", replay.stdout, re.M)
    assert failing == [
        "300000000003/VeeamEC2BackupRestore-veeam-ec2-backup+veeam-ec2-restore/permission:ec2:DescribeInstances"
    ]


def test_requirements_given_twice_verify_the_union_with_labels_naming_both_sets(
    layout_endpoint: str, tmp_path: Path
) -> None:
    """``--requirements A --requirements B``: one test per requirement of the union, a shared one once."""
    account = "200000000002"
    entry = {"role_arn": f"arn:aws:iam::{account}:role/VeeamEC2BackupRestore"}
    entry["assume_role_arn"] = f"arn:aws:iam::{account}:role/RoleVerification"
    (tmp_path / "one.yaml").write_text(yaml.safe_dump({"targets": [entry]}))
    results = tmp_path / "allure"
    args = [
        "--targets",
        str(tmp_path / "one.yaml"),
        "--endpoint-url",
        layout_endpoint,
        "--appliance-principal",
        APPLIANCE,
    ]
    sets = ["--requirements", "veeam-ec2-backup", "--requirements", "veeam-ec2-restore"]
    run = run_suite([*args, *sets, "--alluredir", str(results), "-v"], tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    union = load_requirement_set("veeam-ec2-backup+veeam-ec2-restore")
    assert f"{len(union.requirements)} passed" in run.stdout
    assert len(union.requirements) == 1 + len(set(union.actions)) == 94  # 78 + 72 actions, 57 shared
    assert "requirements: veeam-ec2-backup+veeam-ec2-restore " in run.stdout
    shared = f"{account}/VeeamEC2BackupRestore-veeam-ec2-backup+veeam-ec2-restore/permission:ec2:DescribeInstances"
    assert run.stdout.count(f"[{shared}] PASSED") == 1
    labelled = []
    for path in results.glob("*-result.json"):
        result = json.loads(path.read_text())
        labels = [(label["name"], label["value"]) for label in result["labels"]]
        if ("requirement", shared.split("-", 1)[1]) in labels:
            labelled.append(labels)
    [labels] = labelled
    assert [v for k, v in labels if k == "feature"] == ["EC2 backup role", "EC2 restore role"]
    assert {"veeam-ec2-backup", "veeam-ec2-restore"} <= {v for k, v in labels if k == "tag"}


def test_the_450_action_role_costs_four_calls(layout_endpoint: str) -> None:
    """One GetRole, one ListInstanceProfilesForRole, one simulation page for 450 actions, one appliance side.

    Plus, once per run's backend (not per role), GetRole of the appliance role: its tags are in its
    session's requests (#26).
    """
    from verification.backends import RoleRef
    from verification.backends.live import LiveBackend
    from verification.fleet.accounting import ApiCounter
    from verification.verdicts import AppliancePrincipal, gather

    account = "100000000001"
    counter = ApiCounter()
    backend = LiveBackend(
        endpoint_url=layout_endpoint,
        assume_role_arn=f"arn:aws:iam::{account}:role/RoleVerification",
        counter=counter,
    )
    requirements = load_requirement_set("veeam-default-backup-restore")
    ref = RoleRef.parse(f"arn:aws:iam::{account}:role/VeeamDefaultBackupRestore")
    facts = gather(backend, ref, requirements, AppliancePrincipal.parse(APPLIANCE))
    assert not facts.errors and len(facts.simulations) == 450
    calls = counter.as_dict()["calls"][account]
    assert {op: n for op, n in calls.items() if op.startswith("iam:")} == {
        "iam:GetRole": 2,  # the role, and the appliance role once per backend
        "iam:ListInstanceProfilesForRole": 1,
        "iam:SimulatePrincipalPolicy": 2,  # the 450 actions in one page, then the appliance side
    }
    gather(backend, ref, requirements, AppliancePrincipal.parse(APPLIANCE))  # the next role: four calls again
    calls = counter.as_dict()["calls"][account]
    assert calls["iam:GetRole"] == 3 and calls["iam:SimulatePrincipalPolicy"] == 4, calls
