"""The engine's data model: requests, policy layers and evaluations.

An ``Evaluation`` renders to the shape of one ``EvaluationResult`` of iam:SimulatePrincipalPolicy,
so that live answers and local answers are interchangeable; ``Explanation`` adds what AWS does
not say: which layer decided, which statement, which condition key failed or was missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from verification.policy.parse import Policy

Decision = Literal["allowed", "explicitDeny", "implicitDeny"]
Layer = Literal["identity", "boundary", "scp", "resource", "trust", "none"]
PrincipalKind = Literal["AWS", "Service", "Federated", "CanonicalUser", "*"]


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as a resource or trust policy names it.

    ``kind`` "AWS" with ``id`` an account id, an ``arn:aws:iam::ID:root`` ARN, or a role/user ARN;
    "Service" with a service principal such as ``ec2.amazonaws.com``; "Federated" with a provider.
    """

    kind: PrincipalKind
    id: str

    @property
    def account(self) -> str | None:
        """The 12-digit account of an AWS principal, else None."""
        if self.kind != "AWS":
            return None
        if self.id.isdigit() and len(self.id) == 12:
            return self.id
        parts = self.id.split(":")
        if len(parts) >= 6 and parts[0] == "arn" and parts[4].isdigit():
            return parts[4]
        return None


@dataclass(frozen=True)
class Context:
    """Request context: condition key (matched case-insensitively) to its string values.

    Values stay strings; each condition operator reads them as it needs (numbers, dates, IPs...).
    A key that is absent is different from a key with an empty list of values.
    """

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Mapping[str, str | Sequence[str]] | None = None) -> Context:
        """Build a context from ``{key: value or [values]}``; keys are folded to lower case."""
        folded: dict[str, tuple[str, ...]] = {}
        for key, value in (entries or {}).items():
            folded[key.lower()] = (value,) if isinstance(value, str) else tuple(value)
        return cls(folded)

    @classmethod
    def from_context_entries(cls, entries: Iterable[Mapping[str, Any]]) -> Context:
        """Build a context from SimulatePrincipalPolicy ``ContextEntries``."""
        return cls.of({e["ContextKeyName"]: [str(v) for v in e.get("ContextKeyValues", [])] for e in entries})

    def get(self, key: str) -> tuple[str, ...] | None:
        """The values of ``key`` (any case), or None when the key is absent."""
        return self.values.get(key.lower())


@dataclass(frozen=True)
class Request:
    """One request to decide: an action on a resource, by an optional principal, in a context."""

    action: str
    resource: str = "*"
    principal: Principal | None = None
    context: Context = field(default_factory=Context)


@dataclass(frozen=True)
class PolicySet:
    """The policies that bear on one principal's requests, layer by layer.

    ``scps`` lists the organization levels root → OUs → account, each a tuple of the SCPs attached
    there; an empty tuple means the account is not governed by SCPs. ``principal_arn`` is the
    principal whose identity policies these are (for policy variables and same-account rules).
    """

    identity: tuple[Policy, ...] = ()
    boundary: Policy | None = None
    scps: tuple[tuple[Policy, ...], ...] = ()
    resource: Policy | None = None
    principal_arn: str | None = None


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in a policy's JSON text, as AWS reports them."""

    line: int
    column: int


@dataclass(frozen=True)
class MatchedStatement:
    """A statement that took part in the decision."""

    policy_id: str
    policy_type: str
    effect: Literal["Allow", "Deny"]
    start: Position
    end: Position
    sid: str | None = None
    index: int = 0
    #: Where AWS says the statement starts: just after the ``[`` or ``,`` before its ``{``.
    reported_start: Position | None = None

    @property
    def lines(self) -> str:
        """``lines a-b`` as AWS's answer would give them, so every report names the same lines."""
        return f"lines {(self.reported_start or self.start).line}-{self.end.line}"

    def to_result(self) -> dict[str, Any]:
        """The ``MatchedStatements`` entry of a SimulatePrincipalPolicy result, positions as AWS counts."""
        start = self.reported_start or self.start
        return {
            "SourcePolicyId": self.policy_id,
            "SourcePolicyType": self.policy_type,
            "StartPosition": {"Line": start.line, "Column": start.column},
            "EndPosition": {"Line": self.end.line, "Column": self.end.column},
        }


