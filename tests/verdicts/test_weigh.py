"""verdicts.weigh on its own: worlds and bounds as any weighing backend could offer them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tests.support.snapshot_builders import allow, details, role, role_arn
from tests.support.templates import SMALL
from verification.backends import Backend, Capabilities, RoleRef
from verification.backends.snapshot import SnapshotBackend
from verification.errors import CheckError
from verification.snapshot import Snapshot
from verification.verdicts import gather, judge

TAGS = SMALL.by_id("permission:ec2:CreateTags")
ONLY_TAGS = dataclasses.replace(SMALL, requirements=(TAGS,))
REF = RoleRef.parse(role_arn("Worker"))


def account(*statements: dict[str, Any]) -> SnapshotBackend:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return SnapshotBackend(Snapshot(Path("t.json"), "", details([role("Worker", inline={"p": document})], [])))


@dataclass
class World:
    label: str
    lower: Backend | None
    upper: Backend | None = None
    choices: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    notes: Sequence[str] = ()
    ref: RoleRef | None = REF
    asked_upper: int = 0

    def upper_backend(self) -> Backend:
        self.asked_upper += 1
        return self.upper or self.lower  # type: ignore[return-value]

    def unknowns(self, kind: str, action: str | None) -> list[tuple[str, str]]:
        return [(f"{self.label}: Statement[1]", "pass --parameter X=...")]


@dataclass
class Weighing:
    """A weighing source with the given worlds: it declares the capability ``gather`` reads."""

    worlds: list[World]
    weighing_note: str = "outside"
    capabilities: ClassVar[Capabilities] = Capabilities(weighs_possible_accounts=True)
    region: ClassVar[str | None] = None

    def possible_accounts(self, ref: RoleRef) -> list[World]:
        return self.worlds

    def keep_exchanges(self, ref: RoleRef, account: Any, backend: Backend, bound: str) -> None:
        backend.exchanges.clear()


def verdict(*worlds: World) -> tuple[str, str]:
    facts = gather(Weighing(list(worlds)), REF, ONLY_TAGS, None)  # type: ignore[arg-type]
    try:
        found = judge(TAGS, facts, None)
    except CheckError as error:
        return ("broken", str(error))
    return ("passed" if found.met else "failed", found.reason)


GRANT = allow("ec2:CreateTags")["Statement"][0]
DENY = {"Effect": "Deny", "Action": "ec2:CreateTags", "Resource": "*"}


def test_met_in_every_lower_account_passes_without_asking_for_the_upper_one() -> None:
    first, second = World("X=a", account(GRANT)), World("X=b", account(GRANT))
    assert verdict(first, second)[0] == "passed"
    assert first.asked_upper == second.asked_upper == 0


def test_not_met_in_one_upper_account_fails_naming_that_world() -> None:
    good = World("X=a", account(GRANT), choices={("parameter", "X"): "a"})
    bad = World("X=b", account(GRANT, DENY), account(GRANT, DENY), choices={("parameter", "X"): "b"})
    assert verdict(good, bad) == ("failed", "explicitly denied by p (lines 10-15) (when X=b)")


def test_between_the_bounds_it_is_broken_naming_the_unknown() -> None:
    world = World("X=a", account(GRANT, DENY), account(GRANT))
    outcome, message = verdict(world)
    assert outcome == "broken"
    assert "X=a: Statement[1]" in message and message.endswith("pass --parameter X=...")


def test_a_world_without_the_role_is_broken() -> None:
    assert verdict(World("X=a", None, ref=None)) == (
        "broken",
        "could not check: the file does not create the role when X=a. "
        "make the role's Condition hold, or pass the parameters that decide it",
    )
