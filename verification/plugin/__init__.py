"""The pytest plugin: options, targets, one test per role and requirement, verdicts and the Allure output.

``pytest --role-arn ARN`` (from the checkout, or with ``verification/suite`` named) runs one test per
requirement per role. Facts about a role are fetched once per role and process (cached by the
``Run``) and shared by that role's tests; each test's setup judges its (role, requirement) pair.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from verification import FIXTURES, __version__
from verification.backends import Backend, CallerIdentity, RoleRef, create_backend
from verification.errors import CheckError, InputError
from verification.fleet.accounting import ApiCounter
from verification.fleet.pacing import DEFAULT_RATE, Pacer, default_rate, parse_rate
from verification.requirements import DEFAULT_SET, Requirement, RequirementSet, load_requirement_set
from verification.verdicts import AppliancePrincipal, RoleFacts, Verdict, gather, judge

SUITE_DIR = Path(__file__).resolve().parent.parent / "suite"
DEFAULT_RESULTS = Path("reports") / "allure-results"
DEMO_FILE = FIXTURES / "demo" / "demo.yaml"
NOTHING_TO_VERIFY = (
    "nothing to verify: name a role with --role-arn arn:aws:iam::ACCOUNT:role/NAME "
    "(or --targets FILE), or try the bundled demo with --demo"
)


def _arg_type(parse: Any) -> Any:
    """Wrap a parser that raises InputError as an argparse type, so bad values fail at parse time."""

    def convert(value: str) -> Any:
        try:
            return parse(value)
        except InputError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def _endpoint_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError(f"--endpoint-url {value!r} is not an http(s) URL such as http://127.0.0.1:5000")
    return value


def _existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise InputError(f"{value}: no such file")
    return path


def _aws_region(value: str) -> str:
    """A region botocore knows (or that fits a partition's pattern): a typo fails here, not as a DNS error."""
    from verification.backends import region_partition

    if region_partition(value) is None:
        raise InputError(f"--aws-region {value!r} is not an AWS region botocore knows, such as us-east-1 or eu-west-1")
    return value


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every option lives in one group; each is validated when parsed."""
    group = parser.getgroup("role verification", "Verify IAM roles against a requirement set")
    group.addoption(
        "--role-arn",
        action="append",
        default=[],
        dest="role_arns",
        metavar="ARN",
        type=_arg_type(RoleRef.parse),
        help="role to verify (repeatable)",
    )
    group.addoption(
        "--appliance-principal",
        dest="appliance",
        metavar="ARN|ACCOUNT",
        default=None,
        type=_arg_type(AppliancePrincipal.parse),
        help="the backup appliance's Impersonation role ARN or AWS account id (without it, trust:appliance is skipped)",
    )
    group.addoption(
        "--requirements",
        dest="requirements",
        metavar="NAME|PATH",
        default=None,
        help=f"requirement set to verify against (default: {DEFAULT_SET})",
    )
    group.addoption(
        "--aws-profile",
        dest="aws_profile",
        metavar="NAME",
        default=None,
        help="AWS profile for the live API (default: boto3's credential chain)",
    )
    group.addoption(
        "--aws-region",
        dest="aws_region",
        metavar="REGION",
        default=None,
        type=_arg_type(_aws_region),
        help="AWS region for the API clients (default: boto3's, else us-east-1)",
    )
    group.addoption(
        "--endpoint-url",
        dest="endpoint_url",
        metavar="URL",
        default=None,
        type=_arg_type(_endpoint_url),
        help="IAM/STS endpoint (default: boto3's own, which honours AWS_ENDPOINT_URL)",
    )
    group.addoption(
        "--retry-mode",
        dest="retry_mode",
        default="standard",
        choices=("standard", "adaptive", "legacy"),
        help="botocore retry mode (default: standard)",
    )
    group.addoption(
        "--max-attempts",
        dest="max_attempts",
        default=None,
        metavar="N",
        type=_arg_type(_positive_int),
        help="botocore total attempts per call, first one included",
    )
    group.addoption(
        "--snapshot",
        dest="snapshot",
        metavar="FILE",
        default=None,
        type=_arg_type(_existing_file),
        help="verify offline from `aws iam get-account-authorization-details` output (.json/.json.gz)",
    )
    group.addoption(
        "--scp",
        dest="scps",
        action="append",
        default=[],
        metavar="FILE",
        type=_arg_type(_existing_file),
        help="with --snapshot: SCP file(s) of the organization, root -> OUs -> account (repeatable)",
    )
    group.addoption(
        "--demo",
        dest="demo",
        action="store_true",
        default=False,
        help="verify the bundled demo account on a local IAM endpoint (no AWS needed)",
    )
    group.addoption(
        "--evidence-dir",
        dest="evidence_dir",
        metavar="DIR",
        default=None,
        type=Path,
        help="evidence bundle folder: raw answers, verdicts, checked remediation, replay snapshot, "
        "manifest (default: reports/evidence/<UTC timestamp>/; check with `python -m verification evidence verify`)",
    )
    group.addoption(
        "--targets",
        dest="targets",
        metavar="FILE",
        default=None,
        type=_arg_type(_existing_file),
        help="YAML/JSON list of roles (ARNs, or account + role-name pattern) and how to reach their accounts",
    )
    group.addoption(
        "--max-rate",
        dest="max_rate",
        metavar="N",
        default=None,
        type=_arg_type(parse_rate),
        help=f"API requests per second per account, retries included (default {DEFAULT_RATE:g}; "
        "off for a loopback endpoint; 0 turns pacing off)",
    )


@dataclass(frozen=True)
class Target:
    """One role to verify, against which requirement set, reached through which connection."""

    ref: RoleRef
    requirements: RequirementSet
    appliance: AppliancePrincipal | None
    connection: str = "default"


@dataclass
class Run:
    """What this run verifies, and with what; kept in the config stash."""

    targets: dict[str, Target]
    backend_name: str
    connections: dict[str, dict[str, Any]]
    source: str
    endpoint: Any = None
    backends: dict[str, Backend] = field(default_factory=dict)
    facts: dict[str, RoleFacts] = field(default_factory=dict)
    attached: set[str] = field(default_factory=set)
    #: Per role: its selected tests not yet torn down in this process; its facts go with the last.
    tests_left: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    causes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    api_calls: ApiCounter = field(default_factory=ApiCounter)
    #: ``(targets-file entry, role ARN)`` as resolved once by the controller; sent to xdist workers.
    resolved: list[tuple[int, str]] = field(default_factory=list)

    def backend(self, connection: str = "default") -> Backend:
        """The backend of a connection, created on first use (no API call before options are checked)."""
        if connection not in self.backends:
            self.backends[connection] = create_backend(self.backend_name, **self.connections[connection])
        return self.backends[connection]

    @property
    def paced(self) -> bool:
        """Is any connection's pace limited (so each account's roles must stay in one process)?"""
        return any(c.get("pacer") is not None and c["pacer"].enabled for c in self.connections.values())

    def case_roles(self) -> dict[str, str]:
        """Every verification test's parameter id and the role it verifies."""
        return {
            case_id(target, requirement): arn
            for arn, target in self.targets.items()
            for requirement in target.requirements.requirements
        }

    def test_finished(self, arn: str) -> None:
        """One of the role's tests is done here; after its last, its facts need not stay in memory.

        A role whose tests are not all run in this process (a distribution mode that spreads them,
        such as ``--dist worksteal``) keeps its facts, so they are never fetched twice.
        """
        left = self.tests_left[arn] - 1
        if left > 0:
            self.tests_left[arn] = left
        else:
            del self.tests_left[arn]
            self.facts.pop(arn, None)

    def role_facts(self, arn: str) -> RoleFacts:
        """Facts for one role, fetched once per process."""
        if arn not in self.facts:
            target = self.targets[arn]
            backend = self.backend(target.connection)
            self.facts[arn] = gather(backend, target.ref, target.requirements, target.appliance)
        return self.facts[arn]

    @property
    def requirement_sets(self) -> list[RequirementSet]:
        """The distinct requirement sets of this run, in target order."""
        return list({t.requirements.sha256: t.requirements for t in self.targets.values()}.values())


