"""Ask a backend, once per role, for every fact its requirements need (``gather``).

One simulation per region and requirement context, on the resources the worker's requests name;
the appliance's own sts:AssumeRole; the key policy of ``--kms-key``. A failure is kept per fact.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from verification.backends import Backend, Role, RoleRef, SimulationResult, restrictiveness
from verification.errors import CheckError, InputError
from verification.names import AppliancePrincipal as AppliancePrincipal  # re-exported: its old path
from verification.names import KmsKey as KmsKey  # re-exported: its old path
from verification.policy import Context, PolicyError, PolicySet, Request, evaluate
from verification.policy.account import Account, AccountError
from verification.requirements import Requirement, RequirementSet
from verification.scope.catalogue import touched_types
from verification.scope.context import (
    instance_context,
    merge,
    requirement_context,
    session_context,
    unknown_keys,
)
from verification.scope.regions import action_regions
from verification.verdicts.model import DEFAULT_REGION, Check, RoleFacts, Scope
from verification.verdicts.requests import (
    UNKNOWN_VALUE,
    Judged,
    Probe,
    TooManyParts,
    derived_context,
    judged_resources,
    probe,
    references,
    statements_testing,
)

K = TypeVar("K")


def gather_account(
    backend: Backend,
    ref: RoleRef,
    requirements: RequirementSet,
    appliance: AppliancePrincipal | None,
    kms_key: KmsKey | None = None,
    scope: Scope | None = None,
) -> RoleFacts:
    """Ask the backend, once, for every fact this role's requirements need, in its one account.

    A failure is kept per fact, so a role whose simulation failed still gets its trust verdicts.
    When the role itself cannot be read, nothing else is asked: every requirement is then broken.
    (A backend that weighs several possible accounts is asked through ``verdicts.role.gather``.)
    """
    facts = RoleFacts(ref)
    try:
        facts.role = backend.get_role(ref)
    except (CheckError, InputError) as error:
        failure = error if isinstance(error, CheckError) else CheckError(str(error))
        facts.errors.update(role=failure, profiles=failure, simulation=failure, appliance=failure)
        return facts
    if requirements.by_kind("instance-profile"):
        try:
            facts.profiles = backend.list_instance_profiles(ref)
        except CheckError as error:
            facts.errors["profiles"] = error
    try:
        _gather_permissions(backend, facts, requirements, scope or Scope())
    except CheckError as error:
        facts.errors["simulation"] = error
    wants_appliance = appliance is not None and any(r.principal == "appliance" for r in requirements.by_kind("trust"))
    if wants_appliance and appliance is not None and appliance.role_arn:
        facts.appliance_context, facts.appliance_tags_unknown = _appliance_session(
            backend, appliance, ref, (scope or Scope()).now
        )
    elif wants_appliance and appliance is not None:
        # Named by its account: whichever of its roles the appliance uses, its session has no MFA.
        facts.appliance_context = {"aws:MultiFactorAuthPresent": ("false",), "aws:PrincipalType": ("AssumedRole",)}
        facts.appliance_tags_unknown = (
            f"the appliance is named by its account {appliance.account}: its role, and so its tags, are unknown"
        )
    if appliance is not None and appliance.role_arn and appliance.account == ref.account and wants_appliance:
        try:
            side = backend.simulate(
                appliance.role_arn,
                ["sts:AssumeRole"],
                resources=(ref.arn,),
                context=facts.appliance_context or request_context(appliance.role_arn, (scope or Scope()).now),
                evidence_key=ref.arn,
            )
            assume: dict[tuple[str, str], SimulationResult] = {}
            for result in side:
                if result.action.lower() == "sts:assumerole":
                    _keep_strictest(assume, ("sts:assumerole", ref.arn), result)
            if not assume:
                raise CheckError("the appliance role's simulation returned no answer for sts:AssumeRole")
            facts.appliance_side = assume[("sts:assumerole", ref.arn)]
        except (CheckError, InputError) as error:
            # A snapshot of the role's account does not hold an appliance role of another account.
            facts.errors["appliance"] = error if isinstance(error, CheckError) else CheckError(str(error))
    if kms_key is not None and any(
        (r.action or "").lower().startswith("kms:") for r in requirements.by_kind("permission")
    ):
        facts.kms_key = kms_key
        facts.kms_context = _kms_context(facts, kms_key, scope or Scope(), backend)
        try:
            facts.key_policy = backend.get_key_policy(kms_key.arn, evidence_key=ref.arn)
        except CheckError as error:
            facts.errors["kms-key"] = error
    return facts


def _role_session(facts: RoleFacts, scope: Scope, backend: Backend) -> dict[str, tuple[str, ...]]:
    """The keys the role's EC2 instance session carries on every request (its tags and RoleId when read)."""
    role = facts.role
    return session_context(
        facts.ref.arn,
        role_id=role.role_id if role else "",
        tags=role.tags if role else None,
        org_id=scope.org_id or backend.organization_id,
        now=scope.now,
    )


