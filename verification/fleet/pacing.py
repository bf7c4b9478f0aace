"""Client-side pacing per AWS account: a token bucket consulted before every request is sent.

IAM's rate limits apply per account, cannot be raised, and are shared with everything else that
runs in the account (deployments, other tools). The harness therefore spends at most ``rate``
requests per second per account on average, with short bursts of up to ``burst``. The hook runs on
botocore's ``before-send`` event, which fires once per HTTP attempt, so botocore's retries are
paced as well. Every client of one account shares one bucket (``Pacer.bucket(account)``); under
xdist, a paced run keeps all of an account's roles in one process, so that bucket is the account's.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from verification.errors import InputError

#: Default pace against AWS: well under IAM's per-account limits, leaving headroom for everything else.
DEFAULT_RATE = 5.0
#: Default burst: a role's calls (GetRole, ListInstanceProfilesForRole, two simulations) go out at once.
DEFAULT_BURST = 4


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` stored; each request takes one token.

    A request that finds no token reserves the next one and waits for it, so waiting requests are
    served in order and the long-run rate never exceeds ``rate``. ``clock`` and ``sleep`` are
    injectable so the arithmetic can be tested without waiting.
    """

    def __init__(
        self,
        rate: float,
        burst: int = DEFAULT_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()
        self.waited = 0.0

    def reserve(self) -> float:
        """Take one token now, or reserve the next one; return the seconds to wait before sending."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            delay = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            self.waited += delay
            return delay

    def acquire(self) -> None:
        """Wait (if need be) until a request may be sent."""
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)


class Pacer:
    """One token bucket per account, shared by every client of that account in this process."""

    def __init__(self, rate: float | None, burst: int = DEFAULT_BURST) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Is pacing on (a positive rate)?"""
        return bool(self.rate)

    def bucket(self, account: str) -> TokenBucket | None:
        """The account's bucket (created on first use); None when pacing is off."""
        if not self.rate:
            return None
        with self._lock:
            if account not in self._buckets:
                self._buckets[account] = TokenBucket(self.rate, self.burst)
            return self._buckets[account]

    def install(self, client: Any, account: str) -> None:
        """Pace every HTTP attempt of ``client`` with the account's bucket (nothing when off)."""
        bucket = self.bucket(account)
        if bucket is None:
            return

        def pace(**_: Any) -> None:
            bucket.acquire()

        client.meta.events.register("before-send", pace)

    def waited(self) -> dict[str, float]:
        """Seconds spent waiting per account, for the summary."""
        return {account: bucket.waited for account, bucket in self._buckets.items() if bucket.waited}


def parse_rate(value: str) -> float:
    """``--max-rate``: requests per second per account; 0 turns pacing off."""
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not rate >= 0 or rate == float("inf"):
        raise InputError(f"--max-rate {value!r} is not a number of requests per second (0 turns pacing off)")
    return rate


def default_rate(endpoint_url: str | None) -> float:
    """The pace when ``--max-rate`` is not given: off for a loopback endpoint, ``DEFAULT_RATE`` otherwise.

    A local endpoint (the demo, the benchmark, tests) has no account limits to protect, so pacing it
    would only slow it down; anything else may be AWS or a proxy to it.
    """
    if endpoint_url:
        host = urlparse(endpoint_url).hostname or ""
        if host == "localhost":
            return 0.0
        try:
            if ipaddress.ip_address(host).is_loopback:
                return 0.0
        except ValueError:
            pass
    return DEFAULT_RATE


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
