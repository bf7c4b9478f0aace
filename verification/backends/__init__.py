"""Where facts about a role come from: the live IAM API, or an account snapshot.

May import: policy, safety, fleet (pacing, accounting), snapshot, errors, boto3/botocore; never pytest or Allure.

Every backend answers the same few questions (who am I, get the role, list its instance profiles,
simulate these actions) with the dataclasses below, and records each raw exchange as evidence.
The tests never know which backend answered. Backends know nothing of pytest or Allure.
"""

from __future__ import annotations

import importlib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verification.errors import CheckError, InputError

#: Backend name → "module:class", imported lazily (the snapshot backend needs no boto3 client).
REGISTRY = {
    "live": "verification.backends.live:LiveBackend",
    "snapshot": "verification.backends.snapshot:SnapshotBackend",
}

ROLE_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>\d{12}):role/"
    r"(?P<path>(?:[\x21-\x7e]+/)*)?(?P<name>[\w+=,.@-]{1,64})$",
    re.ASCII,  # IAM names are ASCII: without this, \w would accept "Vééam"
)


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


@dataclass(frozen=True)
class SimulationResult:
    """One action's simulated decision, from AWS or from the local engine, in one shape.

    ``explanation`` is the engine's machine-readable reason when the engine decided (snapshot);
    the live API gives none, and the verdict is then read from the AWS fields alone.
    """

    action: str
    resource: str
    decision: str
    matched_statements: tuple[Mapping[str, Any], ...] = ()
    missing_context: tuple[str, ...] = ()
    allowed_by_organizations: bool | None = None
    allowed_by_boundary: bool | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    explanation: Any = None
    #: Read from ``ResourceSpecificResults`` (so ``resource`` is one the caller asked about).
    specific: bool = False
    #: Double entry: the engine's own answer to the same question (a ``SimulationResult``), or the
    #: ``CheckError`` that kept it from answering; None when the engine was not asked.
    second_opinion: Any = None

    @classmethod
    def from_results(cls, results: Sequence[Mapping[str, Any]]) -> list[SimulationResult]:
        """Read SimulatePrincipalPolicy ``EvaluationResults`` in either shape; CheckError on a malformed one.

        Since botocore 1.43.60 a result may carry per-resource answers in ``ResourceSpecificResults``
        (the top level then holds the most restrictive decision and an ARN template); older answers
        have one top-level result per action and resource. Both become one entry per resource. An
        answer that contradicts itself (an "allowed" that organizations or the boundary do not allow;
        a top-level decision stricter than every per-resource one) is not guessed at: it is an error.
        """
        out: list[SimulationResult] = []
        try:
            for result in results:
                specific = result.get("ResourceSpecificResults") or []
                top = str(result["EvalDecision"])
                if specific:
                    items = [
                        cls._one(result, item["EvalResourceName"], item["EvalResourceDecision"], item, True)
                        for item in specific
                    ]
                    if restrictiveness(top) > max(restrictiveness(i.decision) for i in items):
                        raise CheckError(
                            f"contradictory simulation answer for {result['EvalActionName']}: top-level {top}, "
                            "but no resource is decided that strictly"
                        )
                    out.extend(items)
                else:
                    out.append(cls._one(result, result.get("EvalResourceName", "*"), top, result, False))
        except (KeyError, TypeError, AttributeError) as error:
            raise CheckError(f"malformed SimulatePrincipalPolicy answer: missing or bad field {error}") from None
        return out

    @classmethod
    def _one(
        cls, top: Mapping[str, Any], resource: str, decision: str, source: Mapping[str, Any], specific: bool
    ) -> SimulationResult:
        organizations = top.get("OrganizationsDecisionDetail") or {}
        boundary = source.get("PermissionsBoundaryDecisionDetail") or top.get("PermissionsBoundaryDecisionDetail") or {}
        result = cls(
            action=str(top["EvalActionName"]),
            resource=str(resource),
            decision=str(decision),
            matched_statements=tuple(source.get("MatchedStatements") or ()),
            missing_context=tuple(source.get("MissingContextValues") or top.get("MissingContextValues") or ()),
            allowed_by_organizations=organizations.get("AllowedByOrganizations"),
            allowed_by_boundary=boundary.get("AllowedByPermissionsBoundary"),
            raw=dict(top),
            specific=specific,
        )
        if result.decision == "allowed" and False in (result.allowed_by_organizations, result.allowed_by_boundary):
            raise CheckError(
                f"contradictory simulation answer for {result.action}: allowed, yet not allowed by "
                f"{'the organization' if result.allowed_by_organizations is False else 'the permissions boundary'}"
            )
        return result


#: How restrictive a decision is; anything unknown counts as the most restrictive.
_RESTRICTIVENESS = {"allowed": 0, "implicitDeny": 1, "explicitDeny": 2}


def restrictiveness(decision: str) -> int:
    """Order decisions so the most restrictive of several answers can be kept."""
    return _RESTRICTIVENESS.get(decision, 3)


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

    @abstractmethod
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
