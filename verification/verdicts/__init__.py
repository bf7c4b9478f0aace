"""From facts about a role to a verdict per requirement: met or not, why, and what to change.

Its layer's place in the one import rule: ``ORDER`` in ``tests/test_layers.py``.

``gather`` asks a backend everything a role's requirements need, once per role. ``judge`` turns
those facts into a ``Verdict`` for one requirement, or raises ``CheckError`` when the facts it needs
could not be had (then the requirement is broken, never passed).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from verification.backends import Backend, InstanceProfile, Role, RoleRef, SimulationResult, restrictiveness
from verification.errors import CheckError, InputError
from verification.names import AppliancePrincipal as AppliancePrincipal  # re-exported: its old path
from verification.names import KmsKey as KmsKey  # re-exported: its old path
from verification.policy import Context, PolicyError, Principal, Request, evaluate, evaluate_trust, parse_policy
from verification.policy.account import Account, AccountError
from verification.policy.model import Evaluation, NearMiss
from verification.requirements import Requirement, RequirementSet
from verification.scope.catalogue import key_policy_governs, touched_types
from verification.scope.context import (
    instance_context,
    merge,
    requirement_context,
    session_context,
    unknown_keys,
)
from verification.scope.regions import action_regions, describe, global_region
from verification.verdicts import double_entry, nearest
from verification.verdicts.requests import (
    UNKNOWN_VALUE,
    Judged,
    Probe,
    TooManyParts,
    derived_context,
    judged_resources,
    probe,
    raw_statement,
    references,
    statements_testing,
)

K = TypeVar("K")
#: The keys the harness supplies for every instance-role session (lower case).
_SESSION_KEYS = frozenset(
    [k.lower() for k in session_context("arn:aws:iam::000000000000:role/x", role_id="x")]
    + [k.lower() for k in instance_context("aws", "us-east-1", "000000000000")]
    + ["aws:requestedregion"]
)
#: The region judged when neither the run nor the backend names one (botocore's default partition's first).
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Scope:
    """Where and how a run judges permissions: its regions and the request values it knows.

    ``regions`` empty means the backend's own region. ``context`` is the run's ``--context``
    (known request values, such as the worker's source VPC endpoint); ``org_id`` the role's
    organization when known (``aws:PrincipalOrgID``).
    """

    regions: tuple[str, ...] = ()
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    org_id: str | None = None
    now: datetime | None = None


@dataclass(frozen=True)
class Check:
    """One judged request of a permission: an action in a region, on a resource, and AWS's answer.

    ``part``: which part of the resource's type it stands for, where a statement covers only some of
    the type's ARNs ("" when it stands for the whole type, or for ``*``). ``probe``: a value of a key
    the worker's requests carry unknown to the harness, under which the engine decides otherwise.
    """

    region: str
    resource: str
    result: SimulationResult
    part: str = ""
    probe: Probe | None = None


@dataclass
class RoleFacts:
    """Everything the backend said about one role, or why it could not say it."""

    ref: RoleRef
    role: Role | None = None
    profiles: list[InstanceProfile] | None = None
    #: The strictest answer per requirement's ``simulation_key`` over regions and resources.
    simulations: dict[tuple[str, str], SimulationResult] = field(default_factory=dict)
    #: Per permission requirement id: every request it was judged on.
    checks: dict[str, list[Check]] = field(default_factory=dict)
    regions: tuple[str, ...] = ()
    #: The request context of each region's simulation (without a requirement's own context).
    contexts: list[dict[str, tuple[str, ...]]] = field(default_factory=list)
    appliance_side: SimulationResult | None = None
    errors: dict[str, CheckError] = field(default_factory=dict)
    #: ``--kms-key`` and its default key policy, when the requirements hold kms: actions.
    kms_key: KmsKey | None = None
    key_policy: Mapping[str, Any] | None = None
    #: Verdicts already reached, by requirement id, by a backend that weighs several possible
    #: accounts at once (a template: each parameter value, both branches of an undecidable
    #: condition, unknowns at their least and most permissive); a CheckError when undecided.
    decided: dict[str, Verdict | CheckError] = field(default_factory=dict)
    #: What ``judge`` reached for each requirement (and appliance): the evidence bundle judges every
    #: requirement at the role's first test, and each test then judges its own again.
    judged: dict[tuple[str, AppliancePrincipal | None], Verdict | CheckError] = field(default_factory=dict)
    #: Whether the role's policies were in hand (offline, template, fleet): each type was then judged
    #: on every part its statements set apart, and unknown keys' values were tried.
    policies_in_hand: bool = False
    #: The keys the worker's requests carry with values the harness does not know (see scope.context).
    unknown: tuple[str, ...] = ()
    #: The request context the key policy of ``--kms-key`` is evaluated with (the identity policies').
    kms_context: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: The appliance role's session context (its tags and RoleId when read), for its sts:AssumeRole.
    appliance_context: dict[str, tuple[str, ...]] | None = None
    #: Why the appliance role's tags are not known (another account), or "".
    appliance_tags_unknown: str = ""
    #: The statements whose conditions test an unknown key, with those keys (policies in hand only).
    unknown_statements: dict[Any, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one requirement for one role."""

    requirement: Requirement
    role: RoleRef
    met: bool
    reason: str
    cause: str
    remedy: str = ""
    note: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)


