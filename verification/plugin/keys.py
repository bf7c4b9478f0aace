"""What a verification test is known by: every stash key of the plugin, its case and its parameter id.

The one door to the stash: each key the plugin's modules put on the config or on a test item is
defined here, with the type it holds. Light on purpose: the entry-point module imports it on every
pytest run, so the types are named for the type checker only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pytest

if TYPE_CHECKING:
    from verification.plugin.evidence import EvidenceState  # noqa: F401 (named in the StashKey strings below)
    from verification.plugin.run import Run, Target  # noqa: F401
    from verification.reporting.sarif import Rule  # noqa: F401
    from verification.requirements import Requirement
    from verification.verdicts import Judgement, Verdict  # noqa: F401
    from verification.verdicts.excess import Excess  # noqa: F401

#: What a verification test checks: a requirement of its role's set, a risk group of the role's
#: excess (``--excess fail``), or an account whose roles could not be read (``--organization``).
CaseKind = Literal["requirement", "excess", "account"]


@dataclass(frozen=True, slots=True)
class Case:
    """A verification test's case: the role it verifies and its test id's requirement part, and its kind."""

    #: The role's ARN (an account's test: the member role's).
    role: str
    #: The test id's requirement part: a requirement id, ``excess:<group>``, or the account requirement.
    requirement: str
    kind: CaseKind = "requirement"
    #: An excess test's risk group; an account test's account id.
    subject: str = ""


#: On the config: the run.
RUN_KEY = pytest.StashKey["Run"]()
#: On the config: where the evidence bundle goes (``plugin.evidence``).
EVIDENCE_KEY = pytest.StashKey["EvidenceState"]()
#: On a verification test item: its case, the root cause of its outcome, its verdict, and its role's
#: judgement (every requirement's outcome and the fix tried), set in setup.
CASE_KEY = pytest.StashKey[Case]()
CAUSE_KEY = pytest.StashKey[str]()
VERDICT_KEY = pytest.StashKey["Verdict"]()
JUDGEMENT_KEY = pytest.StashKey["Judgement"]()
#: On the first test of a failing role in a process: its raw API answers as a JSON array, for Allure.
ANSWERS_KEY = pytest.StashKey[str]()
#: On an excess test item (``--excess fail``): its role's excess.
EXCESS_KEY = pytest.StashKey["Excess"]()
#: On a test that is not a requirement: the SARIF rule it names (title, help, page, severity).
SARIF_RULE_KEY = pytest.StashKey["Rule"]()


def case_id(target: Target, requirement: Requirement) -> str:
    """A verification test's parameter id: ``ACCOUNT/ROLE-REQUIREMENT``."""
    return f"{target.ref.label}-{requirement.id}"
