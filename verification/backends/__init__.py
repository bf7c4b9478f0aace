"""Where facts about a role come from: the live IAM API, or an account snapshot.

Its layer's place in the one import rule: ``ORDER`` in ``tests/test_layers.py``.

Every backend answers the same few questions (who am I, get the role, list its instance profiles,
simulate these actions) with the dataclasses below, and records each raw exchange as evidence.
The tests never know which backend answered. Backends know nothing of pytest or Allure.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from verification.backends.simulation import SimulationRequest, SimulationResult, restrictiveness
from verification.errors import CheckError, InputError
from verification.names import ROLE_ARN_RE, CallerIdentity, RoleRef
from verification.policy.model import PolicySet
from verification.scope.regions import region_partition

__all__ = [
    "ROLE_ARN_RE",
    "Backend",
    "CallerIdentity",
    "Capabilities",
    "Exchange",
    "HeldAccount",
    "InstanceProfile",
    "Role",
    "RoleRef",
    "SimulationRequest",
    "SimulationResult",
    "backend_class",
    "create_backend",
    "region_partition",
    "restrictiveness",
]

#: Backend name → "module:class", imported lazily (the snapshot backend needs no boto3 client).
REGISTRY = {
    "live": "verification.backends.live:LiveBackend",
    "snapshot": "verification.backends.snapshot:SnapshotBackend",
    "template": "verification.backends.template:TemplateBackend",
}


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


class Exchange:
    """One raw API exchange (or engine answer), kept as evidence.

    Once its answers are read, an exchange is ``compact``-ed: kept as its JSON text (one string)
    instead of the parsed reply, which for one role's simulation is ten thousand dicts and lists
    that would otherwise wait, and be walked by the garbage collector, until the role's evidence is
    written. The evidence writers use that text as it is (``to_json``), so it is encoded once.
    """

    __slots__ = ("_response", "_text", "operation", "params", "request_id")

    def __init__(
        self,
        operation: str,
        params: Mapping[str, Any],
        response: Mapping[str, Any],
        request_id: str | None = None,
    ) -> None:
        self.operation = operation
        self.params = params
        self.request_id = request_id
        self._response: Mapping[str, Any] | None = response
        self._text: str | None = None

    @property
    def response(self) -> Mapping[str, Any]:
        """The answer as parsed (decoded again from the text once compacted: values are then JSON's)."""
        if self._response is not None:
            return self._response
        decoded: Mapping[str, Any] = json.loads(self.to_json())["response"]
        return decoded

    def as_dict(self) -> dict[str, Any]:
        """The exchange as the evidence records it."""
        return {
            "operation": self.operation,
            "request_id": self.request_id,
            "params": self.params,
            "response": self.response,
        }

    def to_json(self) -> str:
        """The exchange as compact JSON (the stdlib's C encoder; dates and the like as strings).

        An answer never refers back to itself (botocore's parse, or the engine's shared entries), so
        the encoder's check for cycles, a fifth of its time on a 1,230-answer simulation, is skipped.
        """
        if self._text is None:
            self._text = json.dumps(self.as_dict(), separators=(",", ":"), default=str, check_circular=False)
        return self._text

    def compact(self) -> None:
        """Keep the JSON text only: let the parsed answer go."""
        self.to_json()
        self._response = None

    def __repr__(self) -> str:
        return f"Exchange({self.operation!r}, request_id={self.request_id!r})"


def exchanges_json(exchanges: Iterable[Exchange]) -> str:
    """A JSON array of exchanges, from each one's text (encoded once, however often it is written)."""
    return "[" + ",".join(exchange.to_json() for exchange in exchanges) + "]"


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond the questions every backend answers, declared by its class.

    Callers ask a backend what it can do (``backend.capabilities``), never which backend it is.
    """

    #: Its answers are AWS's own (the live API, with or without GAAD prefetched): fleet mode, KMS key
    #: policies (``--kms-key``) and the simulator's confirmation of excess findings need them.
    live_api: bool = False
    #: It lists its account's roles (``list_roles``), for the patterns of a targets file.
    lists_roles: bool = False
    #: Its roles are known only as several possible accounts (``possible_accounts``: a template or a
    #: plan), over which each verdict is weighed (``verification.verdicts.weigh``).
    weighs_possible_accounts: bool = False
    #: Its roles are declared in a file it reads (``source_file``: a template or a plan): findings
    #: point into that file and name each role by its key there.
    declares_roles: bool = False
    #: It has a region of its own (a connection's, a template's); without one (a snapshot), the run's
    #: ``--aws-region`` is the region judged.
    own_region: bool = True
    #: How a proposed fix is checked, as the evidence says it.
    fix_check: str = "SimulatePrincipalPolicy with the policy in PolicyInputList"


#: A role's account as held offline, for its evidence: the account's authorization details and the SCP levels.
HeldAccount = tuple[Mapping[str, Any] | None, Sequence[Sequence[Mapping[str, Any]]]]


class Backend(ABC):
    """The questions every backend answers. Failures raise ``CheckError`` with a hint."""

    name: str = "abstract"
    #: What this backend can do beyond the questions below (see ``Capabilities``).
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: Said once in the run's summary when the backend fell back to a slower way (prefetch: no GAAD).
    fallback: str | None = None
    #: Fix checks answered from an identical earlier check (prefetch: roles with equal policies).
    fix_checks_reused: int = 0
    #: Warnings about what the backend read (a template's or plan's), for the run's summary.
    warnings: Sequence[str] = ()
    #: The region this backend's requests are made in, when it has one (the run's default region).
    region: str | None = None
    #: The verified account's organization (``aws:PrincipalOrgID``), when the backend knows it.
    organization_id: str | None = None
    #: Whether one simulation of every action on the union of their resources beats one per
    #: resource set: true where each call costs (an API), false where only evaluations cost (the engine).
    batches_resources: bool = True

    def __init__(self) -> None:
        self.exchanges: dict[str, list[Exchange]] = {}

    def record(self, key: str, exchange: Exchange) -> None:
        """Keep an exchange as evidence under ``key`` (a role ARN, or "caller")."""
        self.exchanges.setdefault(key, []).append(exchange)

    @abstractmethod
    def caller(self) -> CallerIdentity:
        """The identity that verifies."""

    @abstractmethod
    def get_role(self, role: RoleRef) -> Role:
        """The role itself; CheckError when it cannot be read."""

    @abstractmethod
    def list_instance_profiles(self, role: RoleRef) -> list[InstanceProfile]:
        """Every instance profile that holds the role (all pages)."""

    def simulate(
        self,
        principal_arn: str,
        actions: Sequence[str],
        *,
        resources: Sequence[str] = ("*",),
        context: Mapping[str, Sequence[str]] | None = None,
        extra_policies: Sequence[str] = (),
        evidence_key: str | None = None,
        wanted: frozenset[tuple[str, str]] | None = None,
    ) -> list[SimulationResult]:
        """Simulate ``actions`` for a principal (all pages), optionally with extra identity policies.

        ``wanted`` names the (lower-cased action, resource) answers the caller reads (see
        ``SimulationRequest.wanted``); None returns every answer.
        """
        request = SimulationRequest(
            principal_arn, tuple(actions), tuple(resources), context, tuple(extra_policies), wanted
        )
        return self.answer(request, evidence_key or principal_arn)

    @abstractmethod
    def answer(self, request: SimulationRequest, evidence_key: str) -> list[SimulationResult]:
        """Answer one simulation request, recording the exchange under ``evidence_key``."""

    def get_key_policy(self, key_arn: str, *, evidence_key: str) -> Mapping[str, Any]:
        """The default key policy of a KMS key (kms:GetKeyPolicy); CheckError where it cannot be read."""
        raise CheckError(
            f"the {self.name} backend cannot read the key policy of {key_arn}",
            "verify live (the verifying identity needs kms:GetKeyPolicy on the key), or leave out --kms-key",
        )

    def policy_sets(self, role: RoleRef) -> tuple[PolicySet, ...] | None:
        """The role's policies as the engine decides with them, when this backend holds them; else None.

        Held offline, in a template's accounts and in fleet mode (GAAD pages): the verdicts then judge
        each resource type on every part its statements set apart, and excess (#28) is found in them.
        A live per-role run reads no policy: None. A template gives one set per possible account.
        """
        return None

    def list_roles(self) -> list[str]:
        """Every role ARN of the account (ListRoles), where ``capabilities.lists_roles``; CheckError otherwise."""
        raise CheckError(f"the {self.name} backend cannot list roles", "list the roles by ARN instead of a pattern")

    def role_policy_details(self, role: RoleRef) -> Mapping[str, Any] | None:
        """The role's policies as GetAccountAuthorizationDetails gives them, read on demand; None where not read."""
        return None

    def held_account(self, role_arn: str) -> HeldAccount | None:
        """The role's account as held offline (details, SCP levels), for the evidence; None when not held."""
        return None

    @property
    def source_file(self) -> Path | None:
        """The file the roles are declared in, where ``capabilities.declares_roles``; else None."""
        return None

    @property
    def description(self) -> str:
        """One line for the report header: what this backend reads."""
        return self.name


def backend_class(name: str) -> type[Backend]:
    """A registered backend's class by name (its capabilities are known before it is made)."""
    if name not in REGISTRY:
        raise InputError(f"unknown backend {name!r}: use one of {', '.join(REGISTRY)}")
    module_name, class_name = REGISTRY[name].split(":")
    found: type[Backend] = getattr(importlib.import_module(module_name), class_name)
    return found


def create_backend(name: str, **options: Any) -> Backend:
    """Instantiate a registered backend by name."""
    return backend_class(name)(**options)
