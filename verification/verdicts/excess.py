"""Excess: the permissions a role holds beyond its requirement sets, ranked by risk.

A role verified against its sets can be told "these grants are required by page X" and "these are
not". ``find_excess`` decides, with the policy engine over the role's policies (a snapshot, a
template, or GAAD in fleet mode), which catalogue actions the role is allowed beyond the union of its
sets: in the same session context and regions as the requirements, on ``*``, on a representative
ARN of each of the action's resource types, and on the resources its own Allow statements name;
after explicit denies, the permissions boundary and the SCPs the run knows. It first narrows the
~18,000 catalogue actions to those some Allow statement of the role matches (wildcards expanded
against the catalogue), so a role made exactly from its pages costs nothing more.

``rank`` puts each action in one group (``fixtures/risk/escalation.yaml``): privilege-escalation
(the escalation table, pairs included), data-access, then the catalogue's access level.
``confirm`` has AWS's simulator confirm the high-risk groups live, in one call of at most 1,000
answers; where no policies are in hand (live, per role) ``simulated_excess`` asks the simulator for
the high-risk table only, and the note says that the lower groups were not examined.
``narrower_note`` says, on a required grant the table calls risky (``iam:PassRole`` on ``*``),
which narrower statement still suffices, checked by the engine before it is offered.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from verification.backends import Backend, RoleRef
from verification.errors import CheckError, InputError
from verification.policy import Context, PolicyError, PolicySet, Request, evaluate, parse_policy, simulate
from verification.policy.parse import Policy
from verification.requirements import Requirement, RequirementSet
from verification.requirements.risk import Narrower, RiskTable, risk_table
from verification.scope.catalogue import (
    access_level,
    all_actions,
    representative_arn,
    resource_types,
    service_actions,
    spelled,
)
from verification.scope.regions import action_regions

#: At most this many answers in the one simulation that confirms (or finds) the high-risk groups.
PAGE_LIMIT = 1000
#: How many actions a one-line message names before it counts the rest.
SHOWN = 5
#: How many of an Allow statement's own resources are tried for each action it matches.
OWN_RESOURCES = 20


# --- which actions the role's Allow statements reach --------------------------------------------------


@cache
def _catalogue_lower() -> tuple[str, ...]:
    return tuple(a.lower() for a in all_actions())


@cache
def _catalogue_set() -> frozenset[str]:
    return frozenset(_catalogue_lower())


@cache
def _catalogue_spelling() -> dict[str, str]:
    """Every catalogued action, lower-cased, to its spelling in the catalogue."""
    return {a.lower(): a for a in all_actions()}


def _statement_actions(statement: Any) -> Iterable[str]:
    """The lower-cased catalogue actions one statement's Action (or NotAction) matches."""
    matcher = statement.actions
    if statement.not_action:
        return (a for a in _catalogue_lower() if not matcher.matches(a))
    if matcher.match_all:
        return _catalogue_lower()
    if matcher.regex is None:  # exact names only: no need to walk their services
        return (a for a in matcher.exact if a in _catalogue_set())
    if matcher.services is not None:
        pool: Iterable[str] = (a.lower() for s in matcher.services for a in service_actions(s))
    else:
        pool = _catalogue_lower()
    return (a for a in pool if matcher.matches(a))


def _allowed_by(policies: Iterable[Policy]) -> set[str]:
    out: set[str] = set()
    for policy in policies:
        for statement in policy.statements:
            if statement.is_allow:
                out.update(_statement_actions(statement))
    return out


def candidates(policies: PolicySet, required: Iterable[str]) -> set[str]:
    """Lower-cased catalogue actions some Allow of the role matches, that its boundary and every SCP
    level could allow too, and that its sets do not require: the only actions that can be excess."""
    found = _allowed_by(policies.identity)
    if policies.boundary is not None:
        found &= _allowed_by([policies.boundary])
    for level in policies.scps:
        found &= _allowed_by(level)
    return found - {a.lower() for a in required}


