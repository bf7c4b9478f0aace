"""The risk table (``fixtures/risk/escalation.yaml``): which grants beyond a role's sets are how risky.

It is data read beside the requirement sets; verdicts ranks with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import yaml

from verification import FIXTURES
from verification.errors import InputError
from verification.scope.catalogue import has_action, service_actions

RISK_FILE = FIXTURES / "risk" / "escalation.yaml"


@dataclass(frozen=True)
class Narrower:
    """A narrower statement for a required grant the table calls risky, and the requests that check it."""

    action: str
    why: str
    assumes: str
    sources: tuple[str, ...]
    statement: Mapping[str, Any]
    sufficient: tuple[tuple[str, Mapping[str, tuple[str, ...]]], ...]
    narrower_than: tuple[tuple[str, Mapping[str, tuple[str, ...]]], ...]


@dataclass(frozen=True)
class RiskTable:
    """``fixtures/risk/escalation.yaml``, read and checked."""

    groups: tuple[str, ...]
    high_risk: tuple[str, ...]
    sources: Mapping[str, tuple[str, str]]
    #: Lower-cased action → the sources that call it escalation alone (or on Resource * only).
    escalation: Mapping[str, tuple[str, ...]]
    on_any_resource: Mapping[str, tuple[str, ...]]
    pairs: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    data_access: tuple[str, ...]
    levels: Mapping[str, str]
    narrower: Mapping[str, Narrower]

    @cached_property
    def _data_access_split(self) -> tuple[frozenset[str], tuple[str, ...]]:
        exact = frozenset(e for e in self.data_access if not e.endswith("*"))
        return exact, tuple(e[:-1] for e in self.data_access if e.endswith("*"))

    def is_data_access(self, action: str) -> bool:
        """Is ``action`` a read of data or secrets (an entry, or a ``prefix*`` entry, of ``data_access``)?"""
        lowered = action.lower()
        exact, prefixes = self._data_access_split
        return lowered in exact or lowered.startswith(prefixes)

    def high_risk_actions(self) -> tuple[str, ...]:
        """Every catalogue action the high-risk groups name (``prefix*`` entries expanded), in table order."""
        named: list[str] = [*self.escalation, *self.on_any_resource, *(a for pair, _ in self.pairs for a in pair)]
        for entry in self.data_access:
            if entry.endswith("*"):
                service = entry.split(":", 1)[0]
                named += [a.lower() for a in service_actions(service) if a.lower().startswith(entry[:-1])]
            else:
                named.append(entry)
        return tuple(dict.fromkeys(named))

    def cite(self, ids: Iterable[str]) -> str:
        """``Rhino Security Labs ... (URL); ...`` for the named sources."""
        return "; ".join(f"{self.sources[i][0]} ({self.sources[i][1]})" for i in ids)


def _requests(raw: Any, where: str) -> tuple[tuple[str, Mapping[str, tuple[str, ...]]], ...]:
    if not isinstance(raw, list) or not raw:
        raise InputError(f"{RISK_FILE}: {where} must be a non-empty list of {{resource, context}}")
    out = []
    for item in raw:
        context = {
            str(k): tuple(str(v) for v in (vs if isinstance(vs, list) else [vs])) for k, vs in item["context"].items()
        }
        out.append((str(item["resource"]), context))
    return tuple(out)


@cache
def risk_table() -> RiskTable:
    """The risk table, checked: every group named, every source cited, every action in the catalogue."""
    try:
        data = yaml.safe_load(RISK_FILE.read_text())
        sources = {str(k): (str(v["title"]), str(v["url"])) for k, v in data["sources"].items()}
        escalation = data["privilege_escalation"]

        def cited(entry: Mapping[str, Any]) -> tuple[str, ...]:
            ids = tuple(str(s) for s in entry["sources"])
            unknown = [s for s in ids if s not in sources]
            if unknown or not ids:
                raise InputError(f"{RISK_FILE}: {entry} cites no known source ({', '.join(unknown)})")
            return ids

        narrower = {}
        for item in data.get("narrower") or ():
            narrower[str(item["action"]).lower()] = Narrower(
                str(item["action"]),
                str(item["why"]),
                str(item["assumes"]),
                cited(item),
                item["statement"],
                _requests(item["sufficient"], f"narrower {item['action']} sufficient"),
                _requests(item["narrower_than"], f"narrower {item['action']} narrower_than"),
            )
        table = RiskTable(
            groups=tuple(data["groups"]),
            high_risk=tuple(data["high_risk"]),
            sources=sources,
            escalation={str(e["action"]).lower(): cited(e) for e in escalation["actions"]},
            on_any_resource={str(e["action"]).lower(): cited(e) for e in escalation.get("on_any_resource") or ()},
            pairs=tuple((tuple(str(a).lower() for a in e["actions"]), cited(e)) for e in escalation.get("pairs") or ()),
            data_access=tuple(str(a).lower() for a in data["data_access"]["actions"]),
            levels={str(k): str(v) for k, v in data["access_levels"].items()},
            narrower=narrower,
        )
        cited(data["data_access"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
        raise InputError(f"{RISK_FILE}: cannot read the risk table: {error!r}") from None
    unknown = [a for a in (*table.high_risk_actions(), *table.narrower) if not has_action(a)]
    if unknown:
        raise InputError(f"{RISK_FILE}: names actions no AWS service defines: {', '.join(unknown)}")
    unknown_groups = {*table.high_risk, *table.levels.values()} - set(table.groups)
    if unknown_groups:
        raise InputError(f"{RISK_FILE}: names groups not in `groups`: {', '.join(sorted(unknown_groups))}")
    return table
