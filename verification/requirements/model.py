"""The requirement model: one checkable ``Requirement`` and the versioned ``RequirementSet`` holding them.

Each requirement has a stable id (``permission:<action>``, ``trust:<principal>``,
``instance-profile``) used in test ids, reports, evidence and history, so renaming one is a breaking
change. A permission that a page grants only on some resources or under a condition carries them
(``resource``, ``context``) and its id says so (``context_suffix``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

Kind = Literal["permission", "trust", "instance-profile"]
SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")


@dataclass(frozen=True)
class Requirement:
    """One checkable requirement.

    ``principal`` (trust only) is ``"appliance"`` (named at run time by ``--appliance-principal``)
    or a mapping such as ``{"Service": "ec2.amazonaws.com"}``.
    """

    id: str
    kind: Kind
    story: str
    severity: str
    action: str | None = None
    resource: str = "*"
    principal: str | tuple[tuple[str, str], ...] | None = None
    see_also: str | None = None
    #: Condition keys and values the page's Allow needs (``ec2:ResourceTag/EfsIndexWorker``...):
    #: the simulation is asked with them, so "allowed with that context" is met.
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The set's parts this requirement belongs to (empty: the set has no parts, or not a permission).
    parts: tuple[str, ...] = ()
    #: The sets (their spec names) the requirement comes from; two or more in a union.
    sets: tuple[str, ...] = ()

    @property
    def simulation_key(self) -> tuple[str, str]:
        """Which simulation answer judges this requirement: the action, on its resource, with its context."""
        assert self.action is not None
        return (self.action.lower(), self.resource + context_suffix(self.context))

    @property
    def same_as(self) -> tuple[object, ...]:
        """What makes two sets' requirements one (verified once in a union)."""
        return (self.kind, self.action, self.resource, self.context, self.principal)

    @property
    def title(self) -> str:
        """A short human title for the requirement."""
        if self.kind == "permission":
            return f"The role is granted {self.action}"
        if self.kind == "trust":
            return f"Trust: {self.story.split('. ', 1)[-1]}"
        return "The role is in at least one instance profile"


@dataclass(frozen=True)
class RequirementSet:
    """A versioned, sourced set of requirements for one kind of role."""

    id: str
    title: str
    version: str
    source_url: str
    product: str
    product_build: str
    page_updated: str
    epic: str
    feature: str
    requirements: tuple[Requirement, ...]
    path: Path
    #: The file's SHA-256; for a selection of parts, of the file's hash and the choice; for a union,
    #: of its members' hashes.
    sha256: str
    #: How the run named it (``veeam-ec2-backup:base``, ``a+b``); the file's stem when loaded whole.
    name: str = ""
    #: Every part of the set as declared (name, title); ``selected`` is the run's choice (all by default).
    parts: tuple[tuple[str, str], ...] = ()
    selected: tuple[str, ...] = ()
    #: What the transcription found odd on the page (malformed policy JSON...), recorded, not hidden.
    anomalies: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: The whole sets a union was made of (empty for a single set).
    members: tuple[RequirementSet, ...] = ()

    @property
    def sources(self) -> tuple[RequirementSet, ...]:
        """The whole-file sets this one was made of: the members of a union, else itself."""
        return self.members or (self,)

    def features_of(self, requirement: Requirement) -> tuple[str, ...]:
        """The Allure feature of each set a requirement comes from (one, unless a union's sets share it)."""
        named = tuple(m.feature for m in self.members if m.name in requirement.sets)
        return named or (self.feature,)

    @property
    def selection(self) -> str:
        """``:PART,PART`` when only some of the file's parts were chosen, else empty."""
        everything = tuple(name for name, _ in self.parts)
        return f":{','.join(self.selected)}" if self.parts and self.selected != everything else ""

    @property
    def actions(self) -> tuple[str, ...]:
        """Every action the set requires, in file order."""
        return tuple(r.action for r in self.requirements if r.action is not None)

    @cached_property
    def actions_lowered(self) -> frozenset[str]:
        """Every action the set requires, lower-cased (IAM compares action names case-insensitively)."""
        return frozenset(a.lower() for a in self.actions)

    @cached_property
    def _index(self) -> dict[str, Requirement]:
        return {r.id: r for r in self.requirements}

    def by_id(self, requirement_id: str) -> Requirement:
        """The requirement with this stable id (KeyError if the set has none)."""
        return self._index[requirement_id]

    def by_kind(self, kind: Kind) -> tuple[Requirement, ...]:
        """The requirements of one kind, in file order."""
        return tuple(r for r in self.requirements if r.kind == kind)


def describe_scope(resource: str, context: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """``*``, or ``* when key=value and key=value``: where and when a permission is required, for people."""
    when = " and ".join(f"{key}={'|'.join(values)}" for key, values in context)
    return f"{resource} when {when}" if when else resource


def context_suffix(context: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """``?key=value&key=value`` for a requirement that needs a context; empty otherwise."""
    if not context:
        return ""
    return "?" + "&".join(f"{key}={'|'.join(values)}" for key, values in context)