def _own_resources(policies: PolicySet, action: str) -> list[str]:
    """Concrete resources the role's matching Allow statements name (``*`` and ``?`` made concrete)."""
    out: list[str] = []
    for policy in policies.identity:
        raw = policy.document.get("Statement")
        items = raw if isinstance(raw, list) else [raw]
        for statement in policy.statements_for(action):
            if not statement.is_allow or statement.not_resource or statement.index >= len(items):
                continue
            item = items[statement.index]
            resource = item.get("Resource") if isinstance(item, Mapping) else None
            for pattern in [resource] if isinstance(resource, str) else resource or ():
                if isinstance(pattern, str) and pattern != "*" and "${" not in pattern:
                    out.append(pattern.replace("*", "example").replace("?", "x"))
    return list(dict.fromkeys(out))[:OWN_RESOURCES]


# --- deciding and ranking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExcessAction:
    """One action the role is allowed beyond its sets: its risk group, where it is allowed, and why so ranked."""

    action: str
    group: str
    resources: tuple[str, ...]
    why: str
    #: Who said it is allowed: "engine" (the role's policies) or "simulator" (AWS's SimulatePrincipalPolicy).
    decided_by: str = "engine"

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "group": self.group,
            "resources": list(self.resources),
            "why": self.why,
            "decided_by": self.decided_by,
        }


@dataclass(frozen=True)
class Excess:
    """A role's excess: every action, ranked; which groups were examined; how it was decided."""

    role: str
    actions: tuple[ExcessAction, ...] = ()
    examined: tuple[str, ...] = ()
    method: str = ""
    note: str = ""
    #: Why nothing could be examined (the role could not be read); then no group is examined.
    error: str = ""
    candidates: int = 0
    simulations: int = 0

    def group(self, name: str) -> tuple[ExcessAction, ...]:
        """The excess actions of one group, in order."""
        return tuple(a for a in self.actions if a.group == name)

    def counts(self) -> dict[str, int]:
        """Per group (every group of the table): how many excess actions; examined groups only."""
        return {g: len(self.group(g)) for g in risk_table().groups if g in self.examined}

    def names(self, group: str | None = None, limit: int = SHOWN) -> str:
        """The first actions (of a group), then a count of the rest: one line."""
        actions = [a.action for a in (self.group(group) if group else self.actions)]
        shown = ", ".join(actions[:limit])
        rest = len(actions) - limit
        return shown + (f" and {rest} more" if rest > 0 else "")

    def as_dict(self) -> dict[str, Any]:
        """The evidence: every action with its group, resources and why."""
        return {
            "role": self.role,
            "method": self.method,
            "note": self.note,
            "error": self.error,
            "examined": list(self.examined),
            "counts": self.counts(),
            "candidates": self.candidates,
            "simulations": self.simulations,
            "actions": [a.as_dict() for a in self.actions],
        }

    def text(self) -> str:
        """The report's note: per group, its count and first actions."""
        if self.error:
            return f"excess not examined: {self.error}"
        lines = [self.method]
        for group in risk_table().groups:
            if group not in self.examined:
                lines.append(f"{group}: not examined")
                continue
            found = self.group(group)
            lines.append(f"{group}: {len(found)}" + (f" ({self.names(group)})" if found else ""))
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def rank(
    allowed: Mapping[str, tuple[str, ...]], held: Iterable[str], table: RiskTable | None = None
) -> list[tuple[str, str, str]]:
    """Each allowed excess action's group and why: ``(action, group, why)``, most risky first.

    ``allowed`` maps each excess action to where it is allowed; ``held`` the required actions the role
    is allowed (a pair is escalation when the role holds all of it, required or not).
    """
    table = table or risk_table()
    holding = {a.lower() for a in held} | {a.lower() for a in allowed}
    order = {g: i for i, g in enumerate(table.groups)}
    out: list[tuple[str, str, str]] = []
    for action, resources in allowed.items():
        lowered = action.lower()
        group, why = "", ""
        if lowered in table.escalation:
            group, why = "privilege-escalation", f"escalation table ({', '.join(table.escalation[lowered])})"
        elif lowered in table.on_any_resource and "*" in resources:
            group = "privilege-escalation"
            why = f"on Resource * ({', '.join(table.on_any_resource[lowered])})"
        else:
            for pair, sources in table.pairs:
                if lowered in pair and all(a in holding for a in pair):
                    group = "privilege-escalation"
                    why = f"with {' + '.join(a for a in pair if a != lowered)} ({', '.join(sources)})"
                    break
        if not group and table.is_data_access(lowered):
            group, why = "data-access", "reads data or secrets"
        if not group:
            # The catalogue may give several levels ("Permissions management, Write"): the riskiest one counts.
            level = access_level(action)
            mapped = [table.levels[part.strip()] for part in level.split(",") if part.strip() in table.levels]
            group = min(mapped, key=order.__getitem__, default="infrastructure-modification")
            why = f"access level {level or 'unknown'}"
        out.append((action, group, why))
    # Within a group: the table's own actions (escalation alone) before those that need a partner.
    out.sort(key=lambda item: (order[item[1]], not item[2].startswith("escalation table"), item[0].lower()))
    return out


