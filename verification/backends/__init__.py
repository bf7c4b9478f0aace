"""Where facts about a role come from: the live IAM API, or an account snapshot.

May import: policy, safety, fleet (pacing, accounting), snapshot, errors, boto3/botocore; never pytest or Allure.

Every backend answers the same few questions (who am I, get the role, list its instance profiles,
simulate these actions) with the dataclasses below, and records each raw exchange as evidence.
The tests never know which backend answered. Backends know nothing of pytest or Allure.
"""

from __future__ import annotations

import functools
import importlib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from verification.backends.simulation import SimulationRequest, SimulationResult, restrictiveness
from verification.errors import CheckError, InputError

__all__ = [
    "Backend",
    "CallerIdentity",
    "Exchange",
    "InstanceProfile",
    "Role",
    "RoleRef",
    "SimulationRequest",
    "SimulationResult",
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

ROLE_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>\d{12}):role/"
    r"(?P<path>(?:[\x21-\x7e]+/)*)?(?P<name>[\w+=,.@-]{1,64})$",
    re.ASCII,  # IAM names are ASCII: without this, \w would accept "Vééam"
)


@functools.cache
def region_partition(region: str) -> str | None:
    """The partition (aws, aws-cn, ...) of a region botocore knows, else None.

    A region is known when botocore's partitions data lists it, or when it fits a partition's
    region pattern (so a region launched after this botocore release is still accepted).
    """
    from botocore.loaders import create_loader

    partitions = create_loader().load_data("partitions")["partitions"]
    for partition in partitions:
        if region in partition.get("regions", {}):
            return str(partition["id"])
    for partition in partitions:
        pattern = partition.get("regionRegex")
        if pattern and re.fullmatch(pattern, region, re.ASCII):
            return str(partition["id"])
    return None


@dataclass(frozen=True)
class RoleRef:
    """A role named by ARN: the one thing a user gives to say what to verify."""

    arn: str
    partition: str
    account: str
    path: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> RoleRef:
        """Parse and check a role ARN; raise InputError saying what is wrong with it."""
        match = ROLE_ARN_RE.match(arn.strip())
        if match:
            path = "/" + (match["path"] or "")
            return cls(arn.strip(), match["partition"], match["account"], path, match["name"])
        if not arn.isascii():
            raise InputError(
                f"{arn!r} contains non-ASCII characters: IAM role names and paths are ASCII "
                "(letters, digits and +=,.@_-)"
            )
        if ":assumed-role/" in arn or arn.startswith("arn:aws:sts:"):
            raise InputError(
                f"{arn!r} is an assumed-role session, not a role: give the role's ARN, arn:aws:iam::ACCOUNT:role/NAME"
            )
        if re.match(r"^arn:[^:]+:iam::\d{12}:(user|group|policy|instance-profile)/", arn):
            raise InputError(f"{arn!r} is not a role ARN: give arn:aws:iam::ACCOUNT:role/NAME")
        if re.match(r"^arn:[^:]+:", arn) and not re.match(r"^arn:(aws|aws-cn|aws-us-gov):", arn):
            raise InputError(f"{arn!r} has an unknown partition: use aws, aws-cn or aws-us-gov")
        raise InputError(
            f"{arn!r} is not a role ARN: expected arn:aws:iam::ACCOUNT:role/NAME "
            "with a 12-digit account and a role name of at most 64 characters"
        )

    @property
    def label(self) -> str:
        """``account/name``: the readable test id of the role."""
        return f"{self.account}/{self.name}"


@dataclass(frozen=True)
class CallerIdentity:
    """Who the verifying identity is (sts:GetCallerIdentity, or what a snapshot recorded)."""

    account: str
    arn: str
    user_id: str = ""


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


@dataclass(frozen=True)
class InstanceProfile:
    """One instance profile that contains the role."""

    name: str
    arn: str
    role_names: tuple[str, ...] = ()


@dataclass
class Exchange:
    """One raw API exchange (or engine answer), kept as evidence."""

    operation: str
    params: Mapping[str, Any]
    response: Mapping[str, Any]
    request_id: str | None = None


class Backend(ABC):
    """The questions every backend answers. Failures raise ``CheckError`` with a hint."""

    name: str = "abstract"

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
    ) -> list[SimulationResult]:
        """Simulate ``actions`` for a principal (all pages), optionally with extra identity policies."""
        request = SimulationRequest(principal_arn, tuple(actions), tuple(resources), context, tuple(extra_policies))
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

    @property
    def description(self) -> str:
        """One line for the report header: what this backend reads."""
        return self.name


def create_backend(name: str, **options: Any) -> Backend:
    """Instantiate a registered backend by name."""
    if name not in REGISTRY:
        raise InputError(f"unknown backend {name!r}: use one of {', '.join(REGISTRY)}")
    module_name, class_name = REGISTRY[name].split(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    backend: Backend = backend_class(**options)
    return backend
