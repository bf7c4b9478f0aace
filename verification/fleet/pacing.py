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
import threading
import time
from collections.abc import Callable
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
