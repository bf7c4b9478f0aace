"""Fleet mode in the plugin: which connections read GAAD (``--prefetch``), facts fetched ahead (``--concurrency``).

The backends do the work (``verification.backends.prefetch``, ``verification.fleet.concurrency``);
this module decides per connection, wires them into the run, and gathers what the summary says:
fallbacks, disagreements between the simulator and the engine, fix checks answered once.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from verification.backends import Backend
from verification.errors import CheckError, InputError
from verification.plugin.run import Run
from verification.verdicts import RoleFacts


@dataclass
class Fleet:
    """The run's fleet settings and what fleet mode saw (counted per process, merged from xdist workers)."""

    prefetch: str = "auto"
    concurrency: int = 4
    #: An xdist worker: fetch ahead only within an account it was given (a paced account is given whole).
    worker: bool = False
    pool: Any = None
    warnings: list[str] = field(default_factory=list)
    #: Live permission answers the engine also decided, and those where the two disagreed, per role.
    checked: Counter[str] = field(default_factory=Counter)
    disagreements: Counter[str] = field(default_factory=Counter)
    fix_checks_reused: int = 0
    #: Seconds the tests waited for facts (round-trips not hidden behind other tests' work).
    waited: float = 0.0

    def wrap(self, run: Run, connection: str, backend: Backend) -> Backend:
        """The connection's backend, reading GAAD when ``--prefetch`` asks for it for this connection's roles."""
        from verification.backends.live import LiveBackend
        from verification.backends.prefetch import PrefetchBackend, wants_prefetch

        if not backend.capabilities.prefetchable:
            return backend
        assert isinstance(backend, LiveBackend)  # the one prefetchable backend, for the type checker
        targets = [t for t in run.targets.values() if t.connection == connection]
        per_account = Counter(t.ref.account for t in targets)
        if not wants_prefetch(self.prefetch, max(per_account.values(), default=0)):
            return backend
        verified: dict[str, list[str]] = {}
        for target in targets:
            appliance = target.appliance
            if (
                appliance is not None
                and appliance.role_arn
                and appliance.account == target.ref.account
                and any(r.principal == "appliance" for r in target.requirements.by_kind("trust"))
            ):
                verified.setdefault(appliance.role_arn, []).append(target.ref.arn)
        return PrefetchBackend(backend, verified=verified)

    def facts(self, run: Run, arn: str) -> RoleFacts:
        """The role's facts, timing how long the test waited for them."""
        start = time.perf_counter()
        try:
            return self._facts(run, arn)
        finally:
            self.waited += time.perf_counter() - start

    def _facts(self, run: Run, arn: str) -> RoleFacts:
        """From the pool (fetched ahead, concurrently), or gathered now when concurrency is off."""
        if self.concurrency <= 1 or (self.worker and not run.paced):
            # Unpaced xdist workers are given one role at a time: nothing ahead is known to be theirs.
            return run.gather(arn)
        if self.pool is None:
            from verification.fleet.concurrency import FactsPool

            for connection in dict.fromkeys(t.connection for t in run.targets.values()):
                # Once, before threads ask for it together; each role's gather reports a failure.
                with contextlib.suppress(CheckError, InputError):
                    run.backend(connection).caller()
            order = [key for key in run.tests_left if key in run.targets] or list(run.targets)
            self.pool = FactsPool(
                order,
                lambda key: f"{run.targets[key].connection}|{run.targets[key].ref.account}",
                run.gather,
                concurrency=self.concurrency,
                only_current_account=self.worker,
            )
        facts: RoleFacts = self.pool.get(arn)
        return facts

    def note_checked(self, role: str, disagree: bool) -> None:
        self.checked[role] += 1
        if disagree:
            self.disagreements[role] += 1

    def collect(self, run: Run) -> None:
        """Read the backends' fallbacks and reused fix checks (once, at the end of this process)."""
        for backend in run.backends.values():
            fallback = backend.fallback
            if fallback and fallback not in self.warnings:
                self.warnings.append(fallback)
            self.fix_checks_reused += backend.fix_checks_reused

    def as_dict(self) -> dict[str, Any]:
        return {
            "warnings": self.warnings,
            "checked": dict(self.checked),
            "disagreements": dict(self.disagreements),
            "fix_checks_reused": self.fix_checks_reused,
            "waited": self.waited,
        }

    def merge(self, data: dict[str, Any]) -> None:
        self.warnings += [w for w in data.get("warnings", ()) if w not in self.warnings]
        self.checked.update(data.get("checked") or {})
        self.disagreements.update(data.get("disagreements") or {})
        self.fix_checks_reused += int(data.get("fix_checks_reused") or 0)
        self.waited += float(data.get("waited") or 0.0)

    def summary_lines(self) -> list[str]:
        lines = [f"warning: {warning}" for warning in self.warnings]
        if self.waited >= 0.05:
            how = f"{self.concurrency} in flight" if self.concurrency > 1 else "one call at a time"
            lines.append(f"fleet: the tests waited {self.waited:.1f} s for facts ({how})")
        checked = sum(self.checked.values())
        if checked:
            disagreements = sum(self.disagreements.values())
            lines.append(
                f"double entry: the policy engine also decided {checked} live permission answer(s); "
                f"simulator and engine disagree on {disagreements}"
                + (
                    f" over {len(self.disagreements)} role(s) (the verdicts follow AWS; see each test's note)"
                    if disagreements
                    else ""
                )
            )
        if self.fix_checks_reused:
            lines.append(
                f"fix checks: {self.fix_checks_reused} answered from an identical check (a role with equal policies)"
            )
        return lines

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def configure(config: pytest.Config, run: Run) -> None:
    """Fleet mode for live runs."""
    if not run.capabilities.live_api:
        return
    fleet = Fleet(
        prefetch=config.option.prefetch,
        concurrency=config.option.concurrency,
        worker=hasattr(config, "workerinput"),
    )
    run.fleet = fleet
    for connection, backend in list(run.backends.items()):  # made to resolve targets-file patterns
        run.backends[connection] = fleet.wrap(run, connection, backend)
