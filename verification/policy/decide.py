"""Decide requests in AWS's order across policy layers, and explain the decision.

Order (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit deny in any layer wins; every SCP level (root → OUs → account) must allow; a resource
policy naming the caller's user or session ARN in the same account grants on its own, one naming a
role ARN is still bounded by the permissions boundary; the boundary must allow; the identity
policies must allow. Cross-account, the identity side and the resource policy must both allow
(reference_policies_evaluation-logic-cross-account.html). Conditions see only the context given.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from verification.policy.match import PrincipalMatch, account_of_arn, identities
from verification.policy.model import (
    Context,
    Decision,
    Evaluation,
    Explanation,
    Layer,
    MatchedStatement,
    NearMiss,
    PolicySet,
    Principal,
    Request,
)
from verification.policy.parse import Policy, Statement

_EMPTY_CONTEXT = Context()
_DIRECT = frozenset({"arn", "role", "any", "service", "federated", "canonical"})


class _LayerResult:
    """What one layer's statements said about a request (slotted: built on every decision)."""

    __slots__ = (
        "absent",
        "allows",
        "conditional",
        "denies",
        "failed_keys",
        "missing_keys",
        "referenced_missing",
        "scoped",
    )

    def __init__(self) -> None:
        self.denies: list[Statement] = []
        self.scoped: list[Statement] = []
        self.allows: list[tuple[Statement, PrincipalMatch | None]] = []
        self.failed_keys: list[str] = []
        self.missing_keys: list[str] = []
        self.referenced_missing: list[str] = []
        self.conditional = False
        #: Per matching Deny (by position in ``denies``): its tests that held only on an absent key.
        self.absent: list[tuple[str, ...]] = []


def _candidates(policies: Iterable[Policy], action_lower: str) -> tuple[Statement, ...]:
    """Statements of ``policies`` whose Action/NotAction matches, in order."""
    return tuple(s for policy in policies for s in policy.statements_for(action_lower))


_PLANS: dict[int, dict[str, tuple[Statement, ...]]] = {}


def _identity_candidates(policies: PolicySet, action_lower: str) -> tuple[Statement, ...]:
    """``_candidates`` for the identity layer, memoised per PolicySet (by identity, dropped with it)."""
    key = id(policies)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = {}
        weakref.finalize(policies, _PLANS.pop, key, None)
    found = plan.get(action_lower)
    if found is None:
        if len(plan) > 4096:
            plan.clear()
        found = plan[action_lower] = _candidates(policies.identity, action_lower)
    return found


def _scan(
    statements: Iterable[Statement],
    request: Request,
    principal: Principal | None,
    *,
    has_boundary: bool = False,
) -> _LayerResult:
    """Match statements (already matched on action) against the request; collect denies, allows, keys."""
    result = _LayerResult()
    context = request.context
    values = context.values
    resource = request.resource
    for statement in statements:
        resources = statement.resources
        if resources is not None:
            if statement.not_resource and resources.variable_patterns and not resources.resolves(context):
                continue  # an unresolved variable invalidates the statement, never widens it
            hit = resources.match_all or resources.matches(resource, context)
            if hit == statement.not_resource:
                if (
                    resource == "*"
                    and not statement.is_allow
                    and _denies_elsewhere(statement, context, principal, has_boundary)
                ):
                    result.scoped.append(statement)
                continue
        how: PrincipalMatch | None = None
        principals = statement.principals
        if principals is not None:
            if statement.not_principal:
                # A boundary-bound caller is always denied by NotPrincipal+Deny (notprincipal page).
                exempt = (
                    principal is not None
                    and not has_boundary
                    and all(principals.names_exactly(i) for i in identities(principal))
                )
                if exempt:
                    continue
            else:
                how = principals.match(principal)
                if how is None:
                    continue
        condition = statement.condition
        absent: tuple[str, ...] = ()
        if condition is not None:
            for lowered, key in statement.condition_keys:
                if lowered not in values:
                    result.referenced_missing.append(key)
            outcome = condition.evaluate(context)
            if not outcome.matched:
                result.failed_keys.extend(outcome.failed_keys)
                result.missing_keys.extend(outcome.missing_keys)
                if statement.is_allow and outcome.missing_keys and not outcome.failed_keys:
                    result.conditional = True
                continue
            absent = outcome.held_on_absence
        if statement.is_allow:
            result.allows.append((statement, how))
        else:
            result.denies.append(statement)
            result.absent.append(absent)
    return result


