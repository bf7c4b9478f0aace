"""Fixtures the harness's own tests share, and the guard that they write nothing into the checkout.

Shared fixtures: ``fleet`` (five accounts of worker roles), ``snapshot_endpoint`` and ``session_for``
(one endpoint, and sessions into any of its accounts). Helpers that are not fixtures live in
``tests/support/``.

The guard: ``reports/`` stays as it was. A run of the self-tests notes what ``reports/`` holds when
it starts and fails, naming the new files, if it holds more at the end (a test that ran the suite from
the checkout without ``--evidence-dir``/``--alluredir``, or copied a file there). Tests use ``tmp_path`` instead.
Only the controlling process checks (xdist workers write into the same folder), and only when the
run is the self-tests, not a verification run from the checkout (``pytest --demo`` writes there).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import boto3

    from tests.support.fleet import Fleet
    from tests.support.sessions import SessionFactory
    from verification.endpoint import Endpoint

REPORTS = Path(__file__).resolve().parents[1] / "reports"
_BEFORE = pytest.StashKey[frozenset[str]]()


def _files(folder: Path) -> frozenset[str]:
    return frozenset(str(path.relative_to(folder)) for path in folder.rglob("*")) if folder.is_dir() else frozenset()


def _controller(config: pytest.Config) -> bool:
    """The process that checks: not an xdist worker, and not a verification run (``pytest --demo`` in
    the checkout loads this file too, and writes its results into reports/ by design)."""
    from verification.plugin.options import verification_requested

    return not hasattr(config, "workerinput") and not verification_requested(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    if _controller(session.config):
        session.config.stash[_BEFORE] = _files(REPORTS)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_BEFORE, None)
    if before is None or not _controller(session.config):
        return
    gained = sorted(_files(REPORTS) - before)
    if not gained:
        return
    shown = ", ".join(gained[:5]) + (f" and {len(gained) - 5} more" if len(gained) > 5 else "")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    line = f"the self-tests wrote into the checkout's reports/ (use tmp_path): {shown}"
    if reporter is not None:
        reporter.write_line(f"ERROR: {line}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def fleet() -> Iterator[Fleet]:
    """Five accounts of worker roles on one local endpoint, seeded once per process (tests/support/fleet.py).

    Defined here, once, so every folder that needs it shares one seeding: moto's state is per process.
    """
    from tests.support.fleet import seeded_fleet

    with seeded_fleet() as seeded:
        yield seeded


@pytest.fixture(scope="session")
def snapshot_endpoint() -> Iterator[Endpoint]:
    """A running endpoint on a free loopback port, shared by the folders that export from or compare with it;
    tests keep apart by account and by name."""
    from verification.endpoint import start_endpoint

    with start_endpoint() as running:
        yield running


@pytest.fixture(scope="session")
def session_for(snapshot_endpoint: Endpoint) -> SessionFactory:
    """``session_for(account)``: a boto3 session whose credentials moto maps to ``account``."""
    from tests.support.sessions import assumed_session

    def make(account: str, role_name: str = "Tester") -> boto3.Session:
        return assumed_session(snapshot_endpoint.url, account, role_name)

    return make