def gather(
    backend: Backend,
    ref: RoleRef,
    requirements: RequirementSet,
    appliance: AppliancePrincipal | None,
    kms_key: KmsKey | None = None,
    scope: Scope | None = None,
) -> RoleFacts:
    """Ask the backend, once, for every fact this role's requirements need.

    A failure is kept per fact, so a role whose simulation failed still gets its trust verdicts.
    When the role itself cannot be read, nothing else is asked: every requirement is then broken.
    A backend that weighs several possible accounts (``capabilities.weighs_possible_accounts``: a
    template) is weighed over all of them (``verification.verdicts.weigh``).
    """
    if backend.capabilities.weighs_possible_accounts:
        from verification.verdicts.weigh import gather_weighed

        scope = scope or Scope()
        if not scope.regions and backend.region:
            # The template's own region (--aws-region), in which every possible account is judged.
            scope = dataclasses.replace(scope, regions=(str(backend.region),))
        return gather_weighed(backend, ref, requirements, appliance, scope)  # type: ignore[arg-type]
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


def _kms_context(facts: RoleFacts, key: KmsKey, scope: Scope, backend: Backend) -> dict[str, tuple[str, ...]]:
    """The context a request on ``key`` by the role's instance session carries, as the identity policies see it.

    The session's keys (MFA false, its tags, its RoleId), the instance credentials' ARN, the run's
    ``--context``, the key's region and ``kms:CallerAccount`` (the caller's account,
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-caller-account).
    """
    ref, role = facts.ref, facts.role
    region = key.arn.split(":")[3]
    session = session_context(
        ref.arn,
        role_id=role.role_id if role else "",
        tags=role.tags if role else None,
        org_id=scope.org_id or backend.organization_id,
        now=scope.now,
    )
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


def _gather_permissions(backend: Backend, facts: RoleFacts, requirements: RequirementSet, scope: Scope) -> None:
    """Simulate every permission in every region it is judged in, on the resources its requests name.

    One simulation per region (and per distinct requirement context): all actions of that region
    on the union of their resources, since ``ResourceArns`` apply to every action of a call. Global
    services' actions are judged in their partition's global region only. An action that takes a
    resource type is judged on that type's ARNs (one per part its statements set apart, where the
    policies are in hand), never on a literal ``*``; one that takes none, on ``*``.
    """
    ref = facts.ref
    permissions = requirements.by_kind("permission")
    if not permissions:
        return
    regions = scope.regions or (backend.region or DEFAULT_REGION,)
    facts.regions = regions
    role = facts.role
    session = session_context(
        ref.arn,
        role_id=role.role_id if role else "",
        tags=role.tags if role else None,
        org_id=scope.org_id or backend.organization_id,
        now=scope.now,
    )
    try:
        held = backend.policy_sets(ref)
    except (CheckError, InputError):
        held = None
    # One set: this account's (several, a template's possible accounts, are weighed in weigh.py).
    policies = held[0] if held is not None and len(held) == 1 else None
    facts.policies_in_hand = policies is not None
    facts.unknown = unknown_keys(scope.context)
    tested = references(policies, facts.unknown) if policies is not None else ()
    if policies is not None and tested:
        facts.unknown_statements = statements_testing(policies, tested)
    # The engine alone (offline, a template) decides with the unknown keys present, at a value no
    # policy names; AWS's simulator is not sent them, so its MissingContextValues name them.
    unknown_present = {k: (UNKNOWN_VALUE,) for k in tested} if not backend.batches_resources else {}
    touched = touched_types(r.action for r in permissions if r.action)
    # Live, one call per region holds every action on the union of their resources (calls are what
    # costs); a backend whose calls are free (the engine) is asked per resource set, so that no action
    # is decided on resources it never touches.
    batch = backend.batches_resources
    calls: dict[_CallKey, _Call] = {}
    wanted: dict[str, list[tuple[str, Judged, _CallKey]]] = {}
    for requirement in permissions:
        action = requirement.action
        assert action is not None
        own = derived_context(action, requirement_context(requirement))
        own_key = tuple(sorted((k.lower(), tuple(v)) for k, v in own.items()))
        for region in action_regions(action, regions, ref.partition):
            if requirement.resource == "*":
                try:
                    judged = judged_resources(
                        action,
                        partition_name=ref.partition,
                        region=region,
                        account=ref.account,
                        touched=touched,
                        policies=policies,
                    )
                except TooManyParts as error:
                    facts.decided[requirement.id] = CheckError(
                        f"could not check: {error}", "narrow the Resource patterns of the statements for this action"
                    )
                    judged = judged_resources(
                        action,
                        partition_name=ref.partition,
                        region=region,
                        account=ref.account,
                        touched=touched,
                        policies=None,
                    )
            else:
                judged = (Judged(requirement.resource),)
            resources = tuple(j.arn for j in judged)
            key = (region, own_key, () if batch else resources)
            call = calls.get(key)
            if call is None:
                context = merge(
                    session,
                    instance_context(ref.partition, region, ref.account),
                    unknown_present,
                    scope.context,
                    own,
                    {"aws:RequestedRegion": (region,)},
                )
                call = calls[key] = _Call(region, context)
                if not own and context not in facts.contexts:  # offline, one call per resource set
                    facts.contexts.append(context)
            call.actions[action] = None
            call.resources.update(dict.fromkeys(resources))
            call.wanted.update((action.lower(), r) for r in resources)
            wanted.setdefault(requirement.id, []).extend((region, j, key) for j in judged)
    answers: dict[tuple[object, ...], SimulationResult] = {}
    for key, call in calls.items():
        asked = list(call.resources)
        results = backend.simulate(
            ref.arn,
            list(call.actions),
            resources=asked,
            context=call.context,
            evidence_key=ref.arn,
            wanted=frozenset(call.wanted),
        )
        for result in results:
            for resource in _resources_answered(result, asked):
                _keep_strictest(answers, (key, result.action.lower(), resource), result)
    _explain_implicit_denies(backend, ref, answers, calls)
    for requirement in permissions:
        assert requirement.action is not None
        action = requirement.action.lower()
        probes: dict[tuple[str, str], Probe] = {}
        if policies is not None and tested:
            for region, _, key in dict.fromkeys((r, None, k) for r, _, k in wanted[requirement.id]):
                asked_here = [j.arn for r, j, k in wanted[requirement.id] if r == region and k == key]
                found_probes = probe(policies, requirement.action, asked_here, calls[key].context, tested)
                probes.update({(region, arn): p for arn, p in found_probes.items()})
        checks = []
        for region, judged_one, key in wanted[requirement.id]:
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


