"""Loading what a run names: a spec ``NAME[@VERSION][:PART,PART]``, several joined by ``+``.

The file a spec names (``bundled``) is read, schema-checked (``schema``), restricted to the parts
asked for and joined with the other members of a union (``algebra``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from verification.errors import InputError
from verification.requirements.algebra import select_parts, union
from verification.requirements.bundled import DEFAULT_SET, SPEC_RE, resolve_path
from verification.requirements.model import RequirementSet
from verification.requirements.schema import parse_requirement_set


def load_requirement_set(spec: str = DEFAULT_SET) -> RequirementSet:
    """Load and schema-check a requirement set; raise InputError with one line on any fault.

    ``spec`` is ``NAME[@VERSION][:PART,PART]`` or a file path (optionally ``:PART,...``); several
    joined by ``+`` load as their union (see ``union``).
    """
    members = [one.strip() for one in spec.split("+")]
    if len(members) > 1:
        if any(not one for one in members):
            raise InputError(f"requirement set spec {spec!r} has an empty member: join set names with one '+'")
        return union([_load_one(one) for one in members])
    return _load_one(spec)


def _load_one(spec: str) -> RequirementSet:
    match = SPEC_RE.match(spec)
    name, parts = (match["name"], match["parts"]) if match else (spec, None)
    path = resolve_path(name)
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"requirement set {path}: not valid YAML/JSON{where}") from None
    # A file is named by its stem, so a replay from a bundle's copy gives the same test ids.
    label = path.stem if Path(name).suffix in (".yaml", ".yml", ".json") else name
    loaded = parse_requirement_set(data, path=path, sha256=hashlib.sha256(raw).hexdigest(), name=label)
    return select_parts(loaded, parts.split(",")) if parts else loaded