def _held_on_absence(scan: _LayerResult) -> tuple[str, ...]:
    """The tests that made the layer's denies match on absent keys; () if any Deny matched on present ones.

    A Deny such as ``NotIpAddress aws:SourceIp`` matches a request without the key: a real request
    that carries a matching value is not denied, so the verdict must name the key, not just the Deny.
    """
    if not scan.absent or not all(scan.absent):
        return ()
    return tuple(dict.fromkeys(test for tests in scan.absent for test in tests))


def _denies_elsewhere(statement: Statement, context: Context, principal: Principal | None, has_boundary: bool) -> bool:
    """Would this Deny, passed over on Resource "*" for its Resource alone, deny some real resource?

    Resource: none of its patterns matched "*" literally, so each names real resources. NotResource:
    an exclusion matched "*"; the parser admits only "*" or ARN patterns, so that exclusion is "*"
    and covers every resource (exclusions that cover only some do not match "*" and the Deny
    decides the request outright). Principal and condition are checked as for any deny, without
    recording keys: the decision and its explanation stay as AWS's simulator gives them.
    """
    if statement.not_resource:
        return False
    principals = statement.principals
    if principals is not None:
        if statement.not_principal:
            if (
                principal is not None
                and not has_boundary
                and all(principals.names_exactly(i) for i in identities(principal))
            ):
                return False
        elif principals.match(principal) is None:
            return False
    condition = statement.condition
    return condition is None or condition.evaluate(context).matched


def _scoped(scans: Iterable[_LayerResult | None]) -> tuple[MatchedStatement, ...]:
    """The scoped denies of ``scans``, in order, each statement once."""
    found: dict[MatchedStatement, None] = {}
    for scan in scans:
        if scan is not None:
            for statement in scan.scoped:
                found.setdefault(statement.matched, None)
    return tuple(found)


def _unique(keys: Iterable[str]) -> tuple[str, ...]:
    """Keys de-duplicated case-insensitively, first spelling kept, in order of appearance."""
    if not keys:
        return ()
    seen: dict[str, str] = {}
    for key in keys:
        seen.setdefault(key.lower(), key)
    return tuple(seen.values())


def _caller(request: Request, policies: PolicySet) -> Principal | None:
    if request.principal is not None:
        return request.principal
    if policies.principal_arn:
        return Principal("AWS", policies.principal_arn)
    return None


_EXPLANATIONS: dict[tuple[object, ...], Explanation] = {}


def _explanation(
    layer: Layer,
    reason: str,
    statement: MatchedStatement | None,
    failed: tuple[str, ...],
    missing: tuple[str, ...],
    scoped: tuple[MatchedStatement, ...] = (),
    absent: tuple[str, ...] = (),
    nearest: NearMiss | None = None,
) -> Explanation:
    """Explanations are immutable and repeat across requests: share them (bounded memo)."""
    key = (layer, reason, statement, failed, missing, scoped, absent, nearest)
    found = _EXPLANATIONS.get(key)
    if found is None:
        if len(_EXPLANATIONS) > 4096:
            _EXPLANATIONS.clear()
        found = _EXPLANATIONS[key] = Explanation(
            layer=layer,
            reason=reason,
            statement=statement,
            failed_condition_keys=failed,
            missing_condition_keys=missing,
            scoped_denies=scoped,
            denied_on_absence=absent,
            nearest=nearest,
        )
    return found