def judge(requirement: Requirement, facts: RoleFacts, appliance: AppliancePrincipal | None) -> Verdict:
    """The verdict for one requirement; CheckError when it could not be checked (each reached once per role)."""
    key = (requirement.id, appliance)
    judged = facts.judged.get(key)
    if judged is None:
        try:
            judged = _judge(requirement, facts, appliance)
        except CheckError as error:
            judged = error
        facts.judged[key] = judged
    if isinstance(judged, CheckError):
        raise judged.with_traceback(None)
    return judged


def _judge(requirement: Requirement, facts: RoleFacts, appliance: AppliancePrincipal | None) -> Verdict:
    decided = facts.decided.get(requirement.id)
    if isinstance(decided, CheckError):
        raise decided
    if decided is not None:
        return decided
    if requirement.kind == "permission":
        verdict = _judge_permission(requirement, facts)
        answer = _double_entry_answer(requirement, facts)
        if answer is not None:  # double entry: the engine's second opinion, when it was asked
            other = answer.second_opinion
            engine_reason = None
            if isinstance(other, SimulationResult) and other.decision == answer.decision and not verdict.met:
                engine_reason = _judge_one(requirement, facts, other).reason
            verdict = double_entry.check(verdict, answer, engine_reason)
            verdict = _stricter_engine(requirement, facts, verdict)
        if facts.kms_key is not None and (requirement.action or "").lower().startswith("kms:"):
            if not key_policy_governs(requirement.action or ""):
                note = (
                    f"no key policy governs {requirement.action} (the KMS permissions reference gives it to IAM "
                    "policies alone): judged by the role's own permissions, not by --kms-key's key policy"
                )
                return replace(verdict, note="; ".join(n for n in (verdict.note, note) if n))
            return _with_key_policy(requirement, facts, verdict)
        return verdict
    if requirement.kind == "trust":
        return _judge_trust(requirement, facts, appliance)
    return _judge_instance_profile(requirement, facts)


def _stricter_engine(requirement: Requirement, facts: RoleFacts, verdict: Verdict) -> Verdict:
    """Double entry never passes what the engine finds denied on a resource of the action's type (#26, point 8)."""
    stricter = [
        c
        for c in facts.checks.get(requirement.id, ())
        if c.resource != "*"
        and isinstance(c.result.second_opinion, SimulationResult)
        and restrictiveness(c.result.second_opinion.decision) > restrictiveness(c.result.decision)
    ]
    if not stricter:
        return verdict
    worst = max(stricter, key=lambda c: restrictiveness(c.result.second_opinion.decision))
    engine = worst.result.second_opinion
    if verdict.met is False and restrictiveness(engine.decision) <= max(
        restrictiveness(c.result.decision) for c in facts.checks.get(requirement.id, ())
    ):
        return verdict
    alone = _judge_one(requirement, facts, engine)
    where = f"on {worst.resource}" + (f", one of {worst.part}" if worst.part else "")
    alone = replace(alone, reason=f"{alone.reason} ({where})")
    found: Verdict = double_entry.stricter(verdict, alone, worst.resource, worst.result.decision, engine.decision)
    return found


def _double_entry_answer(requirement: Requirement, facts: RoleFacts) -> SimulationResult | None:
    """The judged answer whose second opinion the verdict carries: a disagreeing one first, else the worst.

    Each check (region, resource) has its own live answer and the engine's answer to that same
    request; the one shown is the one the verdict rests on, unless the engine disagrees elsewhere.
    """
    answers = [c.result for c in facts.checks.get(requirement.id, ()) if c.result.second_opinion is not None]
    disagreeing = [
        r for r in answers if isinstance(r.second_opinion, CheckError) or r.second_opinion.decision != r.decision
    ]
    return max(disagreeing or answers, key=lambda r: (restrictiveness(r.decision), r.resource == "*"), default=None)


def _need(facts: RoleFacts, what: str) -> None:
    if what in facts.errors:
        error = facts.errors[what]
        raise CheckError(f"could not check: {error.message}", error.hint)


def _judge_instance_profile(requirement: Requirement, facts: RoleFacts) -> Verdict:
    _need(facts, "profiles")
    if facts.profiles is None:
        raise CheckError("could not check: the instance profiles were not listed")
    strangers = [p.name for p in facts.profiles if p.role_names and facts.ref.name not in p.role_names]
    if strangers:
        raise CheckError(
            f"could not check: the listing for {facts.ref.name} returned instance profile(s) "
            f"{', '.join(strangers)} that hold other roles"
        )
    evidence = {"InstanceProfiles": [{"InstanceProfileName": p.name, "Arn": p.arn} for p in facts.profiles]}
    if facts.profiles:
        names = ", ".join(p.name for p in facts.profiles)
        return Verdict(requirement, facts.ref, True, f"in instance profile(s): {names}", "met", evidence=evidence)
    name = facts.ref.name
    remedy = (
        f"aws iam create-instance-profile --instance-profile-name {name} && "
        f"aws iam add-role-to-instance-profile --instance-profile-name {name} --role-name {name}"
    )
    return Verdict(
        requirement,
        facts.ref,
        False,
        "not in any instance profile",
        "no-instance-profile",
        remedy,
        evidence=evidence,
    )


