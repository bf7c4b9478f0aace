"""API call accounting: how many calls, per operation and per account, the run spent.

The harness must be frugal with IAM's per-account rate limits, and a nightly run should show what
it spent. Botocore events on every client count three things per ``(account, service:Operation)``:

* ``calls``: operations the harness made (``before-call``; each page of a pagination is one);
* ``attempts``: HTTP requests sent, retries included (``before-send`` fires once per attempt, also for
  one whose answer is then refused as not IAM's);
* ``throttled``: attempts the API answered with a throttling error.

On pytest-xdist every worker counts its own calls and sends them to the controller in
``config.workeroutput``; the controller merges them for the terminal summary and the results folder.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

#: Error codes that mean "slow down" (botocore's standard retry mode treats these as throttling).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)

KINDS = ("calls", "attempts", "throttled")


class ApiCounter:
    """Counts per ``(account, "service:Operation")`` of calls, attempts and throttled attempts."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[tuple[str, str]]] = {kind: Counter() for kind in KINDS}
        self._lock = threading.Lock()

    def add(self, kind: str, account: str, operation: str, n: int = 1) -> None:
        """Count ``n`` of ``kind`` for an account's operation."""
        with self._lock:
            self.counts[kind][(account, operation)] += n

    def install(self, client: Any, account: str) -> None:
        """Count every call and attempt ``client`` makes, under ``account``."""

        def on_call(event_name: str, **_: Any) -> None:
            self.add("calls", account, _operation(event_name))

        def on_send(event_name: str, **_: Any) -> None:
            self.add("attempts", account, _operation(event_name))

        def on_response(event_name: str, parsed_response: Mapping[str, Any] | None = None, **_: Any) -> None:
            operation = _operation(event_name)
            code = ((parsed_response or {}).get("Error") or {}).get("Code")
            if code in THROTTLING_CODES:
                self.add("throttled", account, operation)

        client.meta.events.register("before-call", on_call)
        client.meta.events.register("before-send", on_send)
        client.meta.events.register("response-received", on_response)

    def total(self, kind: str = "calls", *, operation: str | None = None, account: str | None = None) -> int:
        """The sum of ``kind``, optionally for one operation and/or one account."""
        return sum(
            n
            for (acct, op), n in self.counts[kind].items()
            if (operation is None or op == operation) and (account is None or acct == account)
        )

    def by_operation(self, kind: str = "calls") -> Counter[str]:
        """``kind`` summed over accounts, per operation."""
        out: Counter[str] = Counter()
        for (_, operation), n in self.counts[kind].items():
            out[operation] += n
        return out

    def by_account(self, kind: str = "calls") -> Counter[str]:
        """``kind`` summed over operations, per account."""
        out: Counter[str] = Counter()
        for (account, _), n in self.counts[kind].items():
            out[account] += n
        return out

    def as_dict(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{kind: {account: {operation: n}}}``: JSON-ready, for xdist's workeroutput and the results."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for kind in KINDS:
            nested: dict[str, dict[str, int]] = {}
            for (account, operation), n in sorted(self.counts[kind].items()):
                nested.setdefault(account, {})[operation] = n
            out[kind] = nested
        return out

    def merge(self, data: Mapping[str, Mapping[str, Mapping[str, int]]]) -> None:
        """Add counts in the ``as_dict`` form (a worker's) to these."""
        for kind in KINDS:
            for account, operations in (data.get(kind) or {}).items():
                for operation, n in operations.items():
                    self.add(kind, account, operation, int(n))

    def summary_lines(self, roles: int = 0) -> list[str]:
        """Lines for the terminal summary: totals, per operation, per account; calls per role."""
        calls = self.total("calls")
        if not calls:
            return []
        attempts, throttled = self.total("attempts"), self.total("throttled")
        # A call whose credentials could not be had (an unassumable member role) is never sent: no
        # attempt, and no negative count of retries either.
        retries = max(0, attempts - calls)
        head = f"API calls: {calls} ({attempts} attempts, {retries} retries, {throttled} throttled)"
        if roles:
            per_role = sum(
                n for op, n in self.by_operation().items() if op.startswith("iam:") and op != "iam:ListRoles"
            )
            head += f"; {per_role / roles:.2f} IAM calls per role over {roles} role(s)"
        lines = [head]
        lines.append("  per operation: " + ", ".join(f"{op} {n}" for op, n in sorted(self.by_operation().items())))
        per_account = self.by_account()
        throttled_by_account = self.by_account("throttled")
        lines.append(
            "  per account: "
            + ", ".join(
                f"{acct} {n}" + (f" ({throttled_by_account[acct]} throttled)" if throttled_by_account[acct] else "")
                for acct, n in sorted(per_account.items())
            )
        )
        return lines


def _operation(event_name: str) -> str:
    """``before-call.iam.GetRole`` → ``iam:GetRole``."""
    parts = event_name.split(".")
    return f"{parts[1]}:{parts[2]}" if len(parts) >= 3 else event_name