def case_id(target: Target, requirement: Requirement) -> str:
    """A verification test's parameter id: ``ACCOUNT/ROLE-REQUIREMENT``."""
    return f"{target.ref.label}-{requirement.id}"


RUN_KEY = pytest.StashKey[Run]()
#: On a verification test item: (role ARN, requirement id), the root cause of its verdict, and the
#: verdict itself.
CASE_KEY = pytest.StashKey[tuple[str, str]]()
CAUSE_KEY = pytest.StashKey[str]()
VERDICT_KEY = pytest.StashKey[Verdict]()


def _suite_requested(config: pytest.Config) -> bool:
    """Does this session collect the verification suite (and so need something to verify)?"""
    for arg in config.args:
        path = Path(arg.split("::", 1)[0]).resolve()
        if path == SUITE_DIR or SUITE_DIR in path.parents or path in SUITE_DIR.parents:
            return True
    return False


def _build_run(config: pytest.Config) -> Run | None:
    option = config.option
    if option.targets:
        return _build_targets_run(config)
    roles: list[RoleRef] = list(option.role_arns)
    appliance: AppliancePrincipal | None = option.appliance
    requirements = load_requirement_set(option.requirements or DEFAULT_SET)
    if option.demo:
        if option.snapshot:
            raise InputError("--demo and --snapshot cannot be combined: the demo runs its own local endpoint")
        demo_spec = yaml.safe_load(DEMO_FILE.read_text())
        roles = roles or [RoleRef.parse(arn) for arn in demo_spec["roles"]]
        appliance = appliance or AppliancePrincipal.parse(demo_spec["appliance_principal"])
    if not roles:
        return None
    targets: dict[str, Target] = {}
    for ref in roles:
        if ref.arn in targets:
            raise InputError(f"--role-arn {ref.arn} is given twice")
        targets[ref.arn] = Target(ref, requirements, appliance)
    _check_distinct_roles(targets, "--role-arn")
    if option.snapshot:
        from verification.snapshot import load_snapshot

        snapshot = load_snapshot(option.snapshot)
        source = f"snapshot {snapshot.path} (sha256 {snapshot.sha256})"
        run = Run(targets, "snapshot", {"default": {"snapshot": snapshot, "scps": list(option.scps)}}, source)
        _check_snapshot_targets(run)
        return run
    if option.scps:
        raise InputError("--scp applies only with --snapshot: the live API applies the organization's SCPs itself")
    live = {
        "profile": option.aws_profile,
        "region": option.aws_region,
        "endpoint_url": option.endpoint_url,
        "retry_mode": option.retry_mode,
        "max_attempts": option.max_attempts,
        **_pacing_and_accounting(option, ApiCounter()),
        "account": roles[0].account if len({ref.account for ref in roles}) == 1 else None,
    }
    if option.aws_region:  # with --endpoint-url too: a region of another partition is never the role's
        from verification.backends import region_partition

        partition = region_partition(option.aws_region)
        for ref in roles:
            if ref.partition != partition:
                raise InputError(
                    f"--aws-region {option.aws_region} is in partition {partition}, but {ref.arn} is in "
                    f"{ref.partition}: the API of one partition cannot see another's roles"
                )
    source = f"live IAM API{' at ' + option.endpoint_url if option.endpoint_url else ''}"
    return Run(targets, "live", {"default": live}, source, api_calls=live["counter"])