def find_excess(
    policy_sets: Sequence[PolicySet],
    requirements: RequirementSet,
    *,
    ref: RoleRef,
    contexts: Mapping[str, Mapping[str, Sequence[str]]],
    held: Iterable[str] = (),
) -> Excess:
    """The role's excess, decided by the engine over every policy set it may have (a template: each account).

    ``contexts`` is the request context per judged region (the requirements' own, region included);
    an action is excess when some region, on ``*``, a representative ARN of one of its resource types
    or a resource its own Allow names, is allowed in some policy set.
    """
    regions = tuple(contexts)
    found: dict[str, list[str]] = {}
    count = 0
    for policies in policy_sets:
        pool = candidates(policies, requirements.actions)
        count = max(count, len(pool))
        if not pool:
            continue
        spelling = _catalogue_spelling()  # spelled as the catalogue does, for the report
        actions = sorted(spelling[a] for a in pool if a in spelling)
        by_region: dict[str, list[str]] = {}
        for action in actions:
            for region in action_regions(action, regions, ref.partition):
                by_region.setdefault(region, []).append(action)
        for region, asked in by_region.items():
            context = Context.of(contexts.get(region) or _any_context(contexts, region))
            rest = []
            for evaluation in simulate(policies, asked, ("*",), context):
                if evaluation.decision == "allowed":
                    found.setdefault(evaluation.action, []).append("*")
                else:
                    rest.append(evaluation.action)
            for action in rest:
                if action in found:  # allowed in another region already
                    continue
                resources = [
                    representative_arn(t.arn_format, partition=ref.partition, region=region, account=ref.account)
                    for t in resource_types(action)
                ]
                resources += _own_resources(policies, action.lower())
                for resource in dict.fromkeys(resources):
                    request = Request(action=action, resource=resource, context=context)
                    if evaluate(request, policies).decision == "allowed":
                        found.setdefault(action, []).append(resource)
                        break
    allowed = {action: tuple(dict.fromkeys(resources)) for action, resources in found.items()}
    ranked = rank(allowed, held)
    return Excess(
        ref.arn,
        tuple(ExcessAction(a, g, allowed[a], w) for a, g, w in ranked),
        examined=risk_table().groups,
        method=(
            "decided by the policy engine over the role's policies (boundary and known SCPs included), "
            f"in {', '.join(regions)}, on Resource *, each resource type and the resources the role's Allows name"
        ),
        candidates=count,
    )