def _evaluation(
    request: Request,
    decision: Decision,
    layer: Layer,
    reason: str,
    missing: tuple[str, ...],
    matched: Sequence[MatchedStatement] = (),
    scan: _LayerResult | None = None,
    orgs: bool | None = None,
    bound: bool | None = None,
    scoped: tuple[MatchedStatement, ...] = (),
    nearest: NearMiss | None = None,
) -> Evaluation:
    return Evaluation(
        action=request.action,
        resource=request.resource,
        decision=decision,
        matched=tuple(matched),
        missing_context=missing,
        explanation=_explanation(
            layer,
            reason,
            matched[0] if matched else None,
            _unique(scan.failed_keys) if scan else (),
            _unique(scan.missing_keys) if scan else (),
            scoped,
            _held_on_absence(scan) if scan is not None and decision == "explicitDeny" else (),
            nearest,
        ),
        allowed_by_organizations=orgs,
        allowed_by_boundary=bound,
    )


_DECISIONS: dict[tuple[object, ...], Evaluation] = {}
_DECISIONS_LIMIT = 1 << 16
_LOWERED: dict[tuple[str, ...], tuple[str, ...]] = {}
"""A batch of actions lower-cased, one object per batch: each policy's plan memo then hits by identity."""


def _layers(policies: PolicySet) -> tuple[tuple[Policy, ...], tuple[object, ...]]:
    """Every policy of ``policies`` in a fixed order, and the layer shape that orders them.

    The shape (identity count, boundary and resource presence, policies per SCP level) with the
    policies' per-action fingerprints determines which statements land in which layer.
    """
    scps = tuple(policy for level in policies.scps for policy in level)
    shape = (
        len(policies.identity),
        policies.boundary is not None,
        policies.resource is not None,
        tuple(len(level) for level in policies.scps),
    )
    extra = tuple(p for p in (policies.boundary, policies.resource) if p is not None)
    return (*policies.identity, *extra, *scps), shape


def _context_key(context: Context) -> frozenset[tuple[str, tuple[str, ...]]] | None:
    """The context's values as a hashable key, or None when they cannot be (then nothing is memoised)."""
    try:
        key = frozenset(context.values.items())
        hash(key)
    except TypeError:
        return None
    return key


_PREFIXES: dict[tuple[object, ...], int] = {}
_NEXT_PREFIX = itertools.count()


def _prefix(
    resource: str, context_key: object, request: Request, policies: PolicySet, shape: tuple[object, ...]
) -> int:
    """A token for what a decision reads besides the action and the statements.

    The resource, the context, the caller (which matters only to a resource policy) and the layer
    shape. Tokens are never reused (the counter only grows), so equal tokens mean equal prefixes;
    one int keeps the memo's keys cheap to hash.
    """
    caller = _caller(request, policies) if policies.resource is not None else None
    key = (resource, context_key, caller, shape)
    found = _PREFIXES.get(key)
    if found is None:
        if len(_PREFIXES) >= 4096:
            _PREFIXES.clear()
        found = _PREFIXES[key] = next(_NEXT_PREFIX)
    return found


def _remember(key: tuple[object, ...], evaluation: Evaluation) -> Evaluation:
    if len(_DECISIONS) >= _DECISIONS_LIMIT:
        _DECISIONS.clear()
    _DECISIONS[key] = evaluation
    return evaluation


def evaluate(request: Request, policies: PolicySet) -> Evaluation:
    """Decide one request against every layer of ``policies``, in AWS's order (memoised, see ``evaluate_uncached``)."""
    context_key = _context_key(request.context)
    if context_key is None:
        return evaluate_uncached(request, policies)
    action_lower = request.action.lower()
    ordered, shape = _layers(policies)
    prefix = _prefix(request.resource, context_key, request, policies, shape)
    key = (request.action, prefix, tuple(p.fingerprints_for(action_lower) for p in ordered))
    found = _DECISIONS.get(key)
    return found if found is not None else _remember(key, evaluate_uncached(request, policies))


