"""Judge one requirement from a role's facts: met or not, why, and what to change (``judge``).

Permissions here (AWS's answers, double entry, unknown keys, key policies, SCPs); trust in
``verdicts.trust``. A requirement whose facts could not be had raises ``CheckError``: broken, never passed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from typing import Any

from verification.backends import SimulationResult, restrictiveness
from verification.errors import CheckError
from verification.names import AppliancePrincipal as AppliancePrincipal  # re-exported: its old path
from verification.names import KmsKey as KmsKey  # re-exported: its old path
from verification.policy import Context, PolicyError, Principal, evaluate_trust, parse_policy
from verification.policy.model import NearMiss
from verification.requirements import Requirement
from verification.scope.catalogue import key_policy_governs
from verification.scope.context import (
    instance_context,
    session_context,
)
from verification.scope.regions import describe, global_region
from verification.verdicts import double_entry, nearest
from verification.verdicts.model import Check, RoleFacts, Verdict
from verification.verdicts.trust import judge_trust
from verification.verdicts.wording import are, evaluation_statement, need, statement_names

#: The keys the harness supplies for every instance-role session (lower case).
_SESSION_KEYS = frozenset(
    [k.lower() for k in session_context("arn:aws:iam::000000000000:role/x", role_id="x")]
    + [k.lower() for k in instance_context("aws", "us-east-1", "000000000000")]
    + ["aws:requestedregion"]
)


def judge(requirement: Requirement, facts: RoleFacts, appliance: AppliancePrincipal | None) -> Verdict:
    """The verdict for one requirement; CheckError when it could not be checked.

    A role's requirements are judged together, once, by ``verdicts.role.judge_role``.
    """
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
        return judge_trust(requirement, facts, appliance)
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


def _judge_instance_profile(requirement: Requirement, facts: RoleFacts) -> Verdict:
    need(facts, "profiles")
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
    need(facts, "simulation")
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
    if result.decision == "allowed":
        return _allowed(requirement, facts, result, evidence)
    if result.decision == "explicitDeny":
        return _explicitly_denied(requirement, facts, result, evidence)
    if result.decision != "implicitDeny":
        raise CheckError(f"could not check: unknown EvalDecision {result.decision!r} for {requirement.action}")
    if result.allowed_by_organizations is False:
        return _scp(requirement, facts, evidence)
    if result.allowed_by_boundary is False:
        return _boundary_denied(requirement, facts, result, evidence)
    return _implicitly_denied(requirement, facts, result, evidence)


def _allowed(requirement: Requirement, facts: RoleFacts, result: SimulationResult, evidence: dict[str, Any]) -> Verdict:
    """Met: which statements allow it, and a note when the simulation lacked values a Deny may test."""
    where = statement_names(result)
    note = ""
    if result.missing_context:
        note = (
            f"the simulation had no values for {', '.join(result.missing_context)}; a statement that "
            "tests them may still deny real requests that carry them"
        )
    reason = f"allowed{' by ' + where if where else ''}"
    return Verdict(requirement, facts.ref, True, reason, "met", note=note, evidence=evidence)


def _explicitly_denied(
    requirement: Requirement, facts: RoleFacts, result: SimulationResult, evidence: dict[str, Any]
) -> Verdict:
    """Denied by a statement: which one (the role's, its boundary's, or an SCP's), and that an Allow will not help."""
    action = requirement.action
    absent = tuple(getattr(result.explanation, "denied_on_absence", ()) or ())
    if absent:
        return _denied_unless(requirement, facts, result, absent, evidence)
    # AWS lists the Deny of an identity policy or boundary, never an SCP's: an explicit deny that
    # names no statement (and no engine explanation) is the organization's, in either dialect.
    unnamed = not result.matched_statements and result.explanation is None
    if result.allowed_by_organizations is False or (unnamed and result.allowed_by_organizations is None):
        return _scp(requirement, facts, evidence)
    where = statement_names(result) or "a Deny statement"
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


def _boundary_denied(
    requirement: Requirement, facts: RoleFacts, result: SimulationResult, evidence: dict[str, Any]
) -> Verdict:
    """Not allowed by the permissions boundary: what it lacks, or the limits this request does not meet."""
    action = requirement.action
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


def _implicitly_denied(
    requirement: Requirement, facts: RoleFacts, result: SimulationResult, evidence: dict[str, Any]
) -> Verdict:
    """No statement allows it: a condition it lacks, the Allow that nearly applied, or nothing at all."""
    action = requirement.action
    missing = _conditional_keys(result)
    if missing:
        keys = ", ".join(missing)
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"allowed only when {keys} {are(missing)} present",
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
        where = statement_names(result) or "a Deny statement"
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
    need(facts, "kms-key")
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
        where = evaluation_statement(evaluation)
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
            f"allowed by {name} only when {', '.join(keys)} {are(keys)} present",
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
