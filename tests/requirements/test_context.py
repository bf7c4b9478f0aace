"""A requirement the page grants only under a condition is checked *with* that condition.

The EFS page allows ec2:StartInstances and ec2:TerminateInstances only on instances tagged
EfsIndexWorker. A role with exactly the page's policy meets them (the requirement's context goes
into the simulation); a role that grants more broadly meets them too; a role whose condition asks
for another tag does not, and says it is conditional. Decided by the engine (snapshot backend).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.support.snapshot_builders import allow, details, role, role_arn
from verification.backends import RoleRef
from verification.backends.snapshot import SnapshotBackend
from verification.requirements import load_requirement_set
from verification.verdicts import gather, judge

BACKUP_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _page_policy() -> dict[str, Any]:
    """The indexing policy as the EFS page writes it (the set's own data, as a policy document)."""
    requirements = load_requirement_set("veeam-efs-backup:indexing")
    statements = []
    for r in requirements.by_kind("permission"):
        statement: dict[str, Any] = {"Effect": "Allow", "Action": r.action, "Resource": r.resource}
        if r.context:
            statement["Condition"] = {"StringEquals": {k: v[0] for k, v in r.context}}
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def _verdicts(tmp_path: Path, policy: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    document = details([role("Indexer", inline={"indexing": policy}, trust=BACKUP_TRUST)])
    path = tmp_path / "account.json"
    path.write_text(json.dumps(document))
    requirements = load_requirement_set("veeam-efs-backup:indexing")
    ref = RoleRef.parse(role_arn("Indexer"))
    facts = gather(SnapshotBackend(path), ref, requirements, None)
    assert not facts.errors
    out = {}
    for r in requirements.by_kind("permission"):
        verdict = judge(r, facts, None)
        out[r.id] = (verdict.met, verdict.reason)
    return out


def test_the_pages_own_policy_meets_its_conditional_requirements(tmp_path: Path) -> None:
    verdicts = _verdicts(tmp_path, _page_policy())
    assert len(verdicts) == 5 and all(met for met, _ in verdicts.values()), verdicts


def test_a_broader_grant_meets_them_too(tmp_path: Path) -> None:
    verdicts = _verdicts(
        tmp_path,
        allow("ec2:StartInstances", "ec2:TerminateInstances", "ec2:CreateTags", "ec2:RunInstances", "servicequotas:*"),
    )
    assert all(met for met, _ in verdicts.values()), verdicts


def test_a_grant_for_another_tag_fails_as_conditional(tmp_path: Path) -> None:
    policy = _page_policy()
    page_condition = '"ec2:ResourceTag/EfsIndexWorker": "EfsIndexWorker"'
    text = json.dumps(policy).replace(page_condition, '"ec2:ResourceTag/Other": "x"')
    verdicts = _verdicts(tmp_path, json.loads(text))
    start = verdicts["permission:ec2:StartInstances?ec2:ResourceTag/EfsIndexWorker=EfsIndexWorker"]
    assert start[0] is False and re.match(r"allowed only when ec2:ResourceTag/Other (is|are) present", start[1]), start
    assert verdicts["permission:ec2:RunInstances"] == (True, verdicts["permission:ec2:RunInstances"][1])


def test_without_the_context_the_same_policy_would_not_be_met(tmp_path: Path) -> None:
    """The control: the same actions asked without the page's context are denied by the page's policy."""
    document = details([role("Indexer", inline={"indexing": _page_policy()}, trust=BACKUP_TRUST)])
    path = tmp_path / "account.json"
    path.write_text(json.dumps(document))
    [answer] = SnapshotBackend(path).simulate(role_arn("Indexer"), ["ec2:StartInstances"], resources=("*",))
    assert answer.decision != "allowed"
