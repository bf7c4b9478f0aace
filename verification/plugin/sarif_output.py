"""``--sarif FILE``: the run's failed and broken tests as SARIF 2.1.0, for GitHub code scanning.

Where a verification test runs (an xdist worker, or the one process), a failed or broken test's
report carries its finding: the rule (the requirement: id, title, page, severity), the outcome, the
one-line reason and the fix, and the file and line it points at (``sarif_locations``). Findings
travel to the controller on the reports themselves (a passing test's report carries nothing), and
the controller writes the file at the end of the session, whatever the outcome, with the run's
exit status. Bad input stops the run before this module is registered: no file is written, and the
one-line error says so (see ``verification.plugin``).

Any test with a case (``CASE_KEY``: role, test id) becomes a finding when it fails or breaks, so
tests of other kinds (``excess:<group>``) flow in as they are: a test id that is not a requirement
of the role's set makes a rule of its own, from ``SARIF_RULE_KEY`` when the test put one in its
stash, else from the test's id and docstring.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path
from typing import Any

import pytest

from verification import __version__
from verification.errors import CheckError
from verification.plugin.keys import CASE_KEY, SARIF_RULE_KEY, VERDICT_KEY, Case
from verification.plugin.run import Run, Target
from verification.plugin.sarif_locations import (
    RolesFileLocator,
    TargetsLocator,
    TemplateLocator,
    relative_uri,
    roles_file_for,
)
from verification.reporting.sarif import (
    DEFAULT_INFORMATION_URI,
    Finding,
    Place,
    Rule,
    build_sarif,
    category_of,
)
from verification.requirements import Requirement
from verification.verdicts import Verdict

#: The attribute of a report that carries its finding (plain JSON: xdist sends it as it is).
REPORT_ATTRIBUTE = "verification_sarif"


@dataclass
class SarifState:
    """What the writer needs across the session, in each process."""

    path: Path
    base: Path
    run: Run
    #: ``--targets``: its entries are the places of a live run's roles.
    targets_file: Path | None = None
    #: An xdist worker: it makes findings, the controller keeps and writes them.
    worker: bool = False
    findings: list[Finding] = field(default_factory=list)
    template: TemplateLocator | None = None
    targets: TargetsLocator | None = None
    roles: RolesFileLocator | None = None
    written: int | None = None
    #: Results left out to keep the run within code scanning's limit (``MAX_RESULTS``).
    omitted: int = 0


def configure(config: pytest.Config, run: Run) -> None:
    """Register the SARIF hooks when ``--sarif`` is given (in every process)."""
    path = config.option.sarif
    if path is None:
        if config.option.sarif_category:
            from verification.errors import InputError

            raise InputError("--sarif-category applies only with --sarif FILE")
        return
    worker_input = getattr(config, "workerinput", None) or {}
    base = Path(worker_input.get("verification_sarif_base") or config.invocation_params.dir)
    sarif = path if path.is_absolute() else base / path
    state = SarifState(sarif, base, run, config.option.targets, hasattr(config, "workerinput"))
    config.pluginmanager.register(SarifHooks(state), "verification-sarif")


def shard_of(config: pytest.Config) -> tuple[int, int] | None:
    """``--shard I/N`` as (I, N) when the run is one shard of several (the option may be absent)."""
    value = getattr(config.option, "shard", None)
    if value is None:
        return None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
        return (int(match[1]), int(match[2])) if match else None
    if isinstance(value, tuple | list) and len(value) == 2:
        return int(value[0]), int(value[1])
    index = getattr(value, "index", None)
    total = getattr(value, "total", None) or getattr(value, "count", None)
    return (int(index), int(total)) if index is not None and total else None


def default_category(config: pytest.Config, base: Path) -> str:
    """A category from what the run verifies: template/FILE, plan/FILE, targets/FILE, snapshot/FILE, demo, live."""
    option = config.option
    for kind, value in (("template", option.template), ("plan", option.plan), ("targets", option.targets)):
        if value:
            return _clean(f"{kind}/{relative_uri(Path(value), base)}")
    if option.demo:
        return "demo"
    if option.snapshot:
        return _clean(f"snapshot/{Path(option.snapshot).name}")
    return "live"


def _clean(category: str) -> str:
    return re.sub(r"[^A-Za-z0-9._:@=+/-]+", "-", category.replace("file:///", "")).strip("/") or "run"


def information_uri() -> str:
    """The project's URL from the package metadata, else its PyPI page."""
    try:
        urls = metadata("veeam-role-verification").get_all("Project-URL") or []
    except PackageNotFoundError:
        urls = []
    for entry in urls:
        _, _, url = entry.partition(", ")
        if url.startswith("https://"):
            return str(url)
    return DEFAULT_INFORMATION_URI


