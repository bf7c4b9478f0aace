"""Everything the run tells Allure: labels, parameters, titles, attachments, categories and environment.

The one module that knows Allure's model, as a listener (``AllureWriter``): it reads each
verification test's stash (its case, its role's judgement and excess, its verdict) and writes what
Allure shows; judging never calls it. Labels and parameters are set at the start of setup, inside
allure-pytest's own setup wrapper (which makes the result at the start of the test's protocol), so
a result that breaks in setup carries them too; as marks they would ride on every report that
xdist sends to the controller. A role's attachments (its excess, the fix tried, a failing role's API
answers) go on its first test in this process, after setup judged it; a test's title and its
evidence are set in the call, since allure-pytest names the result after setup.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Generator
from pathlib import Path
from typing import Any

import allure
import allure_commons
import pytest
from allure_commons.model2 import Label, Parameter
from allure_commons.utils import represent

from verification import __version__
from verification.backends.simulation import not_simulated
from verification.errors import CheckError, InputError
from verification.fleet.organization import ACCOUNT_REQUIREMENT
from verification.plugin.excess import PREFIX, allure_view
from verification.plugin.keys import ANSWERS_KEY, CASE_KEY, EXCESS_KEY, JUDGEMENT_KEY, VERDICT_KEY, Case
from verification.plugin.organization import OrganizationRun
from verification.plugin.run import Run, Target
from verification.requirements import Requirement
from verification.verdicts import Judgement, Verdict
from verification.verdicts.excess import Excess

DEFAULT_RESULTS = Path("reports") / "allure-results"
#: Requirement kinds as Allure's Suites tab names them (account → role → kind).
KIND_SUITES = {"permission": "permissions", "trust": "trust", "instance-profile": "instance profile"}


def result_labels(target: Target, requirement: Requirement) -> list[tuple[str, str]]:
    """A requirement's Allure labels: role, requirement, Behaviors (epic/feature/story), Suites, severity."""
    req = target.requirements
    return [
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
    ]


def verdict_parameters(role: str, requirement: str) -> list[Parameter]:
    """Show the role and the requirement as parameters; the combined one stays, hidden, in the history id.

    (It was the test's parameter when the tests were parametrized: keeping it keeps every result's
    history id, so Allure's trends carry on across versions.)
    """
    return [
        parameter("role", role),
        parameter("requirement", requirement),
        parameter("verdict", (role, requirement), hidden=True),
    ]


def parameter(name: str, value: Any, *, hidden: bool = False) -> Parameter:
    """One Allure parameter as ``allure.dynamic.parameter`` makes it (its value as allure-commons shows it)."""
    shown = represent(value)  # type: ignore[no-untyped-call]
    return Parameter(name=name, value=shown, mode=allure.parameter_mode.HIDDEN.value if hidden else None)


def excess_labels(target: Target, group: str) -> list[tuple[str, str]]:
    """An ``excess:<group>`` test's labels: its role, its group as the story, the role's suite."""
    return [
        ("role", target.ref.arn),
        ("requirement", f"{PREFIX}{group}"),
        ("epic", target.requirements.epic),
        ("feature", "Excess permissions"),
        ("story", f"Nothing more than documented: {group}"),
        ("parentSuite", f"account {target.ref.account}"),
        ("suite", target.ref.name),
        ("subSuite", "excess"),
    ]


def account_labels(org: OrganizationRun, account_id: str) -> list[tuple[str, str]]:
    """An unreachable account's labels: its account, with the role and requirement labels of every result."""
    account = org.accounts[account_id]
    return [
        ("role", org.member_role_arn(account_id)),
        ("requirement", ACCOUNT_REQUIREMENT),
        ("parentSuite", account.label),
        ("suite", "organization"),
        ("subSuite", "member role"),
        ("tag", f"ou:{account.ou_path}"),
    ]


def running_result(config: pytest.Config) -> Any | None:
    """The running test's Allure result, found as allure-pytest's listener finds it; None without Allure.

    Labels and parameters are put on it directly: through ``allure.dynamic`` each is one call of
    allure-commons' hook, some 1,500 per role that together cost more CPU than anything else the
    plugin does per test (issue 27). What is written is what ``add_label`` and ``add_parameter``
    write, as allure-commons' own model objects.
    """
    listener = config.pluginmanager.get_plugin("allure_listener")
    get_test = getattr(getattr(listener, "allure_logger", None), "get_test", None)
    return get_test(None) if callable(get_test) else None