def evaluate_uncached(request: Request, policies: PolicySet) -> Evaluation:
    """Decide one request against every layer of ``policies``, in AWS's order, without the memo.

    ``evaluate`` and ``simulate`` give the same answers from a memo keyed on everything this reads;
    the equivalence is a property test (tests/policy/test_decide.py).
    """
    action_lower = request.action.lower()
    boundary_policy, resource_policy = policies.boundary, policies.resource
    return _decide(
        request,
        policies,
        _identity_candidates(policies, action_lower),
        boundary_policy.statements_for(action_lower) if boundary_policy else (),
        resource_policy.statements_for(action_lower) if resource_policy else (),
        [_candidates(level, action_lower) for level in policies.scps],
    )


def _decide(
    request: Request,
    policies: PolicySet,
    identity_statements: Sequence[Statement],
    boundary_statements: Sequence[Statement],
    resource_statements: Sequence[Statement],
    scp_statements: Sequence[Sequence[Statement]],
) -> Evaluation:
    """The decision, given each layer's statements whose Action/NotAction matches (one list per SCP level)."""
    boundary_policy, resource_policy = policies.boundary, policies.resource
    caller = _caller(request, policies) if resource_policy is not None else None

    identity = _scan(identity_statements, request, None)
    boundary = _scan(boundary_statements, request, None) if boundary_policy else None
    resource = (
        _scan(resource_statements, request, caller, has_boundary=boundary_policy is not None)
        if resource_policy
        else None
    )
    scp_levels = [_scan(level, request, None) for level in scp_statements]

    referenced = identity.referenced_missing
    if boundary is not None or resource is not None:
        referenced = referenced + (boundary.referenced_missing if boundary else [])
        referenced += resource.referenced_missing if resource else []
    missing = _unique(referenced)
    orgs = None if not scp_levels else all(level.allows for level in scp_levels)
    bound = None if boundary is None else bool(boundary.allows)

    denied = _explicit_deny(request, scp_levels, (resource, identity, boundary), missing, orgs, bound)
    if denied is not None:
        return denied
    scoped: tuple[MatchedStatement, ...] = ()
    if (
        identity.scoped
        or (boundary is not None and boundary.scoped)
        or (resource is not None and resource.scoped)
        or (scp_levels and any(level.scoped for level in scp_levels))
    ):
        scoped = _scoped((*scp_levels, resource, identity, boundary))
    for statements, level in zip(scp_statements, scp_levels, strict=True):
        if not level.allows:
            return _implicit_deny(request, "scp", level, statements, None, "scp-no-allow", missing, orgs, bound, scoped)

    resource_grant = _resource_grant(resource, caller, request.resource, bound)
    if resource_grant is not None:
        matched = [s.matched for s, _ in resource_grant] + [s.matched for s, _ in identity.allows]
        return _evaluation(
            request, "allowed", "resource", "allowed", missing, matched, orgs=orgs, bound=bound, scoped=scoped
        )
    if boundary is not None and not boundary.allows:
        return _implicit_deny(
            request, "boundary", boundary, boundary_statements, None, "boundary-no-allow", missing, orgs, False, scoped
        )
    if not identity.allows:
        return _implicit_deny(
            request, "identity", identity, identity_statements, None, "no-allow", missing, orgs, bound, scoped
        )
    if resource is not None and _cross_account(caller, request.resource) and not resource.allows:
        return _implicit_deny(
            request, "resource", resource, resource_statements, caller, "no-allow", missing, orgs, bound, scoped
        )
    matched = [s.matched for s, _ in identity.allows]
    if resource is not None:
        matched += [s.matched for s, _ in resource.allows]
    return _evaluation(
        request, "allowed", "identity", "allowed", missing, matched, orgs=orgs, bound=bound, scoped=scoped
    )


