"""FactsPool: facts fetched ahead, at most N in flight, accounts in turn, in the order the tests need them."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from verification.fleet.concurrency import FactsPool


class Recorder:
    """A fetch that takes a little while and records how many ran at once, per account."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.running: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.fetched: list[str] = []
        #: Keys fetched on the caller's thread (not fetched ahead), in order.
        self.by_caller: list[str] = []
        #: The most fetches at once on the pool's own threads (a test may fetch one more itself).
        self.pool_peak = 0
        self.pool_running = 0
        #: The most accounts among the fetches in flight at once.
        self.accounts_at_once = 0

    def __call__(self, key: str) -> str:
        account = key.split("/")[0]
        with self.lock:
            self.running[account] += 1
            self.most[account] = max(self.most[account], self.running[account])
            self.accounts_at_once = max(self.accounts_at_once, sum(1 for n in self.running.values() if n))
            self.fetched.append(key)
            pooled = threading.current_thread().name.startswith("facts")
            if not pooled:
                self.by_caller.append(key)
            self.pool_running += pooled
            self.pool_peak = max(self.pool_peak, self.pool_running)
        time.sleep(self.delay)
        with self.lock:
            self.running[account] -= 1
            self.pool_running -= pooled
        if key.endswith("/broken"):
            raise RuntimeError(f"cannot fetch {key}")
        return f"facts of {key}"


def keys(accounts: int, roles: int) -> list[str]:
    return [f"{a}/{r}" for a in range(accounts) for r in range(roles)]


def test_every_key_is_fetched_once_and_in_flight_stays_within_concurrency_over_all_accounts() -> None:
    """The threads are the process's: more would only contend for the GIL while answers are read."""
    fetch = Recorder()
    order = keys(3, 12)
    pool = FactsPool(order, lambda key: key.split("/")[0], fetch, concurrency=3)
    assert [pool.get(key) for key in order] == [f"facts of {key}" for key in order]
    pool.close()
    assert sorted(fetch.fetched) == sorted(order)  # nothing fetched twice, nothing lost
    assert fetch.pool_peak == 3, fetch.pool_peak
    # Accounts are taken in turn, so several accounts' paces are used at once (observed, not timed).
    assert fetch.accounts_at_once >= 2, fetch.accounts_at_once


def test_only_the_current_account_is_fetched_ahead_on_an_xdist_worker() -> None:
    fetch = Recorder(delay=0.0)
    order = keys(2, 5)
    pool = FactsPool(order, lambda key: key.split("/")[0], fetch, concurrency=2, only_current_account=True)
    assert pool.get("0/0") == "facts of 0/0"
    time.sleep(0.05)
    assert all(key.startswith("0/") for key in fetch.fetched), fetch.fetched  # another worker may own account 1
    pool.close()


def test_a_failed_fetch_raises_where_its_facts_are_asked_for() -> None:
    fetch = Recorder(delay=0.0)
    order = ["0/a", "0/broken", "0/c"]
    pool = FactsPool(order, lambda key: key.split("/")[0], fetch, concurrency=2)
    assert pool.get("0/a") == "facts of 0/a"
    with pytest.raises(RuntimeError, match="cannot fetch 0/broken"):
        pool.get("0/broken")
    assert pool.get("0/c") == "facts of 0/c"
    pool.close()


def test_a_key_not_in_the_order_is_fetched_when_asked() -> None:
    pool = FactsPool([], lambda key: "a", lambda key: key.upper(), concurrency=2)
    assert pool.get("x") == "X"
    pool.close()


def test_facts_waiting_for_their_tests_stay_within_the_total_window() -> None:
    """A role's answers take about a MiB until read: fetched-ahead facts are bounded over all accounts."""
    fetch = Recorder(delay=0.0)
    order = keys(5, 40)
    pool = FactsPool(order, lambda key: key.split("/")[0], fetch, concurrency=4, ahead=16, total=20)
    assert pool.get("0/0") == "facts of 0/0"
    time.sleep(0.1)  # let the pool fill its window (observed, not timed)
    fetched = Counter(key.split("/")[0] for key in fetch.fetched)
    assert sum(fetched.values()) <= 1 + 20, fetched
    assert len(fetched) >= 4, fetched  # the window is shared between accounts, not taken by the first
    assert [pool.get(key) for key in order[1:]] == [f"facts of {key}" for key in order[1:]]
    pool.close()
    assert sorted(fetch.fetched) == sorted(order)


def test_by_default_the_window_is_the_fetches_in_flight_and_as_many_ready() -> None:
    """Facts waiting for their tests cost the collector's time: by default twice ``concurrency`` wait in all."""
    fetch = Recorder(delay=0.0)
    order = keys(5, 40)
    pool = FactsPool(order, lambda key: key.split("/")[0], fetch, concurrency=4)
    assert pool.get("0/0") == "facts of 0/0"
    deadline = time.monotonic() + 30
    while len(fetch.fetched) < 1 + 2 * 4 and time.monotonic() < deadline:
        time.sleep(0.01)  # until the pool has filled its window (observed, not timed)
    time.sleep(0.1)  # and nothing more comes
    fetched = Counter(key.split("/")[0] for key in fetch.fetched)
    assert sum(fetched.values()) == 1 + 2 * 4, fetched
    assert len(fetched) == 5, fetched  # still shared out between the accounts
    assert [pool.get(key) for key in order[1:]] == [f"facts of {key}" for key in order[1:]]
    pool.close()
    assert sorted(fetch.fetched) == sorted(order)


def test_in_the_tests_order_every_role_after_the_first_was_fetched_ahead() -> None:
    """Roles taken in turn by account: the window follows them, rather than fill with the first account's.

    A role not fetched ahead is fetched by the test itself, a round-trip it waits for in full.
    """
    fetch = Recorder(delay=0.002)
    turns = [f"{a}/{r}" for r in range(12) for a in range(5)]  # how collection orders the roles
    pool = FactsPool(turns, lambda key: key.split("/")[0], fetch, concurrency=4)
    assert [pool.get(key) for key in turns] == [f"facts of {key}" for key in turns]
    pool.close()
    assert sorted(fetch.fetched) == sorted(turns)
    assert fetch.by_caller == ["0/0"], fetch.by_caller


def test_a_key_not_fetched_ahead_is_fetched_by_the_test_not_behind_the_window() -> None:
    """A test must not wait for every fetch queued for later tests (the first key, or tests out of order)."""
    gate = threading.Event()
    threads: dict[str, str] = {}

    def fetch(key: str) -> str:
        threads[key] = threading.current_thread().name
        if threads[key].startswith("facts"):
            gate.wait(2)  # every pool thread is busy with later roles
        return f"facts of {key}"

    pool = FactsPool(keys(1, 10), lambda key: key.split("/")[0], fetch, concurrency=2, ahead=8)
    try:
        assert pool.get("0/0") == "facts of 0/0"
        assert pool.get("0/9") == "facts of 0/9"
    finally:
        gate.set()
        pool.close()
    here = threading.current_thread().name
    assert threads["0/0"] == here and threads["0/9"] == here, threads
