"""Verdicts over several possible accounts, for sources that cannot know everything (templates, plans).

A backend that *weighs* offers, per role, the accounts the role could end up in (``possible_accounts``):
one per *world* (a value of an open parameter, a branch of an undecidable condition), each with a
*lower* backend, where everything unknown is as restrictive as it could be, and an *upper* one,
where it is as permissive as it could be. A requirement is:

- met when it is met in every world's lower account (whatever the unknowns turn out to be);
- not met when it is not met in some world's upper account (the verdict names that world);
- otherwise undecided: a ``CheckError`` naming each unknown that bears on it and what resolves it.

Each account is judged exactly as a snapshot is (``gather`` and ``judge``), so verdicts, reasons
and evidence read as offline ones do. Lower accounts are met by compliant roles, so upper ones
are gathered only when a lower verdict is not met.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from verification.backends import Backend, RoleRef
from verification.errors import CheckError, InputError
from verification.names import AppliancePrincipal
from verification.requirements import Requirement, RequirementSet
from verification.verdicts.ask import gather_account
from verification.verdicts.model import RoleFacts, Scope, Verdict
from verification.verdicts.rules import judge


class PossibleAccount(Protocol):
    """One world of a role: what was chosen, and the role's lower and upper accounts."""

    label: str
    choices: Mapping[tuple[str, str], Any]
    notes: Sequence[str]
    #: The role's reference in this world (None when the world does not create the role).
    ref: RoleRef | None
    lower: Backend | None

    def upper_backend(self) -> Backend:
        """The upper account (the lower one itself when nothing is unknown); InputError on a fault."""

    def unknowns(self, kind: str, action: str | None) -> list[tuple[str, str]]:
        """What is unknown and bears on a requirement of ``kind`` (and ``action``): (description, resolution)."""


class WeighingBackend(Protocol):
    """A backend whose roles are known only as possible accounts."""

    #: Said on every verdict: what the source cannot see (SCPs, drift...).
    weighing_note: str

    def possible_accounts(self, ref: RoleRef) -> Sequence[PossibleAccount]:
        """The role's worlds, in a stable order."""

    def keep_exchanges(self, ref: RoleRef, account: PossibleAccount, backend: Backend, bound: str) -> None:
        """Keep what one bound's backend recorded as the role's evidence."""


class _Pair:
    """One world's facts: the lower account's gathered at once, the upper one's when a verdict needs them."""

    def __init__(
        self,
        weighing: WeighingBackend,
        ref: RoleRef,
        account: PossibleAccount,
        requirements: RequirementSet,
        appliance: AppliancePrincipal | None,
        scope: Scope,
    ) -> None:
        self.weighing, self.ref, self.account = weighing, ref, account
        self.requirements, self.appliance, self.scope = requirements, appliance, scope
        self.lower: RoleFacts | None = None
        if account.lower is not None and account.ref is not None:
            self.lower = _gather_own(account.lower, account.ref, requirements, appliance, scope)
            weighing.keep_exchanges(ref, account, account.lower, "lower")
        self._upper: RoleFacts | None = None

    @property
    def upper(self) -> RoleFacts | None:
        account = self.account
        if self.lower is None or account.ref is None:
            return None
        if self._upper is None:
            try:
                backend = account.upper_backend()
            except InputError as error:
                raise CheckError(f"could not check: {error}") from None
            if backend is account.lower:
                return self.lower
            self._upper = _gather_own(backend, account.ref, self.requirements, self.appliance, self.scope)
            self.weighing.keep_exchanges(self.ref, account, backend, "upper")
        return self._upper


def _gather_own(
    backend: Backend,
    ref: RoleRef,
    requirements: RequirementSet,
    appliance: AppliancePrincipal | None,
    scope: Scope,
) -> RoleFacts:
    """Gather from one account; an appliance role outside it is not asked about (as cross-account live runs)."""
    facts = gather_account(backend, ref, requirements, appliance, scope=scope)
    failure = facts.errors.get("appliance")
    if failure is not None and failure.code == "NoSuchEntity":
        del facts.errors["appliance"]
        facts.errors["appliance-outside"] = failure
    return facts


