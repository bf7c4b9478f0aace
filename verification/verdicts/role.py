"""A role, judged once: its facts gathered, every requirement's outcome, and the checked fix.

``gather`` asks the backend for everything a role's requirements need (weighing every possible
account when the backend is a template or plan). ``judge_role`` turns those facts into one
``Judgement``: an ``Outcome`` per requirement (met, not met, could not be checked, or skipped by the
one skip rule) and, for a role that does not meet its set, the fix, proposed and tried. The tests,
the evidence bundle and every report read that judgement; none of them judges again.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from verification.backends import Backend, RoleRef
from verification.errors import CheckError
from verification.names import AppliancePrincipal, KmsKey
from verification.requirements import Requirement, RequirementSet
from verification.verdicts.ask import gather_account
from verification.verdicts.model import RoleFacts, Scope, Verdict
from verification.verdicts.remediation import CheckedRemediation, check, propose
from verification.verdicts.rules import judge
from verification.verdicts.weigh import gather_weighed

#: How the reason of a requirement that could not be checked begins, in the tests, the evidence and Allure.
BROKEN = "could not check: "
#: Why a requirement on the appliance's trust is skipped when no appliance is named.
NO_APPLIANCE = "no --appliance-principal given: name the appliance's Impersonation role ARN or account id"


def gather(
    backend: Backend,
    ref: RoleRef,
    requirements: RequirementSet,
    appliance: AppliancePrincipal | None,
    kms_key: KmsKey | None = None,
    scope: Scope | None = None,
) -> RoleFacts:
    """Ask the backend, once, for every fact this role's requirements need.

    A backend that weighs several possible accounts (``capabilities.weighs_possible_accounts``: a
    template) is weighed over all of them (``verification.verdicts.weigh``); any other is asked in
    its one account (``verification.verdicts.ask``).
    """
    if backend.capabilities.weighs_possible_accounts:
        scope = scope or Scope()
        if not scope.regions and backend.region:
            # The template's own region (--aws-region), in which every possible account is judged.
            scope = dataclasses.replace(scope, regions=(str(backend.region),))
        return gather_weighed(backend, ref, requirements, appliance, scope)  # type: ignore[arg-type]
    return gather_account(backend, ref, requirements, appliance, kms_key, scope)


def skip_reason(requirement: Requirement, appliance: AppliancePrincipal | None) -> str:
    """The one skip rule: a requirement on the appliance's trust, with no appliance named; else ""."""
    return NO_APPLIANCE if requirement.principal == "appliance" and appliance is None else ""


@dataclass(frozen=True)
class Outcome:
    """One requirement's outcome for one role: a verdict, why it could not be checked, or why it was skipped."""

    requirement: Requirement
    verdict: Verdict | None = None
    #: Why it could not be checked, its message beginning "could not check: " (``BROKEN``).
    error: CheckError | None = None
    skipped: str = ""

    @property
    def status(self) -> str:
        """As Allure and the evidence say it: passed, failed, broken (could not be checked) or skipped."""
        if self.skipped:
            return "skipped"
        if self.verdict is None:
            return "broken"
        return "passed" if self.verdict.met else "failed"

    @property
    def cause(self) -> str:
        """The root cause: the verdict's, "could-not-check" or "skipped"."""
        if self.skipped:
            return "skipped"
        return self.verdict.cause if self.verdict is not None else "could-not-check"


@dataclass(frozen=True)
class Judgement:
    """Every requirement of a role's set, judged once from its facts, and the checked fix when it fails."""

    facts: RoleFacts
    requirements: RequirementSet
    appliance: AppliancePrincipal | None
    outcomes: tuple[Outcome, ...]
    #: The fix, proposed and tried, for a role that was read and does not meet its set; else None.
    fix: CheckedRemediation | None = None

    @property
    def role(self) -> RoleRef:
        return self.facts.ref

    @functools.cached_property
    def failing(self) -> bool:
        """Whether the role fails: not read, or a requirement not met or not checked.

        Asked by each of the role's tests: worked out once (a judgement does not change).
        """
        return self.facts.role is None or any(o.status in ("failed", "broken") for o in self.outcomes)

    @functools.cached_property
    def _by_id(self) -> dict[str, Outcome]:
        return {outcome.requirement.id: outcome for outcome in self.outcomes}

    def outcome(self, requirement_id: str) -> Outcome:
        """The outcome of one requirement of the set (KeyError for an id not in it)."""
        return self._by_id[requirement_id]


def judge_role(
    facts: RoleFacts,
    requirements: RequirementSet,
    appliance: AppliancePrincipal | None,
    backend: Backend,
) -> Judgement:
    """Judge every requirement of the set for the role once, and for a failing role try the fix.

    The fix is tried with ``backend``'s own simulation (``verdicts.remediation.check``): live, one
    SimulatePrincipalPolicy with the proposed policy; offline, the engine.
    """
    outcomes = tuple(_outcome(requirement, facts, appliance) for requirement in requirements.requirements)
    judgement = Judgement(facts, requirements, appliance, outcomes)
    if facts.role is None or not judgement.failing:
        return judgement
    verdicts = [o.verdict for o in outcomes if o.verdict is not None]
    fix = check(backend, facts.ref, propose(facts, verdicts, appliance=appliance), facts.contexts)
    return dataclasses.replace(judgement, fix=fix)


def _outcome(requirement: Requirement, facts: RoleFacts, appliance: AppliancePrincipal | None) -> Outcome:
    skipped = skip_reason(requirement, appliance)
    if skipped:
        return Outcome(requirement, skipped=skipped)
    try:
        return Outcome(requirement, verdict=judge(requirement, facts, appliance))
    except CheckError as error:
        return Outcome(requirement, error=_broken(error))


def _broken(error: CheckError) -> CheckError:
    """The error worded once as every report gives it: "could not check: what failed", and what to do."""
    if error.message.startswith(BROKEN):
        return error
    return CheckError(f"{BROKEN}{error.message}", error.hint, code=error.code)