def _kms_context(facts: RoleFacts, key: KmsKey, scope: Scope, backend: Backend) -> dict[str, tuple[str, ...]]:
    """The context a request on ``key`` by the role's instance session carries, as the identity policies see it.

    The session's keys (MFA false, its tags, its RoleId), the instance credentials' ARN, the run's
    ``--context``, the key's region and ``kms:CallerAccount`` (the caller's account,
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-caller-account).
    """
    ref = facts.ref
    region = key.arn.split(":")[3]
    session = _role_session(facts, scope, backend)
    return merge(
        session,
        instance_context(ref.partition, region, ref.account),
        scope.context,
        {"aws:RequestedRegion": (region,), "kms:CallerAccount": (ref.account,)},
    )


#: The appliance role as each backend read it (one GetRole per run and appliance, not per verified role).
_APPLIANCE_ROLES: weakref.WeakKeyDictionary[Backend, dict[str, Role | CheckError]] = weakref.WeakKeyDictionary()


_APPLIANCE_LOCK = threading.Lock()


def _appliance_session(
    backend: Backend, appliance: AppliancePrincipal, ref: RoleRef, now: datetime | None
) -> tuple[dict[str, tuple[str, ...]], str]:
    """The context of the appliance's own session as it calls sts:AssumeRole, and why its tags are unknown ("").

    The appliance calls STS with its Impersonation role's temporary credentials: MFA false, its
    role's tags as ``aws:PrincipalTag/*``, ``aws:userid`` its RoleId and session. The role is read
    with GetRole in the verified account (fleet mode answers from GAAD); in another account its tags
    cannot be read, and a condition on them is then "depends on".
    """
    assert appliance.role_arn is not None
    if appliance.account != ref.account:
        return session_context(appliance.role_arn, now=now), (
            f"the appliance role is in account {appliance.account}, whose roles this run does not read: "
            "its tags are unknown"
        )
    with _APPLIANCE_LOCK:  # fleet mode gathers roles on threads: one GetRole, not one per thread
        known = _APPLIANCE_ROLES.setdefault(backend, {})
        found = known.get(appliance.role_arn)
        if found is None:
            try:
                found = backend.get_role(RoleRef.parse(appliance.role_arn))
            except (CheckError, InputError) as error:
                found = error if isinstance(error, CheckError) else CheckError(str(error))
            known[appliance.role_arn] = found
    if isinstance(found, CheckError):
        return session_context(appliance.role_arn, now=now), (
            f"the appliance role {appliance.role_arn} could not be read ({found.message}): its tags are unknown"
        )
    return session_context(appliance.role_arn, role_id=found.role_id, tags=found.tags, now=now), ""


def request_context(principal_arn: str, now: datetime | None = None) -> dict[str, tuple[str, ...]]:
    """The keys every request of ``principal_arn``'s EC2 instance-role session carries (no tags known)."""
    return session_context(principal_arn, now=now)


#: A simulation's identity: its region, the requirement's own context, and (unbatched) its resources.
_CallKey = tuple[str, tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]


@dataclass
class _Call:
    """One simulation to make: actions on resources, in one region, with one context."""

    region: str
    context: dict[str, tuple[str, ...]]
    actions: dict[str, None] = field(default_factory=dict)
    resources: dict[str, None] = field(default_factory=dict)
    #: The (lower-cased action, resource) answers a verdict reads: the rest of the cross product is not.
    wanted: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class _Plan:
    """The simulations a role's permissions need, and which answers each requirement reads."""

    calls: dict[_CallKey, _Call] = field(default_factory=dict)
    #: Per requirement id: (region, judged resource, call) for every request it is judged on.
    wanted: dict[str, list[tuple[str, Judged, _CallKey]]] = field(default_factory=dict)
    #: The role's policies when in hand (one account's), and the unknown keys their conditions test.
    policies: PolicySet | None = None
    tested: tuple[str, ...] = ()