@dataclass(frozen=True)
class ConditionMiss:
    """One condition test that kept a statement from applying: what the policy wanted, what the request carried.

    ``actual`` is None when the request did not carry the key at all.
    """

    operator: str
    key: str
    wanted: tuple[str, ...]
    actual: tuple[str, ...] | None


@dataclass(frozen=True)
class NearMiss:
    """The Allow that came closest to allowing an implicitly denied request, and what kept it from applying.

    ``conditions`` are its condition tests that did not hold; ``patterns`` (non-empty only when its
    Resource or NotResource kept it from applying) are that element's patterns as written, judged
    on ``resource``. The statement that fails on the fewest elements is the nearest.
    """

    statement: MatchedStatement
    resource: str
    conditions: tuple[ConditionMiss, ...] = ()
    patterns: tuple[str, ...] = ()
    not_resource: bool = False

    @property
    def resource_missed(self) -> bool:
        """Did the Resource (or NotResource) element keep the statement from applying?"""
        return bool(self.patterns)


@dataclass(frozen=True)
class Explanation:
    """Why the decision came out as it did, for machines and for the report.

    ``layer`` decided; ``statement`` is the deciding statement (the explicit deny, or the allow that
    granted); ``failed_condition_keys`` are keys whose condition evaluated false on an otherwise
    matching statement; ``missing_condition_keys`` are keys such a statement needed and the
    context lacked (an allow "only when these are present").

    ``scoped_denies`` is filled only when the request's resource is exactly ``"*"`` (the simulator's
    default, matched literally as AWS's simulator does) and the decision is "allowed" or
    "implicitDeny": the Deny statements of any layer (SCP levels, resource policy, identity,
    boundary, in that order) that match the action, the principal and the conditions of the
    request, and that were passed over only because their Resource does not match ``"*"`` literally.
    Each denies the action on some real resources although the decision on ``"*"`` does not show
    it. A NotResource Deny is never scoped: exclusions covering only some resources do not match
    ``"*"``, so it denies ``"*"`` outright; one that excludes ``"*"`` excludes every resource.
    """

    layer: Layer
    reason: str
    statement: MatchedStatement | None = None
    failed_condition_keys: tuple[str, ...] = ()
    missing_condition_keys: tuple[str, ...] = ()
    dangling_principals: tuple[str, ...] = ()
    requires_caller_allow: bool = False
    scoped_denies: tuple[MatchedStatement, ...] = ()
    #: An explicit deny whose every matching Deny held only because these tests' keys were absent
    #: (e.g. "NotIpAddress aws:SourceIp 192.0.2.0/24"): a request that carries them may be allowed.
    denied_on_absence: tuple[str, ...] = ()
    #: On an implicit deny: the Allow of the deciding layer that nearly applied, and why it did not.
    nearest: NearMiss | None = None


@dataclass(frozen=True)
class Evaluation:
    """The decision for one request, in SimulatePrincipalPolicy's terms plus an explanation."""

    action: str
    resource: str
    decision: Decision
    matched: tuple[MatchedStatement, ...]
    missing_context: tuple[str, ...]
    explanation: Explanation
    allowed_by_organizations: bool | None = None
    allowed_by_boundary: bool | None = None

    def to_result(self, statements: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """One ``EvaluationResult`` as SimulatePrincipalPolicy returns it.

        ``statements`` is ``MatchedStatements`` already written (an answer shares the entries of
        statements that match many of its requests); by default each is written anew.
        """
        result: dict[str, Any] = {
            "EvalActionName": self.action,
            "EvalResourceName": self.resource,
            "EvalDecision": self.decision,
            "MatchedStatements": [m.to_result() for m in self.matched] if statements is None else statements,
            "MissingContextValues": list(self.missing_context),
        }
        if self.allowed_by_organizations is not None:
            result["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": self.allowed_by_organizations}
        if self.allowed_by_boundary is not None:
            result["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": self.allowed_by_boundary}
        return result