def _pacing_and_accounting(option: Any, counter: ApiCounter) -> dict[str, Any]:
    """Live backend options shared by every connection: one call counter, one pacer (a bucket per account)."""
    rate = option.max_rate
    if rate is None:
        rate = 0.0 if option.demo else default_rate(option.endpoint_url)
    return {"counter": counter, "pacer": Pacer(rate)}


def _build_targets_run(config: pytest.Config) -> Run:
    """A run from ``--targets``: patterns resolved once (ListRoles) in the controller, never in xdist workers."""
    from verification.fleet.targets import Resolved, load_targets, resolve

    option = config.option
    if option.role_arns or option.demo or option.snapshot:
        raise InputError("--targets cannot be combined with --role-arn, --demo or --snapshot: list roles in the file")
    specs = load_targets(option.targets)
    shared = {
        "profile": option.aws_profile,
        "region": option.aws_region,
        "endpoint_url": option.endpoint_url,
        "retry_mode": option.retry_mode,
        "max_attempts": option.max_attempts,
        **_pacing_and_accounting(option, ApiCounter()),
    }
    connections = {spec.connection: {**shared, **spec.connection_options()} for spec in specs}
    source = f"live IAM API{' at ' + option.endpoint_url if option.endpoint_url else ''}, targets {option.targets}"
    run = Run({}, "live", connections, source, api_calls=shared["counter"])

    def list_roles(spec: Any) -> list[str]:
        try:
            return run.backend(spec.connection).list_roles()  # type: ignore[attr-defined, no-any-return]
        except CheckError as error:
            raise InputError(f"{option.targets}: entry {spec.index}: could not list roles: {error}") from None

    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None and "verification_targets" in worker_input:
        resolved = [Resolved(int(index), str(arn)) for index, arn in worker_input["verification_targets"]]
    else:
        resolved = resolve(specs, list_roles, str(option.targets))
    run.resolved = [(item.index, item.arn) for item in resolved]
    by_index = {spec.index: spec for spec in specs}
    sets: dict[str, RequirementSet] = {}
    for item in resolved:
        spec = by_index[item.index]
        name = spec.requirements or option.requirements or DEFAULT_SET
        if name not in sets:
            sets[name] = load_requirement_set(name)
        appliance = spec.appliance or option.appliance
        run.targets[item.arn] = Target(RoleRef.parse(item.arn), sets[name], appliance, spec.connection)
    _check_distinct_roles(run.targets, str(option.targets))
    return run