def title(config: pytest.Config, text: str) -> None:
    """The running result's title: what ``allure.dynamic.title`` sets, without a hook call per test."""
    result = running_result(config)
    if result is not None:
        result.name = text


def attach_json(name: str, body: Any, *, pretty: bool = True) -> None:
    """Attach JSON to the Allure result: indented where a person reads it, compact (C-encoded) in bulk."""
    text = json.dumps(body, indent=2, default=str) if pretty else json.dumps(body, separators=(",", ":"), default=str)
    allure.attach(text, name=name, attachment_type=allure.attachment_type.JSON)


def attach_text(name: str, body: str) -> None:
    allure.attach(body, name=name, attachment_type=allure.attachment_type.TEXT)


def attached_evidence(verdict: Verdict) -> dict[str, Any]:
    """A requirement's evidence as its Allure result shows it.

    A met requirement's per-resource answers are counted, not repeated: they are in the role's API
    exchanges (attached once per role) and in the evidence bundle, and at 15 resources per action
    they made every passing test's attachment several KiB (thousands of files at fleet scale). A
    requirement that is not met shows them all.
    """
    body = dict(verdict.evidence)
    per_resource = body.get("ResourceSpecificResults")
    if verdict.met and isinstance(per_resource, list) and per_resource:
        decisions = Counter(str(r.get("EvalResourceDecision")) for r in per_resource if isinstance(r, dict))
        counted = ", ".join(f"{decision} {n}" for decision, n in sorted(decisions.items()))
        body["ResourceSpecificResults"] = (
            f"{len(per_resource)} per-resource answer(s) ({counted}): "
            "in the role's API exchanges and the evidence bundle"
        )
    return body


