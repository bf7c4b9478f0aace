"""What a verification test is known by: its stash keys and its parameter id (``ACCOUNT/ROLE-REQUIREMENT``).

Light on purpose: the entry-point module imports it on every pytest run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from verification.plugin.run import Run, Target  # noqa: F401 (named in the StashKey strings below)
    from verification.requirements import Requirement
    from verification.verdicts import Verdict  # noqa: F401

RUN_KEY = pytest.StashKey["Run"]()
#: On a verification test item: (role ARN, requirement id), the root cause of its verdict, and the
#: verdict itself.
CASE_KEY = pytest.StashKey[tuple[str, str]]()
CAUSE_KEY = pytest.StashKey[str]()
VERDICT_KEY = pytest.StashKey["Verdict"]()


def case_id(target: Target, requirement: Requirement) -> str:
    """A verification test's parameter id: ``ACCOUNT/ROLE-REQUIREMENT``."""
    return f"{target.ref.label}-{requirement.id}"
