"""The ``Backend`` interface: the questions every backend answers, and the ``Capabilities`` it declares.

Every backend answers the same few questions (who am I, get the role, list its instance profiles,
simulate these actions) and records each raw exchange as evidence. Callers ask a backend what it
can do (``backend.capabilities``), never which backend it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from verification.backends.exchange import Exchange
from verification.backends.facts import HeldAccount, InstanceProfile, Role
from verification.backends.simulation import SimulationRequest, SimulationResult
from verification.errors import CheckError
from verification.names import CallerIdentity, RoleRef
from verification.policy.model import PolicySet


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond the questions every backend answers, declared by its class.

    Callers ask a backend what it can do (``backend.capabilities``), never which backend it is.
    """

    #: Its answers are AWS's own (the live API, with or without GAAD prefetched): fleet mode, KMS key
    #: policies (``--kms-key``) and the simulator's confirmation of excess findings need them.
    live_api: bool = False
    #: Fleet mode may read its account's roles ahead, from GetAccountAuthorizationDetails pages
    #: (``backends.prefetch.PrefetchBackend`` wraps it): the live API, not yet prefetched.
    prefetchable: bool = False
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
