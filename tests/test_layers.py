"""The layer rule, the one place it is written: ``ORDER`` ranks the layers, bottom first.

A module may import its own layer and the layers below it, never one above: the arrows point one
way, so two packages cannot import each other (a cycle always has an arrow that climbs), and a new
import that climbs fails here, not in review. ``THIRD_PARTY`` says which of the packages that decide
a layer's nature (boto3, pytest, Allure, moto, YAML...) each layer may import. Read from the source
with ``ast``: imports inside functions and under ``TYPE_CHECKING`` count too, since a lazy import
that climbs is how a hidden circle hides.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "verification"

#: The layers, bottom first. ``(root)`` is ``verification/__init__.py`` (the version, the bundled
#: data's path); ``fixtures`` is that bundled data (no code beyond its docstring); ``names`` holds
#: what a user gives (role ARNs, the caller, the appliance principal, the KMS key).
ORDER: list[str] = [
    "fixtures",
    "(root)",
    "errors",
    "policy",
    "names",
    "scope",
    "requirements",
    "safety",
    "fleet",
    "snapshot",
    "backends",
    "verdicts",
    "reporting",
    "endpoint",
    "plugin",
    "suite",
    "__main__",
]

#: Third-party packages that decide a layer's nature.
WATCHED = {"boto3", "botocore", "pytest", "_pytest", "allure", "allure_commons", "moto", "xdist", "yaml"}

#: Layer → the watched packages it may import (none when not listed). The engine (policy) knows no
#: boto3; nothing below plugin knows pytest or Allure; only the local endpoint knows moto.
THIRD_PARTY: dict[str, set[str]] = {
    "scope": {"botocore"},
    "requirements": {"yaml"},
    "safety": {"botocore"},
    "fleet": {"yaml"},
    "snapshot": {"boto3", "botocore"},
    "backends": {"boto3", "botocore", "yaml"},
    "reporting": {"botocore"},
    "endpoint": {"boto3", "botocore", "moto"},
    # allure_commons: allure-pytest's own plugin manager (passing roles written lean: allure_output.QuietResults)
    "plugin": {"boto3", "pytest", "_pytest", "allure", "allure_commons", "xdist", "yaml"},
    "suite": {"pytest"},
}

#: Circles between modules of one package, run-time imports only, that remain for now. Each is a
#: defect listed so it is visible, not hidden; remove its line when the circle goes (the test fails
#: while a line names a circle that no longer exists).
KNOWN_CIRCLES: set[frozenset[str]] = set()


@dataclass(frozen=True)
class Import:
    """One import statement's target: a module of the package, or a watched third-party package."""

    module: str
    target: str
    line: int
    #: False under ``if TYPE_CHECKING:`` (read by the type checker only, never run).
    runtime: bool = True


