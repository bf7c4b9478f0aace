"""SimulatePrincipalPolicy in one place: the request a backend sends, and the reading of its answer.

Every backend asks with one ``SimulationRequest`` and reads ``EvaluationResults`` with
``read_results``, whichever dialect answered:

- before the July 2026 change (botocore < 1.43.60): one result per action and resource, the
  resource named at the top level; an SCP denial is ``implicitDeny`` with
  ``AllowedByOrganizations: false``;
- since then: one result per action, the top level naming an ARN template (or ``*``) and holding
  the most restrictive decision, per-resource answers in ``ResourceSpecificResults``; an explicit
  SCP denial is ``explicitDeny`` with no SCP statement in ``MatchedStatements``.

Attribution is normalised here too, so a reason reads the same from either dialect: an inline
policy named ``role_<Role>_<Policy>`` (as AWS has been seen to name it) reads as ``<Policy>``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verification.errors import CheckError
from verification.scope.context import context_entries

#: How restrictive a decision is; anything unknown counts as the most restrictive.
_RESTRICTIVENESS = {"allowed": 0, "implicitDeny": 1, "explicitDeny": 2}


def restrictiveness(decision: str) -> int:
    """Order decisions so the most restrictive of several answers can be kept."""
    return _RESTRICTIVENESS.get(decision, 3)


@dataclass(frozen=True)
class SimulationRequest:
    """One simulation a backend is asked for: who, which actions, on what, in which context."""

    principal_arn: str
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)
    context: Mapping[str, Sequence[str]] | None = None
    extra_policies: tuple[str, ...] = ()
    #: The (lower-cased action, resource) answers the caller will read, or None for all of them.
    #: ``ResourceArns`` apply to every action of a call, so one call of 82 actions on 15 resources
    #: answers 1,230 pairs of which a verdict reads about 200 (each action on ``*`` and its own
    #: types). The rest are still checked for shape and strictness, but not turned into results, and
    #: the engine does not decide them. Not part of the request AWS sees.
    wanted: frozenset[tuple[str, str]] | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The request as SimulatePrincipalPolicy parameters (also what the evidence records)."""
        params: dict[str, Any] = {
            "PolicySourceArn": self.principal_arn,
            "ActionNames": list(self.actions),
            "ResourceArns": list(self.resources),
        }
        if self.context:
            params["ContextEntries"] = context_entries(self.context)
        if self.extra_policies:
            params["PolicyInputList"] = list(self.extra_policies)
        return params

    def read(self, results: Sequence[Mapping[str, Any]]) -> list[SimulationResult]:
        """Read this request's ``EvaluationResults`` (either dialect), the wanted answers only."""
        return read_results(results, self.principal_arn, wanted=self.wanted, asked=self.resources)

    def pairs_of(self, action: str) -> tuple[str, ...]:
        """The resources whose answers for ``action`` are wanted, in the order asked."""
        if self.wanted is None:
            return self.resources
        lowered = action.lower()
        return tuple(r for r in self.resources if (lowered, r) in self.wanted)


def policy_name(source_policy_id: str, principal_arn: str | None) -> str:
    """The policy's own name from a ``SourcePolicyId``, in either form AWS gives it.

    AWS has been seen to name a role's inline policy ``role_<RoleName>_<PolicyName>`` (and a user's or
    group's alike); managed policies and ``PolicyInputList.N`` come as they are.
    """
    if principal_arn and ":" in principal_arn:
        resource = principal_arn.split(":", 5)[-1]
        kind, _, rest = resource.partition("/")
        name = rest.rsplit("/", 1)[-1]
        prefix = f"{kind}_{name}_"
        if kind in ("role", "user", "group") and name and source_policy_id.startswith(prefix):
            return source_policy_id[len(prefix) :] or source_policy_id
    return source_policy_id


@dataclass(frozen=True)
class SimulationResult:
    """One action's simulated decision on one resource, from AWS or the local engine, in one shape.

    ``explanation`` is the engine's machine-readable reason when the engine decided (snapshot);
    the live API gives none, and the verdict is then read from the AWS fields alone.
    """

    action: str
    resource: str
    decision: str
    matched_statements: tuple[Mapping[str, Any], ...] = ()
    missing_context: tuple[str, ...] = ()
    allowed_by_organizations: bool | None = None
    allowed_by_boundary: bool | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    explanation: Any = None
    #: Read from ``ResourceSpecificResults`` (so ``resource`` is one the caller asked about).
    specific: bool = False
    #: Double entry (fleet mode): the engine's own answer to the same question (a ``SimulationResult``),
    #: or the ``CheckError`` that kept it from answering; None when the engine was not asked.
    second_opinion: Any = None

    @classmethod
    def from_results(
        cls, results: Sequence[Mapping[str, Any]], principal_arn: str | None = None
    ) -> list[SimulationResult]:
        """``read_results``, kept under the name callers know."""
        return read_results(results, principal_arn)


