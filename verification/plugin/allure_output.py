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

from verification import __version__
from verification.backends.simulation import not_simulated
from verification.errors import CheckError, InputError
from verification.fleet.organization import ACCOUNT_REQUIREMENT
from verification.plugin.excess import PREFIX, allure_view
from verification.plugin.keys import CASE_KEY, EVIDENCE_KEY, EXCESS_KEY, JUDGEMENT_KEY, VERDICT_KEY, Case
from verification.plugin.organization import OrganizationRun
from verification.plugin.run import Run, Target
from verification.requirements import Requirement
from verification.verdicts import Judgement, Verdict
from verification.verdicts.excess import Excess

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


def excess_labels(target: Target, group: str) -> None:
    """Label an ``excess:<group>`` test's result: its role, its group as the story, the role's suite."""
    for name, value in (
        ("role", target.ref.arn),
        ("requirement", f"{PREFIX}{group}"),
        ("epic", target.requirements.epic),
        ("feature", "Excess permissions"),
        ("story", f"Nothing more than documented: {group}"),
        ("parentSuite", f"account {target.ref.account}"),
        ("suite", target.ref.name),
        ("subSuite", "excess"),
    ):
        label(name, value)
    parameters(target.ref.arn, f"{PREFIX}{group}")


def account_labels(org: OrganizationRun, account_id: str) -> None:
    """Label an unreachable account's result as its account, with the role and requirement labels of every result.

    The parameter keeps each account's history id its own (and the same in a shard as in one run).
    """
    account = org.accounts[account_id]
    allure.dynamic.parameter("account", account_id)
    for name, value in (
        ("role", org.member_role_arn(account_id)),
        ("requirement", ACCOUNT_REQUIREMENT),
        ("parentSuite", account.label),
        ("suite", "organization"),
        ("subSuite", "member role"),
        ("tag", f"ou:{account.ou_path}"),
    ):
        label(name, value)
    title(f"{account.label}: the member role {org.spec.member_role} can be assumed")


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
            self.label_case(case)
        try:
            return (yield)
        finally:
            if case is not None:
                self.role_attachments(item, case)

    def label_case(self, case: Case) -> None:
        if case.kind == "account":
            org = self.run.organization
            if org is not None:
                account_labels(org, case.subject)
            return
        target = self.run.targets[case.role]
        if case.kind == "excess":
            excess_labels(target, case.subject)
            return
        label_result(target, target.requirements.by_id(case.requirement))
        parameters(case.role, case.requirement)

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
            self.attach_answers(item.config, arn)
        else:
            self.quiet.add(arn)

    @staticmethod
    def attach_fix(judgement: Judgement) -> None:
        checked = judgement.fix
        if checked is not None:
            attach_text(f"remediation for {judgement.role.label}", checked.text())
            attach_json(f"remediation for {judgement.role.label} (data)", checked.to_dict())

    def attach_answers(self, config: pytest.Config, arn: str) -> None:
        """A failing role's raw API answers, once per role and process, read back from its evidence."""
        from verification.reporting.evidence import EXCHANGES, read_exchanges, role_dir

        state = config.stash.get(EVIDENCE_KEY, None)
        if arn in self.answers_shown or state is None:
            return
        self.answers_shown.add(arn)
        folder = role_dir(state.bundle, arn)
        if not (folder / EXCHANGES).is_file():
            return
        allure.attach(
            json.dumps(read_exchanges(folder)["exchanges"], separators=(",", ":")),
            name=f"API exchanges for {self.run.targets[arn].ref.label}",
            attachment_type=allure.attachment_type.JSON,
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
                self.excess_result(case, excess)
            return
        verdict = item.stash.get(VERDICT_KEY, None)
        if verdict is not None:
            self.verdict_result(verdict)

    def verdict_result(self, verdict: Verdict) -> None:
        """The title, the requirement's evidence (a passing role's goes without), the note and what to change."""
        title(f"{verdict.role.label}: {verdict.requirement.title}")
        if verdict.role.arn not in self.quiet:
            attach_json(f"{verdict.requirement.id} evidence", attached_evidence(verdict), pretty=not verdict.met)
        if verdict.note:
            attach_text("note", verdict.note)
        if not verdict.met and verdict.remedy:
            attach_text("what to change", verdict.remedy)

    @staticmethod
    def excess_result(case: Case, excess: Excess) -> None:
        """An excess test's title, its group's actions beyond the sets, and how they were decided."""
        group = case.subject
        shown = case.role.split(":")[4] + "/" + case.role.rsplit("/", 1)[-1]
        title(f"{shown}: nothing more than documented ({group})")
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
