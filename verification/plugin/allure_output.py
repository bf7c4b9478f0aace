"""Everything the run tells Allure: labels, parameters, titles, attachments, categories and environment.

The one module that knows Allure's model. Labels are set dynamically at the start of setup, so a
result that breaks in setup carries them too; as marks they would ride on every report that xdist
sends to the controller.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import allure
import allure_commons
import pytest

from verification import __version__
from verification.backends.simulation import not_simulated
from verification.errors import CheckError, InputError
from verification.plugin.run import RUN_KEY, Run, Target
from verification.requirements import Requirement

DEFAULT_RESULTS = Path("reports") / "allure-results"
#: Requirement kinds as Allure's Suites tab names them (account → role → kind).
KIND_SUITES = {"permission": "permissions", "trust": "trust", "instance-profile": "instance profile"}


def label_result(target: Target, requirement: Requirement) -> None:
    """Label the Allure result: role, requirement, Behaviors (epic/feature/story), Suites, severity, the page."""
    req = target.requirements
    for name, value in (
        ("role", target.ref.arn),
        ("requirement", requirement.id),
        ("epic", req.epic),
        # One feature and one tag per set the requirement comes from (two or more in a union).
        *(("feature", feature) for feature in req.features_of(requirement)),
        ("story", requirement.story),
        ("severity", requirement.severity),
        ("tag", requirement.id),
        *(("tag", name) for name in requirement.sets),
        # Suites tab: account → role → requirement kind, so a role's failing requirement is two clicks away.
        (
            "parentSuite",
            f"{target.account_name} ({target.ref.account})" if target.account_name else f"account {target.ref.account}",
        ),
        *((("tag", f"ou:{target.ou_path}"),) if target.ou_path else ()),
        ("suite", target.ref.name),
        ("subSuite", KIND_SUITES.get(requirement.kind, requirement.kind)),
    ):
        allure.dynamic.label(name, value)  # type: ignore[no-untyped-call]
    allure.dynamic.link(req.source_url, name=f"{req.title} ({req.version})")  # type: ignore[no-untyped-call]


def parameters(role: str, requirement: str) -> None:
    """Show the role and the requirement as parameters; the combined one stays, hidden, in the history id.

    (It was the test's parameter when the tests were parametrized: keeping it keeps every result's
    history id, so Allure's trends carry on across versions.)
    """
    allure.dynamic.parameter("role", role)
    allure.dynamic.parameter("requirement", requirement)
    allure.dynamic.parameter("verdict", (role, requirement), mode=allure.parameter_mode.HIDDEN)


def label(name: str, value: str) -> None:
    """One Allure label on the running test's result."""
    allure.dynamic.label(name, value)  # type: ignore[no-untyped-call]


def title(text: str) -> None:
    allure.dynamic.title(text)  # type: ignore[no-untyped-call]


def attach_json(name: str, body: Any, *, pretty: bool = True) -> None:
    """Attach JSON to the Allure result: indented where a person reads it, compact (C-encoded) in bulk."""
    text = json.dumps(body, indent=2, default=str) if pretty else json.dumps(body, separators=(",", ":"), default=str)
    allure.attach(text, name=name, attachment_type=allure.attachment_type.JSON)


def attach_text(name: str, body: str) -> None:
    allure.attach(body, name=name, attachment_type=allure.attachment_type.TEXT)


#: Labels allure-pytest adds to every result that a passing role's results go without (Timeline and
#: Packages tabs only).
RUNNER_LABELS = frozenset({"host", "thread", "framework", "language", "package"})


class QuietResults:
    """An allure-commons hook: a passing role's results are written lean, so a role fits in ~100 KiB.

    Its passed results keep what the Suites, Behaviors and trend read (name, status, history and
    test case ids, the labels of the suites, features, stories, severity and tags) and go without
    what repeats on all 85 of them: the page link, the docstring, the runner labels and the shown
    parameters (the history id, computed from them at setup, is already set and unchanged). A
    failing role's results keep everything. ``roles`` is the set of this process's passing roles.
    """

    def __init__(self, roles: set[str]) -> None:
        self.roles = roles

    @allure_commons.hookimpl(tryfirst=True)
    def report_result(self, result: Any) -> None:
        if result.status != "passed":
            return
        role = next((label.value for label in result.labels if label.name == "role"), None)
        if role not in self.roles:
            return
        requirement = next((label.value for label in result.labels if label.name == "requirement"), None)
        result.labels = [
            label
            for label in result.labels
            # The requirement's own tag repeats its "requirement" label; the set's tag stays.
            if label.name not in RUNNER_LABELS and not (label.name == "tag" and label.value == requirement)
        ]
        result.links = []
        result.description = None
        result.parameters = []
        result.titlePath = None


_QUIET: QuietResults | None = None


def quiet_passing_roles(roles: set[str]) -> None:
    """Register ``QuietResults`` once per process (allure-commons' plugin manager is process-wide)."""
    global _QUIET
    if _QUIET is None:
        _QUIET = QuietResults(roles)
        allure_commons.plugin_manager.register(_QUIET)
    else:
        _QUIET.roles = roles


def default_results_dir(config: pytest.Config) -> None:
    """Point allure-pytest at reports/allure-results unless the user chose a folder."""
    if getattr(config.option, "allure_report_dir", "unset") is None:
        config.option.allure_report_dir = str(DEFAULT_RESULTS)
        config.option.clean_alluredir = True


def run_region(run: Run) -> str:
    """The region the run's API clients use, as the environment and evidence report it."""
    return str(run.connections.get("default", {}).get("region") or os.environ.get("AWS_REGION") or "us-east-1")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write categories.json, environment.properties and the API counts next to the Allure results."""
    run = session.config.stash.get(RUN_KEY, None)
    results = getattr(session.config.option, "allure_report_dir", None)
    if run is None or not results or hasattr(session.config, "workerinput"):
        return
    from verification.reporting.categories import categories

    folder = Path(results)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "categories.json").write_text(json.dumps(categories(), indent=2))
    caller = None
    if "default" in run.backends:
        try:
            caller = run.backends["default"].caller()
        except (CheckError, InputError):
            caller = None
    env = {
        "Accounts": ", ".join(sorted({t.ref.account for t in run.targets.values()})),
        "Region": run_region(run),
        "Caller": caller.arn if caller else "unknown",
        "Source": run.source,
        "RequirementSet": ", ".join(f"{r.id} {r.version}" for r in run.requirement_sets),
        "RequirementSetSha256": ", ".join(r.sha256 for r in run.requirement_sets),
        "Harness": f"veeam-role-verification {__version__}",
        "NotSimulated": "; ".join(not_simulated(a for r in run.requirement_sets for a in r.actions)),
    }
    (folder / "environment.properties").write_text(
        "".join(f"{key}={value.replace(chr(10), ' ')}\n" for key, value in env.items())
    )
    if run.api_calls.total():
        (folder / "api-calls.json").write_text(json.dumps(run.api_calls.as_dict(), indent=2))