class AllureWriter:
    """The listener: what each verification test's stash holds, written to its Allure result.

    Per process it remembers which roles' attachments are written (each once) and which roles meet
    every requirement: their tests attach no evidence (it is in the evidence bundle, verdicts.json
    and the compressed answers), and their passed results are written lean (``QuietResults``), so
    that a role fits in ~100 KiB.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self.quiet: set[str] = set()
        self.excess_shown: set[str] = set()
        self.fix_shown: set[str] = set()
        self.answers_shown: set[str] = set()
        quiet_passing_roles(self.quiet)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        """Labels and parameters before setup judges; the role's attachments after, whatever it found."""
        case = item.stash.get(CASE_KEY, None)
        if case is not None:
            self.label_case(item.config, case)
        try:
            return (yield)
        finally:
            if case is not None:
                self.role_attachments(item, case)
                if case.kind == "requirement" and not self.passes_quietly(item, case):
                    self.page_link(case)

    def label_case(self, config: pytest.Config, case: Case) -> None:
        """The result's labels and parameters, before setup judges."""
        result = running_result(config)
        if result is None:  # no Allure results are written in this run
            return
        parameters: list[Parameter] = []
        if case.kind == "account":
            org = self.run.organization
            if org is None:
                return
            labels = account_labels(org, case.subject)
            parameters.append(parameter("account", case.subject))
        elif case.kind == "excess":
            labels = excess_labels(self.run.targets[case.role], case.subject)
            parameters = verdict_parameters(case.role, f"{PREFIX}{case.subject}")
        else:
            target = self.run.targets[case.role]
            requirements = target.requirements
            labels = result_labels(target, requirements.by_id(case.requirement))
            parameters = verdict_parameters(case.role, case.requirement)
        result.labels.extend(Label(name=name, value=value) for name, value in labels)
        result.parameters.extend(parameters)

    def passes_quietly(self, item: pytest.Item, case: Case) -> bool:
        """Whether the test will pass in a role that meets every requirement: its result is written lean."""
        verdict = item.stash.get(VERDICT_KEY, None)
        return case.role in self.quiet and verdict is not None and verdict.met

    def page_link(self, case: Case) -> None:
        """The requirement's page, after setup judged, on every result but the lean ones (``QuietResults``).

        Those go without it: added there only to be taken off, it was a hook call per test. One call
        through allure-commons: it formats the link by the run's --allure-link-pattern.
        """
        requirements = self.run.targets[case.role].requirements
        allure.dynamic.link(  # type: ignore[no-untyped-call]
            requirements.source_url, name=f"{requirements.title} ({requirements.version})"
        )

    def role_attachments(self, item: pytest.Item, case: Case) -> None:
        """The role's excess, the fix proposed and tried, and a failing role's API answers: once per process."""
        arn = case.role
        excess = item.stash.get(EXCESS_KEY, None)
        if excess is not None and arn not in self.excess_shown:
            self.excess_shown.add(arn)
            shown = self.run.targets[arn].ref.label
            attach_json(f"excess permissions of {shown}", allure_view(excess), pretty=True)
            attach_text(f"excess note for {shown}", excess.text())
        judgement = item.stash.get(JUDGEMENT_KEY, None)
        if judgement is None:
            return
        if arn not in self.fix_shown:
            self.fix_shown.add(arn)
            self.attach_fix(judgement)
        if judgement.failing:  # a failing role keeps its full detail; a passing one's answers are in the bundle
            self.attach_answers(item, arn)
        else:
            self.quiet.add(arn)

    @staticmethod
    def attach_fix(judgement: Judgement) -> None:
        checked = judgement.fix
        if checked is not None:
            attach_text(f"remediation for {judgement.role.label}", checked.text())
            attach_json(f"remediation for {judgement.role.label} (data)", checked.to_dict())

    def attach_answers(self, item: pytest.Item, arn: str) -> None:
        """A failing role's raw API answers, once per role and process: the JSON its evidence holds."""
        answers = item.stash.get(ANSWERS_KEY, None)
        if arn in self.answers_shown or answers is None:
            return
        self.answers_shown.add(arn)
        shown = self.run.targets[arn].ref.label
        allure.attach(answers, name=f"API exchanges for {shown}", attachment_type=allure.attachment_type.JSON)

    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        """An unreachable account's title: after setup, where allure-pytest has named its result by the test."""
        case = item.stash.get(CASE_KEY, None)
        org = self.run.organization
        if call.when == "setup" and case is not None and case.kind == "account" and org is not None:
            title(
                item.config,
                f"{org.accounts[case.subject].label}: the member role {org.spec.member_role} can be assumed",
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        """The test's title and what it judged: set in the call, since allure-pytest names the result after setup."""
        case = item.stash.get(CASE_KEY, None)
        if case is None:
            return
        if case.kind == "excess":
            excess = item.stash.get(EXCESS_KEY, None)
            if excess is not None:
                self.excess_result(item.config, case, excess)
            return
        verdict = item.stash.get(VERDICT_KEY, None)
        if verdict is not None:
            self.verdict_result(item.config, verdict)

    def verdict_result(self, config: pytest.Config, verdict: Verdict) -> None:
        """The title, the requirement's evidence (a passing role's goes without), the note and what to change."""
        title(config, f"{verdict.role.label}: {verdict.requirement.title}")
        if verdict.role.arn not in self.quiet:
            attach_json(f"{verdict.requirement.id} evidence", attached_evidence(verdict), pretty=not verdict.met)
        if verdict.note:
            attach_text("note", verdict.note)
        if not verdict.met and verdict.remedy:
            attach_text("what to change", verdict.remedy)

    @staticmethod
    def excess_result(config: pytest.Config, case: Case, excess: Excess) -> None:
        """An excess test's title, its group's actions beyond the sets, and how they were decided."""
        group = case.subject
        shown = case.role.split(":")[4] + "/" + case.role.rsplit("/", 1)[-1]
        title(config, f"{shown}: nothing more than documented ({group})")
        attach_json(f"{group} excess", [a.as_dict() for a in excess.group(group)], pretty=True)
        if excess.note:
            attach_text("note", excess.note)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write categories.json, environment.properties and the API counts next to the Allure results."""
        write_results_files(session.config, self.run)


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


def write_results_files(config: pytest.Config, run: Run) -> None:
    """categories.json, environment.properties and the API counts, by the controller (or the one process)."""
    results = getattr(config.option, "allure_report_dir", None)
    if not results or hasattr(config, "workerinput"):
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
        "Region": run.region,
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