def _any_context(contexts: Mapping[str, Mapping[str, Sequence[str]]], region: str) -> dict[str, Sequence[str]]:
    """A judged region's context, for another region (a global service's): the same session, that region."""
    base = next(iter(contexts.values()), {})
    return {**{k: v for k, v in base.items() if k.lower() != "aws:requestedregion"}, "aws:RequestedRegion": (region,)}


# --- live: AWS's simulator -----------------------------------------------------------------------------------


def confirm(backend: Backend, excess: Excess, context: Mapping[str, Sequence[str]]) -> Excess:
    """Have AWS's simulator confirm the high-risk groups' excess, in one call of at most ``PAGE_LIMIT`` answers.

    Each action is asked on the resource the engine found it allowed on. An action AWS does not allow
    (an SCP the run does not know) is dropped and named in the note; no call when nothing is high-risk.
    """
    table = risk_table()
    risky = [a for a in excess.actions if a.group in table.high_risk]
    if not risky:
        note = (
            "no high-risk excess, so no simulation was asked; every group comes from the engine over the role's "
            "policies, which knows no SCP live"
        )
        return dataclasses.replace(excess, note="; ".join(n for n in (excess.note, note) if n))
    resources = list(dict.fromkeys(a.resources[0] for a in risky))
    per_call = max(1, PAGE_LIMIT // max(1, len(resources)))
    asked, unasked = risky[:per_call], risky[per_call:]
    wanted = frozenset((a.action.lower(), a.resources[0]) for a in asked)
    results = backend.simulate(
        excess.role,
        [a.action for a in asked],
        resources=list(dict.fromkeys(a.resources[0] for a in asked)),
        context=context,
        evidence_key=excess.role,
        wanted=wanted,
    )
    decisions = {(r.action.lower(), r.resource): r.decision for r in results}
    kept: list[ExcessAction] = []
    denied: list[str] = []
    for item in excess.actions:
        if item in asked:
            decision = decisions.get((item.action.lower(), item.resources[0]))
            if decision == "allowed":
                kept.append(_by(item, "simulator"))
            elif decision is None:
                raise CheckError(f"the simulation returned no answer for {item.action} on {item.resources[0]}")
            else:
                denied.append(f"{item.action} ({decision})")
        else:
            kept.append(item)
    notes = [
        f"{', '.join(table.high_risk)} confirmed by AWS's simulator (one SimulatePrincipalPolicy); "
        "the lower groups come from the engine over the role's policies, which knows no SCP live"
    ]
    if denied:
        notes.append(f"the engine allowed, AWS's simulator did not (an SCP?): {', '.join(denied)}")
    if unasked:
        notes.append(f"{len(unasked)} high-risk action(s) beyond one page of {PAGE_LIMIT} answers: engine only")
    note = "; ".join([excess.note, *notes] if excess.note else notes)
    return Excess(excess.role, tuple(kept), excess.examined, excess.method, note, excess.error, excess.candidates, 1)


def _by(item: ExcessAction, who: str) -> ExcessAction:
    return ExcessAction(item.action, item.group, item.resources, item.why, who)


def simulated_excess(
    backend: Backend,
    requirements: RequirementSet,
    *,
    ref: RoleRef,
    context: Mapping[str, Sequence[str]],
    held: Iterable[str] = (),
) -> Excess:
    """Live without the role's policies: the high-risk table's actions asked of AWS's simulator, one call.

    Only the high-risk groups are examined, on Resource ``*`` in the first judged region.
    """
    table = risk_table()
    required = requirements.actions_lowered
    spelling = _catalogue_spelling()
    actions = [spelling[a] for a in table.high_risk_actions() if a in spelling and a not in required][:PAGE_LIMIT]
    results = backend.simulate(
        ref.arn,
        actions,
        resources=("*",),
        context=context,
        evidence_key=ref.arn,
        wanted=frozenset((a.lower(), "*") for a in actions),
    )
    allowed = {r.action: ("*",) for r in results if r.decision == "allowed"}
    ranked = [(a, g, w) for a, g, w in rank(allowed, held, table) if g in table.high_risk]
    return Excess(
        ref.arn,
        tuple(ExcessAction(spelling.get(a.lower(), a), g, ("*",), w, "simulator") for a, g, w in ranked),
        examined=table.high_risk,
        method=f"the high-risk table's {len(actions)} actions asked of AWS's simulator (one SimulatePrincipalPolicy)",
        note=(
            "the role's policies are not in hand (live, per role): "
            f"{', '.join(g for g in table.groups if g not in table.high_risk)} not examined, and the high-risk "
            "actions were asked on Resource * only (a grant on named resources only is not seen); "
            "verify from a snapshot, or in fleet mode (--prefetch always), for every group"
        ),
        candidates=len(actions),
        simulations=1,
    )


# --- required, but risky ---------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{(Partition|Account|Region|RoleName)\}")


def _fill(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: names[m.group(1)], value)
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, Mapping):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class NarrowerCheck:
    """A narrower statement for one role, and what the engine found when it checked it."""

    statement: Mapping[str, Any]
    sufficient: bool
    narrower: bool
    failures: tuple[str, ...] = field(default=())

    @property
    def holds(self) -> bool:
        return self.sufficient and self.narrower


