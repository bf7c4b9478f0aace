"""A role is judged once: one judgement holds every outcome and the tried fix; the tests and the evidence read it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from verification import FIXTURES
from verification.backends import RoleRef, create_backend
from verification.plugin import SUITE_DIR
from verification.requirements import load_requirement_set
from verification.verdicts import NO_APPLIANCE, AppliancePrincipal, Judgement, gather, judge, judge_role
from verification.verdicts import role as role_module
from verification.verdicts import rules as judge_module

pytest_plugins = ["pytester"]

DEMO_ACCOUNT = FIXTURES / "demo" / "account.json"
WORKER = "arn:aws:iam::123456789012:role/VeeamFLRWorker"
MISCONFIGURED = "arn:aws:iam::123456789012:role/VeeamFLRWorkerMisconfigured"
APPLIANCE = AppliancePrincipal.parse("arn:aws:iam::123456789012:role/VeeamImpersonation")
REQUIREMENTS = load_requirement_set()


def judged(arn: str, appliance: AppliancePrincipal | None = APPLIANCE) -> Judgement:
    backend = create_backend("snapshot", snapshot=DEMO_ACCOUNT)
    facts = gather(backend, RoleRef.parse(arn), REQUIREMENTS, appliance)
    return judge_role(facts, REQUIREMENTS, appliance, backend)


def test_every_outcome_is_the_requirements_verdict() -> None:
    judgement = judged(MISCONFIGURED)

    assert [o.requirement.id for o in judgement.outcomes] == [r.id for r in REQUIREMENTS.requirements]
    for outcome in judgement.outcomes:
        assert outcome.verdict == judge(outcome.requirement, judgement.facts, APPLIANCE)
    statuses = Counter(o.status for o in judgement.outcomes)
    assert statuses["failed"] > 0 and statuses["passed"] > 0 and judgement.failing


def test_a_failing_role_carries_its_fix_tried_and_a_passing_one_none() -> None:
    failing = judged(MISCONFIGURED)
    passing = judged(WORKER)

    assert failing.fix is not None and failing.fix.remediation.needed
    assert "ssmmessages:OpenDataChannel" in json.dumps(failing.fix.remediation.policy)
    assert failing.fix.method  # it was tried (the engine, offline), not only proposed
    assert not passing.failing and passing.fix is None


def test_the_one_skip_rule_skips_only_the_appliance_trust_without_an_appliance() -> None:
    judgement = judged(WORKER, appliance=None)

    skipped = [o for o in judgement.outcomes if o.status == "skipped"]
    assert [o.requirement.principal for o in skipped] == ["appliance"]
    assert skipped[0].skipped == NO_APPLIANCE and skipped[0].cause == "skipped" and skipped[0].verdict is None
    assert not judgement.failing  # a skipped requirement is neither met nor failed: the role still passes


def test_an_unreadable_role_is_broken_everywhere_never_passed() -> None:
    judgement = judged("arn:aws:iam::123456789012:role/NoSuchRole")

    assert {o.status for o in judgement.outcomes} == {"broken"}
    assert all(o.error is not None and o.cause == "could-not-check" for o in judgement.outcomes)
    # Worded once, as the test, the evidence and Allure give it: what could not be checked, and why.
    messages = {o.error.message for o in judgement.outcomes if o.error}
    assert len(messages) == 1 and messages.pop().startswith("could not check: snapshot "), messages
    assert judgement.failing and judgement.fix is None  # nothing to fix on a role that was not read


def test_a_run_judges_each_requirement_once_and_tries_the_fix_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The tests, the evidence bundle and the reports read one judgement: no requirement is judged twice."""
    calls: Counter[str] = Counter()

    def counted(module: Any, name: str) -> None:
        """Count the calls of one of the judging rules, whoever calls it (by requirement id)."""
        real = getattr(module, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            calls[args[0].id if name != "check" else "fix tried"] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)

    for rule in ("_judge_permission", "judge_trust", "_judge_instance_profile"):
        counted(judge_module, rule)
    counted(role_module, "check")
    bundle = tmp_path / "evidence"
    result = pytester.runpytest_inprocess(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "--role-arn",
        MISCONFIGURED,
        "--snapshot",
        str(DEMO_ACCOUNT),
        "--appliance-principal",
        str(APPLIANCE.value),
        f"--evidence-dir={bundle}",
        f"--alluredir={tmp_path / 'allure'}",
    )

    outcomes = result.parseoutcomes()
    assert outcomes["failed"] > 0 and outcomes["passed"] > 0
    assert calls.pop("fix tried") == 1
    assert calls == Counter({r.id: 1 for r in REQUIREMENTS.requirements})
    folder = next((bundle / "roles").iterdir())
    records = json.loads((folder / "verdicts.json").read_text())["verdicts"]
    assert Counter(r["outcome"] for r in records) == Counter(
        {k: v for k, v in outcomes.items() if k in ("passed", "failed")}
    )
    assert (folder / "remediation.json").is_file()
