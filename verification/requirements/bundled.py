"""The bundled requirement sets, and how a spec names one: ``NAME[@VERSION]`` or a file path.

A set is a YAML (or JSON) file under ``fixtures/requirements/``; earlier versions of a set live in
``fixtures/requirements/versions/NAME@VERSION.yaml``.
"""

from __future__ import annotations

import re
from pathlib import Path

from verification import FIXTURES
from verification.errors import InputError

REQUIREMENTS_DIR = FIXTURES / "requirements"
VERSIONS_DIR = REQUIREMENTS_DIR / "versions"
DEFAULT_SET = "veeam-flr-worker-prod"
#: A spec: a bundled name (optionally ``@VERSION``) or a file path, then optionally ``:PART,PART``.
SPEC_RE = re.compile(r"^(?P<name>.+?)(?::(?P<parts>[a-z0-9-]+(?:,[a-z0-9-]+)*))?$")


def available_sets() -> list[str]:
    """Names of the bundled requirement sets (current versions)."""
    return sorted(p.stem for p in REQUIREMENTS_DIR.glob("*.yaml"))


def available_versions() -> list[str]:
    """Names of the bundled earlier versions, ``NAME@VERSION``."""
    return sorted(p.stem for p in VERSIONS_DIR.glob("*.yaml")) if VERSIONS_DIR.is_dir() else []


def is_bundled(spec: str) -> bool:
    """Does the spec (or every member of a union) name bundled sets, whatever parts it selects?"""
    for one in spec.split("+"):
        match = SPEC_RE.match(one.strip())
        name = match["name"] if match else one
        if not _bundled_path(name).is_file():
            return False
    return True


def _bundled_path(name: str) -> Path:
    return (VERSIONS_DIR if "@" in name else REQUIREMENTS_DIR) / f"{name}.yaml"


def resolve_path(name_or_path: str) -> Path:
    """A bundled set's name (``NAME`` or ``NAME@VERSION``), or a path to a set file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml", ".json"):
        if not candidate.is_file():
            raise InputError(f"requirement set file {name_or_path} does not exist")
        return candidate
    bundled = _bundled_path(name_or_path)
    if not bundled.is_file():
        known = ", ".join(available_sets() + available_versions())
        raise InputError(
            f"unknown requirement set {name_or_path!r}: use one of {known} or the path of a .yaml/.json file"
        )
    return bundled
