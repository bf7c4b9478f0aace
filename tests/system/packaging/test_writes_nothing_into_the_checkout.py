"""The guard in tests/conftest.py: a self-test run that writes into the checkout's reports/ fails."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
GUARD = Path(__file__).resolve().parents[2] / "conftest.py"


def _checkout(pytester: pytest.Pytester, test: str) -> None:
    """A checkout's shape: tests/conftest.py (the guard) beside a reports/ holding its README."""
    (pytester.path / "reports").mkdir()
    (pytester.path / "reports" / "README.md").write_text("# reports/\n")
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "conftest.py").write_text(GUARD.read_text())
    (pytester.path / "tests" / "test_it.py").write_text(test)


def test_a_run_that_writes_into_reports_fails_naming_the_file(pytester: pytest.Pytester) -> None:
    _checkout(
        pytester,
        "from pathlib import Path\n\n"
        "def test_writes():\n"
        "    (Path(__file__).parents[1] / 'reports' / 'evidence').mkdir()\n"
        "    (Path(__file__).parents[1] / 'reports' / 'evidence' / 'run.json').write_text('{}')\n",
    )
    result = pytester.runpytest("tests", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["ERROR: the self-tests wrote into the checkout's reports/ (use tmp_path): evidence*"])
    assert "evidence/run.json" in result.stdout.str()


def test_a_run_that_uses_tmp_path_passes(pytester: pytest.Pytester) -> None:
    _checkout(pytester, "def test_writes(tmp_path):\n    (tmp_path / 'run.json').write_text('{}')\n")
    result = pytester.runpytest("tests", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    assert "wrote into the checkout" not in result.stdout.str()
