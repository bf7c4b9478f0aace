"""What a run verifies, and with what: the targets, their requirement sets and the backends.

``plugin.build`` makes the ``Run`` from the options; this module holds what it makes, and the
option readers that every builder (``plugin.organization`` too) shares.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from verification import FIXTURES
from verification.backends import Backend, Capabilities, RoleRef, backend_class, create_backend
from verification.fleet.accounting import ApiCounter
from verification.fleet.pacing import Pacer, default_rate
from verification.plugin.keys import CASE_KEY, CAUSE_KEY, RUN_KEY, VERDICT_KEY, case_id
from verification.requirements import DEFAULT_SET, RequirementSet
from verification.verdicts import AppliancePrincipal, Judgement, KmsKey, RoleFacts, Scope, gather, judge_role

if TYPE_CHECKING:
    from verification.endpoint import Endpoint
    from verification.plugin.fleet import Fleet
    from verification.plugin.organization import OrganizationRun

__all__ = ["CASE_KEY", "CAUSE_KEY", "RUN_KEY", "VERDICT_KEY", "Run", "Target", "case_id"]

DEMO_FILE = FIXTURES / "demo" / "demo.yaml"


@dataclass(frozen=True)
class Target:
    """One role to verify, against which requirement set, reached through which connection."""

    ref: RoleRef
    requirements: RequirementSet
    appliance: AppliancePrincipal | None
    connection: str = "default"
    #: The regions its permissions are judged in (a targets file's ``regions``); () for the run's.
    regions: tuple[str, ...] = ()
    #: ``--organization``: the account's name and OU path (``Root/Workloads``), for the reports.
    account_name: str = ""
    ou_path: str = ""


@dataclass
class Run:
    """What this run verifies, and with what; kept in the config stash."""

    targets: dict[str, Target]
    backend_name: str
    connections: dict[str, dict[str, Any]]
    source: str
    #: ``--demo``: the local endpoint this process started (stopped at the end of the run).
    endpoint: Endpoint | None = None
    backends: dict[str, Backend] = field(default_factory=dict)
    facts: dict[str, RoleFacts] = field(default_factory=dict)
    #: Per role: its requirements judged once in this process (``verdicts.role.judge_role``).
    judgements: dict[str, Judgement] = field(default_factory=dict)
    #: Per role: its selected tests not yet torn down in this process; its facts go with the last.
    tests_left: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    causes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    #: Per role: the one-line reasons of its failed and broken requirements, for the step summary.
    reasons: dict[str, list[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(list))
    api_calls: ApiCounter = field(default_factory=ApiCounter)
    #: ``(targets-file entry, role ARN)`` as resolved once by the controller; sent to xdist workers.
    resolved: list[tuple[int, str]] = field(default_factory=list)
    #: The run's regions (--regions; offline, else --aws-region; () for each backend's own) and --context.
    scope: Scope = field(default_factory=Scope)
    #: Fleet mode (``--prefetch``, ``--concurrency``): see ``verification.plugin.fleet``.
    fleet: Fleet | None = None
    #: The exit status settled at session finish (see ``summary.exit_status``), for the terminal summary.
    exit_status: int | None = None
    #: ``--kms-key``: the key whose policy decides the kms: requirements too.
    kms_key: KmsKey | None = None
    #: ``--excess`` (plugin/excess.py): per role, its excess as the summaries show it; and this process's cache.
    excess: dict[str, dict[str, Any]] = field(default_factory=dict)
    excess_state: dict[str, Any] = field(default_factory=dict)
    #: ``--organization``: what discovery found (``verification.plugin.organization.OrganizationRun``).
    organization: OrganizationRun | None = None

    @property
    def capabilities(self) -> Capabilities:
        """What this run's backend can do (read from its class: nothing is made or asked)."""
        return backend_class(self.backend_name).capabilities

    def backend(self, connection: str = "default") -> Backend:
        """The backend of a connection, created on first use (no API call before options are checked)."""
        if connection not in self.backends:
            backend = create_backend(self.backend_name, **self.connections[connection])
            if self.fleet is not None:
                backend = self.fleet.wrap(self, connection, backend)
            self.backends[connection] = backend
        return self.backends[connection]

    @property
    def paced(self) -> bool:
        """Is any connection's pace limited (so each account's roles must stay in one process)?"""
        return any(c.get("pacer") is not None and c["pacer"].enabled for c in self.connections.values())

    def case_roles(self) -> dict[str, str]:
        """Every verification test's parameter id and the role it verifies."""
        from verification.requirements.risk import risk_table

        cases = {
            case_id(target, requirement): arn
            for arn, target in self.targets.items()
            for requirement in target.requirements.requirements
        }
        # --excess fail's tests (excess:<group>) stay with their role's.
        groups = risk_table().groups
        cases.update(
            (f"{target.ref.label}-excess:{group}", arn) for arn, target in self.targets.items() for group in groups
        )
        return cases

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
            self.judgements.pop(arn, None)
            self.excess_state.get("excess", {}).pop(arn, None)  # its summary stays in self.excess

    def role_facts(self, arn: str) -> RoleFacts:
        """Facts for one role, fetched once per process."""
        if arn not in self.facts:
            if self.fleet is not None:
                self.facts[arn] = self.fleet.facts(self, arn)
            else:
                self.facts[arn] = self.gather(arn)
        return self.facts[arn]

    def judgement(self, arn: str) -> Judgement:
        """Every requirement of one role judged, and its fix tried, once per process."""
        if arn not in self.judgements:
            target = self.targets[arn]
            facts = self.role_facts(arn)
            backend = self.backend(target.connection)
            self.judgements[arn] = judge_role(facts, target.requirements, target.appliance, backend)
        return self.judgements[arn]

    def gather(self, arn: str) -> RoleFacts:
        """Ask the role's backend for its facts (on whichever thread calls)."""
        target = self.targets[arn]
        backend = self.backend(target.connection)
        scope = replace(self.scope, regions=target.regions or self.scope.regions)
        facts = gather(backend, target.ref, target.requirements, target.appliance, self.kms_key, scope)
        # Read: the raw answers now wait only to be written as evidence, as text (see Exchange.compact).
        for exchange in backend.exchanges.get(arn, ()):
            exchange.compact()
        return facts

    @property
    def region(self) -> str:
        """The region the run's API clients use, as the environment and evidence report it."""
        return str(self.connections.get("default", {}).get("region") or os.environ.get("AWS_REGION") or "us-east-1")

    @property
    def requirement_sets(self) -> list[RequirementSet]:
        """The distinct requirement sets of this run, in target order."""
        return list({t.requirements.sha256: t.requirements for t in self.targets.values()}.values())


def requirements_spec(option: Any) -> str:
    """``--requirements`` as one spec: the union of every set given (``A+B``), else the default set."""
    return "+".join(option.requirements or ()) or DEFAULT_SET


def live_options(option: Any) -> dict[str, Any]:
    """Live backend options shared by every connection: one call counter, one pacer (a bucket per account)."""
    rate = option.max_rate
    if rate is None:
        rate = 0.0 if option.demo else default_rate(option.endpoint_url)
    return {
        "profile": option.aws_profile,
        "region": option.aws_region,
        "endpoint_url": option.endpoint_url,
        "retry_mode": option.retry_mode,
        "max_attempts": option.max_attempts,
        "counter": ApiCounter(),
        "pacer": Pacer(rate),
    }