def _explicit_deny(
    request: Request,
    scp_levels: Sequence[_LayerResult],
    layers: tuple[_LayerResult | None, _LayerResult, _LayerResult | None],
    missing: tuple[str, ...],
    orgs: bool | None,
    bound: bool | None,
) -> Evaluation | None:
    """The explicit deny that decides, if any: an SCP's first, then the resource, identity, boundary layer's."""
    for level in scp_levels:
        if level.denies:
            # Named in the explanation, absent from MatchedStatements as in AWS.
            ev = _evaluation(
                request, "explicitDeny", "scp", "explicit-deny", missing, scan=level, orgs=False, bound=bound
            )
            return _with_statement(ev, level.denies[0].matched)
    names: tuple[Layer, ...] = ("resource", "identity", "boundary")
    for layer_name, scan in zip(names, layers, strict=True):
        if scan is not None and scan.denies:
            denies = [s.matched for s in scan.denies]
            return _evaluation(request, "explicitDeny", layer_name, "explicit-deny", missing, denies, scan, orgs, bound)
    return None


def _implicit_deny(
    request: Request,
    layer: Layer,
    scan: _LayerResult,
    statements: Sequence[Statement],
    principal: Principal | None,
    no_allow: str,
    missing: tuple[str, ...],
    orgs: bool | None,
    bound: bool | None,
    scoped: tuple[MatchedStatement, ...],
) -> Evaluation:
    """An implicit deny at ``layer``: "conditional" when an Allow failed only on its condition, else
    ``no_allow``; with the nearest Allow of ``statements`` to say what to change."""
    reason = "conditional" if scan.conditional else no_allow
    near = _nearest(statements, request, principal)
    return _evaluation(
        request,
        "implicitDeny",
        layer,
        reason,
        missing,
        scan=scan,
        orgs=orgs,
        bound=bound,
        scoped=scoped,
        nearest=near,
    )


def _nearest(statements: Sequence[Statement], request: Request, principal: Principal | None) -> NearMiss | None:
    """The Allow (already matched on action) that fails on the fewest elements, and what it fails on.

    Only the Resource/NotResource element and the Condition tests count: a statement that names
    another principal is about someone else, not nearly this request. Computed on implicit denies
    only, so the decisions that allow pay nothing for it.
    """
    best: tuple[int, NearMiss] | None = None
    context = request.context
    for statement in statements:
        if not statement.is_allow:
            continue
        principals = statement.principals
        if principals is not None and not statement.not_principal and principals.match(principal) is None:
            continue
        patterns: tuple[str, ...] = ()
        resources = statement.resources
        if resources is not None:
            if statement.not_resource and resources.variable_patterns and not resources.resolves(context):
                applies = False
            else:
                applies = (
                    resources.match_all or resources.matches(request.resource, context)
                ) != statement.not_resource
            if not applies:
                patterns = resources.written
        misses = statement.condition.misses(context) if statement.condition is not None else ()
        score = len(misses) + (1 if patterns else 0)
        if score == 0:
            continue
        if best is None or score < best[0]:
            near = NearMiss(statement.matched, request.resource, misses, patterns, statement.not_resource)
            best = (score, near)
    return best[1] if best is not None else None


def _with_statement(ev: Evaluation, statement: MatchedStatement) -> Evaluation:
    """An SCP deny: named in the explanation, absent from MatchedStatements as in AWS."""
    explanation = Explanation(
        layer=ev.explanation.layer,
        reason=ev.explanation.reason,
        statement=statement,
        denied_on_absence=ev.explanation.denied_on_absence,
    )
    return Evaluation(
        action=ev.action,
        resource=ev.resource,
        decision=ev.decision,
        matched=(),
        missing_context=ev.missing_context,
        explanation=explanation,
        allowed_by_organizations=ev.allowed_by_organizations,
        allowed_by_boundary=ev.allowed_by_boundary,
    )


def _cross_account(caller: Principal | None, resource: str) -> bool:
    if caller is None:
        return False
    owner = account_of_arn(resource)
    return owner is not None and caller.account is not None and owner != caller.account


