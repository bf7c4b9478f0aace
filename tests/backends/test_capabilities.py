"""Backends declare what they can do (``Backend.capabilities`` and the base class's hooks); callers ask that.

A caller that tells backends apart by name (``backend.name == "snapshot"``) or by probing for an
attribute (``hasattr(backend, "possible_accounts")``) breaks silently when a backend is added or
wraps another (fleet mode's prefetch answers as ``live``): the guard below fails on the first such probe.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from verification import FIXTURES
from verification.backends import Backend, Capabilities, RoleRef, backend_class
from verification.backends.live import LiveBackend
from verification.backends.prefetch import PrefetchBackend
from verification.backends.snapshot import SnapshotBackend
from verification.errors import CheckError, InputError

PACKAGE = Path(__file__).resolve().parents[2] / "verification"
DEMO = FIXTURES / "demo" / "account.json"


def test_each_backend_declares_what_it_can_do() -> None:
    live, snapshot, template = (backend_class(name).capabilities for name in ("live", "snapshot", "template"))

    assert (live.live_api, live.lists_roles, live.weighs_possible_accounts, live.own_region) == (
        True,
        True,
        False,
        True,
    )
    # Fleet mode's prefetch answers as live does, and is what a prefetchable backend becomes, once.
    assert live.prefetchable and not PrefetchBackend.capabilities.prefetchable
    assert dataclasses.replace(PrefetchBackend.capabilities, prefetchable=True) == LiveBackend.capabilities
    assert (snapshot.live_api, snapshot.lists_roles, snapshot.own_region) == (False, False, False)
    assert "policy engine" in snapshot.fix_check and "SimulatePrincipalPolicy" in live.fix_check
    assert (template.weighs_possible_accounts, template.declares_roles, template.live_api) == (True, True, False)
    assert Backend.capabilities == Capabilities()  # the defaults: nothing beyond the common questions


def test_an_unknown_backend_is_one_clear_line() -> None:
    with pytest.raises(InputError, match="unknown backend 'ldap': use one of live, snapshot, template"):
        backend_class("ldap")


def test_a_snapshot_answers_the_base_hooks_with_what_it_holds() -> None:
    backend = SnapshotBackend(DEMO)
    arn = backend.account.role_arns[0]
    ref = RoleRef.parse(arn)

    with pytest.raises(CheckError, match="the snapshot backend cannot list roles"):
        backend.list_roles()
    sets = backend.policy_sets(ref)
    assert sets is not None and len(sets) == 1  # one account: one set
    held = backend.held_account(arn)
    assert held is not None and held[0] is backend.snapshot.details
    assert backend.role_policy_details(ref) is None  # held already: nothing read on demand
    assert (backend.source_file, backend.fallback, backend.fix_checks_reused, tuple(backend.warnings)) == (
        None,
        None,
        0,
        (),
    )


def _backend_like(node: ast.expr) -> bool:
    """Does the expression name a backend (``backend``, ``run.backend_name``, ``self.backend``...)?"""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return "backend" in name.lower()


def probes_in(path: Path) -> list[str]:
    """Each place that tells backends apart by name or by class, or probes one for an attribute.

    ``assert isinstance(backend, XBackend)`` is not a probe: it narrows the type for the checker
    after the decision was made on ``capabilities``.
    """
    found = []
    tree = ast.parse(path.read_text())
    asserted = {id(node.test) for node in ast.walk(tree) if isinstance(node, ast.Assert)}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
            and isinstance(node.args[1], ast.Name)
            and node.args[1].id.endswith("Backend")
            and id(node) not in asserted
        ):
            found.append(f"{path.name}:{node.lineno} tells a backend by its class")
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = any(
                isinstance(side, ast.Attribute)
                and (side.attr == "backend_name" or (side.attr == "name" and _backend_like(side.value)))
                for side in sides
            )
            if named and any(isinstance(side, ast.Constant) and isinstance(side.value, str) for side in sides):
                found.append(f"{path.name}:{node.lineno} compares a backend's name")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("hasattr", "getattr")
            and node.args
            and _backend_like(node.args[0])
        ):
            found.append(f"{path.name}:{node.lineno} {node.func.id} on a backend")
    return found


def test_the_guard_sees_a_probe(tmp_path: Path) -> None:
    code = tmp_path / "caller.py"
    code.write_text(
        'if run.backend_name == "template":\n    pass\n'
        'if hasattr(backend, "possible_accounts"):\n    pass\n'
        'if self.backend.name != "live":\n    pass\n'
        'x = getattr(backend, "fallback", None)\n'
        'if requirement.name == "trust":\n    pass\n'
        "if not isinstance(backend, LiveBackend):\n    pass\n"
        "assert isinstance(backend, LiveBackend)\n"
    )
    assert probes_in(code) == [
        "caller.py:1 compares a backend's name",
        "caller.py:3 hasattr on a backend",
        "caller.py:5 compares a backend's name",
        "caller.py:7 getattr on a backend",
        "caller.py:10 tells a backend by its class",
    ]


def test_no_caller_probes_a_concrete_backend() -> None:
    """Outside ``backends/`` (where the backends themselves live), no code asks which backend it has."""
    callers = [p for p in sorted(PACKAGE.rglob("*.py")) if "backends" not in p.relative_to(PACKAGE).parts]
    assert [probe for path in callers for probe in probes_in(path)] == []
