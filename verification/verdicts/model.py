"""The data of judging: where a run judges (``Scope``), a role's facts and one requirement's ``Verdict``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from verification.backends import InstanceProfile, Role, RoleRef, SimulationResult
from verification.errors import CheckError
from verification.names import AppliancePrincipal as AppliancePrincipal  # re-exported: its old path
from verification.names import KmsKey as KmsKey  # re-exported: its old path
from verification.requirements import Requirement
from verification.verdicts.requests import (
    Probe,
)

#: The region judged when neither the run nor the backend names one (botocore's default partition's first).
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Scope:
    """Where and how a run judges permissions: its regions and the request values it knows.

    ``regions`` empty means the backend's own region. ``context`` is the run's ``--context``
    (known request values, such as the worker's source VPC endpoint); ``org_id`` the role's
    organization when known (``aws:PrincipalOrgID``).
    """

    regions: tuple[str, ...] = ()
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    org_id: str | None = None
    now: datetime | None = None


@dataclass(frozen=True)
class Check:
    """One judged request of a permission: an action in a region, on a resource, and AWS's answer.

    ``part``: which part of the resource's type it stands for, where a statement covers only some of
    the type's ARNs ("" when it stands for the whole type, or for ``*``). ``probe``: a value of a key
    the worker's requests carry unknown to the harness, under which the engine decides otherwise.
    """

    region: str
    resource: str
    result: SimulationResult
    part: str = ""
    probe: Probe | None = None


@dataclass
class RoleFacts:
    """Everything the backend said about one role, or why it could not say it."""

    ref: RoleRef
    role: Role | None = None
    profiles: list[InstanceProfile] | None = None
    #: The strictest answer per requirement's ``simulation_key`` over regions and resources.
    simulations: dict[tuple[str, str], SimulationResult] = field(default_factory=dict)
    #: Per permission requirement id: every request it was judged on.
    checks: dict[str, list[Check]] = field(default_factory=dict)
    regions: tuple[str, ...] = ()
    #: The request context of each region's simulation (without a requirement's own context).
    contexts: list[dict[str, tuple[str, ...]]] = field(default_factory=list)
    appliance_side: SimulationResult | None = None
    errors: dict[str, CheckError] = field(default_factory=dict)
    #: ``--kms-key`` and its default key policy, when the requirements hold kms: actions.
    kms_key: KmsKey | None = None
    key_policy: Mapping[str, Any] | None = None
    #: Verdicts already reached, by requirement id, by a backend that weighs several possible
    #: accounts at once (a template: each parameter value, both branches of an undecidable
    #: condition, unknowns at their least and most permissive); a CheckError when undecided.
    decided: dict[str, Verdict | CheckError] = field(default_factory=dict)
    #: Whether the role's policies were in hand (offline, template, fleet): each type was then judged
    #: on every part its statements set apart, and unknown keys' values were tried.
    policies_in_hand: bool = False
    #: The keys the worker's requests carry with values the harness does not know (see scope.context).
    unknown: tuple[str, ...] = ()
    #: The request context the key policy of ``--kms-key`` is evaluated with (the identity policies').
    kms_context: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: The appliance role's session context (its tags and RoleId when read), for its sts:AssumeRole.
    appliance_context: dict[str, tuple[str, ...]] | None = None
    #: Why the appliance role's tags are not known (another account), or "".
    appliance_tags_unknown: str = ""
    #: The statements whose conditions test an unknown key, with those keys (policies in hand only).
    unknown_statements: dict[Any, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one requirement for one role."""

    requirement: Requirement
    role: RoleRef
    met: bool
    reason: str
    cause: str
    remedy: str = ""
    note: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    #: Double entry: AWS's simulator and the policy engine answered differently (the note says how).
    disagrees: bool = False