def read_results(
    results: Sequence[Mapping[str, Any]],
    principal_arn: str | None = None,
    *,
    wanted: frozenset[tuple[str, str]] | None = None,
    asked: Sequence[str] = (),
) -> list[SimulationResult]:
    """Read ``EvaluationResults`` in either dialect into one entry per action and resource.

    With ``wanted``, an answer about a resource that was ``asked`` but whose pair is not wanted is
    checked (its fields, and its decision counts towards the strictest) but not returned; an answer
    about a resource that was not asked is always returned, so the caller sees it and refuses it.

    CheckError on a malformed answer, and on one that contradicts itself whatever the dialect (an
    "allowed" that the organization or the boundary does not allow). A top-level decision stricter
    than its per-resource answers is not a contradiction: since 2026 the top level also carries the
    SCP's decision, which per-resource answers leave out; each resource then gets the stricter one.
    """
    out: list[SimulationResult] = []
    asked_set = frozenset(asked)
    try:
        for result in results:
            specific = result.get("ResourceSpecificResults") or []
            top = str(result["EvalDecision"])
            if specific:
                # The top level is the most restrictive over the resources asked; stricter than every
                # one of them, it carries what they leave out (an SCP's decision), so each takes it.
                strictest = max(restrictiveness(str(item["EvalResourceDecision"])) for item in specific)
                action = str(result["EvalActionName"]).lower()
                kept = [
                    item
                    for item in specific
                    if wanted is None
                    or (action, item["EvalResourceName"]) in wanted
                    or item["EvalResourceName"] not in asked_set
                ]
                # Each answer keeps its action's top level as ``raw`` (its evidence). Cut down to the
                # answers wanted, it no longer holds the rest of a 1,230-answer reply in memory.
                raw = result if wanted is None else {**result, "ResourceSpecificResults": kept}
                stricter = restrictiveness(top) > strictest
                for item in kept:
                    decision = str(item["EvalResourceDecision"])
                    source: Mapping[str, Any] = item
                    if stricter:
                        decision, source = top, _stricter_top(item)
                    out.append(_one(raw, item["EvalResourceName"], decision, source, True, principal_arn, stricter))
            else:
                name = result.get("EvalResourceName", "*")
                action = str(result["EvalActionName"]).lower()
                if wanted is not None and (action, name) not in wanted and name in asked:
                    continue
                out.append(_one(result, name, top, result, False, principal_arn))
    except (KeyError, TypeError, AttributeError) as error:
        raise CheckError(f"malformed SimulatePrincipalPolicy answer: missing or bad field {error}") from None
    return out


def _stricter_top(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """The fields that explain a top-level decision stricter than every per-resource one: no statement.

    Since 2026 the top level's ``MatchedStatements`` is the union of the per-resource ones, and none
    of those decided it (each resource's answer is kinder): what they leave out, the organization's
    policies, did. Naming them would blame the role's own Allow for an explicit deny.
    """
    merged = dict(item)
    merged["MatchedStatements"] = []
    return merged


def _one(
    top: Mapping[str, Any],
    resource: str,
    decision: str,
    source: Mapping[str, Any],
    specific: bool,
    principal_arn: str | None,
    organizations_decided: bool = False,
) -> SimulationResult:
    """One answer; with ``organizations_decided`` (a top level stricter than every per-resource answer,
    which leave only the organization's policies out) the organization did not allow it even when the
    answer carries no ``OrganizationsDecisionDetail``."""
    organizations = top.get("OrganizationsDecisionDetail") or (
        {"AllowedByOrganizations": False} if organizations_decided else {}
    )
    boundary = source.get("PermissionsBoundaryDecisionDetail") or top.get("PermissionsBoundaryDecisionDetail") or {}
    matched = tuple(
        {**statement, "SourcePolicyId": policy_name(str(statement["SourcePolicyId"]), principal_arn)}
        if isinstance(statement, Mapping) and "SourcePolicyId" in statement
        else statement
        for statement in source.get("MatchedStatements") or ()
    )
    result = SimulationResult(
        action=str(top["EvalActionName"]),
        resource=str(resource),
        decision=str(decision),
        matched_statements=matched,
        missing_context=tuple(source.get("MissingContextValues") or top.get("MissingContextValues") or ()),
        allowed_by_organizations=organizations.get("AllowedByOrganizations"),
        allowed_by_boundary=boundary.get("AllowedByPermissionsBoundary"),
        raw=dict(top),
        specific=specific,
    )
    if result.decision == "allowed" and False in (result.allowed_by_organizations, result.allowed_by_boundary):
        raise CheckError(
            f"contradictory simulation answer for {result.action}: allowed, yet not allowed by "
            f"{'the organization' if result.allowed_by_organizations is False else 'the permissions boundary'}"
        )
    return result


def not_simulated(actions: Iterable[str] = ()) -> list[str]:
    """What no simulation sees, AWS's nor the engine's on a snapshot: named in every report.

    Resource-based policies of the resources the role will touch are not fetched (a KMS key policy
    that does not delegate to IAM fails every ``kms:`` call whatever the role holds); resource control
    policies, session policies and VPC endpoint policies are not evaluated; and nothing says whether
    a service is enabled in an opt-in region. ``actions`` (the required ones) count what is affected.
    """
    services = Counter(action.split(":", 1)[0].lower() for action in actions if ":" in action)

    def affected(service: str) -> str:
        count = services.get(service, 0)
        return f" ({count} {service}: requirement{'s' if count != 1 else ''})" if count else ""

    return [
        f"KMS key policies{affected('kms')}",
        f"SQS queue policies{affected('sqs')}",
        f"S3 bucket policies{affected('s3')}",
        "resource control policies (RCPs)",
        "session policies",
        "VPC endpoint policies",
        "opt-in regions (whether a service is enabled there)",
    ]