def modules_of(package: Path) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package (``pkg.sub`` for ``pkg/sub/__init__.py``).

    Symbolic links are followed: ``verification/fixtures`` is one (to the checkout's ``fixtures/``).
    """
    found = {}
    paths = (Path(folder, name) for folder, _, names in os.walk(package, followlinks=True) for name in names)
    for path in sorted(path for path in paths if path.suffix == ".py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of import nodes inside ``if TYPE_CHECKING:`` blocks."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
        if isinstance(node, ast.If) and name == "TYPE_CHECKING":
            hidden.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return hidden


def imports_in(package: Path, watched: Iterable[str] = WATCHED) -> list[Import]:
    """Every import of the package's own modules and of watched packages, wherever it is written.

    ``from pkg.layer import name`` names the submodule ``pkg.layer.name`` when there is one, else the
    module ``pkg.layer``. A relative import is recorded as the target ``<relative>``: the rule wants
    absolute imports, which it can read.
    """
    modules = modules_of(package)
    root = package.name
    found: list[Import] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        hidden = _type_checking_only(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif node.level:
                targets = ["<relative>"]
            elif node.module:
                targets = [
                    f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    for alias in node.names
                ]
            for target in dict.fromkeys(targets):
                top = target.split(".")[0]
                if top == root or top in watched or target == "<relative>":
                    found.append(Import(module, target, node.lineno, id(node) not in hidden))
    return found


def layer_of(module: str) -> str:
    """``pkg.layer.anything`` → ``layer``; ``pkg`` itself → ``(root)``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def layers_of(package: Path) -> list[str]:
    """The package's layers: its subpackages and top-level modules, and ``(root)``."""
    return sorted({layer_of(module) for module in modules_of(package)})


def climbs(found: Iterable[Import], order: list[str], third_party: Mapping[str, set[str]]) -> list[str]:
    """Each import that breaks the ranked order, as ``module:line imports target (layer)``."""
    rank = {layer: position for position, layer in enumerate(order)}
    wrong = []
    for imported in found:
        layer = layer_of(imported.module)
        top = imported.target.split(".")[0]
        root = imported.module.split(".")[0]
        if imported.target == "<relative>":
            ok = False
        elif top == root:
            target_layer = layer_of(imported.target)
            ok = target_layer == layer or rank.get(target_layer, len(order)) < rank.get(layer, -1)
        else:
            ok = top in third_party.get(layer, set())
        if not ok:
            wrong.append(f"{imported.module}:{imported.line} imports {imported.target} ({layer} may not)")
    return wrong


def _reach(graph: Mapping[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for following in graph.get(stack.pop(), set()):
            if following not in seen:
                seen.add(following)
                stack.append(following)
    return seen


def circles(graph: Mapping[str, set[str]]) -> set[frozenset[str]]:
    """The graph's circles: each set of nodes that reach one another (of two nodes or more)."""
    reached = {node: _reach(graph, node) for node in graph}
    return {
        frozenset({node} | {other for other in reached[node] if node in reached.get(other, set())})
        for node in graph
        if node in reached[node]
    }


def package_graph(found: Iterable[Import]) -> dict[str, set[str]]:
    """Layer → the other layers it imports (every import counts)."""
    graph: dict[str, set[str]] = {}
    for imported in found:
        if imported.target.split(".")[0] == imported.module.split(".")[0]:
            source, target = layer_of(imported.module), layer_of(imported.target)
            if source != target:
                graph.setdefault(source, set()).add(target)
    return graph


def module_graph(found: Iterable[Import]) -> dict[str, set[str]]:
    """Module → the modules of the same layer it imports when run (``TYPE_CHECKING`` imports left out)."""
    graph: dict[str, set[str]] = {}
    for imported in found:
        same_package = imported.target.split(".")[0] == imported.module.split(".")[0]
        same_layer = layer_of(imported.module) == layer_of(imported.target)
        if same_package and same_layer and imported.runtime and imported.module != imported.target:
            graph.setdefault(imported.module, set()).add(imported.target)
    return graph


FOUND = imports_in(PACKAGE)


def test_every_layer_is_ranked() -> None:
    assert set(layers_of(PACKAGE)) - set(ORDER) == set(), "rank the new layer in ORDER"
    assert set(ORDER) - set(layers_of(PACKAGE)) == set(), "drop the layer that is gone from ORDER"
    assert set(THIRD_PARTY) <= set(ORDER)


@pytest.mark.parametrize("layer", ORDER)
def test_layer_imports_only_layers_below(layer: str) -> None:
    assert climbs([i for i in FOUND if layer_of(i.module) == layer], ORDER, THIRD_PARTY) == []


def test_no_package_cycle() -> None:
    assert circles(package_graph(FOUND)) == set()


def test_module_circles_are_only_the_known_ones() -> None:
    found = circles(module_graph(FOUND))
    assert found - KNOWN_CIRCLES == set(), "a new import circle between modules: break it"
    assert KNOWN_CIRCLES - found == set(), "this circle is gone: remove it from KNOWN_CIRCLES"


def test_root_module_imports_no_layer() -> None:
    assert [i for i in FOUND if i.module == "verification"] == []


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_cycle_between_packages_fails(tmp_path: Path) -> None:
    """A lazy import that closes a circle between two packages is caught, by the order and as a cycle."""
    package = tmp_path / "pkg"
    _write(package / "__init__.py", '"""A package."""\n')
    _write(package / "low" / "__init__.py", "def late():\n    from pkg.high import thing\n    return thing\n")
    _write(package / "high" / "__init__.py", "import yaml\n\nfrom pkg.low import late\n\nthing = late\n")
    _write(package / "high" / "part.py", "from pkg.high import thing\n")
    found = imports_in(package)

    assert circles(package_graph(found)) == {frozenset({"low", "high"})}
    assert climbs(found, ["(root)", "low", "high"], {"high": {"yaml"}}) == ["pkg.low:2 imports pkg.high (low may not)"]
    assert climbs(found, ["(root)", "low", "high"], {}) == [
        "pkg.high:1 imports yaml (high may not)",
        "pkg.low:2 imports pkg.high (low may not)",
    ]
    assert circles(module_graph(found)) == set()


def test_a_circle_between_modules_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    _write(package / "__init__.py", "")
    _write(package / "layer" / "__init__.py", "def f():\n    from pkg.layer import b\n")
    _write(package / "layer" / "b.py", "from pkg.layer import f\n")
    _write(package / "layer" / "c.py", "import typing\nif typing.TYPE_CHECKING:\n    from pkg.layer import d\n")
    _write(package / "layer" / "d.py", "from pkg.layer import c\n")

    assert circles(module_graph(imports_in(package))) == {frozenset({"pkg.layer", "pkg.layer.b"})}


def test_a_relative_import_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "pkg" / "__init__.py", "")
    _write(tmp_path / "pkg" / "low.py", "from . import high\n")
    _write(tmp_path / "pkg" / "high.py", "")

    assert climbs(imports_in(tmp_path / "pkg"), ["(root)", "low", "high"], {}) == [
        "pkg.low:1 imports <relative> (low may not)"
    ]


@pytest.mark.parametrize("layer", ["fleet" if name == "fleet" else name for name in ORDER if (PACKAGE / name).is_dir()])
def test_each_folder_says_what_it_is_and_points_at_the_rule(layer: str) -> None:
    """Each layer's ``__init__`` starts with a docstring that says what it is; the rule is only here."""
    doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
    assert doc, f"verification/{layer}/__init__.py needs a docstring saying what the layer is"
    assert "may import" not in doc.lower(), "point at ORDER in tests/test_layers.py instead of restating it"
