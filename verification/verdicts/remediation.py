"""Remediation for a failing role: what to add, what adding will not fix, and a check of both.

``propose`` turns a role's failed verdicts into a fix: one policy holding exactly the missing
actions, the trust statements to add, the AWS CLI commands for a missing instance profile, and the
blockers (an explicit deny, an SCP, a permissions boundary) that no permission on the role can
overcome. ``check`` tries the fix before it is offered, with the backend's own simulation (live:
SimulatePrincipalPolicy with the policy in ``PolicyInputList``; offline: the engine) and the
engine's trust evaluation, and states what it found next to the fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verification.backends import Backend, RoleRef, SimulationResult, restrictiveness
from verification.errors import CheckError, InputError
from verification.names import AppliancePrincipal
from verification.policy import Context, PolicyError, Principal, evaluate_trust, parse_policy
from verification.verdicts.model import RoleFacts, Verdict
from verification.verdicts.trust import trusted_roles
from verification.verdicts.wording import statement_names

#: The inline policy name the proposed ``put-role-policy`` uses.
POLICY_NAME = "VeeamRoleMissingPermissions"
#: File names the CLI commands refer to (written next to remediation.txt in the evidence bundle).
POLICY_FILE = "missing-permissions.json"
TRUST_FILE = "trust-policy.json"
#: Causes a policy on the role fixes (conditional: granted again without the condition).
_ADDABLE = ("implicit-deny", "conditional")
_BLOCKING = ("explicit-deny", "scp", "boundary")
NOT_HELP = "adding a permission to the role will not help"


@dataclass(frozen=True)
class Blocker:
    """Something that denies actions whatever the role's own policies grant."""

    kind: str  # "explicit-deny" | "scp" | "boundary"
    source: str
    actions: tuple[str, ...]

    def describe(self) -> str:
        """One line: which one blocks what, that a permission will not help, and what will."""
        what, fix = {
            "explicit-deny": (f"the explicit deny in {self.source}", "remove or narrow that Deny statement"),
            "scp": (f"the service control policy {self.source}", "ask the organization's administrators"),
            "boundary": (
                f"the permissions boundary {self.source}",
                "add the actions to the boundary policy, or remove the boundary",
            ),
        }[self.kind]
        return f"{what} blocks {', '.join(self.actions)}: {NOT_HELP}; {fix}"