def _judge_permission(requirement: Requirement, facts: RoleFacts) -> Verdict:
    """Met only if every judged request is allowed: each region, on each resource its requests name."""
    _need(facts, "simulation")
    assert requirement.action is not None
    checks = facts.checks.get(requirement.id)
    if not checks:
        raise CheckError(
            f"could not check: the simulation returned no result for {requirement.action} on {requirement.resource}",
            "the API answer was incomplete; run again",
        )
    regions = tuple(dict.fromkeys(c.region for c in checks))
    failing = [c for c in checks if c.result.decision != "allowed"]
    evidence = _checks_evidence(checks)
    if not failing:
        verdict = _judge_one(requirement, facts, checks[0].result)
        notes = dict.fromkeys(_judge_one(requirement, facts, c.result).note for c in checks)
        verdict = replace(verdict, note="; ".join(n for n in notes if n), evidence={**verdict.evidence, **evidence})
        return _unknown_allowed(requirement, facts, checks, verdict)
    worst = max(failing, key=lambda c: (restrictiveness(c.result.decision), c.resource == "*"))
    verdict = _judge_one(requirement, facts, worst.result)
    where: list[str] = []
    failing_regions = tuple(dict.fromkeys(c.region for c in failing))
    if len(regions) > 1 or failing_regions != regions or regions != facts.regions:
        where.append(f"in {describe(failing_regions)}")
    # The resource is named where the decision turns on it: a part of its type, or a region whose
    # other resources are decided otherwise. The remedy and the evidence's Checks always name it.
    same_region = [c for c in checks if c.region == worst.region]
    if worst.resource != "*" and (worst.part or any(c.result.decision != worst.result.decision for c in same_region)):
        where.append(f"on {worst.resource}" + (f", one of {worst.part}" if worst.part else ""))
    reason = verdict.reason + (f" ({'; '.join(where)})" if where else "")
    remedy = verdict.remedy
    if worst.resource != "*" and verdict.cause != "scp":
        remedy = (
            f"{remedy}; the role must be allowed {requirement.action} on the resources it touches, "
            f"such as {worst.resource}"
        )
    verdict = replace(verdict, reason=reason, remedy=remedy, evidence={**verdict.evidence, **evidence})
    return _unknown_denied(requirement, facts, worst, verdict)


def _unknown_allowed(requirement: Requirement, facts: RoleFacts, checks: list[Check], verdict: Verdict) -> Verdict:
    """An allowed permission that a value of an unknown key would deny: "depends on", never a pass."""
    action = requirement.action
    stricter = [c for c in checks if c.probe is not None and c.probe.stricter]
    if stricter:
        check = stricter[0]
        assert check.probe is not None
        key, value = check.probe.key, check.probe.value
        statement = check.probe.evaluation.explanation.statement
        by = f" by {statement.policy_id} ({statement.lines})" if statement is not None else ""
        denied = "explicitly denied" if check.probe.evaluation.decision == "explicitDeny" else "not allowed"
        on = f" on {check.resource}" if check.resource != "*" else ""
        return replace(
            verdict,
            met=False,
            cause="conditional",
            reason=(
                f"depends on {key}: {denied}{by} when the worker's requests carry {key}={value}{on}; the "
                f"worker's instance credentials carry {key} with a value the harness does not know"
            ),
            remedy=(
                f"give the value the worker's requests carry (--context {key}=VALUE) to check it; otherwise "
                f"narrow the statement{by} for {action}"
            ),
            note=verdict.note,
        )
    if facts.policies_in_hand or not facts.unknown:
        return verdict
    unknown = {k.lower() for k in facts.unknown}
    missing = [k for c in checks for k in c.result.missing_context if k.lower() in unknown]
    if not missing:
        return verdict
    keys = ", ".join(dict.fromkeys(missing))
    return replace(
        verdict,
        met=False,
        cause="conditional",
        reason=(
            f"depends on {keys}: allowed when the requests carry no {keys}, but the worker's instance "
            f"credentials carry {'it' if len(set(missing)) == 1 else 'them'} with values the harness does "
            "not know, and a statement of the role's policies tests them"
        ),
        remedy=(
            "give the values the worker's requests carry "
            f"({' '.join(f'--context {k}=VALUE' for k in dict.fromkeys(missing))}) to check {action} with them"
        ),
    )


def _unknown_denied(requirement: Requirement, facts: RoleFacts, worst: Check, verdict: Verdict) -> Verdict:
    """A denied permission that turns on a key whose value the harness does not know: "depends on" it."""
    if verdict.cause in ("scp", "boundary") and worst.probe is None:
        return verdict
    check_probe = worst.probe
    if check_probe is not None and not check_probe.stricter:
        key, value = check_probe.key, check_probe.value
        statement = check_probe.evaluation.explanation.statement
        by = f" by {statement.policy_id} ({statement.lines})" if statement is not None else ""
        return replace(
            verdict,
            cause="conditional",
            reason=(
                f"depends on {key}: allowed{by} only when the worker's requests carry {key}={value}; its "
                "instance credentials carry a value the harness does not know"
            ),
            remedy=(
                f"give the value the worker's requests carry (--context {key}=VALUE) to check it; otherwise "
                f"grant {requirement.action} without that condition"
            ),
        )
    explanation = worst.result.explanation
    if explanation is None and isinstance(worst.result.second_opinion, SimulationResult):
        explanation = worst.result.second_opinion.explanation  # fleet mode: the engine's reading of the same request
    statement = getattr(explanation, "statement", None)
    keys = facts.unknown_statements.get(statement) if statement is not None else None
    if keys and worst.result.decision == "explicitDeny":
        named = ", ".join(keys)
        return replace(
            verdict,
            cause="conditional",
            reason=f"depends on {named}: {verdict.reason}, for a value of {named} the harness does not know",
            remedy=(
                f"give the values the worker's requests carry ({' '.join(f'--context {k}=VALUE' for k in keys)}, "
                f"and the keys the Deny compares them with) to check it; otherwise {verdict.remedy}"
            ),
        )
    return verdict