def _outside_note(requirement: Requirement, pairs: list[_Pair], appliance: AppliancePrincipal | None) -> str:
    """For trust:appliance: say that the appliance role's own permission was not checked, when it was not."""
    if requirement.principal != "appliance" or appliance is None or appliance.role_arn is None:
        return ""
    if any(p.lower is not None and "appliance-outside" in p.lower.errors for p in pairs):
        return (
            f"the appliance role {appliance.role_arn} is not in the file: its own sts:AssumeRole permission "
            "was not checked (verify it where it is deployed)"
        )
    return ""


def gather_weighed(
    weighing: WeighingBackend,
    ref: RoleRef,
    requirements: RequirementSet,
    appliance: AppliancePrincipal | None,
    scope: Scope | None = None,
) -> RoleFacts:
    """Facts for every world, and each requirement decided over all of them (in ``RoleFacts.decided``)."""
    scope = scope or Scope()
    pairs = [
        _Pair(weighing, ref, account, requirements, appliance, scope) for account in weighing.possible_accounts(ref)
    ]
    facts = RoleFacts(ref)
    first = next((pair.lower for pair in pairs if pair.lower is not None), None)
    if first is not None:
        facts.role, facts.profiles, facts.simulations = first.role, first.profiles, first.simulations
    for requirement in requirements.requirements:
        if requirement.principal == "appliance" and appliance is None:
            continue  # skipped before judging
        facts.decided[requirement.id] = _decide(requirement, ref, pairs, appliance, weighing.weighing_note)
    return facts


def _decide(
    requirement: Requirement,
    ref: RoleRef,
    pairs: list[_Pair],
    appliance: AppliancePrincipal | None,
    outside: str,
) -> Verdict | CheckError:
    notes: list[str] = []
    failing: list[tuple[PossibleAccount, Verdict]] = []
    lowers: list[Verdict] = []
    errors: list[CheckError] = []
    for pair in pairs:
        account = pair.account
        notes += [n for n in account.notes if n not in notes]
        if pair.lower is None:
            when = f" when {account.label}" if account.label else ""
            return CheckError(
                f"could not check: the file does not create the role{when}",
                "make the role's Condition hold, or pass the parameters that decide it",
            )
        try:
            below = judge(requirement, pair.lower, appliance)
            lowers.append(below)
            if below.met:
                continue  # met at the least permissive: met whatever the unknowns are
            upper = pair.upper
            above = below if upper is None or upper is pair.lower else judge(requirement, upper, appliance)
            if not above.met:
                failing.append((account, above))
        except CheckError as error:
            errors.append(error)
    if len(pairs) > 1:
        notes.append("every case was tried (" + "; ".join(p.account.label for p in pairs) + ")")
    outside_appliance = _outside_note(requirement, pairs, appliance)
    if outside_appliance:
        notes.append(outside_appliance)
    if failing:
        account, verdict = failing[0]
        reason = verdict.reason
        if len(failing) < len(pairs):
            common = set.intersection(*(set(a.choices.items()) for a, _ in failing))
            shown = ", ".join(_choice(k, v) for k, v in account.choices.items() if (k, v) in common)
            reason = f"{reason} (when {shown or account.label})"
        return dataclasses.replace(verdict, role=ref, reason=reason, note=_note(verdict.note, notes, outside))
    if errors:
        return errors[0]
    if all(v.met for v in lowers):
        return dataclasses.replace(lowers[0], role=ref, note=_note(lowers[0].note, notes, outside))
    unknown = list(dict.fromkeys(u for p in pairs for u in p.account.unknowns(requirement.kind, requirement.action)))
    shown = "; ".join(text for text, _ in unknown[:3]) + (f"; and {len(unknown) - 3} more" if len(unknown) > 3 else "")
    resolve = "; ".join(dict.fromkeys(fix for _, fix in unknown if fix))
    return CheckError(
        f"could not check: it depends on what the file leaves unknown: {shown or 'values known only at deployment'}",
        resolve or "give the missing values (--parameter, --account), or verify the deployed role",
    )


def _note(note: str, notes: list[str], outside: str) -> str:
    parts = [note] if note else []
    if notes:
        parts.append("decided from the file with " + "; ".join(notes))
    if outside:
        parts.append(outside)
    return "; ".join(parts)


def _choice(key: tuple[str, str], value: Any) -> str:
    """One choice of a world, as verdicts name it: ``Stage=prod`` or ``condition IsProd is true``."""
    kind, name = key
    if kind == "condition":
        return f"condition {name} is {str(bool(value)).lower()}"
    return f"{name}={value}"
