"""pytest-xdist: share the run with the workers, keep each role (and a paced account) on one worker.

Registered only when pytest-xdist is present.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from verification.plugin.keys import EVIDENCE_KEY
from verification.plugin.run import Run


class XdistHooks:
    """Send the demo endpoint, the evidence folder and the resolved targets to workers; gather their counts."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def pytest_configure_node(self, node: Any) -> None:
        if self.run.endpoint is not None:
            node.workerinput["verification_endpoint"] = self.run.endpoint.url
        state = node.config.stash.get(EVIDENCE_KEY, None)
        if state is not None:
            node.workerinput["verification_evidence_dir"] = str(state.bundle)
        if self.run.organization is not None:
            # Found once here: workers neither list the organization nor assume roles to find roles.
            node.workerinput["verification_organization"] = self.run.organization.to_dict()
        if self.run.resolved:
            # Resolved once here: workers neither call ListRoles nor risk parametrizing differently.
            node.workerinput["verification_targets"] = self.run.resolved

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """--dist loadgroup: an account per work unit when paced, else a role (see ``account_scheduling``)."""
        if config.getoption("dist") != "loadgroup":
            return None
        return account_scheduling(config, log, None if self.run.paced else self.run.case_roles())

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Add a finished worker's API call counts, verdict tallies and reasons to the run's."""
        output = getattr(node, "workeroutput", {})
        counts = output.get("verification_api_calls")
        if counts:
            self.run.api_calls.merge(counts)
        if self.run.fleet is not None and output.get("verification_fleet"):
            self.run.fleet.merge(output["verification_fleet"])
        for role, tally in (output.get("verification_tally") or {}).items():
            self.run.outcomes[role].update(tally["outcomes"])
            self.run.causes[role].update(tally["causes"])
            self.run.reasons[role].extend(tuple(reason) for reason in tally.get("reasons", ()))


def send_worker_output(config: pytest.Config, run: Run) -> None:
    """On a worker: hand the controller this process's API counts and verdict tallies, once."""
    if not hasattr(config, "workeroutput"):
        return
    config.workeroutput["verification_api_calls"] = run.api_calls.as_dict()
    if run.fleet is not None:
        config.workeroutput["verification_fleet"] = run.fleet.as_dict()
    config.workeroutput["verification_tally"] = {
        role: {"outcomes": dict(counts), "causes": dict(run.causes[role]), "reasons": run.reasons[role]}
        for role, counts in run.outcomes.items()
    }


#: The account in a verification test id: ``test_permission[111111111111/VeeamWorker-permission:ec2:X]``.
_ACCOUNT_IN_ID = re.compile(r"\[(\d{12})/")


def account_of(nodeid: str) -> str | None:
    """The account a verification test's id names, if it names one."""
    match = _ACCOUNT_IN_ID.search(nodeid)
    return match[1] if match else None


def _case_id(nodeid: str) -> str:
    """The parameter id of a test: ``111111111111/VeeamWorker-permission:ec2:X`` from its node id."""
    name = nodeid.rsplit("::", 1)[-1]
    return name.partition("[")[2][:-1] if name.endswith("]") else ""


def account_scheduling(config: Any, log: Any, roles: Mapping[str, str] | None = None) -> Any:
    """xdist's LoadGroupScheduling, grouping verification tests by account, or by role when nothing is paced.

    With pacing on, an account's roles stay in one process, so that process's token bucket is the
    account's pace. With pacing off (a snapshot, a loopback endpoint, ``--max-rate 0``) nothing
    needs an account in one place, and five accounts over two workers would leave one worker with
    three fifths of the work; ``roles`` (test parameter id -> role) then makes each role its own work
    unit. A role's tests always share a worker, so its facts are still fetched once.

    xdist marks a group by appending ``@group`` to each node id on the workers, which pytest 9.2's
    structured node ids silently ignore (pytest-dev/pytest-xdist#1386); the account is in our own
    test ids, so group by that. Any other test keeps xdist's own grouping.

    The bookkeeping costs O(1) per test: xdist's own looks every test of a work unit up in the
    worker's collection with ``list.index`` and recounts a worker's whole workload after every
    finished test, both quadratic in the number of tests (minutes of controller CPU at a thousand
    roles, 85,000 tests).
    """
    from xdist.scheduler import LoadGroupScheduling

    class AccountScheduling(LoadGroupScheduling):  # type: ignore[misc]
        def __init__(self, config: Any, log: Any = None) -> None:
            super().__init__(config, log)
            #: Tests not yet finished, per assigned work unit (scope); finished units are dropped.
            self._open: dict[str, int] = {}
            #: Per worker: a test id's index in that worker's collection.
            self._positions: dict[Any, dict[str, int]] = {}
            #: Scope per node id, worked out once (xdist asks again for every finished test).
            self._scopes: dict[str, str] = {}

        def _split_scope(self, nodeid: str) -> str:
            scope = self._scopes.get(nodeid)
            if scope is None:
                role = roles.get(_case_id(nodeid)) if roles is not None else None
                account = account_of(nodeid)
                if role is not None:
                    scope = f"role:{role}"
                elif account is not None:
                    scope = f"account:{account}"
                else:
                    scope = str(super()._split_scope(nodeid))
                self._scopes[nodeid] = scope
            return scope

        def _assign_work_unit(self, node: Any) -> None:
            scope, work_unit = self.workqueue.popitem(last=False)
            self.assigned_work.setdefault(node, {})[scope] = work_unit
            pending = [nodeid for nodeid, completed in work_unit.items() if not completed]
            if pending:
                self._open[scope] = len(pending)
            positions = self._positions.get(node)
            if positions is None:
                positions = self._positions[node] = {}
                for index, nodeid in enumerate(self.registered_collections[node]):
                    positions.setdefault(nodeid, index)  # the first, as list.index finds it
            node.send_runtest_some([positions[nodeid] for nodeid in pending])

        def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
            nodeid = self.registered_collections[node][item_index]
            scope = self._split_scope(nodeid)
            work_unit = self.assigned_work[node][scope]
            if not work_unit[nodeid]:
                work_unit[nodeid] = True
                left = self._open.get(scope, 1) - 1
                if left > 0:
                    self._open[scope] = left
                else:
                    self._open.pop(scope, None)
            self._reschedule(node)

        def _pending_of(self, workload: Mapping[str, Any]) -> int:
            return sum(n for scope, n in self._open.items() if scope in workload)

    return AccountScheduling(config, log)