def _checks_evidence(checks: list[Check]) -> dict[str, Any]:
    """The raw answers a verdict rests on, per region and resource."""
    out = []
    for check in checks:
        entry: dict[str, Any] = {"Region": check.region, "Resource": check.resource}
        entry["EvalDecision"] = check.result.decision
        if check.part:
            entry["Part"] = check.part
        if check.probe is not None:
            entry["DependsOn"] = {
                "Key": check.probe.key,
                "Value": check.probe.value,
                "EvalDecision": check.probe.evaluation.decision,
            }
        out.append(entry)
    return {"Checks": out}


def _judge_one(requirement: Requirement, facts: RoleFacts, result: SimulationResult) -> Verdict:
    """The verdict one answer gives: why it is (not) allowed, and what to change."""
    evidence = dict(result.raw)
    action = requirement.action
    if result.decision == "allowed":
        where = _statement_names(result)
        note = ""
        if result.missing_context:
            note = (
                f"the simulation had no values for {', '.join(result.missing_context)}; a statement that "
                "tests them may still deny real requests that carry them"
            )
        reason = f"allowed{' by ' + where if where else ''}"
        return Verdict(requirement, facts.ref, True, reason, "met", note=note, evidence=evidence)
    if result.decision == "explicitDeny":
        absent = tuple(getattr(result.explanation, "denied_on_absence", ()) or ())
        if absent:
            return _denied_unless(requirement, facts, result, absent, evidence)
        # AWS lists the Deny of an identity policy or boundary, never an SCP's: an explicit deny that
        # names no statement (and no engine explanation) is the organization's, in either dialect.
        unnamed = not result.matched_statements and result.explanation is None
        if result.allowed_by_organizations is False or (unnamed and result.allowed_by_organizations is None):
            return _scp(requirement, facts, evidence)
        where = _statement_names(result) or "a Deny statement"
        kind = _explained_layer(result)
        blocker = "the permissions boundary " if kind == "boundary" else ""
        note = ""
        if result.explanation is None and result.missing_context:
            # AWS's answer does not say whether the Deny matched only because these were absent.
            keys = ", ".join(result.missing_context)
            note = (
                f"the simulation had no values for {keys}; if the Deny applies only to requests without "
                "them, give the values the worker's requests carry with --context KEY=VALUE to check"
            )
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"explicitly denied by {blocker}{where}",
            "explicit-deny",
            f"remove or narrow the Deny in {where} for {action}; adding an Allow to the role will not help",
            note=note,
            evidence=evidence,
        )
    if result.decision != "implicitDeny":
        raise CheckError(f"could not check: unknown EvalDecision {result.decision!r} for {action}")
    if result.allowed_by_organizations is False:
        return _scp(requirement, facts, evidence)
    if result.allowed_by_boundary is False:
        boundary = (facts.role.boundary_arn if facts.role else None) or "of the role"
        near = _near_miss(result, layer=("boundary",))
        nearly = _nearly(near, requirement, facts) if near is not None else None
        if nearly is not None:
            # The boundary allows the action under limits this request does not meet: name them.
            why = nearly.reason.removeprefix("implicitly denied: ")
            return Verdict(
                requirement,
                facts.ref,
                False,
                f"not allowed by the permissions boundary {boundary}: {why}",
                "boundary",
                f"{nearly.remedy}; a role policy alone will not help",
                evidence={**evidence, **nearly.evidence},
            )
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"not allowed by the permissions boundary {boundary}",
            "boundary",
            f"add {action} to the permissions boundary {boundary} (a role policy alone will not help)",
            evidence=evidence,
        )
    missing = _conditional_keys(result)
    if missing:
        keys = ", ".join(missing)
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"allowed only when {keys} {_are(missing)} present",
            "conditional",
            f"the Allow for {action} depends on {keys}; grant it without that condition, "
            "or make sure requests carry the keys",
            evidence=evidence,
        )
    note = ""
    failed = [k for k in getattr(result.explanation, "failed_condition_keys", ()) if k.lower() in _SESSION_KEYS]
    if failed:
        note = (
            f"an Allow for {action} tests {', '.join(failed)}, which the worker's instance-role session carries "
            "with other values (see the simulation's ContextEntries)"
        )
    near = _near_miss(result, layer=("identity", "resource"))
    nearly = _nearly(near, requirement, facts) if near is not None else None
    if nearly is not None:
        return Verdict(
            requirement,
            facts.ref,
            False,
            nearly.reason,
            "implicit-deny",
            nearly.remedy,
            note=note,
            evidence={**evidence, **nearly.evidence},
        )
    if not failed and result.missing_context and result.explanation is None:
        keys = ", ".join(result.missing_context)
        note = (
            f"the simulation had no values for {keys} (AWS lists the keys of every statement, not only this "
            f"action's); if an Allow for {action} needs them, give their values with --context KEY=VALUE"
        )
    return Verdict(
        requirement,
        facts.ref,
        False,
        "implicitly denied: no statement allows it",
        "implicit-deny",
        f"add {action} (Resource {requirement.resource}) to a policy attached to the role",
        note=note,
        evidence=evidence,
    )


