"""The facts a backend gives about a role, whichever backend answers: the role, its instance profiles.

``HeldAccount`` is a role's account as a backend holds it offline (a snapshot's, a template's), for
the role's evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Role:
    """The facts GetRole gives: enough to check trust and to name the role in reports."""

    arn: str
    name: str
    account: str
    role_id: str
    path: str
    trust_policy: Mapping[str, Any]
    boundary_arn: str | None = None
    #: The role's tags: every request of its sessions carries them as ``aws:PrincipalTag/<key>``.
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceProfile:
    """One instance profile that contains the role."""

    name: str
    arn: str
    role_names: tuple[str, ...] = ()


#: A role's account as held offline, for its evidence: the account's authorization details and the SCP levels.
HeldAccount = tuple[Mapping[str, Any] | None, Sequence[Sequence[Mapping[str, Any]]]]