def _check_distinct_roles(targets: Mapping[str, Target], where: str) -> None:
    """Refuse two ARNs that name one account's role twice (with different paths).

    A role's name is unique in its account whatever its path, so one of them is a mistake; and
    their tests would share ids, so that xdist would run only one set (the other's errors lost).
    """
    seen: dict[str, str] = {}
    for arn, target in targets.items():
        first = seen.setdefault(target.ref.label, arn)
        if first != arn:
            raise InputError(
                f"{where}: {first} and {arn} both name the role {target.ref.label} (a role's name is unique in its "
                "account, whatever its path): keep the one with the right path"
            )


def _check_snapshot_targets(run: Run) -> None:
    """Read every target's role and policies from the snapshot now, offline, before any test runs.

    A fault in the file (the role is absent, a policy will not parse or is over IAM's size limits)
    is then one line and exit 4, not one broken test per requirement. The checked backend is kept,
    so nothing is parsed twice; the evidence it recorded is dropped (the tests record their own).
    """
    from verification.backends.snapshot import SnapshotBackend
    from verification.safety.limits import PolicySizeError, check_account_role

    backend = run.backend()
    assert isinstance(backend, SnapshotBackend)
    path = backend.snapshot.path
    for arn, target in run.targets.items():
        try:
            backend.get_role(target.ref)
            check_account_role(backend.account, arn)
        except (CheckError, PolicySizeError) as error:
            raise InputError(f"snapshot {path}: {error}") from None
    backend.exchanges.clear()


