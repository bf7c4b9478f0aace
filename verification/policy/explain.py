"""The last stage of the pipeline: engine evaluations in SimulatePrincipalPolicy's answer shape.

The local endpoint and the snapshot backend both answer with these, so the harness reads live,
local and offline answers with one reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verification.policy.model import Evaluation, MatchedStatement

#: Lower is more restrictive.
_DECISION_RANK = {"explicitDeny": 0, "implicitDeny": 1, "allowed": 2}


def simulation_results(
    evaluations: Sequence[Evaluation],
    actions: Sequence[str],
    *,
    per_resource: bool = True,
    principal_arn: str | None = None,
) -> list[dict[str, Any]]:
    """One ``EvaluationResult`` per action, in the order asked; LookupError if an action has none.

    With ``per_resource`` (ResourceArns were given) the answer is shaped as IAM answers since 2026:
    the top level holds the most restrictive decision over the resources with the union of their
    matched statements, and ``ResourceSpecificResults`` the per-resource detail. AWS names the
    resource at the top with the action's ARN template or ``*``; without the service catalogue this
    gives ``*``, never an ARN that was asked about. ``EvalDecisionDetails`` is there only when a
    resource is in another account than ``principal_arn``'s (a cross-account simulation), as AWS
    answers since 2026.
    """
    own = _account(principal_arn)
    shared = _Shared()
    by_action: dict[str, list[Evaluation]] = {}
    for evaluation in evaluations:
        by_action.setdefault(evaluation.action.lower(), []).append(evaluation)
    results: list[dict[str, Any]] = []
    for action in actions:
        group = by_action.get(action.lower())
        if not group:
            raise LookupError(f"no evaluation for {action}")
        if not per_resource:
            result = group[0].to_result(shared.statements(group[0].matched))
            result["EvalActionName"] = action
            results.append(result)
            continue
        results.append(_per_resource(action, group, shared, own))
    return results


class _Shared:
    """The entries of one answer that are written once and shared (the answer is read, never changed)."""

    __slots__ = ("entries", "written")

    def __init__(self) -> None:
        # One statement matches most of an answer's requests: its entry is written once and shared,
        # and so is each distinct list of them.
        self.written: dict[tuple[MatchedStatement, ...], list[dict[str, Any]]] = {}
        # Most actions answer alike on a resource (the same statement allows them all): one entry per
        # distinct answer. ``id`` names a list of ``written``, alive as long as this object.
        self.entries: dict[tuple[object, ...], dict[str, Any]] = {}

    def statements(self, matched: tuple[MatchedStatement, ...]) -> list[dict[str, Any]]:
        """``MatchedStatements`` for these statements, written once per answer."""
        found = self.written.get(matched)
        if found is None:
            found = self.written[matched] = [m.to_result() for m in matched]
        return found

    def union(self, group: list[Evaluation]) -> list[dict[str, Any]]:
        """The top level's ``MatchedStatements``: every per-resource answer's, each statement once."""
        first = group[0].matched
        if all(e.matched == first for e in group):
            return self.statements(first)
        return self.statements(tuple(dict.fromkeys(m for e in group for m in e.matched)))

    def specific(self, group: list[Evaluation]) -> list[dict[str, Any]]:
        """``ResourceSpecificResults``: one entry per resource, alike answers sharing one entry."""
        specific = []
        for evaluation in group:
            matched = self.statements(evaluation.matched)
            key = (
                evaluation.resource,
                evaluation.decision,
                id(matched),
                evaluation.missing_context,
                evaluation.allowed_by_boundary,
            )
            entry = self.entries.get(key)
            if entry is None:
                entry = self.entries[key] = {
                    "EvalResourceName": evaluation.resource,
                    "EvalResourceDecision": evaluation.decision,
                    "MatchedStatements": matched,
                    "MissingContextValues": list(evaluation.missing_context),
                }
                if evaluation.allowed_by_boundary is not None:
                    entry["PermissionsBoundaryDecisionDetail"] = {
                        "AllowedByPermissionsBoundary": evaluation.allowed_by_boundary
                    }
            specific.append(entry)
        return specific


def _per_resource(action: str, group: list[Evaluation], shared: _Shared, own: str) -> dict[str, Any]:
    """One action's result over several resources: the most restrictive decision at the top."""
    deciding = group[0] if len(group) == 1 else min(group, key=lambda e: _DECISION_RANK[e.decision])
    top = deciding.to_result(shared.union(group))
    top["EvalActionName"] = action
    top["EvalResourceName"] = "*"
    top["MissingContextValues"] = []
    if own and any(_account(e.resource) not in ("", own) for e in group):
        top["EvalDecisionDetails"] = {"IAM Policy": deciding.decision}
    orgs = [e.allowed_by_organizations for e in group if e.allowed_by_organizations is not None]
    if orgs:
        top["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": all(orgs)}
    top["ResourceSpecificResults"] = shared.specific(group)
    return top


def _account(arn: str | None) -> str:
    """The account segment of an ARN; "" for ``*`` and for ARNs without one."""
    if not arn or not arn.startswith("arn:"):
        return ""
    parts = arn.split(":", 5)
    return parts[4] if len(parts) >= 6 else ""
