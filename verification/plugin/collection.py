"""Collection: the bundled suite, and one test per role and requirement with readable ids.

A verification run collects the bundled suite whatever the folder, rootdir, ini file or option
values: its path is put first among the run's arguments, and paths the user named are kept beside
it. The suite's node ids are the same everywhere (``verification/suite/test_requirements.py::...``),
so ``--lf``, JUnit names and Allure history ids do not depend on where the package is installed.
"""

from __future__ import annotations

import gc
import inspect
from collections import Counter
from pathlib import Path

import pytest
from _pytest.fixtures import FuncFixtureInfo
from _pytest.python import path_matches_patterns

from verification.plugin.keys import CASE_KEY, RUN_KEY, Case, case_id
from verification.plugin.options import NOTHING_TO_VERIFY

SUITE_DIR = Path(__file__).resolve().parent.parent / "suite"
#: The suite's node-id prefix, as it reads from a checkout of the repository.
SUITE_NODE_PREFIX = "verification/suite"


def _within_suite(arg: str, invocation_dir: Path) -> bool:
    path = Path(arg.split("::", 1)[0])
    path = (invocation_dir / path).resolve() if not path.is_absolute() else path.resolve()
    return path == SUITE_DIR or SUITE_DIR in path.parents


def suite_requested(config: pytest.Config) -> bool:
    """Does this session name the verification suite (and so need something to verify)?"""
    return any(_within_suite(arg, config.invocation_params.dir) for arg in config.args)


def collect_suite(config: pytest.Config) -> None:
    """Make the run collect the bundled suite, plus whatever paths the user named on the command line.

    ``testpaths`` and the invocation folder are not the user's choice for this run, so they are
    replaced; an option's value (``--snapshot FILE``) is never a path to collect. A user who names
    a part of the suite (``verification/suite/test_requirements.py::test_trust``) gets just that part.
    """
    named = list(config.args) if config.args_source == pytest.Config.ArgsSource.ARGS else []
    if any(_within_suite(arg, config.invocation_params.dir) for arg in named):
        return
    config.args[:] = [str(SUITE_DIR), *named]


def _suite_node_id(path: Path) -> str:
    return f"{SUITE_NODE_PREFIX}/{path.relative_to(SUITE_DIR).as_posix()}"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """The suite's modules get the node ids they have in a checkout, wherever the package is installed."""
    if SUITE_DIR not in module_path.parents:
        return None
    return pytest.Module.from_parent(parent, path=module_path, nodeid=_suite_node_id(module_path))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect the suite's modules even when the user's ``python_files`` would not match them."""
    if (
        SUITE_DIR in file_path.parents
        and file_path.suffix == ".py"
        and file_path.name.startswith("test_")
        and not path_matches_patterns(file_path, parent.config.getini("python_files"))
    ):
        return pytest.Module.from_parent(parent, path=file_path, nodeid=_suite_node_id(file_path))
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> list[pytest.Function] | None:
    """One test per requirement (of the test's kind) per role, with readable ids: ``ACCOUNT/ROLE-REQUIREMENT``.

    The items are made here rather than by parametrizing a fixture: allure-pytest writes a container
    file for every fixture a test uses, which at a thousand roles (85,000 tests) was a third of the
    run's files. A test asks for ``request`` only and reads the verdict that ``pytest_runtest_setup``
    put on it, so a requirement that could not be checked still errors in setup.
    """
    if not isinstance(collector, pytest.Module | pytest.Class) or not inspect.isfunction(obj):
        return None
    marks = [m for m in getattr(obj, "pytestmark", ()) if getattr(m, "name", None) == "verifies"]
    marker = marks[0] if marks else collector.get_closest_marker("verifies")
    if marker is None:
        return None
    ours = SUITE_DIR in Path(str(collector.path)).parents
    # The bundled suite's functions are tests whatever the user's python_functions says.
    if not ours and not collector.istestfunction(obj, name):
        return None
    if isinstance(collector, pytest.Class):
        raise pytest.UsageError(
            f"{collector.nodeid}::{name}: mark module-level test functions with verifies(kind), not methods"
        )
    run = collector.config.stash.get(RUN_KEY, None)
    if run is None:
        raise pytest.UsageError(NOTHING_TO_VERIFY)
    if marker.args[0] == "account":
        from verification.plugin.organization import account_items

        return account_items(collector, name, obj, run)
    items: list[pytest.Function] = []
    # One function, one set of fixtures: resolved for the first item and shared, as parametrize
    # shares it (resolving it per item, 85 per role, was the largest part of collection).
    shared: FuncFixtureInfo | None = None
    for arn, target in run.targets.items():
        if marker.args[0] == "excess":  # --excess fail: a test per risk group (plugin/excess.py)
            from verification.plugin.excess import PREFIX, groups

            ids = [
                (f"{target.ref.label}-{PREFIX}{group}", Case(arn, f"{PREFIX}{group}", "excess", group))
                for group in groups(collector.config)
            ]
        else:
            ids = [(case_id(target, r), Case(arn, r.id)) for r in target.requirements.by_kind(marker.args[0])]
        for case, verifies in ids:
            # pytest 9.2 makes the node id from `originalname` and a callspec when given, and keeps the
            # parameters apart in it (as --lf and --nf read node ids back). So: the full name, then
            # the node id with the case as its parameters, then the function's own name, so that
            # Allure's fullName (and test case id) names the function, as parametrize's do.
            item = pytest.Function.from_parent(
                collector, name=f"{name}[{case}]", callobj=obj, keywords={case: True}, fixtureinfo=shared
            )
            shared = item._fixtureinfo
            if hasattr(collector, "id"):
                item._id = collector.id.child(name).with_params(case)
            item.originalname = name
            item.stash[CASE_KEY] = verifies
            items.append(item)
    return items


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run each role's tests together: the terminal reads role by role, and its facts stay warm.

    Roles take turns by account (the first role of each account, then the second of each...), so
    that facts fetched ahead draw on every account's pace at once: IAM's limits are per account, and
    one account's roles in a row would wait on that account's pace alone. A stable sort keeps the
    file order of the tests within a role; tests of no role come first.
    """

    def role_of(item: pytest.Item) -> str:
        case = item.stash.get(CASE_KEY, None)
        return case.role if case is not None else ""

    if any(role_of(item) for item in items):
        turns: Counter[str] = Counter()
        accounts: dict[str, int] = {}
        order: dict[str, tuple[int, int]] = {"": (-1, -1)}
        for role in dict.fromkeys(role_of(item) for item in items):
            if role:
                account = role.split(":")[4] if role.count(":") >= 5 else ""
                order[role] = (turns[account], accounts.setdefault(account, len(accounts)))
                turns[account] += 1
        items.sort(key=lambda item: order[role_of(item)])


def pytest_collection_finish(session: pytest.Session) -> None:
    """Count each role's selected tests, so that its facts can be let go after its last one.

    Then move everything that lives for the whole run (the items, the action catalogue, botocore's
    service models: hundreds of thousands of objects) out of the garbage collector's sight
    (``gc.freeze``). Each role's answers are thousands of short-lived objects; every full collection
    they set off would otherwise walk all of the run's long-lived ones too: measured at 100 roles,
    a quarter of the collector's time.
    """
    run = session.config.stash.get(RUN_KEY, None)
    if run is not None:
        run.tests_left = Counter(case.role for item in session.items if (case := item.stash.get(CASE_KEY, None)))
        gc.collect()
        gc.freeze()
