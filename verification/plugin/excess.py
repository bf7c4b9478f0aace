"""``--excess``: each role's permissions beyond its requirement sets, ranked by risk, in every output.

``report`` (the default) computes a role's excess once, at its first test (``verdicts.excess``), and
shows it in the terminal summary, the Markdown step summary, Allure (an attachment and a note on the
role's first test) and the evidence bundle (``roles/<role>/excess.json.gz``, every action). ``fail``
also makes one test per risk group and role, ``excess:<group>``: it fails naming the group's
actions, passes when the group holds none, and is skipped when the group could not be examined
(live, per role, only the high-risk groups are). ``off`` does nothing. In every mode but ``off``, a
required grant the risk table calls risky gets a note with a narrower statement, checked by the engine.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from verification.errors import CheckError
from verification.plugin.keys import CASE_KEY, CAUSE_KEY, EVIDENCE_KEY, EXCESS_KEY, Case
from verification.plugin.run import Run, Target
from verification.reporting.markdown import cell
from verification.requirements.risk import risk_table
from verification.verdicts import RoleFacts, Verdict
from verification.verdicts.excess import Excess, excess_for, narrower_note

#: A test id's requirement part for a risk group's test: ``excess:privilege-escalation``.
PREFIX = "excess:"
#: How many actions a summary line names per group before counting the rest.
SHOWN = 5


def mode(config: pytest.Config) -> str:
    """``--excess``: report, fail or off (report when the option is absent)."""
    return str(getattr(config.option, "excess", "report") or "report")


def groups(config: pytest.Config) -> list[str]:
    """The risk groups each role gets an excess test of (``excess:<group>``), only with ``--excess fail``."""
    if mode(config) != "fail":
        return []
    return list(risk_table().groups)


def summary_of(excess: Excess) -> dict[str, Any]:
    """What the summaries need of a role's excess (sent by xdist workers to the controller): small."""
    return {
        "counts": excess.counts(),
        "first": {g: [a.action for a in excess.group(g)][:SHOWN] for g in excess.examined},
        "method": excess.method,
        "note": excess.note,
        "error": excess.error,
    }


#: How many actions of each group Allure names; every action is in the evidence's excess.json.gz.
SHOWN_PER_GROUP = 10


def allure_view(excess: Excess) -> dict[str, Any]:
    """What the role's Allure attachment shows: each group's count and first actions, and how it was decided.

    A passing role's results must fit in ~100 KiB (docs/nightly.md), so the full list, with where
    each action is allowed, stays in the evidence bundle.
    """
    return {
        "role": excess.role,
        "counts": excess.counts(),
        "first": {
            group: [a.action for a in excess.group(group)[:SHOWN_PER_GROUP]]
            for group in excess.examined
            if excess.group(group)
        },
        "method": excess.method,
        "note": excess.note,
        "error": excess.error,
        "every action": "in the evidence bundle: roles/<role>/excess.json.gz (gzip-compressed JSON)",
    }


def role_excess(config: pytest.Config, run: Run, facts: RoleFacts) -> Excess | None:
    """A role's excess, computed once per process; reported (Allure, evidence, summaries) the first time."""
    if mode(config) == "off":
        return None
    arn = facts.ref.arn
    state: dict[str, Excess] = run.excess_state.setdefault("excess", {})
    found = state.get(arn)
    if found is not None:
        return found
    target = run.targets[arn]
    backend = run.backend(target.connection)
    found = state[arn] = excess_for(backend, facts, target.requirements, run.scope)
    run.excess[arn] = summary_of(found)
    from verification.reporting.evidence import write_excess

    evidence = config.stash.get(EVIDENCE_KEY, None)
    if evidence is not None:
        risky = narrower_notes(run, target, facts)
        write_excess(evidence.bundle, arn, {**found.as_dict(), "required_but_risky": risky})
    return found


def narrower_notes(run: Run, target: Target, facts: RoleFacts) -> dict[str, str]:
    """Per required grant the risk table calls risky: its note (a narrower statement the engine checked)."""
    cache: dict[str, dict[str, str]] = run.excess_state.setdefault("narrower", {})
    key = f"{target.ref.arn} {target.requirements.sha256}"
    if key not in cache:
        region = (facts.regions or run.scope.regions or ("us-east-1",))[0]
        notes = {
            r.id: narrower_note(r, target.requirements, target.ref, region)
            for r in target.requirements.by_kind("permission")
        }
        cache[key] = {k: v for k, v in notes.items() if v}
    return cache[key]


