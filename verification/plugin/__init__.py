"""The pytest plugin (entry point ``pytest11: role_verification``): ``pytest --role-arn ARN`` from anywhere.

This module only names what every pytest run loads: the options and ``pytest_configure``
(``configure``). A run that asks to verify nothing (none of ``options.VERIFY_OPTIONS``: ``--role-arn``, ``--targets``,
``--snapshot``, ``--template``, ``--plan``, ``--demo``) stops there: no requirement set is read, no
result written, no outcome changed; another option of ours without one of them is a usage error.
A verification run builds its ``Run`` and registers the rest, one module per concern:

- ``options``: the option table and its parsers;       - ``build``: the ``Run`` from the options;
- ``configure``: every run's ``pytest_configure``, which starts a verification run;
- ``run``: targets, requirement sets, backends;        - ``keys``: every stash key, and a test's ``Case``;
- ``collection``: the bundled suite, one test per role and requirement;
- ``judging``: verdicts in setup, one-line failures, tallies;
- ``allure_output``: a listener writing each test's stash to Allure; categories and environment;
- ``evidence``: the evidence bundle;   - ``summary``: header, terminal and step summaries;
- ``xdist``: sharing the run with workers and scheduling by role or account;   - ``demo``: the demo endpoint;
- ``sarif_output``: ``--sarif FILE``, failed and broken requirements for code scanning.
"""

from __future__ import annotations

from typing import Any

from verification.plugin.collection import SUITE_DIR
from verification.plugin.configure import pytest_configure
from verification.plugin.options import pytest_addoption, pytest_load_initial_conftests

__all__ = [
    "SUITE_DIR",
    "assert_verdict",
    "pytest_addoption",
    "pytest_configure",
    "pytest_load_initial_conftests",
    "verdict_of",
]


def __getattr__(name: str) -> Any:
    """The suite's helpers, imported only when a suite module asks for them (keeps plain runs light)."""
    if name in ("assert_verdict", "verdict_of"):
        from verification.plugin import judging

        return getattr(judging, name)
    if name in ("RUN_KEY", "Run", "Target"):
        from verification.plugin import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