def _gather_permissions(backend: Backend, facts: RoleFacts, requirements: RequirementSet, scope: Scope) -> None:
    """Simulate every permission in every region it is judged in, on the resources its requests name.

    One simulation per region (and per distinct requirement context): all actions of that region
    on the union of their resources, since ``ResourceArns`` apply to every action of a call. Global
    services' actions are judged in their partition's global region only. An action that takes a
    resource type is judged on that type's ARNs (one per part its statements set apart, where the
    policies are in hand), never on a literal ``*``; one that takes none, on ``*``.
    """
    permissions = requirements.by_kind("permission")
    if not permissions:
        return
    plan = _plan(backend, facts, permissions, scope)
    answers: dict[tuple[object, ...], SimulationResult] = {}
    for key, call in plan.calls.items():
        asked = list(call.resources)
        results = backend.simulate(
            facts.ref.arn,
            list(call.actions),
            resources=asked,
            context=call.context,
            evidence_key=facts.ref.arn,
            wanted=frozenset(call.wanted),
        )
        for result in results:
            for resource in _resources_answered(result, asked):
                _keep_strictest(answers, (key, result.action.lower(), resource), result)
    _explain_implicit_denies(backend, facts.ref, answers, plan.calls)
    _record_checks(facts, permissions, plan, answers)


def _plan(backend: Backend, facts: RoleFacts, permissions: Sequence[Requirement], scope: Scope) -> _Plan:
    """Which simulations to make: one per region and requirement context (live), or per resource set (offline)."""
    ref = facts.ref
    regions = scope.regions or (backend.region or DEFAULT_REGION,)
    facts.regions = regions
    session = _role_session(facts, scope, backend)
    plan = _policies_in_hand(backend, facts, scope)
    # The engine alone (offline, a template) decides with the unknown keys present, at a value no
    # policy names; AWS's simulator is not sent them, so its MissingContextValues name them.
    unknown_present = {k: (UNKNOWN_VALUE,) for k in plan.tested} if not backend.batches_resources else {}
    touched = touched_types(r.action for r in permissions if r.action)
    # Live, one call per region holds every action on the union of their resources (calls are what
    # costs); a backend whose calls are free (the engine) is asked per resource set, so that no action
    # is decided on resources it never touches.
    batch = backend.batches_resources
    for requirement in permissions:
        action = requirement.action
        assert action is not None
        own = derived_context(action, requirement_context(requirement))
        own_key = tuple(sorted((k.lower(), tuple(v)) for k, v in own.items()))
        for region in action_regions(action, regions, ref.partition):
            judged = _judged(requirement, facts, region, touched, plan.policies)
            resources = tuple(j.arn for j in judged)
            key = (region, own_key, () if batch else resources)
            call = plan.calls.get(key)
            if call is None:
                context = merge(
                    session,
                    instance_context(ref.partition, region, ref.account),
                    unknown_present,
                    scope.context,
                    own,
                    {"aws:RequestedRegion": (region,)},
                )
                call = plan.calls[key] = _Call(region, context)
                if not own and context not in facts.contexts:  # offline, one call per resource set
                    facts.contexts.append(context)
            call.actions[action] = None
            call.resources.update(dict.fromkeys(resources))
            call.wanted.update((action.lower(), r) for r in resources)
            plan.wanted.setdefault(requirement.id, []).extend((region, j, key) for j in judged)
    return plan


def _policies_in_hand(backend: Backend, facts: RoleFacts, scope: Scope) -> _Plan:
    """An empty plan holding the role's policies when the backend has them in hand (one account's)."""
    try:
        held = backend.policy_sets(facts.ref)
    except (CheckError, InputError):
        held = None
    # One set: this account's (several, a template's possible accounts, are weighed in weigh.py).
    policies = held[0] if held is not None and len(held) == 1 else None
    facts.policies_in_hand = policies is not None
    facts.unknown = unknown_keys(scope.context)
    tested = references(policies, facts.unknown) if policies is not None else ()
    if policies is not None and tested:
        facts.unknown_statements = statements_testing(policies, tested)
    return _Plan(policies=policies, tested=tuple(tested))


def _judged(
    requirement: Requirement, facts: RoleFacts, region: str, touched: frozenset[str], policies: PolicySet | None
) -> tuple[Judged, ...]:
    """The resources a permission is judged on in one region: its own, or one per part of each type it touches."""
    action = requirement.action
    assert action is not None
    if requirement.resource != "*":
        return (Judged(requirement.resource),)
    ref = facts.ref

    def resources(policies: PolicySet | None) -> tuple[Judged, ...]:
        return tuple(
            judged_resources(
                action,
                partition_name=ref.partition,
                region=region,
                account=ref.account,
                touched=touched,
                policies=policies,
            )
        )

    try:
        return resources(policies)
    except TooManyParts as error:
        facts.decided[requirement.id] = CheckError(
            f"could not check: {error}", "narrow the Resource patterns of the statements for this action"
        )
        return resources(None)