def with_note(config: pytest.Config, run: Run, facts: RoleFacts, verdict: Verdict) -> Verdict:
    """The verdict with its requirement's "required, but risky" note added (its outcome unchanged)."""
    if mode(config) == "off" or verdict.requirement.kind != "permission":
        return verdict
    note = narrower_notes(run, run.targets[facts.ref.arn], facts).get(verdict.requirement.id)
    if not note:
        return verdict
    from dataclasses import replace

    return replace(verdict, note="; ".join(n for n in (verdict.note, note) if n))


def setup_group_test(item: pytest.Item, run: Run, case: Case) -> None:
    """Setup of an ``excess:<group>`` test: the role's excess, stashed for the test to judge."""
    arn, group = case.role, case.subject
    facts = run.role_facts(arn)
    excess = role_excess(item.config, run, facts)
    assert excess is not None  # groups() makes these tests only with --excess fail
    item.stash[EXCESS_KEY] = excess
    if excess.error:
        item.stash[CAUSE_KEY] = "could-not-check"
        raise CheckError(f"could not check: excess not examined: {excess.error}")
    if group not in excess.examined:
        item.stash[CAUSE_KEY] = "skipped"
        pytest.skip(f"{group} not examined: {excess.note}")


def assert_group(request: pytest.FixtureRequest) -> None:
    """Fail when the role holds permissions of the test's group beyond its sets, naming them."""
    __tracebackhide__ = True
    item: pytest.Item = request.node
    group = item.stash[CASE_KEY].subject
    excess = item.stash[EXCESS_KEY]
    found = excess.group(group)
    if found:
        item.stash[CAUSE_KEY] = f"excess-{group}"
        pytest.fail(
            f"{len(found)} {group} permission(s) beyond the requirement sets: {excess.names(group, SHOWN)}\n"
            "what to change: remove them from the role's policies, or deny them in its permissions boundary "
            "(every action, with where it is allowed, is in the evidence's excess.json.gz)",
            pytrace=False,
        )
    item.stash[CAUSE_KEY] = "met"


# --- the summaries ----------------------------------------------------------------------------------------


def _counts_text(summary: dict[str, Any]) -> str:
    if summary.get("error"):
        return f"not examined: {summary['error']}"
    parts = []
    for group in risk_table().groups:
        if group not in summary["counts"]:
            parts.append(f"{group} -")
            continue
        count = summary["counts"][group]
        first = summary["first"].get(group) or []
        more = f" and {count - len(first)} more" if count > len(first) else ""
        parts.append(f"{group} {count}" + (f" ({', '.join(first)}{more})" if count else ""))
    return "; ".join(parts)


def terminal_lines(run: Run) -> list[str]:
    """The terminal summary's excess section: a line per role, ranked groups with their first actions."""
    if not run.excess:
        return []
    lines = ["excess permissions (beyond the requirement sets; - not examined; see docs/excess.md):"]
    for arn, summary in sorted(run.excess.items()):
        total = sum(summary["counts"].values()) if not summary.get("error") else 0
        head = "none" if total == 0 and not summary.get("error") else f"{total}"
        lines.append(f"  {arn}: {head}: {_counts_text(summary)}")
        if summary.get("note"):
            lines.append(f"    note: {summary['note']}")
    return lines


def markdown_lines(run: Run) -> list[str]:
    """The step summary's excess table: a row per role, a column per group."""
    if not run.excess:
        return []
    groups = risk_table().groups
    lines = [
        "",
        "### Excess permissions (beyond the requirement sets)",
        "",
        "| role | " + " | ".join(groups) + " | note |",
        "| --- | " + " | ".join("---" for _ in groups) + " | --- |",
    ]
    for arn, summary in sorted(run.excess.items()):
        cells = []
        for group in groups:
            if summary.get("error") or group not in summary["counts"]:
                cells.append("not examined")
                continue
            count = summary["counts"][group]
            first = ", ".join(f"`{a}`" for a in summary["first"].get(group) or [])
            cells.append(f"{count}" + (f": {first}" + (" ..." if count > SHOWN else "") if count else ""))
        note = summary.get("error") or summary.get("note") or ""
        lines.append("| " + " | ".join([cell(arn), *(cell(c) for c in cells), cell(note)]) + " |")
    return lines


def worker_output(config: pytest.Config, run: Run) -> None:
    """On an xdist worker: hand the controller the roles' excess summaries."""
    if hasattr(config, "workeroutput"):
        config.workeroutput["verification_excess"] = json.loads(json.dumps(run.excess))


class ExcessXdist:
    """Controller: the workers' excess summaries, merged into the run's."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        self.run.excess.update(getattr(node, "workeroutput", {}).get("verification_excess") or {})