def _start_demo_endpoint(config: pytest.Config, run: Run) -> None:
    """Start (or, on an xdist worker, join) the demo's local IAM endpoint."""
    import boto3

    worker_input = getattr(config, "workerinput", None)
    if worker_input and worker_input.get("verification_endpoint"):
        url = worker_input["verification_endpoint"]
    else:
        from verification.endpoint import start_endpoint

        account = json.loads((DEMO_FILE.parent / "account.json").read_text())
        run.endpoint = start_endpoint(0, seed=account)
        url = run.endpoint.url
    # Demo credentials are fixed dummies for the local endpoint; the user's own are never used or needed.
    session = boto3.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name="us-east-1")
    run.connections["default"].update(endpoint_url=url, session=session)
    run.source = f"demo: local IAM endpoint at {url} seeded from fixtures/demo/account.json"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Check the options, settle what to verify, and point Allure at reports/ by default."""
    config.addinivalue_line("markers", "verifies(kind): the requirement kind a verification test checks")
    try:
        run = _build_run(config)
    except InputError as error:
        # Bad input is the user's to fix, so one line says what and where, even with -v; the
        # harness-side traceback (for reporting a harness bug) only with pytest's --full-trace.
        if getattr(config.option, "fulltrace", False):
            import traceback

            traceback.print_exception(error)
        raise pytest.UsageError(str(error)) from None
    if run is None:
        if _suite_requested(config):
            raise pytest.UsageError(NOTHING_TO_VERIFY)
        return
    if config.option.demo:
        _start_demo_endpoint(config, run)
    config.stash[RUN_KEY] = run
    if getattr(config.option, "allure_report_dir", "unset") is None:
        config.option.allure_report_dir = str(DEFAULT_RESULTS)
        config.option.clean_alluredir = True
    _configure_evidence(config, run)
    if getattr(config.option, "durations", None) is None:  # --durations reads setup and teardown reports
        config.pluginmanager.register(_QuietPhases(config), "verification-quiet-phases")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(run), "verification-xdist")
        if getattr(config.option, "dist", None) == "load":
            # `-n N` alone means --dist load, which would scatter a role's tests (and its API calls)
            # over workers; keep each role on one worker, and each account too when it is paced.
            config.option.dist = "loadgroup"


class _QuietPhases:
    """Let the terminal reporter forget passed setup and teardown reports that carry no output.

    It keeps every such report (two per test) only so that the failure summary can print a failing
    test's teardown output, and it finds them by scanning all of them once per failure: at a
    thousand roles that is 170,000 reports held in the controller and tens of millions of
    comparisons after the last test (pytest-dev/pytest#13360). A report without sections has
    nothing to print in those summaries. ``--durations`` does read them, so with it nothing is dropped.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or not report.passed or report.sections:
            return
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        kept = terminal.stats.get("") if terminal is not None else None
        if kept and kept[-1] is report:
            kept.pop()


class _XdistHooks:
    """Only registered when pytest-xdist is present: share the demo endpoint with the workers."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def pytest_configure_node(self, node: Any) -> None:
        if self.run.endpoint is not None:
            node.workerinput["verification_endpoint"] = self.run.endpoint.url
        state = node.config.stash.get(EVIDENCE_KEY, None)
        if state is not None:
            node.workerinput["verification_evidence_dir"] = str(state.bundle)
        if self.run.resolved:
            # Resolved once here: workers neither call ListRoles nor risk parametrizing differently.
            node.workerinput["verification_targets"] = self.run.resolved

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """--dist loadgroup: an account per work unit when paced, else a role (see ``account_scheduling``)."""
        if config.getoption("dist") != "loadgroup":
            return None
        from verification.fleet.pacing import account_scheduling

        return account_scheduling(config, log, None if self.run.paced else self.run.case_roles())

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Add a finished worker's API call counts and verdict tallies to the run's."""
        output = getattr(node, "workeroutput", {})
        counts = output.get("verification_api_calls")
        if counts:
            self.run.api_calls.merge(counts)
        for role, tally in (output.get("verification_tally") or {}).items():
            self.run.outcomes[role].update(tally["outcomes"])
            self.run.causes[role].update(tally["causes"])


@dataclass
class _EvidenceState:
    """Where this run's evidence bundle goes, and what the writers need across the session."""

    bundle: Path
    started_at: datetime
    details: Any = None
    written: dict[str, str] = field(default_factory=dict)


EVIDENCE_KEY = pytest.StashKey[_EvidenceState]()


def _configure_evidence(config: pytest.Config, run: Run) -> None:
    """Settle the bundle folder (the controller's choice, passed to xdist workers)."""
    from verification.reporting.evidence import default_dir

    worker_input = getattr(config, "workerinput", None) or {}
    started = datetime.now(UTC)
    bundle = Path(worker_input.get("verification_evidence_dir") or config.option.evidence_dir or default_dir(started))
    config.stash[EVIDENCE_KEY] = _EvidenceState(bundle.resolve(), started)
    if "verification_evidence_dir" not in worker_input:
        config.pluginmanager.register(_EvidenceHooks(run), "verification-evidence")


def _role_evidence(config: pytest.Config, run: Run, facts: RoleFacts) -> None:
    """Write a role's evidence once per process, and attach its checked remediation to Allure."""
    from verification.reporting import evidence

    state = config.stash.get(EVIDENCE_KEY, None)
    if state is None or facts.ref.arn in state.written:
        return
    target = run.targets[facts.ref.arn]
    backend = run.backend(target.connection)
    details, scps = None, None
    if run.backend_name == "snapshot":
        details, scps = backend.snapshot.details, backend.scps  # type: ignore[attr-defined]
    elif config.option.demo:
        if state.details is None:
            state.details = json.loads((DEMO_FILE.parent / "account.json").read_text())
        details = state.details
    checked = evidence.write_role(
        state.bundle,
        facts=facts,
        requirements=target.requirements,
        appliance=target.appliance,
        backend=backend,
        details=details,
        scps=scps,
    )
    state.written[facts.ref.arn] = "written"
    if checked is not None:
        _attach_text(f"remediation for {facts.ref.label}", checked.text())
        _attach_json(f"remediation for {facts.ref.label} (data)", checked.to_dict())


class _EvidenceHooks:
    """Controller only: after every worker, the run's metadata, the replay snapshot and the manifest."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from verification.reporting import evidence

        state = session.config.stash[EVIDENCE_KEY]
        if not (state.bundle / "roles").is_dir():
            return
        run = self.run
        caller, caller_error = None, None
        if "default" in run.connections:
            try:
                identity = run.backend("default").caller()
                caller = {"Account": identity.account, "Arn": identity.arn, "UserId": identity.user_id}
            except (CheckError, InputError) as error:
                caller_error = str(error)
        if run.api_calls.total():  # before finish(), so the manifest covers it
            (state.bundle / "api-calls.json").write_text(json.dumps(run.api_calls.as_dict(), indent=2))
        evidence.finish(
            state.bundle,
            started_at=state.started_at,
            caller=caller,
            caller_error=caller_error,
            region=run.connections.get("default", {}).get("region") or os.environ.get("AWS_REGION") or "us-east-1",
            backend=run.backend_name,
            source=run.source,
            requirement_sets=run.requirement_sets,
            targets={arn: (t.requirements, t.appliance) for arn, t in run.targets.items()},
        )

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        state = config.stash[EVIDENCE_KEY]
        if (state.bundle / "manifest.json").is_file():
            terminalreporter.write_line(
                f"evidence: {state.bundle} (check it with `python -m verification evidence verify {state.bundle}`)"
            )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the demo endpoint."""
    run = config.stash.get(RUN_KEY, None)
    if run is not None and run.endpoint is not None:
        run.endpoint.stop()


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say what the run verifies and with what: the source, the requirement sets and their hashes."""
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return []
    lines = [f"verification: {len(run.targets)} role(s); source: {run.source}"]
    for req in run.requirement_sets:
        lines.append(f"requirements: {req.id} {req.version} (sha256 {req.sha256[:16]}...)")
    if any(
        t.appliance is None and any(r.principal == "appliance" for r in t.requirements.by_kind("trust"))
        for t in run.targets.values()
    ):
        lines.append("trust:appliance will be skipped: no --appliance-principal given")
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> list[pytest.Function] | None:
    """One test per requirement (of the test's kind) per role, with readable ids: ``ACCOUNT/ROLE-REQUIREMENT``.

    The items are made here rather than by parametrizing a fixture: allure-pytest writes a container
    file for every fixture a test uses, which at a thousand roles (85,000 tests) was a third of the
    run's files. A test asks for ``request`` only and reads the verdict that ``pytest_runtest_setup``
    put on it, so a requirement that could not be checked still errors in setup.
    """
    if not isinstance(collector, pytest.Module | pytest.Class) or not inspect.isfunction(obj):
        return None
    marks = [m for m in getattr(obj, "pytestmark", ()) if getattr(m, "name", None) == "verifies"]
    marker = marks[0] if marks else collector.get_closest_marker("verifies")
    if marker is None or not collector.istestfunction(obj, name):
        return None
    if isinstance(collector, pytest.Class):
        raise pytest.UsageError(
            f"{collector.nodeid}::{name}: mark module-level test functions with verifies(kind), not methods"
        )
    run = collector.config.stash.get(RUN_KEY, None)
    if run is None:
        raise pytest.UsageError(NOTHING_TO_VERIFY)
    items = []
    for arn, target in run.targets.items():
        for requirement in target.requirements.by_kind(marker.args[0]):
            case = case_id(target, requirement)
            # pytest 9.2 makes the node id from `originalname` and a callspec when given, and keeps the
            # parameters apart in it (as --lf and --nf read node ids back). So: the full name, then
            # the node id with the case as its parameters, then the function's own name, so that
            # Allure's fullName (and test case id) names the function, as parametrize's do.
            item = pytest.Function.from_parent(collector, name=f"{name}[{case}]", callobj=obj, keywords={case: True})
            if hasattr(collector, "id"):
                item._id = collector.id.child(name).with_params(case)
            item.originalname = name
            item.stash[CASE_KEY] = (arn, requirement.id)
            items.append(item)
    return items


def _allure_labels(run: Run, target: Target, requirement: Requirement) -> None:
    """Label the Allure result (role, requirement, epic/feature/story, severity, the source page).

    Set dynamically at the start of setup, so a result that breaks in setup carries them too; as
    marks they would ride on every report that xdist sends to the controller.
    """
    import allure

    req = target.requirements
    for name, value in (
        ("role", target.ref.arn),
        ("requirement", requirement.id),
        ("epic", req.epic),
        ("feature", req.feature),
        ("story", requirement.story),
        ("severity", requirement.severity),
        ("tag", requirement.id),
    ):
        allure.dynamic.label(name, value)  # type: ignore[no-untyped-call]
    allure.dynamic.link(req.source_url, name=f"{req.title} ({req.version})")  # type: ignore[no-untyped-call]


def _allure_parameters(role: str, requirement: str) -> None:
    """Show the role and the requirement as parameters; the combined one stays, hidden, in the history id.

    (It was the test's parameter when the tests were parametrized: keeping it keeps every result's
    history id, so Allure's trends carry on across versions.)
    """
    import allure

    allure.dynamic.parameter("role", role)
    allure.dynamic.parameter("requirement", requirement)
    allure.dynamic.parameter("verdict", (role, requirement), mode=allure.parameter_mode.HIDDEN)


def _attach_exchanges_once(run: Run, facts: RoleFacts) -> None:
    """Attach a role's raw API exchanges once per role and process, not once per requirement."""
    arn = facts.ref.arn
    if arn in run.attached:
        return
    run.attached.add(arn)
    exchanges = run.backend(run.targets[arn].connection).exchanges.get(arn, [])
    _attach_json(
        f"API exchanges for {facts.ref.label}",
        [
            {"operation": e.operation, "request_id": e.request_id, "params": e.params, "response": e.response}
            for e in exchanges
        ],
        pretty=False,
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run each role's tests together: the terminal reads role by role, and its facts stay warm.

    A stable sort by role keeps the file order of the tests within a role.
    """

    def role_of(item: pytest.Item) -> str:
        case = item.stash.get(CASE_KEY, None)
        return case[0] if case is not None else ""

    if any(role_of(item) for item in items):
        order = {role: index for index, role in enumerate(dict.fromkeys(role_of(item) for item in items))}
        items.sort(key=lambda item: order[role_of(item)])


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Judge a verification test's requirement for its role; an error (broken) when it could not be checked.

    The role's facts (GetRole, its instance profiles, one simulation of all actions) are fetched
    once per role and process and shared by the role's tests.
    """
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        return
    run = item.config.stash[RUN_KEY]
    arn, requirement_id = case
    target = run.targets[arn]
    requirement = target.requirements.by_id(requirement_id)
    _allure_labels(run, target, requirement)
    _allure_parameters(arn, requirement_id)
    if requirement.principal == "appliance" and target.appliance is None:
        item.stash[CAUSE_KEY] = "skipped"
        pytest.skip("no --appliance-principal given: name the appliance's Impersonation role ARN or account id")
    facts = run.role_facts(arn)
    _attach_exchanges_once(run, facts)
    _role_evidence(item.config, run, facts)
    # Attached and written: the raw answers (~100 KiB of JSON per role) need not stay in memory for
    # the rest of the run (at 1,000 roles they held hundreds of MiB in a worker).
    run.backend(target.connection).exchanges.pop(arn, None)
    try:
        verdict = judge(requirement, facts, target.appliance)
    except CheckError as error:
        item.stash[CAUSE_KEY] = "could-not-check"
        raise CheckError(
            error.message if error.message.startswith("could not check") else f"could not check: {error.message}",
            error.hint,
        ) from None
    item.stash[CAUSE_KEY] = verdict.cause
    item.stash[VERDICT_KEY] = verdict


def verdict_of(request: pytest.FixtureRequest) -> Verdict:
    """The verdict that setup reached for the calling verification test."""
    node: pytest.Item = request.node
    return node.stash[VERDICT_KEY]


def assert_verdict(verdict: Verdict) -> None:
    """Fail the calling test with the verdict's one-line reason and the fix; attach the evidence."""
    __tracebackhide__ = True
    # Set in the call phase: allure-pytest renames the result after setup.
    _allure_title(f"{verdict.role.label}: {verdict.requirement.title}")
    _attach_json(f"{verdict.requirement.id} evidence", dict(verdict.evidence), pretty=not verdict.met)
    if verdict.note:
        _attach_text("note", verdict.note)
    if not verdict.met:
        if verdict.remedy:
            _attach_text("what to change", verdict.remedy)
        pytest.fail(f"{verdict.reason}\nwhat to change: {verdict.remedy}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A requirement that could not be checked reports one line (what failed, what to do), no traceback.

    Allure still sees the CheckError itself, so the result is "broken", not "failed".
    """
    report = yield
    if call.excinfo is not None and isinstance(call.excinfo.value, CheckError):
        report.longrepr = str(call.excinfo.value)
    case = item.stash.get(CASE_KEY, None)
    run = item.config.stash.get(RUN_KEY, None)
    if case is not None and run is not None:
        _tally(run, case[0], report, item.stash.get(CAUSE_KEY, "unknown"))
        if report.when == "teardown":
            run.test_finished(case[0])
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    """Count each role's selected tests, so that its facts can be let go after its last one."""
    run = session.config.stash.get(RUN_KEY, None)
    if run is not None:
        run.tests_left = Counter(case[0] for item in session.items if (case := item.stash.get(CASE_KEY, None)))


def _tally(run: Run, role: str, report: pytest.TestReport, cause: str) -> None:
    """Count a role's outcomes and root causes where the test ran.

    Counted from the item, not from report properties: at a thousand roles, properties carried on
    every report that xdist sends to the controller cost more memory than anything else per test.
    Workers send their counts to the controller once, when they finish.
    """
    if report.when == "setup" and report.failed:
        run.outcomes[role]["broken"] += 1
        run.causes[role]["could-not-check"] += 1
    elif report.when == "setup" and report.skipped:
        run.outcomes[role]["skipped"] += 1
    elif report.when == "call":
        run.outcomes[role]["passed" if report.passed else "failed"] += 1
        if report.failed:
            run.causes[role][cause] += 1


def _allure_title(title: str) -> None:
    try:
        import allure

        allure.dynamic.title(title)  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        pass


def _attach_json(name: str, body: Any, *, pretty: bool = True) -> None:
    """Attach JSON to the Allure result: indented where a person reads it, compact (C-encoded) in bulk."""
    import allure

    text = json.dumps(body, indent=2, default=str) if pretty else json.dumps(body, separators=(",", ":"), default=str)
    allure.attach(text, name=name, attachment_type=allure.attachment_type.JSON)


def _attach_text(name: str, body: str) -> None:
    import allure

    allure.attach(body, name=name, attachment_type=allure.attachment_type.TEXT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write categories.json and environment.properties next to the Allure results."""
    run = session.config.stash.get(RUN_KEY, None)
    results = getattr(session.config.option, "allure_report_dir", None)
    if run is not None and hasattr(session.config, "workeroutput"):
        session.config.workeroutput["verification_api_calls"] = run.api_calls.as_dict()
        session.config.workeroutput["verification_tally"] = {
            role: {"outcomes": dict(counts), "causes": dict(run.causes[role])} for role, counts in run.outcomes.items()
        }
    if run is None or not results or hasattr(session.config, "workerinput"):
        return
    folder = Path(results)
    folder.mkdir(parents=True, exist_ok=True)
    from verification.reporting.categories import categories

    (folder / "categories.json").write_text(json.dumps(categories(), indent=2))
    caller = _caller(run)
    accounts = sorted({t.ref.account for t in run.targets.values()})
    env = {
        "Accounts": ", ".join(accounts),
        "Region": run.connections.get("default", {}).get("region") or os.environ.get("AWS_REGION") or "us-east-1",
        "Caller": caller.arn if caller else "unknown",
        "Source": run.source,
        "RequirementSet": ", ".join(f"{r.id} {r.version}" for r in run.requirement_sets),
        "RequirementSetSha256": ", ".join(r.sha256 for r in run.requirement_sets),
        "Harness": f"veeam-role-verification {__version__}",
    }
    (folder / "environment.properties").write_text(
        "".join(f"{key}={value.replace(chr(10), ' ')}\n" for key, value in env.items())
    )
    if run.api_calls.total():
        (folder / "api-calls.json").write_text(json.dumps(run.api_calls.as_dict(), indent=2))


def _caller(run: Run) -> CallerIdentity | None:
    if "default" not in run.backends:
        return None
    try:
        return run.backends["default"].caller()
    except (CheckError, InputError):
        return None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Per role: passed, failed and broken counts and the top root causes; failing roles first."""
    run = config.stash.get(RUN_KEY, None)
    if run is None or not run.outcomes:
        return
    terminalreporter.section("role verification")

    def order(item: tuple[str, Counter[str]]) -> tuple[int, str]:
        counts = item[1]
        return (0 if counts["failed"] or counts["broken"] else 1, item[0])

    for role, counts in sorted(run.outcomes.items(), key=order):
        status = "FAILED" if counts["failed"] or counts["broken"] else "ok"
        line = (
            f"{status:<6} {role}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['broken']} broken, {counts['skipped']} skipped"
        )
        terminalreporter.write_line(line)
        top = ", ".join(f"{cause} x{n}" for cause, n in run.causes[role].most_common(4))
        if top:
            terminalreporter.write_line(f"       root causes: {top}")
    for line in run.api_calls.summary_lines(len(run.targets)):
        terminalreporter.write_line(line)