def _resource_grant(
    resource: _LayerResult | None, caller: Principal | None, resource_arn: str, boundary_allows: bool | None
) -> list[tuple[Statement, PrincipalMatch | None]] | None:
    """Resource-policy allows that grant on their own, without an identity allow.

    Same account only (reference_policies_evaluation-logic_policy-eval-basics.html, single account):
    a statement naming the caller's user or role-session ARN, or everyone (``"*"``), or a service,
    grants even past an implicit deny in the permissions boundary; one naming the role ARN (of the
    caller, or of the session's role) is limited by that implicit deny; an account principal
    delegates to the identity policies and grants nothing by itself.
    """
    if resource is None or not resource.allows or _cross_account(caller, resource_arn):
        return None
    direct: list[tuple[Statement, PrincipalMatch | None]] = [(s, how) for s, how in resource.allows if how in _DIRECT]
    if not direct or caller is None:
        return None
    if boundary_allows is False:
        caller_is_role = caller.kind == "AWS" and _role_arn(caller.id)
        direct = [(s, how) for s, how in direct if how != "role" and not (how == "arn" and caller_is_role)]
        return direct or None
    return direct


def _role_arn(arn: str) -> bool:
    """Whether ``arn`` is an IAM role ARN (not an assumed-role session)."""
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[2] == "iam" and parts[5].startswith("role/")


_Layered = tuple[tuple[Statement, ...], tuple[Statement, ...], tuple[Statement, ...], list[tuple[Statement, ...]]]


def _planned(policies: PolicySet, ordered: Sequence[Policy], prints: Sequence[tuple[int, ...]]) -> _Layered:
    """Each layer's statements for one action, from the batch plan's tokens (in ``_layers`` order).

    They depend on the action alone, so a batch builds them once per action, not per resource.
    """
    found = [
        tuple(policy.statement_of(token) for token in tokens) for policy, tokens in zip(ordered, prints, strict=True)
    ]
    count = len(policies.identity)
    identity = tuple(statement for statements in found[:count] for statement in statements)
    boundary: tuple[Statement, ...] = ()
    resource: tuple[Statement, ...] = ()
    if policies.boundary is not None:
        boundary = found[count]
        count += 1
    if policies.resource is not None:
        resource = found[count]
        count += 1
    levels = []
    for level in policies.scps:
        levels.append(tuple(statement for statements in found[count : count + len(level)] for statement in statements))
        count += len(level)
    return identity, boundary, resource, levels


def simulate(
    policies: PolicySet,
    actions: Iterable[str],
    resources: Sequence[str] = ("*",),
    context: Context = _EMPTY_CONTEXT,
) -> list[Evaluation]:
    """One evaluation per action and resource, as SimulatePrincipalPolicy answers them.

    Each policy's matching statements are looked up once per action for the whole batch; a decision
    already made for the same statements, request and context (another role holding the same
    managed policies, or no matching statement at all) is reused from the memo.
    """
    context_key = _context_key(context)
    if context_key is None:
        return [
            evaluate_uncached(Request(action=action, resource=resource, context=context), policies)
            for action in actions
            for resource in resources
        ]
    actions = tuple(actions)
    lowered = _LOWERED.get(actions)
    if lowered is None:
        if len(_LOWERED) >= 8:
            _LOWERED.clear()
        lowered = _LOWERED[actions] = tuple(action.lower() for action in actions)
    ordered, shape = _layers(policies)
    plans = [policy.fingerprint_plan(lowered) for policy in ordered]
    per_action = zip(*plans, strict=True) if plans else (() for _ in lowered)
    template = Request(action="", context=context)
    prefixes = [(resource, _prefix(resource, context_key, template, policies, shape)) for resource in resources]
    found = _DECISIONS.get
    results: list[Evaluation] = []
    for action, prints in zip(actions, per_action, strict=True):
        layered: _Layered | None = None
        for resource, prefix in prefixes:
            key = (action, prefix, prints)
            evaluation = found(key)
            if evaluation is None:
                if layered is None:
                    layered = _planned(policies, ordered, prints)
                request = Request(action=action, resource=resource, context=context)
                evaluation = _remember(key, _decide(request, policies, *layered))
            results.append(evaluation)
    return results


