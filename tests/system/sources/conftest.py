"""The Veeam help-center pages the bundled sets are checked against: ``../shared/seeds`` beside the repository.

``VERIFICATION_SEEDS`` names another folder: ``.ci/run`` runs the tests in a fresh clone elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SEEDS = Path(os.environ.get("VERIFICATION_SEEDS") or ROOT.parent / "shared" / "seeds")
PAGES = SEEDS / "vbaws-10.0.0.232"
ARCHIVE = SEEDS / "vbaws-archive"


@pytest.fixture(scope="session")
def pages_dir() -> Path:
    """The folder of pages; a skip with the reason when absent, a failure when REQUIRE_SEEDS=1 (CI)."""
    if not PAGES.is_dir():
        message = (
            f"the Veeam pages are not at {PAGES} (the shared/ folder beside the repository, or $VERIFICATION_SEEDS)"
        )
        if os.environ.get("REQUIRE_SEEDS") == "1":
            pytest.fail(f"REQUIRE_SEEDS=1 but {message}")
        pytest.skip(message)
    return PAGES


@pytest.fixture(scope="session")
def archive_dir(pages_dir: Path) -> Path:
    """The archived version lists, beside the pages."""
    assert ARCHIVE.is_dir(), f"{ARCHIVE} is missing while {pages_dir} is there"
    return ARCHIVE