def check_narrower(entry: Narrower, ref: RoleRef, region: str) -> NarrowerCheck:
    """Decide, with the engine, that the narrower statement allows what suffices and denies the rest."""
    names = {"Partition": ref.partition, "Account": ref.account, "Region": region, "RoleName": ref.name}
    statement = _fill(entry.statement, names)
    document = {"Version": "2012-10-17", "Statement": [statement]}
    try:
        policy = parse_policy(json.dumps(document, indent=4), policy_id="narrower", policy_type="IAM Policy")
    except PolicyError as error:
        return NarrowerCheck(statement, False, False, (f"does not parse: {error}",))
    policies = PolicySet(identity=(policy,), principal_arn=ref.arn)
    failures: list[str] = []

    def decide(resource: str, context: Mapping[str, tuple[str, ...]]) -> str:
        filled = {k: tuple(_fill(list(v), names)) for k, v in context.items()}
        request = Request(action=entry.action, resource=_fill(resource, names), context=Context.of(filled))
        return evaluate(request, policies).decision

    sufficient = True
    for resource, context in entry.sufficient:
        if decide(resource, context) != "allowed":
            sufficient = False
            failures.append(f"does not allow {entry.action} on {_fill(resource, names)}")
    narrower = True
    for resource, context in entry.narrower_than:
        if decide(resource, context) == "allowed":
            narrower = False
            failures.append(f"still allows {entry.action} on {_fill(resource, names)} {dict(context)}")
    return NarrowerCheck(statement, sufficient, narrower, tuple(failures))


def narrower_note(requirement: Requirement, requirements: RequirementSet, ref: RoleRef, region: str) -> str:
    """On a required grant the table calls risky (on ``*``): the page that requires it and a checked narrower one.

    "" when the requirement is not such a grant, or when the narrower statement fails its check (then
    it is never offered).
    """
    if requirement.kind != "permission" or requirement.resource != "*" or not requirement.action:
        return ""
    table = risk_table()
    action = requirement.action.lower()
    entry = table.narrower.get(action)
    pages = page_of(requirement, requirements)
    if entry is None:
        risky = _risky_as_required(action, requirements, table)
        if not risky:
            return ""
        return (
            f"required by {pages}, but risky: {risky}; the risk table holds no narrower statement for it "
            "(so none is offered): grant it on the resources the role works with if you can"
        )
    checked = check_narrower(entry, ref, region)
    if not checked.holds:
        return ""
    statement = json.dumps(checked.statement, separators=(",", ":"))
    return (
        f"required by {pages}, but risky: {entry.why} ({risk_table().cite(entry.sources)}); "
        f"narrower and still sufficient: {statement} (checked by the policy engine: it allows "
        f"{len(entry.sufficient)} sufficient request(s) and denies {len(entry.narrower_than)} wider one(s); "
        f"it assumes {entry.assumes})"
    )