def rule_for(target: Target, requirement: Requirement) -> Rule:
    """A requirement as a SARIF rule: its id, title, story, the page it comes from, its severity."""
    sets = target.requirements
    page = next((m for m in sets.sources if m.name in requirement.sets), sets.sources[0])
    help_text = f"{requirement.title}. {page.title} ({page.version}): {requirement.story}"
    if requirement.see_also:
        help_text += f" See also: {requirement.see_also}"
    return Rule(
        requirement.id,
        requirement.title,
        help_text,
        page.source_url or None,
        requirement.severity,
        (requirement.kind, *requirement.sets),
    )


class SarifHooks:
    """Findings where tests run; the file where the run ends (the controller)."""

    def __init__(self, state: SarifState) -> None:
        self.state = state

    # -- where tests run ---------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        case = item.stash.get(CASE_KEY, None)
        if case is not None and report.failed and report.when in ("setup", "call"):
            finding = self.finding(item, case, call, report)
            if finding is not None:
                setattr(report, REPORT_ATTRIBUTE, finding.as_dict())
        return report

    def finding(
        self, item: pytest.Item, case: Case, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> Finding | None:
        """A failed or broken test as a finding: its rule, outcome, reason and fix, and its place."""
        run = self.state.run
        arn, test_id = case.role, case.requirement
        target = run.targets.get(arn)
        if target is None:
            return None
        try:
            requirement: Requirement | None = target.requirements.by_id(test_id)
        except KeyError:
            requirement = None
        error = call.excinfo.value if call.excinfo is not None else None
        verdict = item.stash.get(VERDICT_KEY, None)
        judged = getattr(verdict, "requirement", None)
        if requirement is None and isinstance(judged, Requirement) and judged.id == test_id:
            requirement = judged  # a test of another kind that judges a requirement of its own
        rule = rule_for(target, requirement) if requirement is not None else self._other_rule(item, target, test_id)
        if report.when == "call" and verdict is not None and not verdict.met:
            outcome, reason, fix = "failed", verdict.reason, verdict.remedy
        elif isinstance(error, CheckError):
            outcome, reason, fix = "broken", error.message, error.hint
        else:
            text = str(report.longrepr or "").strip()
            reason, _, fix = text.partition("\nwhat to change: ")
            reason = reason.splitlines()[-1] if report.when == "setup" and reason else reason.split("\n", 1)[0]
            outcome = "failed" if report.when == "call" and _is_failure(error) else "broken"
        try:
            place, related = self.place(target, requirement, verdict, outcome == "broken")
        except (OSError, ValueError, LookupError, AttributeError, TypeError) as error:
            # A result without a place is dropped by code scanning; a harness fault here must not
            # lose the result, nor stop the run: the file's first line, and the fault, in the note.
            place, related = Place(self.fallback_uri(), 1, note=f"place not found: {error!r}"), ()
        role = target.ref.label if run.capabilities.declares_roles else arn
        return Finding(rule, outcome, role, reason, fix.split("\n", 1)[0], place, related)  # type: ignore[arg-type]

    @staticmethod
    def _other_rule(item: pytest.Item, target: Target, test_id: str) -> Rule:
        own = item.stash.get(SARIF_RULE_KEY, None)
        if own is not None:
            return own
        doc = (getattr(getattr(item, "function", None), "__doc__", None) or "").strip().split("\n", 1)[0]
        title = doc or getattr(item, "originalname", item.name)
        return Rule(
            test_id, title, doc or title, target.requirements.source_url or None, "normal", (test_id.split(":")[0],)
        )

    def place(
        self, target: Target, requirement: Requirement | None, verdict: Verdict | None, broken: bool
    ) -> tuple[Place, tuple[Place, ...]]:
        """Where a finding points, for this run's kind (template, plan, targets file, roles file)."""
        state, run = self.state, self.state.run
        if run.capabilities.declares_roles:
            if state.template is None:
                from verification.backends.template import TemplateBackend

                backend = run.backend()
                assert isinstance(backend, TemplateBackend)  # the one backend that declares roles
                state.template = TemplateLocator(backend, state.base)
            key = getattr(target.ref, "key", target.ref.name)
            return state.template.place(key, requirement, verdict, broken)
        if run.resolved and state.targets is None and state.targets_file is not None:
            state.targets = TargetsLocator(state.targets_file, run.resolved, state.base)
        if state.targets is not None:
            return state.targets.place(target.ref.arn), ()
        return self.roles().place(target.ref.arn), ()

    def fallback_uri(self) -> str:
        """The file a run's results are about: the template or plan, the targets file, else the roles file."""
        run = self.state.run
        backend = run.backends.get("default")
        declared = backend.source_file if backend is not None else None
        path = declared if run.capabilities.declares_roles else self.state.targets_file
        return relative_uri(Path(path), self.state.base) if path is not None else self.roles().uri

    def roles(self) -> RolesFileLocator:
        state = self.state
        if state.roles is None:
            state.roles = RolesFileLocator(roles_file_for(state.path), list(state.run.targets), state.base)
        return state.roles

    # -- the controller ----------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Workers make URIs relative to the controller's folder."""
        node.workerinput["verification_sarif_base"] = str(self.state.base)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, REPORT_ATTRIBUTE, None)
        if data and not self.state.worker:
            self.state.findings.append(Finding.from_dict(data))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write the SARIF (and the roles file it points at), whatever the outcome."""
        config = session.config
        state = self.state
        if state.worker:
            return
        shard = shard_of(config)
        category = category_of(config.option.sarif_category or default_category(config, state.base), shard)
        status = state.run.exit_status if state.run.exit_status is not None else int(session.exitstatus)
        log = build_sarif(
            state.findings,
            version=__version__,
            category=category,
            information_uri=information_uri(),
            root_uri=state.base.resolve().as_uri(),
            exit_status=status,
            description=f"{len(state.run.targets)} role(s); {state.run.source}",
            shard=shard,
            counts=counts(state.run),
        )
        if not state.run.capabilities.declares_roles and not state.run.resolved:
            self.roles().write()
        state.path.parent.mkdir(parents=True, exist_ok=True)
        state.path.write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")
        state.written = len(state.findings)
        state.omitted = int(log["runs"][0]["properties"].get("omittedResults", 0))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        state = self.state
        if state.written is None:
            return
        errors = sum(1 for f in state.findings if f.outcome == "failed")
        terminalreporter.write_line(
            f"sarif: {state.path} ({errors} error(s): failed requirements; {state.written - errors} warning(s): "
            "could not be checked)"
            + (f"; {state.omitted} left out of the file: code scanning takes at most 25,000" if state.omitted else "")
        )


def counts(run: Run) -> dict[str, int]:
    """The run's tallies as the step summary counts them: roles, and requirements passed, failed, broken, skipped."""
    totals = {"roles": len(run.targets), "passed": 0, "failed": 0, "broken": 0, "skipped": 0}
    for tally in run.outcomes.values():
        for outcome in ("passed", "failed", "broken", "skipped"):
            totals[outcome] += tally[outcome]
    return totals


def _is_failure(error: BaseException | None) -> bool:
    """Did the test fail its assertion (pytest.fail, assert), rather than break?"""
    return isinstance(error, AssertionError | pytest.fail.Exception)
