"""Requirement sets: documented requirements as data, loaded and schema-checked.

A set is a YAML (or JSON) file under ``fixtures/requirements/``; a run names what it verifies with
a spec, ``NAME[@VERSION][:PART,PART]``, several joined by ``+`` for their union. One module per
concern: ``model`` (``Requirement``, ``RequirementSet``), ``bundled`` (the shipped sets and their
names), ``loading`` (a spec to a set), ``schema`` (the file format, checked), ``algebra`` (parts
and unions); ``diff``, ``importer``, ``pages``, ``risk`` and ``cli`` build on them. This module
only re-exports; the layer's place in the import rule is ``ORDER`` in ``tests/test_layers.py``
(see docs/architecture.md).
"""

from __future__ import annotations

from verification.requirements.algebra import select_parts, union
from verification.requirements.bundled import (
    DEFAULT_SET,
    REQUIREMENTS_DIR,
    SPEC_RE,
    VERSIONS_DIR,
    available_sets,
    available_versions,
    is_bundled,
    resolve_path,
)
from verification.requirements.loading import load_requirement_set
from verification.requirements.model import (
    SEVERITIES,
    Kind,
    Requirement,
    RequirementSet,
    context_suffix,
    describe_scope,
)
from verification.requirements.schema import (
    ACTION_RE,
    CONTEXT_KEY_RE,
    PART_RE,
    SERVICE_PRINCIPAL_RE,
    parse_requirement_set,
)

__all__ = [
    "ACTION_RE",
    "CONTEXT_KEY_RE",
    "DEFAULT_SET",
    "PART_RE",
    "REQUIREMENTS_DIR",
    "SERVICE_PRINCIPAL_RE",
    "SEVERITIES",
    "SPEC_RE",
    "VERSIONS_DIR",
    "Kind",
    "Requirement",
    "RequirementSet",
    "available_sets",
    "available_versions",
    "context_suffix",
    "describe_scope",
    "is_bundled",
    "load_requirement_set",
    "parse_requirement_set",
    "resolve_path",
    "select_parts",
    "union",
]
