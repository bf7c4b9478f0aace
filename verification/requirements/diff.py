"""Compare two requirement sets, or two versions of one: what a role must now be granted, or no longer.

Permissions are compared by action; an action asked for in both but on another resource or under
another context is *changed*, not added and removed. Trust is compared by principal, the
instance-profile requirement by its presence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verification.requirements.model import Requirement, RequirementSet, describe_scope


def _scope(requirement: Requirement) -> str:
    return describe_scope(requirement.resource, requirement.context)


def _principal(requirement: Requirement) -> str:
    principal = requirement.principal
    if principal is None or isinstance(principal, str):
        return str(principal)
    return ", ".join(f"{kind}:{name}" for kind, name in principal)


@dataclass(frozen=True)
class SetDiff:
    """The differences from set ``a`` to set ``b``."""

    a: RequirementSet
    b: RequirementSet
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
    trust_added: tuple[str, ...]
    trust_removed: tuple[str, ...]
    instance_profile: tuple[bool, bool]
    parts_added: tuple[str, ...]
    parts_removed: tuple[str, ...]

    @property
    def same(self) -> bool:
        """Do the two sets ask for the same things?"""
        return not (
            self.added
            or self.removed
            or self.changed
            or self.trust_added
            or self.trust_removed
            or self.instance_profile[0] != self.instance_profile[1]
        )

    def as_json(self) -> dict[str, Any]:
        """The diff as a JSON-ready mapping (stable keys, sorted lists)."""

        def side(s: RequirementSet) -> dict[str, Any]:
            return {
                "name": s.name,
                "id": s.id,
                "version": s.version,
                "source": s.source_url,
                "product_build": s.product_build,
                "page_updated": s.page_updated,
                "actions": len(set(s.actions)),
                "notes": list(s.notes),
            }

        return {
            "a": side(self.a),
            "b": side(self.b),
            "same": self.same,
            "actions": {
                "added": list(self.added),
                "removed": list(self.removed),
                "changed": [{"action": action, "a": list(a), "b": list(b)} for action, a, b in self.changed],
            },
            "trust": {"added": list(self.trust_added), "removed": list(self.trust_removed)},
            "instance_profile": {"a": self.instance_profile[0], "b": self.instance_profile[1]},
            "parts": {"added": list(self.parts_added), "removed": list(self.parts_removed)},
        }

    def as_text(self) -> str:
        """The diff for people: a header per side, then +/- lines."""
        lines = [
            f"--- {self.a.name}: {self.a.version} ({len(set(self.a.actions))} actions) {self.a.source_url}",
            f"+++ {self.b.name}: {self.b.version} ({len(set(self.b.actions))} actions) {self.b.source_url}",
        ]
        for note in dict.fromkeys((*self.a.notes, *self.b.notes)):
            lines.append(f"note: {note}")
        if self.same:
            lines.append("no differences in actions, trust or instance profile")
        lines.append(f"actions: {len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed")
        lines += [f"+ {action}" for action in self.added]
        lines += [f"- {action}" for action in self.removed]
        for action, a, b in self.changed:
            lines.append(f"~ {action}: on {', '.join(a)} -> on {', '.join(b)}")
        if self.trust_added or self.trust_removed:
            lines.append("trust:")
            lines += [f"+ {p}" for p in self.trust_added]
            lines += [f"- {p}" for p in self.trust_removed]
        if self.instance_profile[0] != self.instance_profile[1]:
            now = "required" if self.instance_profile[1] else "no longer required"
            lines.append(f"instance profile: {now}")
        if self.parts_added or self.parts_removed:
            lines.append("parts:")
            lines += [f"+ {p}" for p in self.parts_added]
            lines += [f"- {p}" for p in self.parts_removed]
        return "\n".join(lines) + "\n"


def diff_sets(a: RequirementSet, b: RequirementSet) -> SetDiff:
    """What changes from ``a`` to ``b``."""

    def scopes(s: RequirementSet) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for r in s.by_kind("permission"):
            assert r.action is not None
            out.setdefault(r.action, []).append(_scope(r))
        return {action: tuple(sorted(set(v))) for action, v in out.items()}

    sa, sb = scopes(a), scopes(b)
    ta = {_principal(r) for r in a.by_kind("trust")}
    tb = {_principal(r) for r in b.by_kind("trust")}
    pa = [name for name, _ in a.parts]
    pb = [name for name, _ in b.parts]
    return SetDiff(
        a=a,
        b=b,
        added=tuple(sorted(set(sb) - set(sa))),
        removed=tuple(sorted(set(sa) - set(sb))),
        changed=tuple(
            (action, sa[action], sb[action]) for action in sorted(set(sa) & set(sb)) if sa[action] != sb[action]
        ),
        trust_added=tuple(sorted(tb - ta)),
        trust_removed=tuple(sorted(ta - tb)),
        instance_profile=(bool(a.by_kind("instance-profile")), bool(b.by_kind("instance-profile"))),
        parts_added=tuple(p for p in pb if p not in pa),
        parts_removed=tuple(p for p in pa if p not in pb),
    )