def _near_miss(result: SimulationResult, *, layer: tuple[str, ...]) -> NearMiss | None:
    """The engine's nearest Allow in one of ``layer`` for an implicit deny (its explanation's, or its second opinion's).

    A second opinion (fleet mode, or a failing role's policies read per role) counts only when the
    engine reached the same decision as AWS.
    """
    explanation = result.explanation
    if explanation is None:
        other = result.second_opinion
        if not isinstance(other, SimulationResult) or other.decision != result.decision:
            return None
        explanation = other.explanation
    if getattr(explanation, "layer", None) not in layer:
        return None
    near: NearMiss | None = getattr(explanation, "nearest", None)
    return near


def _nearly(near: NearMiss, requirement: Requirement, facts: RoleFacts) -> nearest.Nearly | None:
    """The reason and fix a near miss gives for ``requirement`` (global services judged in their region)."""
    action = requirement.action
    if not action:
        return None
    fixed = global_region(action.split(":", 1)[0], facts.ref.partition)
    return nearest.explain(near, action, requirement.resource, fixed)


def _denied_unless(
    requirement: Requirement,
    facts: RoleFacts,
    result: SimulationResult,
    tests: tuple[str, ...],
    evidence: dict[str, Any],
) -> Verdict:
    """An explicit deny that matched only because the simulation lacked keys a real request may carry.

    The engine names the tests (``NotIpAddress aws:SourceIp 192.0.2.0/24``); the verdict fails, since
    the worker's requests are denied unless they carry such values, and says how to supply them.
    """
    statement = getattr(result.explanation, "statement", None)
    layer = _explained_layer(result)
    if layer == "scp":
        where = f"a service control policy ({statement.policy_id})" if statement else "a service control policy"
    elif statement is not None:
        where = f"{statement.policy_id} (lines {statement.start.line}-{statement.end.line})"
    else:
        where = _statement_names(result) or "a Deny statement"
    conditions = [_unless(test) for test in tests]
    keys = list(dict.fromkeys(test.split()[1] for test in tests if len(test.split()) > 1))
    supply = " ".join(f"--context {key}=VALUE" for key in keys)
    return Verdict(
        requirement,
        facts.ref,
        False,
        f"denied unless {' and '.join(conditions)}: the Deny in {where} applies to requests without {', '.join(keys)}",
        "conditional",
        f"if the worker's requests carry {', '.join(keys)}, give the value ({supply}, or the requirement's "
        f"context:) to check them; otherwise narrow the Deny in {where} for {requirement.action}",
        evidence=evidence,
    )


def _with_key_policy(requirement: Requirement, facts: RoleFacts, verdict: Verdict) -> Verdict:
    """A kms: requirement decided by the key policy together with the role's own permissions.

    AWS grants a KMS call only when the key policy allows it: by naming the role (then the role needs
    no allow of its own, though an explicit deny, its boundary or an SCP still block), or by
    delegating to the account's IAM policies (then the role's own permissions decide), see
    https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html.
    """
    _need(facts, "kms-key")
    assert facts.kms_key is not None and facts.key_policy is not None and requirement.action is not None
    name = f"the key policy of {facts.kms_key.arn}"
    try:
        policy = parse_policy(json.dumps(facts.key_policy, indent=4), policy_id="key policy", policy_type="resource")
        evaluation = evaluate_trust(
            policy,
            Principal("AWS", facts.ref.arn),
            role_arn=facts.kms_key.arn,
            action=requirement.action,
            context=Context.of(facts.kms_context),
        )
    except PolicyError as error:
        raise CheckError(f"could not check: {name} cannot be evaluated: {error}") from error
    evidence = {**verdict.evidence, "KeyPolicy": facts.key_policy, "KeyPolicyEvaluation": evaluation.to_result()}
    action = requirement.action
    if evaluation.decision == "explicitDeny":
        where = _evaluation_statement(evaluation)
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"explicitly denied by {name} ({where})",
            "explicit-deny",
            f"remove or narrow the Deny ({where}) in {name} for {action}; adding an Allow to the role will not help",
            evidence=evidence,
        )
    if evaluation.decision != "allowed" and evaluation.explanation.missing_condition_keys:
        keys = evaluation.explanation.missing_condition_keys
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"allowed by {name} only when {', '.join(keys)} {_are(keys)} present",
            "conditional",
            f"check that the worker's requests carry {', '.join(keys)}, or grant {action} in {name} without them",
            evidence=evidence,
        )
    if evaluation.decision != "allowed":
        statement = json.dumps(
            {"Effect": "Allow", "Principal": {"AWS": facts.ref.arn}, "Action": action, "Resource": "*"}
        )
        root = f"arn:{facts.ref.partition}:iam::{facts.kms_key.account}:root"
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"not allowed by {name}: it neither names the role nor delegates to IAM policies",
            "key-policy",
            f"add to {name}: {statement}; or let IAM policies decide with an Allow for {root}",
            evidence=evidence,
        )
    if evaluation.explanation.requires_caller_allow:  # delegated to IAM (or another account's key)
        note = f"{name} lets IAM policies decide: the role's own permissions were judged"
        return dataclasses.replace(verdict, note="; ".join(n for n in (verdict.note, note) if n), evidence=evidence)
    if verdict.met or verdict.cause in ("explicit-deny", "scp", "boundary"):
        return dataclasses.replace(verdict, evidence=evidence)
    return Verdict(
        requirement,
        facts.ref,
        True,
        f"allowed by {name}, which names the role",
        "met",
        note=f"the role's own policies do not grant it ({verdict.reason}); the key policy alone does",
        evidence=evidence,
    )