@dataclass(frozen=True)
class Remediation:
    """The proposed fix for one role; empty (``needed`` false) when every requirement is met."""

    role: RoleRef
    missing: tuple[tuple[str, str], ...] = ()
    trust_principals: tuple[tuple[str, str], ...] = ()
    trust_policy: Mapping[str, Any] | None = None
    instance_profile_commands: tuple[str, ...] = ()
    blockers: tuple[Blocker, ...] = ()
    other: tuple[str, ...] = ()

    @property
    def needed(self) -> bool:
        """Is there anything to change?"""
        return bool(
            self.missing or self.trust_principals or self.instance_profile_commands or self.blockers or self.other
        )

    @property
    def missing_actions(self) -> tuple[str, ...]:
        """The actions the proposed policy grants."""
        return tuple(action for action, _ in self.missing)

    @property
    def policy(self) -> dict[str, Any] | None:
        """A policy document holding exactly the missing actions (one statement per resource)."""
        if not self.missing:
            return None
        by_resource: dict[str, list[str]] = {}
        for action, resource in self.missing:
            by_resource.setdefault(resource, []).append(action)
        statements = [
            {
                "Sid": f"VeeamMissingActions{i}" if len(by_resource) > 1 else "VeeamMissingActions",
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": resource,
            }
            for i, (resource, actions) in enumerate(sorted(by_resource.items()), start=1)
        ]
        return {"Version": "2012-10-17", "Statement": statements}

    @property
    def trust_statements(self) -> list[dict[str, Any]]:
        """The trust policy statements to add."""
        return [
            {"Effect": "Allow", "Principal": {kind: ident}, "Action": "sts:AssumeRole"}
            for kind, ident in self.trust_principals
        ]

    @property
    def commands(self) -> list[str]:
        """The AWS CLI commands that apply the fix (policy files as written next to them)."""
        name = self.role.name
        out: list[str] = []
        if self.missing:
            out.append(
                f"aws iam put-role-policy --role-name {name} --policy-name {POLICY_NAME} "
                f"--policy-document file://{POLICY_FILE}"
            )
        if self.trust_principals:
            out.append(f"aws iam update-assume-role-policy --role-name {name} --policy-document file://{TRUST_FILE}")
        out.extend(self.instance_profile_commands)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The fix as data, for remediation.json."""
        return {
            "role": self.role.arn,
            "missing_actions": [{"action": a, "resource": r} for a, r in self.missing],
            "policy_name": POLICY_NAME if self.missing else None,
            "policy": self.policy,
            "trust_statements": self.trust_statements,
            "trust_policy": self.trust_policy,
            "commands": self.commands,
            "blockers": [
                {"kind": b.kind, "source": b.source, "actions": list(b.actions), "description": b.describe()}
                for b in self.blockers
            ],
            "other": list(self.other),
        }


def propose(
    facts: RoleFacts, verdicts: Sequence[Verdict], *, appliance: AppliancePrincipal | None = None
) -> Remediation:
    """The fix for the failed verdicts of one role (met verdicts are ignored)."""
    missing: list[tuple[str, str]] = []
    blocked: dict[tuple[str, str], list[str]] = {}
    principals: list[tuple[str, str]] = []
    profile_commands: tuple[str, ...] = ()
    other: list[str] = []
    for verdict in verdicts:
        if verdict.met:
            continue
        requirement = verdict.requirement
        if requirement.kind == "permission" and "NearestStatement" in verdict.evidence:
            # The role allows the action under other limits: the fix is that statement, not a new grant.
            other.append(f"{requirement.id}: {verdict.remedy}")
        elif requirement.kind == "permission" and verdict.cause in _ADDABLE:
            assert requirement.action is not None
            missing.append((requirement.action, requirement.resource))
        elif requirement.kind == "permission" and verdict.cause in _BLOCKING:
            assert requirement.action is not None
            key = (verdict.cause, _blocker_source(verdict, facts))
            blocked.setdefault(key, []).append(requirement.action)
        elif requirement.kind == "trust" and verdict.cause == "trust-missing":
            principal = _trust_principal(verdict, appliance)
            widening = _widens_trust(principal, facts)
            if widening:
                other.append(f"{requirement.id}: {widening}")
            elif principal is not None and principal not in principals:
                principals.append(principal)
        elif requirement.kind == "instance-profile" and verdict.cause == "no-instance-profile":
            profile_commands = tuple(part.strip() for part in verdict.remedy.split("&&"))
        else:
            other.append(f"{requirement.id}: {verdict.remedy or verdict.reason}")
    trust_policy: dict[str, Any] | None = None
    if principals and facts.role is not None:
        trust_policy = dict(facts.role.trust_policy)
        statements = trust_policy.get("Statement", [])
        statements = list(statements) if isinstance(statements, list) else [statements]
        statements += [
            {"Effect": "Allow", "Principal": {kind: ident}, "Action": "sts:AssumeRole"} for kind, ident in principals
        ]
        trust_policy = {"Version": trust_policy.get("Version", "2012-10-17"), **trust_policy, "Statement": statements}
    return Remediation(
        role=facts.ref,
        missing=tuple(missing),
        trust_principals=tuple(principals),
        trust_policy=trust_policy,
        instance_profile_commands=profile_commands,
        blockers=tuple(Blocker(kind, source, tuple(actions)) for (kind, source), actions in blocked.items()),
        other=tuple(other),
    )


def _trust_principal(verdict: Verdict, appliance: AppliancePrincipal | None) -> tuple[str, str] | None:
    principal = verdict.requirement.principal
    if principal == "appliance":
        return None if appliance is None else (appliance.principal.kind, appliance.principal.id)
    if isinstance(principal, tuple) and principal:
        return principal[0]
    return None


def _widens_trust(principal: tuple[str, str] | None, facts: RoleFacts) -> str:
    """Why trusting ``principal`` would widen the trust ("" when it would not).

    Trusting an account lets every identity of it that its own policies allow assume the role. Where
    the trust already names a role of that account, the fix is to check that role, never to trust
    the whole account.
    """
    if principal is None or facts.role is None or principal[0] != "AWS":
        return ""
    account = Principal("AWS", principal[1]).account
    if account is None or not (principal[1] == account or principal[1].endswith(":root")):
        return ""
    named = trusted_roles(facts.role.trust_policy, account)
    if not named:
        return ""
    return (
        f"the trust names {', '.join(named)}; pass that role's ARN as --appliance-principal instead of the "
        f"account {account}: trusting the whole account would widen the trust"
    )


def _blocker_source(verdict: Verdict, facts: RoleFacts) -> str:
    """Name the deny, SCP or boundary as precisely as the answer allows."""
    requirement = verdict.requirement
    if verdict.cause == "boundary":
        return (facts.role.boundary_arn if facts.role else None) or "of the role"
    assert requirement.action is not None
    result = facts.simulations.get(requirement.simulation_key)
    names = _statement_names(result) if result is not None else ""
    if verdict.cause == "scp":
        return names or "of the organization (the IAM API does not say which)"
    layer = getattr(getattr(result, "explanation", None), "layer", None)
    if layer == "boundary" and facts.role is not None and facts.role.boundary_arn:
        return f"the permissions boundary {facts.role.boundary_arn} ({names or 'a Deny statement'})"
    return names or "a Deny statement"


def _statement_names(result: SimulationResult) -> str:
    """The engine's deciding Deny statement when it named one, else the statements AWS's answer matched."""
    statement = getattr(result.explanation, "statement", None)
    if statement is not None and getattr(statement, "effect", "") == "Deny":
        return f"{statement.policy_id} ({statement.lines})"
    return statement_names(result)


@dataclass(frozen=True)
class CheckedRemediation:
    """A fix and what trying it showed, stated together."""

    remediation: Remediation
    method: str
    allowed: tuple[str, ...] = ()
    not_fixed: tuple[tuple[str, str], ...] = ()
    still_blocked: tuple[tuple[str, str], ...] = ()
    unblocked: tuple[str, ...] = ()
    trust_allowed: tuple[str, ...] = ()
    trust_not_fixed: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    simulations: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    @property
    def verified(self) -> bool:
        """Did the check confirm every part of the fix it could try?"""
        return self.error is None and not self.not_fixed and not self.trust_not_fixed and not self.unblocked

    def summary(self) -> str:
        """One paragraph: what became allowed, what stays blocked and by what."""
        if self.error:
            return f"not checked: {self.error}"
        parts = []
        if self.allowed:
            parts.append(f"these {len(self.allowed)} actions become allowed: {', '.join(self.allowed)}")
        if self.not_fixed:
            items = ", ".join(f"{a} ({why})" for a, why in self.not_fixed)
            parts.append(f"these {len(self.not_fixed)} actions stay denied even with the policy: {items}")
        if self.still_blocked:
            groups: dict[str, list[str]] = {}
            for action, why in self.still_blocked:
                groups.setdefault(why, []).append(action)
            items = "; ".join(f"{', '.join(actions)} by {why}" for why, actions in groups.items())
            parts.append(f"these {len(self.still_blocked)} stay blocked even when granted to the role: {items}")
        if self.unblocked:
            parts.append(f"granting these did allow them after all: {', '.join(self.unblocked)}")
        if self.trust_allowed:
            parts.append(f"with the trust statements added, {', '.join(self.trust_allowed)} may assume the role")
        if self.trust_not_fixed:
            items = ", ".join(f"{who} ({why})" for who, why in self.trust_not_fixed)
            parts.append(f"the trust statements do not let these assume the role: {items}")
        if self.remediation.instance_profile_commands:
            parts.append("the instance profile link cannot be simulated: run the verification again after applying")
        return f"checked ({self.method}): " + ("; ".join(parts) or "nothing to simulate")

    def text(self) -> str:
        """The fix for people: the commands, the policies, the blockers and the check's result."""
        fix = self.remediation
        lines = [f"Remediation for {fix.role.arn}", ""]
        step = 0
        if fix.missing:
            step += 1
            lines += [
                f"{step}. Grant the {len(fix.missing)} missing actions (written to {POLICY_FILE}):",
                f"   {fix.commands[0]}",
                *("   " + line for line in json.dumps(fix.policy, indent=2).splitlines()),
                "",
            ]
        if fix.trust_principals:
            step += 1
            lines += [f"{step}. Add these trust statements (the whole new trust policy is in {TRUST_FILE}):"]
            lines += [f"   {json.dumps(s)}" for s in fix.trust_statements]
            lines += [
                f"   aws iam update-assume-role-policy --role-name {fix.role.name} --policy-document "
                f"file://{TRUST_FILE}",
                "",
            ]
        if fix.instance_profile_commands:
            step += 1
            lines += [f"{step}. Put the role in an instance profile:"]
            lines += [f"   {command}" for command in fix.instance_profile_commands] + [""]
        if fix.blockers:
            lines += [f"Blocked ({NOT_HELP}):"] + [f"   - {b.describe()}" for b in fix.blockers] + [""]
        if fix.other:
            lines += ["Also (no automatic fix):"] + [f"   - {item}" for item in fix.other] + [""]
        lines.append(self.summary())
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The fix and the check, for remediation.json."""
        return {
            **self.remediation.to_dict(),
            "check": {
                "method": self.method,
                "verified": self.verified,
                "summary": self.summary(),
                "allowed": list(self.allowed),
                "not_fixed": [{"action": a, "why": w} for a, w in self.not_fixed],
                "still_blocked": [{"action": a, "by": w} for a, w in self.still_blocked],
                "unblocked": list(self.unblocked),
                "trust_allowed": list(self.trust_allowed),
                "trust_not_fixed": [{"principal": p, "why": w} for p, w in self.trust_not_fixed],
                "error": self.error,
                "simulations": list(self.simulations),
            },
        }


def check(
    backend: Backend,
    ref: RoleRef,
    remediation: Remediation,
    contexts: Sequence[Mapping[str, Sequence[str]]] = (),
) -> CheckedRemediation:
    """Try the fix: simulate the missing and the blocked actions with it, and evaluate the new trust.

    The blocked actions are simulated with a probe policy that grants them, to show that granting
    them does not help. One simulation per resource, with every proposed document in PolicyInputList;
    with ``contexts`` (the request context of each judged region) one per region as well, and an
    action counts as fixed only if it is allowed in every one.
    """
    method = backend.capabilities.fix_check
    blocked = [(a, "*") for b in remediation.blockers for a in b.actions]
    probe = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ProbeBlocked", "Effect": "Allow", "Action": sorted({a for a, _ in blocked}), "Resource": "*"}
        ],
    }
    documents = [json.dumps(remediation.policy)] if remediation.policy else []
    if blocked:
        documents.append(json.dumps(probe))
    results: dict[str, SimulationResult] = {}
    by_resource: dict[str, list[str]] = {}
    for action, resource in [*remediation.missing, *blocked]:
        by_resource.setdefault(resource, []).append(action)
    key = f"{ref.arn}#remediation"
    try:
        for context in contexts or [{}]:
            for resource, actions in by_resource.items():
                for result in backend.simulate(
                    ref.arn,
                    actions,
                    resources=(resource,),
                    context=context or None,
                    extra_policies=documents,
                    evidence_key=key,
                ):
                    known = results.get(result.action.lower())
                    if known is None or restrictiveness(result.decision) > restrictiveness(known.decision):
                        results[result.action.lower()] = result
    except (CheckError, InputError) as error:
        return CheckedRemediation(remediation, method, error=str(error))
    simulations = tuple(e.as_dict() for e in backend.exchanges.pop(key, []))
    allowed, not_fixed = [], []
    for action in remediation.missing_actions:
        found = results.get(action.lower())
        if found is not None and found.decision == "allowed":
            allowed.append(action)
        else:
            not_fixed.append((action, _why(found)))
    still_blocked, unblocked = [], []
    for blocker in remediation.blockers:
        for action in blocker.actions:
            found = results.get(action.lower())
            if found is not None and found.decision == "allowed":
                unblocked.append(action)
            else:
                still_blocked.append((action, _blocker_name(blocker)))
    trust_allowed, trust_not_fixed = _check_trust(remediation)
    return CheckedRemediation(
        remediation,
        method,
        allowed=tuple(allowed),
        not_fixed=tuple(not_fixed),
        still_blocked=tuple(still_blocked),
        unblocked=tuple(unblocked),
        trust_allowed=trust_allowed,
        trust_not_fixed=trust_not_fixed,
        simulations=simulations,
    )


def _blocker_name(blocker: Blocker) -> str:
    prefix = {"explicit-deny": "the explicit deny in", "scp": "the SCP", "boundary": "the permissions boundary"}
    return f"{prefix[blocker.kind]} {blocker.source}"


def _why(result: SimulationResult | None) -> str:
    if result is None:
        return "no answer"
    if result.allowed_by_organizations is False:
        return "an SCP"
    if result.decision == "explicitDeny":
        return "an explicit deny"
    if result.allowed_by_boundary is False:
        return "the permissions boundary"
    return result.decision


def _check_trust(remediation: Remediation) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    if not remediation.trust_principals or remediation.trust_policy is None:
        return (), ()
    try:
        trust = parse_policy(json.dumps(remediation.trust_policy), policy_id="trust policy", policy_type="trust")
    except PolicyError as error:
        return (), tuple(
            (ident, f"the new trust policy does not parse: {error}") for _, ident in remediation.trust_principals
        )
    allowed: list[str] = []
    failed: list[tuple[str, str]] = []
    for kind, ident in remediation.trust_principals:
        principal = Principal(kind, ident)  # type: ignore[arg-type]
        evaluation = evaluate_trust(trust, principal, role_arn=remediation.role.arn, context=Context())
        if evaluation.decision == "allowed":
            allowed.append(ident)
        else:
            failed.append((ident, evaluation.decision))
    return tuple(allowed), tuple(failed)
