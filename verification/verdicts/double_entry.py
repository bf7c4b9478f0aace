"""Double entry: a live permission verdict checked against the policy engine's own answer.

When the account's policies were read (fleet mode), every live simulation answer carries the
engine's answer to the same question (``SimulationResult.second_opinion``). The verdict follows AWS,
which is the authority; a disagreement is a note on the test naming both answers, and the evidence
keeps both. One exception (``stricter``): where the engine denies a request on a resource of the
action's own type that AWS's answer allows (a Deny on part of the type), the verdict follows the
stricter answer: double entry never passes what it finds denied. The engine's explanation
(statement, lines, condition keys) goes into the evidence of a live failure, so it is explained as
exactly as an offline one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from verification.backends import SimulationResult
from verification.errors import CheckError
from verification.verdicts.model import Verdict

#: The words every disagreement note starts with (the verdict's ``disagrees`` flag is what is counted).
DISAGREE = "simulator and engine disagree"


def check(verdict: Verdict, result: SimulationResult, engine_reason: str | None = None) -> Verdict:
    """``verdict`` (a ``Verdict``) with the engine's answer in its evidence, and a note when the two differ.

    ``engine_reason``: the reason the engine's answer gives on its own. When the two agree and it
    says more than AWS's answer (a conditional Allow: AWS lists the keys of every statement), it is
    a note; the verdict's reason stays the one AWS's answer gives, as without double entry.
    """
    other = result.second_opinion
    if other is None:
        return verdict
    evidence = dict(verdict.evidence)
    notes = [verdict.note] if verdict.note else []
    if isinstance(other, CheckError):
        evidence["Engine"] = {"error": other.message}
        notes.append(f"the policy engine could not decide this requirement ({other.message}); the verdict is AWS's")
        return dataclasses.replace(verdict, evidence=evidence, note="; ".join(notes))
    if verdict.met and other.decision == result.decision:
        # Both allow: the agreement is kept, not the engine's whole answer (85,000 tests write this).
        evidence["Engine"] = {"EvalDecision": other.decision}
    else:
        evidence["Engine"] = {"EvalDecision": other.decision, "answer": dict(other.raw), **_explained(other)}
    if engine_reason and other.decision == result.decision and engine_reason != verdict.reason:
        notes.insert(0, f"the policy engine, reading the role's policies: {engine_reason}{_where(other)}")
    if other.decision != result.decision:
        notes.insert(
            0,
            f"{DISAGREE}: AWS's simulator says {result.decision}, the policy engine says {other.decision}"
            f"{_because(other)}; the verdict follows AWS",
        )
    scoped = tuple(getattr(other.explanation, "scoped_denies", ()) or ())
    if scoped and result.decision != "explicitDeny":
        where = ", ".join(dict.fromkeys(f"{s.policy_id} ({s.lines})" for s in scoped))
        notes.append(
            f"the policy engine finds a Deny on some resources in {where}: the simulator, matching Resource "
            '"*" literally, does not show it'
        )
    disagrees = other.decision != result.decision
    return dataclasses.replace(verdict, evidence=evidence, note="; ".join(notes), disagrees=disagrees)


def _explained(result: SimulationResult) -> dict[str, Any]:
    """The engine's explanation as evidence: the deciding statement and its lines, the condition keys."""
    explanation = result.explanation
    if explanation is None:
        return {}
    out: dict[str, Any] = {"layer": explanation.layer, "reason": explanation.reason}
    statement = explanation.statement
    if statement is not None:
        out["statement"] = f"{statement.policy_id} ({statement.lines})"
    if explanation.failed_condition_keys:
        out["failed_condition_keys"] = list(explanation.failed_condition_keys)
    if explanation.missing_condition_keys:
        out["missing_condition_keys"] = list(explanation.missing_condition_keys)
    return out


def _where(result: SimulationResult) -> str:
    statement = getattr(result.explanation, "statement", None)
    return f" ({statement.policy_id}, {statement.lines})" if statement is not None else ""


def _because(result: SimulationResult) -> str:
    explanation = result.explanation
    if explanation is None:
        return ""
    statement = explanation.statement
    where = f" by {statement.policy_id} ({statement.lines})" if statement else ""
    return f" ({explanation.reason}{where})"


def stricter(
    verdict: Verdict, engine_verdict: Verdict, resource: str, aws_decision: str, engine_decision: str
) -> Verdict:
    """``verdict`` failed on the engine's stricter answer about ``resource``, the note naming both answers.

    ``engine_verdict``: the verdict the engine's answer gives on its own (its reason, cause, remedy).
    """
    follows = "the verdict follows AWS"
    notes = [n.replace(follows, "the verdict follows the stricter answer") for n in (verdict.note,) if n]
    named = f"{DISAGREE}: AWS's simulator says {aws_decision}, the policy engine says {engine_decision} on {resource}"
    if not verdict.disagrees:
        notes.insert(0, f"{named}; the verdict follows the stricter answer")
    else:
        notes.insert(0, f"{named} (the stricter answer)")
    return dataclasses.replace(
        verdict,
        met=False,
        cause=engine_verdict.cause,
        reason=engine_verdict.reason,
        remedy=engine_verdict.remedy,
        note="; ".join(notes),
        disagrees=True,
    )
