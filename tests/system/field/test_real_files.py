"""Real templates and plans from public repositories, run pre-deploy through the plugin.

Each vendored file (``data/<origin>/``, sources and licences in ``data/SOURCES.md``) is given to
``pytest --template`` or ``--plan`` in-process, as a user would give it, with a small requirement
set so that the run stays short. A file gives verdicts for the roles ``expected.yaml`` counts (exit
0, 1 or 10), or exit 4 with one line naming the file and what is wrong. Never an INTERNALERROR, a
traceback, or a run that silently judges fewer roles than the file declares.
"""

from __future__ import annotations

import importlib
import pkgutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

import verification
from verification.plugin import SUITE_DIR

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent
DATA = HERE / "data"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((HERE / "expected.yaml").read_text())
SMALL = HERE.parents[1] / "backends" / "template" / "data" / "small-requirements.yaml"
PER_ROLE = 5  # requirements in the small set, the appliance given
USAGE_ERROR = 4
VERDICT_EXITS = {0, 1, 10}


@pytest.fixture(scope="module", autouse=True)
def _imported() -> None:
    """Import what an inner run imports, once: pytester drops modules first imported inside a run,
    so each run would import (and assertion-rewrite) the plugins and boto3 again: most of its time."""
    for module in (
        "allure_pytest.plugin",
        "boto3",
        "botocore.session",
        "hypothesis",
        "_hypothesis_pytestplugin",
        "xdist.plugin",
        "xdist.looponfail",
    ):
        importlib.import_module(module)
    for info in pkgutil.walk_packages(verification.__path__, "verification."):
        if not info.name.startswith(("verification.suite", "verification.__main__")):
            importlib.import_module(info.name)


def _files() -> list[str]:
    return sorted(
        str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.suffix in (".json", ".yaml", ".yml") and p.is_file()
    )


def test_every_vendored_file_has_an_expectation_and_a_source() -> None:
    files = _files()
    assert files == sorted(EXPECTED)
    sources = (DATA / "SOURCES.md").read_text()
    for name in files:
        assert name.split("/", 1)[1] in sources, f"{name} is not in data/SOURCES.md"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_real_file_gives_verdicts_or_one_clear_line(name: str, pytester: pytest.Pytester) -> None:
    path = DATA / name
    option = "--plan" if name.endswith(".plan.json") else "--template"
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "--tb=no",  # the verdicts' text is not what this suite checks; rendering it is most of a run's time
        option,
        str(path),
        "--requirements",
        str(SMALL),
        "--appliance-principal",
        "111111111111",
        f"--junitxml={junit}",
        f"--alluredir={pytester.path / 'allure'}",
        f"--evidence-dir={pytester.path / 'evidence'}",
    )
    output = "\n".join([*result.outlines, *result.errlines])
    assert "INTERNALERROR" not in output
    assert "Traceback" not in output
    expected = EXPECTED[name]
    if "refused" in expected:
        assert result.ret == USAGE_ERROR, output[-2000:]
        [line] = [line for line in result.errlines if line.strip()]
        kind = "plan" if option == "--plan" else "template"
        assert line.startswith(f"ERROR: {kind} {path}: "), line
        assert expected["refused"] in line
        return
    assert result.ret in VERDICT_EXITS, output[-2000:]
    cases = list(ET.parse(junit).iter("testcase"))
    assert len(cases) == expected["verdicts"] * PER_ROLE
    assert all(f"[{path.name}/" in c.get("name", "") for c in cases)