def evaluate_trust(
    trust: Policy,
    principal: Principal,
    *,
    role_arn: str,
    context: Context = _EMPTY_CONTEXT,
    action: str = "sts:AssumeRole",
) -> Evaluation:
    """May ``principal`` assume the role under ``trust``? Says whether the caller's side must allow too.

    A role or user ARN in the role's own account needs no identity allow; an account principal
    (id or ``:root``) or ``"*"`` delegates to the caller's identity policies; any AWS principal from
    another account needs its own identity allow as well
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html).
    """
    request = Request(
        action=action, resource=role_arn, principal=principal, context=_with_principal_keys(context, principal)
    )
    scan = _scan(trust.statements_for(action.lower()), request, principal)
    dangling = trust.dangling_principals
    missing = _unique(scan.referenced_missing)

    def result(decision: Decision, reason: str, matched: Sequence[MatchedStatement], caller: bool) -> Evaluation:
        return Evaluation(
            action=action,
            resource=role_arn,
            decision=decision,
            matched=tuple(matched),
            missing_context=missing,
            explanation=Explanation(
                layer="trust",
                reason=reason,
                statement=matched[0] if matched else None,
                failed_condition_keys=_unique(scan.failed_keys),
                missing_condition_keys=_unique(scan.missing_keys),
                dangling_principals=dangling,
                requires_caller_allow=caller,
            ),
        )

    if scan.denies:
        return result("explicitDeny", "explicit-deny", [s.matched for s in scan.denies], False)
    if scan.allows:
        same_account = principal.account is not None and principal.account == account_of_arn(role_arn)
        is_account = principal.kind == "AWS" and len(identities(principal)) == 1
        needs_caller = principal.kind == "AWS" and (
            not same_account or is_account or all(how in ("account", "any") for _, how in scan.allows)
        )
        return result("allowed", "allowed", [s.matched for s, _ in scan.allows], needs_caller)
    if scan.conditional:
        reason = "conditional"
    elif scan.failed_keys or scan.missing_keys:
        reason = "condition-failed"
    elif dangling:
        reason = "dangling-principal"
    else:
        reason = "trust-no-principal"
    return result("implicitDeny", reason, [], False)


def principal_keys(principal: Principal, now: datetime | None = None) -> dict[str, tuple[str, ...]]:
    """The global condition keys an sts:AssumeRole request by ``principal`` always carries, where known.

    Every signed request has aws:CurrentTime and aws:EpochTime, and STS's are over TLS
    (aws:SecureTransport); an AWS principal calls itself (aws:ViaAWSService false); a role ARN gives aws:PrincipalArn,
    aws:PrincipalAccount and aws:PrincipalType; an account alone gives only the account (which of its
    identities calls is unknown); a service gives aws:PrincipalServiceName
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
    """
    moment = now or datetime.now(UTC)
    keys: dict[str, tuple[str, ...]] = {
        "aws:currenttime": (moment.strftime("%Y-%m-%dT%H:%M:%SZ"),),
        "aws:epochtime": (str(int(moment.timestamp())),),
        "aws:securetransport": ("true",),  # STS answers over TLS only
    }
    if principal.kind == "Service":
        keys["aws:principalservicename"] = (principal.id,)
        keys["aws:principalisawsservice"] = ("true",)
    elif principal.kind == "AWS":
        keys["aws:principalisawsservice"] = ("false",)
        keys["aws:viaawsservice"] = ("false",)  # the appliance calls sts:AssumeRole itself
        if principal.account:
            keys["aws:principalaccount"] = (principal.account,)
        if principal.id.startswith("arn:") and ":role/" in principal.id:
            keys["aws:principalarn"] = (principal.id,)
            keys["aws:principaltype"] = ("AssumedRole",)
    return keys


def _with_principal_keys(context: Context, principal: Principal) -> Context:
    """The request context with the principal's always-present keys added; given values win."""
    return Context({**principal_keys(principal), **context.values})