def _record_checks(
    facts: RoleFacts,
    permissions: Sequence[Requirement],
    plan: _Plan,
    answers: Mapping[tuple[object, ...], SimulationResult],
) -> None:
    """Each requirement's checks (every request it was judged on, AWS's answer, the probe of unknown keys)."""
    for requirement in permissions:
        assert requirement.action is not None
        action = requirement.action.lower()
        wanted = plan.wanted[requirement.id]
        probes: dict[tuple[str, str], Probe] = {}
        if plan.policies is not None and plan.tested:
            for region, _, key in dict.fromkeys((r, None, k) for r, _, k in wanted):
                asked_here = [j.arn for r, j, k in wanted if r == region and k == key]
                context = plan.calls[key].context
                found_probes = probe(plan.policies, requirement.action, asked_here, context, plan.tested)
                probes.update({(region, arn): p for arn, p in found_probes.items()})
        checks = []
        for region, judged_one, key in wanted:
            resource = judged_one.arn
            found = answers.get((key, action, resource))
            if found is None:
                raise CheckError(
                    f"the simulation returned no result for {requirement.action} on {resource} in {region}",
                    "the API answer was incomplete; run again",
                )
            checks.append(Check(region, resource, found, judged_one.part, probes.get((region, resource))))
            _keep_strictest(facts.simulations, requirement.simulation_key, found)
        facts.checks[requirement.id] = checks


def _explain_implicit_denies(
    backend: Backend,
    ref: RoleRef,
    answers: dict[tuple[object, ...], SimulationResult],
    calls: Mapping[_CallKey, _Call],
) -> None:
    """Give AWS's implicit denies the engine's answer, reading the role's policies only if one fails.

    AWS says nothing useful about an implicit deny; the engine, holding the role's own policies,
    names the Allow that nearly applied. A backend that reads them on demand (``role_policy_details``:
    live, per role) is asked once, and only for a role with an implicit deny left unexplained (no
    engine answer already, not an SCP's or a boundary's). An answer gets the explanation only where
    the engine decides the same request alike, as fleet mode's second opinion (double entry); where it
    cannot read or decide, the verdict says what AWS's answer alone says.
    """
    unexplained = [
        key
        for key, result in answers.items()
        if result.decision == "implicitDeny"
        and result.explanation is None
        and result.second_opinion is None
        and result.allowed_by_organizations is not False
        and result.allowed_by_boundary is not False
    ]
    if not unexplained:
        return
    try:
        details = backend.role_policy_details(ref)
        if details is None:
            return
        policies = Account(details).policy_set_for(ref.arn)
    except (CheckError, InputError, AccountError, PolicyError):
        return  # optional: without the policies the verdict reads AWS's answer alone
    for key in unexplained:
        call_key, _, resource = key
        result = answers[key]
        context = Context.of(calls[call_key].context)  # type: ignore[index]
        engine = evaluate(Request(action=result.action, resource=str(resource), context=context), policies)
        if engine.decision == result.decision:
            # The engine's answer to the same request, as fleet mode carries it (double entry).
            opinion = SimulationResult(
                action=result.action,
                resource=result.resource,
                decision=engine.decision,
                matched_statements=tuple(m.to_result() for m in engine.matched),
                missing_context=engine.missing_context,
                allowed_by_boundary=engine.allowed_by_boundary,
                raw=engine.to_result(),
                explanation=engine.explanation,
            )
            answers[key] = replace(result, second_opinion=opinion)


def _resources_answered(result: SimulationResult, asked: list[str]) -> list[str]:
    """Which of the asked resources one answer is about.

    A per-resource answer (``ResourceSpecificResults``, or an older answer per resource) names its
    resource, which must be one asked about. A top-level answer that names none of them (an ARN
    template) is the most restrictive over all of them, so it stands for each: never kinder.
    """
    if result.resource in asked:
        return [result.resource]
    if result.specific:
        raise CheckError(f"the simulation answered for {result.resource}, which was not asked about")
    if len(asked) == 1 or result.resource != "*":
        return list(asked)
    return []


def _keep_strictest(answers: dict[K, SimulationResult], key: K, result: SimulationResult) -> None:
    """Of several answers for one action and resource, keep the most restrictive: never the kindest."""
    known = answers.get(key)
    if known is None or restrictiveness(result.decision) > restrictiveness(known.decision):
        answers[key] = result