def _risky_as_required(action: str, requirements: RequirementSet, table: RiskTable) -> str:
    """Why the escalation table calls a required grant on ``*`` risky ("" when it does not)."""
    name = spelled(action)
    if action in table.escalation:
        return f"{name} is a known privilege-escalation path ({table.cite(table.escalation[action])})"
    if action in table.on_any_resource:
        return (
            f"{name} on Resource * is a known privilege-escalation path ({table.cite(table.on_any_resource[action])})"
        )
    required = requirements.actions_lowered
    for pair, sources in table.pairs:
        if action in pair and set(pair) <= required:
            partners = " + ".join(spelled(a) for a in pair if a != action)
            return (
                f"{name} with {partners}, also required, is a known privilege-escalation path ({table.cite(sources)})"
            )
    return ""


def page_of(requirement: Requirement, requirements: RequirementSet) -> str:
    """The page(s) a requirement comes from: its set's source URL (each member's, in a union)."""
    members = requirements.members or (requirements,)
    urls = [
        m.source_url
        for m in members
        if not requirement.sets or m.name in requirement.sets or m.id in requirement.sets or len(members) == 1
    ]
    return " and ".join(dict.fromkeys(urls or [requirements.source_url]))


# --- one role, whatever the backend ---------------------------------------------------------------------------


def held_actions(facts: Any) -> set[str]:
    """The required actions the role is allowed (every judged request allowed): partners of a pair."""
    held: set[str] = set()
    for checks in facts.checks.values():
        if checks and all(c.result.decision == "allowed" for c in checks):
            held.add(checks[0].result.action.lower())
    return held


def judged_contexts(facts: Any, backend: Backend, scope: Any) -> dict[str, Mapping[str, Sequence[str]]]:
    """The request context per judged region, as the requirements were judged (built alike when none was)."""
    from verification.scope.context import merge, session_context

    out: dict[str, Mapping[str, Sequence[str]]] = {}
    for context in facts.contexts:
        for key, values in context.items():
            if key.lower() == "aws:requestedregion" and values:
                out.setdefault(str(values[0]), context)
    regions = facts.regions or scope.regions or (backend.region or "us-east-1",)
    role = facts.role
    session = session_context(
        facts.ref.arn,
        role_id=role.role_id if role else "",
        tags=role.tags if role else None,
        org_id=scope.org_id or backend.organization_id,
        now=scope.now,
    )
    for region in regions:
        if region not in out:
            out[region] = merge(session, scope.context, {"aws:RequestedRegion": (region,)})
    return out


def excess_for(backend: Backend, facts: Any, requirements: RequirementSet, scope: Any) -> Excess:
    """The role's excess with whatever the backend holds: the engine over its policies, AWS's simulator live.

    Live with the policies in hand (fleet mode), the high-risk groups cost one more simulation, and
    only when the engine finds some; live without them, one simulation of the high-risk table.
    """
    ref = facts.ref
    if facts.role is None:
        failure = facts.errors.get("role")
        return Excess(ref.arn, error=f"the role could not be read ({failure.message if failure else 'unknown'})")
    contexts = judged_contexts(facts, backend, scope)
    held = held_actions(facts)
    first = next(iter(contexts.values()))
    try:
        sets = backend.policy_sets(ref)
        if sets is None:
            return simulated_excess(backend, requirements, ref=ref, context=first, held=held)
        found = find_excess(sets, requirements, ref=ref, contexts=contexts, held=held)
        if backend.capabilities.live_api:
            return confirm(backend, found, first)
        return found
    except (CheckError, InputError, PolicyError) as error:
        return Excess(ref.arn, error=str(error))
