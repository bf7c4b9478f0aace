"""Round-trips in parallel: roles' facts fetched ahead of the tests that need them, on threads.

It takes the work as a callable, so it knows nothing of what it runs.

Against AWS a run waits on round-trips, not on CPU. ``FactsPool`` keeps up to ``concurrency``
fetches in flight on its threads, for the roles this process will verify next, in the order the
tests need them, taking accounts in turn; a test that asks for a role not fetched ahead fetches it
itself, rather than wait behind the fetches queued for later tests. The per-account pacer (a token
bucket shared by the account's clients, thread-safe) still bounds the rate of each account; botocore
clients are shared between threads, as botocore allows.

The threads are the process's, not each account's. Reading an answer is CPU work under the GIL, and
threads beyond what the round-trips need only contend for it (docs/nightly.md has the figures: 20
threads for 5 accounts cost a fifth more CPU and four times the context switches of 4). One process
reads at most a few answers a second; a few fetches in flight keep it busy.

Fetched facts wait for their tests: at most ``ahead`` per account and ``total`` in all, by default
twice ``concurrency`` (the fetches in flight, and as many ready), and at most ``accounts`` accounts
are fetched at once. Each free place goes to the account with the fewest waiting, so the window
follows the tests (which take roles by account in turn) and several accounts' paces are used
together. A deeper window hides no more round-trips (a test that finds its facts ready waits for
nothing) but costs CPU: a role's parsed answers are tens of thousands of objects until its tests
have read them, and every full collection the readers set off walks all that wait. Measured at 100
roles in one process on the local endpoint, with 16 per account and 128 in all, fetching took 100
ms of CPU per role; with 8 in all, about 50 ms, as with no thread at all.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")

#: Default for ``--concurrency``: fetches in flight per process (the pacer's burst is 4 requests).
DEFAULT_CONCURRENCY = 4
#: Fetched-ahead facts that may wait, per account and in all, per fetch in flight (see above).
WINDOW = 2


class FactsPool(Generic[T]):
    """Fetch ``fetch(key)`` ahead of ``get(key)``, for keys in ``order``, grouped by ``account_of(key)``."""

    def __init__(
        self,
        order: Iterable[str],
        account_of: Callable[[str], str],
        fetch: Callable[[str], T],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        ahead: int | None = None,
        total: int | None = None,
        accounts: int = 8,
        only_current_account: bool = False,
    ) -> None:
        """``only_current_account``: never start on an account before one of its keys is asked for.

        Under pytest-xdist a process does not know which accounts it will be given, only that a paced
        account is given whole; fetching ahead into another account would fetch another worker's roles.
        """
        self._fetch = fetch
        self._account_of = account_of
        self.concurrency = max(1, concurrency)
        self._ahead = ahead if ahead is not None else WINDOW * self.concurrency
        self._max_accounts = max(1, accounts)
        self._total = max(1, total if total is not None else WINDOW * self.concurrency)
        self._only_current = only_current_account
        self._queues: dict[str, deque[str]] = {}
        for key in order:
            self._queues.setdefault(account_of(key), deque()).append(key)
        self._futures: dict[str, Future[T]] = {}
        self._waiting: dict[str, int] = {}  # per account: submitted, not yet taken by get()
        self._executor: ThreadPoolExecutor | None = None
        self._started: list[str] = []
        self._lock = threading.Lock()
        self._closed = False

    def get(self, key: str) -> T:
        """The key's result: fetched ahead already, or now on this thread (errors raise here, as ``fetch`` raised)."""
        account = self._account_of(key)
        with self._lock:
            if account not in self._started and account in self._queues:
                self._started.append(account)
            future = self._futures.pop(key, None)
            if future is None:
                queue = self._queues.get(account)
                if queue is not None and key in queue:
                    queue.remove(key)
            else:
                self._waiting[account] = self._waiting.get(account, 1) - 1
            self._top_up()
        # Not fetched ahead (the first key, or tests taken out of order): fetched here and now, not
        # behind the window of fetches queued for later tests.
        return future.result() if future is not None else self._fetch(key)

    def _submit(self, account: str, key: str) -> Future[T]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="facts")
        self._waiting[account] = self._waiting.get(account, 0) + 1
        return self._executor.submit(self._fetch, key)

    def _top_up(self) -> None:
        """Keep each active account's window full; start the next accounts while fewer than allowed are active."""
        if self._closed:
            return
        if not self._only_current:
            for account in self._queues:
                if len(self._active()) >= self._max_accounts:
                    break
                if account not in self._started and self._queues[account]:
                    self._started.append(account)
        active = self._active()
        waiting = sum(self._waiting.values())
        while waiting < self._total:
            open_ = [a for a in active if self._queues[a] and self._waiting.get(a, 0) < self._ahead]
            if not open_:
                break
            # The account with the fewest waiting (the first such in turn): the tests take roles by
            # account in turn, so the window follows them instead of filling with the first account's.
            account = min(open_, key=lambda a: self._waiting.get(a, 0))
            key = self._queues[account].popleft()
            self._futures[key] = self._submit(account, key)
            waiting += 1

    def _active(self) -> list[str]:
        return [a for a in self._started if self._queues.get(a) or self._waiting.get(a, 0) > 0]

    def close(self) -> None:
        """Stop fetching ahead; wait for fetches in flight (their results are dropped)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            for future in self._futures.values():
                future.cancel()
            self._futures.clear()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
