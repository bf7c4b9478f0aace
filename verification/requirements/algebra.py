"""Set algebra: a set restricted to some of its parts, and the union of several sets for one role.

A requirement that two sets share is verified once: it keeps one id naming both sets.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from verification.errors import InputError
from verification.requirements.model import Requirement, RequirementSet


def select_parts(requirements: RequirementSet, parts: list[str]) -> RequirementSet:
    """The set restricted to some of its parts (trust and instance-profile requirements always apply)."""
    declared = [name for name, _ in requirements.parts]
    if not declared:
        raise InputError(f"requirement set {requirements.name} has no parts to select; drop ':{','.join(parts)}'")
    unknown = [part for part in parts if part not in declared]
    if unknown:
        raise InputError(
            f"requirement set {requirements.name} has no part {unknown[0]!r}: its parts are {', '.join(declared)}"
        )
    chosen = tuple(part for part in declared if part in parts)
    kept = tuple(r for r in requirements.requirements if r.kind != "permission" or set(r.parts) & set(chosen))
    name = f"{requirements.name}:{','.join(chosen)}"
    return replace(
        requirements,
        requirements=tuple(replace(r, sets=(name,)) for r in kept),
        name=name,
        selected=chosen,
        # What was verified is the file *and* the choice: two selections of one file are two sets.
        sha256=hashlib.sha256(f"{requirements.sha256}:{','.join(chosen)}".encode()).hexdigest(),
    )


def union(sets: list[RequirementSet]) -> RequirementSet:
    """One role, several sets: every requirement of each, a shared one once, its id naming its sets.

    Ids become ``SET/ID`` (``SET+SET/ID`` for a requirement two sets share), so test ids and reports
    say which set asks for it; a requirement the sets share is verified once.
    """
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise InputError(f"requirement set {names[0]!r} is named twice in {'+'.join(names)}")
    merged: dict[tuple[object, ...], Requirement] = {}
    for member in sets:
        for requirement in member.requirements:
            known = merged.get(requirement.same_as)
            merged[requirement.same_as] = (
                replace(requirement, sets=(member.name,))
                if known is None
                else replace(known, sets=(*known.sets, member.name), parts=(*known.parts, *requirement.parts))
            )
    combined = tuple(replace(r, id=f"{'+'.join(r.sets)}/{r.id}") for r in merged.values())
    first = sets[0]
    return RequirementSet(
        id="+".join(s.id for s in sets),
        title=" + ".join(s.title for s in sets),
        version="; ".join(f"{s.name} {s.version}" for s in sets),
        source_url=first.source_url,
        product=first.product,
        product_build=", ".join(dict.fromkeys(s.product_build for s in sets)),
        page_updated=", ".join(dict.fromkeys(s.page_updated for s in sets)),
        epic=first.epic,
        feature=" + ".join(s.feature for s in sets),
        requirements=combined,
        path=first.path,
        sha256=hashlib.sha256("+".join(s.sha256 for s in sets).encode()).hexdigest(),
        name="+".join(names),
        anomalies=tuple(a for s in sets for a in s.anomalies),
        members=tuple(sets),
    )
