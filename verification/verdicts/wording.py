"""Wording shared by the judging rules: the statements an answer names, and a fact that could not be had."""

from __future__ import annotations

from verification.backends import SimulationResult
from verification.errors import CheckError
from verification.policy.model import Evaluation
from verification.verdicts.model import RoleFacts


def evaluation_statement(evaluation: Evaluation) -> str:
    """The engine's deciding statement, as its policy and lines."""
    statement = evaluation.explanation.statement
    if statement is None:
        return "a Deny statement"
    return f"{statement.policy_id} {statement.lines}"


def are(keys: tuple[str, ...]) -> str:
    """ "is" or "are", for a list of keys."""
    return "is" if len(keys) == 1 else "are"


def need(facts: RoleFacts, what: str) -> None:
    """Raise the CheckError of a fact that could not be had: its requirement is broken, never judged."""
    if what in facts.errors:
        error = facts.errors[what]
        raise CheckError(f"could not check: {error.message}", error.hint)


def statement_names(result: SimulationResult) -> str:
    """The statements an answer matched, as policy id and lines, each once."""
    parts = []
    for statement in result.matched_statements:
        start = statement.get("StartPosition") or {}
        end = statement.get("EndPosition") or {}
        lines = ""
        if start.get("Line"):
            lines = f" (lines {start['Line']}-{end.get('Line', start['Line'])})"
        parts.append(f"{statement.get('SourcePolicyId', '?')}{lines}")
    return ", ".join(dict.fromkeys(parts))