def _unless(test: str) -> str:
    """``NotIpAddress aws:SourceIp 192.0.2.0/24`` → ``the request comes from 192.0.2.0/24``."""
    operator, _, rest = test.partition(" ")
    key, _, values = rest.partition(" ")
    if key.lower() == "aws:sourceip" and operator.startswith("NotIpAddress"):
        return f"the request comes from {values}"
    if operator.startswith("Null"):
        return f"the request carries {key}"
    return f"the request carries {key} ({operator} {values})"


def _scp(requirement: Requirement, facts: RoleFacts, evidence: dict[str, Any]) -> Verdict:
    return Verdict(
        requirement,
        facts.ref,
        False,
        "denied by a service control policy",
        "scp",
        f"an SCP of the organization blocks {requirement.action}: ask the organization's administrators; "
        "adding a permission to the role will not help",
        evidence=evidence,
    )


def _statement_names(result: SimulationResult) -> str:
    parts = []
    for statement in result.matched_statements:
        start = statement.get("StartPosition") or {}
        end = statement.get("EndPosition") or {}
        lines = ""
        if start.get("Line"):
            lines = f" (lines {start['Line']}-{end.get('Line', start['Line'])})"
        parts.append(f"{statement.get('SourcePolicyId', '?')}{lines}")
    return ", ".join(dict.fromkeys(parts))


def _explained_layer(result: SimulationResult) -> str | None:
    explanation = result.explanation
    return getattr(explanation, "layer", None)


def _conditional_keys(result: SimulationResult) -> tuple[str, ...]:
    """Keys this action's own Allow needs, as the engine shows them; () from AWS's answer alone.

    AWS's ``MissingContextValues`` lists keys from every statement of the simulated policies, not
    only this action's (boto3#3111): it does not show that this Allow depends on them.
    """
    explanation = result.explanation
    if explanation is not None:
        return tuple(getattr(explanation, "missing_condition_keys", ()))
    return ()


def _judge_trust(requirement: Requirement, facts: RoleFacts, appliance: AppliancePrincipal | None) -> Verdict:
    _need(facts, "role")
    assert facts.role is not None
    if requirement.principal == "appliance":
        if appliance is None:
            raise LookupError("no appliance principal")  # the plugin skips before judging
        principal = appliance.principal
    else:
        assert isinstance(requirement.principal, tuple)
        kind, name = requirement.principal[0]
        principal = Principal(kind, name)  # type: ignore[arg-type]
    trust_text = json.dumps(facts.role.trust_policy, indent=4)
    evidence: dict[str, Any] = {"AssumeRolePolicyDocument": facts.role.trust_policy}
    try:
        policy = parse_policy(trust_text, policy_id="trust policy", policy_type="trust")
        # The engine adds the keys every AssumeRole request by this principal carries (time, principal);
        # the appliance's own session adds MFA false, its role's tags and RoleId.
        session = facts.appliance_context if requirement.principal == "appliance" else None
        context = Context.of(session or {})
        evaluation = evaluate_trust(policy, principal, role_arn=facts.role.arn, context=context)
        depends = (
            _trust_depends_on_tags(policy, principal, facts.role.arn, context, evaluation)
            if requirement.principal == "appliance" and facts.appliance_tags_unknown
            else None
        )
    except PolicyError as error:
        raise CheckError(f"could not check: the trust policy cannot be evaluated: {error}") from error
    evidence["Evaluation"] = evaluation.to_result()
    who = principal.id
    if depends is not None:
        key, value, other = depends
        allows = other.decision == "allowed"
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"depends on {key}: the trust policy {'allows' if allows else 'does not allow'} {who} when its role "
            f"carries the tag {key.split('/', 1)[1]}={value}, and "
            f"{'does not' if allows else 'does'} otherwise",
            "conditional",
            f"verify the appliance role's tags where it lives, or allow {who} without a condition on its tags",
            note=facts.appliance_tags_unknown,
            evidence=evidence,
        )
    if evaluation.explanation.dangling_principals:
        dangling = ", ".join(evaluation.explanation.dangling_principals)
        evidence["DanglingPrincipals"] = list(evaluation.explanation.dangling_principals)
    else:
        dangling = ""
    statement = _trust_statement(principal)
    if evaluation.decision == "explicitDeny":
        where = _evaluation_statement(evaluation)
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"trust policy explicitly denies {who} ({where})",
            "trust-deny",
            f"remove or narrow the Deny statement ({where}) for {who}",
            evidence=evidence,
        )
    if evaluation.decision != "allowed":
        missing = evaluation.explanation.missing_condition_keys
        if missing:
            keys = ", ".join(missing)
            return Verdict(
                requirement,
                facts.ref,
                False,
                f"trust policy allows {who} only when {keys} {_are(missing)} present",
                "conditional",
                f"check that {who} supplies {keys}, or add: {statement}",
                evidence=evidence,
            )
        if requirement.principal == "appliance" and appliance is not None and appliance.role_arn is None:
            named = trusted_roles(facts.role.trust_policy, appliance.account)
            if named:
                # Trusting the whole account would widen the trust: ask for the role instead.
                raise CheckError(
                    f"could not check: the trust names {', '.join(named)}, not the whole account "
                    f"{appliance.account}: pass --appliance-principal {named[0]} (the appliance's role) to check it",
                    "the harness never proposes trusting a whole account where the trust names one of its roles",
                )
        extra = f"; it names deleted principals by unique id: {dangling}" if dangling else ""
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"trust policy does not allow {who} to assume the role{extra}",
            "trust-missing",
            f"add to the role's trust policy: {statement}",
            evidence=evidence,
        )
    note = ""
    if requirement.principal == "appliance" and appliance is not None:
        side = facts.appliance_side
        if "appliance" in facts.errors:
            failure = facts.errors["appliance"]
            if failure.code == "NoSuchEntity":
                return Verdict(
                    requirement,
                    facts.ref,
                    False,
                    f"the appliance role {appliance.role_arn} does not exist in account {appliance.account}",
                    "appliance-side",
                    "check --appliance-principal: give the ARN of the appliance's Impersonation role",
                    evidence=evidence,
                )
            # Half of the requirement was not checked (access denied, throttled, a fault): never a pass.
            raise CheckError(f"could not check: the appliance role's side: {failure.message}", failure.hint)
        elif side is not None:
            evidence["ApplianceSide"] = dict(side.raw)
            blocked = _appliance_blocker(side)
            if blocked:
                return Verdict(
                    requirement,
                    facts.ref,
                    False,
                    f"the appliance role {appliance.role_arn} may not assume this role: {blocked}",
                    "appliance-side",
                    f"lift it in {appliance.role_arn}'s account: no policy change to this role can",
                    evidence=evidence,
                )
            if side.decision != "allowed" and evaluation.explanation.requires_caller_allow:
                # AWS also needs the caller's allow here, but granting it is the Impersonation role's
                # requirement (Veeam's "Before You Begin"), checked when that role is verified.
                note = (
                    f"the trust names the account {appliance.account}, so AWS also needs {appliance.role_arn} to "
                    f"allow sts:AssumeRole on this role, and it does not ({side.decision}): that permission is "
                    "the Impersonation role's requirement; grant it there, or name the role's ARN in this trust"
                )
        elif appliance.role_arn and appliance.account != facts.ref.account:
            note = (
                f"the appliance role is in account {appliance.account}; its own sts:AssumeRole permission "
                "was not checked (verify it with that account's credentials)"
            )
        elif evaluation.explanation.requires_caller_allow:
            note = (
                f"the trust allows the account {appliance.account}; its Impersonation role must also allow "
                "sts:AssumeRole (give --appliance-principal as that role's ARN to check it)"
            )
    if evaluation.missing_context:
        unseen = ", ".join(evaluation.missing_context)
        note = (note + "; " if note else "") + (
            f"the trust policy tests {unseen}, which the harness cannot know: real requests that carry "
            "them may be decided differently"
        )
    return Verdict(
        requirement,
        facts.ref,
        True,
        f"trust policy allows {who} to assume the role",
        "met",
        note=note,
        evidence=evidence,
    )


