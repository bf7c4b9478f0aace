"""Judge a trust requirement: may EC2, or the backup appliance, assume the role, and if not, why."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from verification.backends import SimulationResult
from verification.errors import CheckError
from verification.names import AppliancePrincipal as AppliancePrincipal  # re-exported: its old path
from verification.names import KmsKey as KmsKey  # re-exported: its old path
from verification.policy import Context, PolicyError, Principal, evaluate_trust, parse_policy
from verification.policy.model import Evaluation
from verification.requirements import Requirement
from verification.verdicts.model import RoleFacts, Verdict
from verification.verdicts.requests import (
    raw_statement,
)
from verification.verdicts.wording import are, evaluation_statement, need, statement_names


def judge_trust(requirement: Requirement, facts: RoleFacts, appliance: AppliancePrincipal | None) -> Verdict:
    """May the requirement's principal (EC2, or the appliance) assume the role, and if not, why."""
    need(facts, "role")
    assert facts.role is not None
    principal = _principal(requirement, appliance)
    evaluation, depends, evidence = _evaluate(requirement, facts, principal)
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
    if evaluation.decision != "allowed":
        return _not_allowed(requirement, facts, appliance, principal, evaluation, evidence)
    note = ""
    if requirement.principal == "appliance" and appliance is not None:
        side = _appliance_side(requirement, facts, appliance, evaluation, evidence)
        if isinstance(side, Verdict):
            return side
        note = side
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


def _principal(requirement: Requirement, appliance: AppliancePrincipal | None) -> Principal:
    """The principal a trust requirement names: the appliance's, or a service such as EC2."""
    if requirement.principal == "appliance":
        if appliance is None:
            raise LookupError("no appliance principal")  # verdicts.role's skip rule skips it before judging
        return appliance.principal
    assert isinstance(requirement.principal, tuple)
    kind, name = requirement.principal[0]
    return Principal(kind, name)  # type: ignore[arg-type]


def _evaluate(
    requirement: Requirement, facts: RoleFacts, principal: Principal
) -> tuple[Evaluation, tuple[str, str, Evaluation] | None, dict[str, Any]]:
    """The engine's evaluation of the trust for ``principal``, whether it depends on unknown tags, and the evidence."""
    assert facts.role is not None
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
    if evaluation.explanation.dangling_principals:
        evidence["DanglingPrincipals"] = list(evaluation.explanation.dangling_principals)
    return evaluation, depends, evidence


def _not_allowed(
    requirement: Requirement,
    facts: RoleFacts,
    appliance: AppliancePrincipal | None,
    principal: Principal,
    evaluation: Evaluation,
    evidence: dict[str, Any],
) -> Verdict:
    """Why the trust does not allow the principal: a Deny, a condition it cannot meet, or no statement at all."""
    assert facts.role is not None
    who = principal.id
    statement = _trust_statement(principal)
    if evaluation.decision == "explicitDeny":
        where = evaluation_statement(evaluation)
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"trust policy explicitly denies {who} ({where})",
            "trust-deny",
            f"remove or narrow the Deny statement ({where}) for {who}",
            evidence=evidence,
        )
    missing = evaluation.explanation.missing_condition_keys
    if missing:
        keys = ", ".join(missing)
        return Verdict(
            requirement,
            facts.ref,
            False,
            f"trust policy allows {who} only when {keys} {are(missing)} present",
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
    dangling = ", ".join(evaluation.explanation.dangling_principals)
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


def _appliance_side(
    requirement: Requirement,
    facts: RoleFacts,
    appliance: AppliancePrincipal,
    evaluation: Evaluation,
    evidence: dict[str, Any],
) -> Verdict | str:
    """The trust allows the appliance: does its own role's side agree? A failing verdict, or a note ("" if none)."""
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
    if side is not None:
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
            return (
                f"the trust names the account {appliance.account}, so AWS also needs {appliance.role_arn} to "
                f"allow sts:AssumeRole on this role, and it does not ({side.decision}): that permission is "
                "the Impersonation role's requirement; grant it there, or name the role's ARN in this trust"
            )
        return ""
    if appliance.role_arn and appliance.account != facts.ref.account:
        return (
            f"the appliance role is in account {appliance.account}; its own sts:AssumeRole permission "
            "was not checked (verify it with that account's credentials)"
        )
    if evaluation.explanation.requires_caller_allow:
        return (
            f"the trust allows the account {appliance.account}; its Impersonation role must also allow "
            "sts:AssumeRole (give --appliance-principal as that role's ARN to check it)"
        )
    return ""


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
        where = statement_names(side)
        if not where and side.explanation is None:
            return "a service control policy denies it sts:AssumeRole"
        return f"its policies explicitly deny sts:AssumeRole ({where or 'a Deny statement'})"
    if side.allowed_by_boundary is False:
        return "its permissions boundary does not allow sts:AssumeRole"
    if side.decision not in ("allowed", "implicitDeny"):
        raise CheckError(f"could not check: unknown EvalDecision {side.decision!r} for the appliance role")
    return ""


def _trust_statement(principal: Principal) -> str:
    return json.dumps({"Effect": "Allow", "Principal": {principal.kind: principal.id}, "Action": "sts:AssumeRole"})
