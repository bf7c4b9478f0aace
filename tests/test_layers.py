"""The arrows between layers point one way: each folder imports only what its ``__init__`` allows.

Read from the source with ``ast`` (imports inside functions count too), so a shortcut taken in a
hurry fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "verification"
#: Third-party packages that decide a layer's nature.
WATCHED = {"boto3", "botocore", "pytest", "_pytest", "allure", "allure_commons", "moto", "xdist", "yaml"}

#: Layer → the layers and watched packages it may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "policy": set(),
    "errors": set(),
    "names": {"errors", "policy"},
    "requirements": {"(root)", "errors", "scope", "yaml"},
    "scope": {"errors", "botocore"},
    "safety": {"errors", "policy", "botocore"},
    "fleet": {"errors", "names", "requirements", "scope", "yaml"},
    "snapshot": {"(root)", "names", "errors", "safety", "boto3", "botocore"},
    "backends": {
        "(root)",
        "names",
        "errors",
        "policy",
        "safety",
        "scope",
        "fleet",
        "snapshot",
        "boto3",
        "botocore",
        "yaml",
    },
    "verdicts": {"backends", "names", "errors", "policy", "requirements", "scope"},
    "reporting": {
        "(root)",
        "backends",
        "errors",
        "policy",
        "requirements",
        "scope",
        "snapshot",
        "verdicts",
        "botocore",
    },
    "endpoint": {"errors", "policy", "snapshot", "boto3", "botocore", "moto"},
    "plugin": {
        "(root)",
        "backends",
        "endpoint",
        "errors",
        "fleet",
        "reporting",
        "requirements",
        "safety",
        "scope",
        "snapshot",
        "verdicts",
        "boto3",
        "pytest",
        "_pytest",
        "allure",
        "xdist",
        "yaml",
    },
    "suite": {"plugin", "pytest"},
    "__main__": {"(root)"},
    # The bundled data (a symbolic link to the checkout's fixtures/): no code beyond its docstring.
    "fixtures": set(),
    "(root)": set(),
}


def imports_of(layer_path: Path) -> dict[str, set[str]]:
    """Per module file of a layer: the layers and watched packages it imports."""
    found: dict[str, set[str]] = {}
    files = [layer_path] if layer_path.is_file() else sorted(layer_path.rglob("*.py"))
    for path in files:
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            for module in modules:
                parts = module.split(".")
                if parts[0] == "verification":
                    names.add(parts[1] if len(parts) > 1 else "(root)")
                elif parts[0] in WATCHED:
                    names.add(parts[0])
        found[str(path.relative_to(PACKAGE.parent))] = names
    return found


def layers() -> list[str]:
    return sorted(
        p.name if p.is_dir() else p.stem
        for p in PACKAGE.iterdir()
        if (p.is_dir() and (p / "__init__.py").is_file()) or (p.suffix == ".py" and p.stem != "__init__")
    )


def test_every_layer_has_rules() -> None:
    assert set(layers()) <= set(ALLOWED), f"add the new layer's rules to ALLOWED: {set(layers()) - set(ALLOWED)}"


@pytest.mark.parametrize("layer", layers())
def test_layer_imports_only_what_it_may(layer: str) -> None:
    path = PACKAGE / layer if (PACKAGE / layer).is_dir() else PACKAGE / f"{layer}.py"
    allowed = ALLOWED[layer] | {layer}
    wrong = {module: sorted(names - allowed) for module, names in imports_of(path).items() if names - allowed}
    assert wrong == {}


def test_root_module_imports_no_layer() -> None:
    assert imports_of(PACKAGE / "__init__.py") == {"verification/__init__.py": set()}


@pytest.mark.parametrize("layer", [name for name in layers() if (PACKAGE / name).is_dir()])
def test_each_folder_says_what_it_is(layer: str) -> None:
    """Each layer's ``__init__`` starts with a docstring that says what it is."""
    doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
    assert doc, f"verification/{layer}/__init__.py needs a docstring saying what the layer is and may import"