def _trust_depends_on_tags(
    policy: Any, principal: Principal, role_arn: str, context: Context, evaluation: Evaluation
) -> tuple[str, str, Evaluation] | None:
    """A tag of the appliance role (unknown: another account) under which the trust decides otherwise, or None."""
    for statement in policy.statements:
        block = raw_statement(policy, statement).get("Condition")
        if not isinstance(block, Mapping):
            continue
        for tests in block.values():
            for key, values in tests.items() if isinstance(tests, Mapping) else ():
                if not str(key).lower().startswith("aws:principaltag/"):
                    continue
                for value in values if isinstance(values, list) else [values]:
                    trial = Context({**context.values, str(key).lower(): (str(value),)})
                    other = evaluate_trust(policy, principal, role_arn=role_arn, context=trial)
                    if other.decision != evaluation.decision:
                        return str(key), str(value), other
    return None


def trusted_roles(trust_policy: Mapping[str, Any], account: str) -> list[str]:
    """Role and user ARNs of ``account`` that the trust policy's Allow statements name as AWS principals."""
    statements = trust_policy.get("Statement", [])
    named: list[str] = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        values = principal.get("AWS", []) if isinstance(principal, Mapping) else []
        for value in [values] if isinstance(values, str) else values if isinstance(values, list) else []:
            parts = str(value).split(":")
            if len(parts) >= 6 and parts[4] == account and parts[5].startswith(("role/", "user/")):
                named.append(str(value))
    return list(dict.fromkeys(named))


def _appliance_blocker(side: SimulationResult) -> str:
    """What blocks the appliance role even where this role's trust names it: "" when nothing does.

    A same-account role named by ARN in a trust policy needs no allow of its own, but an explicit
    deny in its policies, its permissions boundary and the organization's SCPs still apply
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
    """
    if side.allowed_by_organizations is False:
        return "a service control policy denies it sts:AssumeRole"
    if side.decision == "explicitDeny":
        where = _statement_names(side)
        if not where and side.explanation is None:
            return "a service control policy denies it sts:AssumeRole"
        return f"its policies explicitly deny sts:AssumeRole ({where or 'a Deny statement'})"
    if side.allowed_by_boundary is False:
        return "its permissions boundary does not allow sts:AssumeRole"
    if side.decision not in ("allowed", "implicitDeny"):
        raise CheckError(f"could not check: unknown EvalDecision {side.decision!r} for the appliance role")
    return ""


def _evaluation_statement(evaluation: Evaluation) -> str:
    statement = evaluation.explanation.statement
    if statement is None:
        return "a Deny statement"
    return f"{statement.policy_id} {statement.lines}"


def _trust_statement(principal: Principal) -> str:
    return json.dumps({"Effect": "Allow", "Principal": {principal.kind: principal.id}, "Action": "sts:AssumeRole"})


def _are(keys: tuple[str, ...]) -> str:
    return "is" if len(keys) == 1 else "are"
