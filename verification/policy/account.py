"""An account as ``get-account-authorization-details`` describes it, ready for the engine.

Pure: no boto3, no files. Given the merged details document, it finds a role by ARN or name, its
inline and attached managed policies (each managed policy's default version), its boundary, its
trust policy and its instance profiles, and builds the ``PolicySet`` the engine decides with.
Policies are named as SimulatePrincipalPolicy names them (inline: the policy name with type
"role"; managed: the policy name with type "aws-managed" or "user-managed"; SCPs: type "scp"), so
explanations read the same whichever side decided. Each document is parsed once per ``Account``
and reused for every role that uses it.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from verification.policy.errors import PolicyError
from verification.policy.model import PolicySet
from verification.policy.parse import Policy, parse_policy


class AccountError(ValueError):
    """The details document cannot answer: a role or policy is missing, or a version is absent."""


@dataclass(frozen=True)
class RoleInfo:
    """One role's own facts, as ``RoleDetailList`` gives them (documents decoded to mappings)."""

    arn: str
    name: str
    role_id: str
    path: str
    trust_policy: Mapping[str, Any]
    boundary_arn: str | None
    inline: tuple[tuple[str, Any], ...]
    attached: tuple[str, ...]
    instance_profiles: tuple[Mapping[str, Any], ...]
    raw: Mapping[str, Any]


def decode_document(document: Any) -> Any:
    """A policy document as a mapping: the API returns URL-encoded JSON text, the CLI a decoded object."""
    if isinstance(document, str):
        for text in (document, urllib.parse.unquote(document)):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                continue
    return document


class Account:
    """The roles and managed policies of one details document, with a parse cache."""

    def __init__(self, details: Mapping[str, Any]) -> None:
        self.details = details
        self._roles: dict[str, Mapping[str, Any]] = {}
        self._names: dict[str, Mapping[str, Any]] = {}
        for role in details.get("RoleDetailList", ()):
            self._roles[role["Arn"]] = role
            self._names.setdefault(role["RoleName"].lower(), role)
        self._policies: dict[str, Mapping[str, Any]] = {p["Arn"]: p for p in details.get("Policies", ())}
        self._parsed: dict[tuple[str, str, str], Policy] = {}
        self._managed_cache: dict[str, Policy] = {}
        self._infos: dict[str, RoleInfo] = {}
        self._scp_cache: dict[int, tuple[Any, tuple[tuple[Policy, ...], ...]]] = {}

    @property
    def role_arns(self) -> list[str]:
        """Every role's ARN, in document order."""
        return list(self._roles)

    def find_role(self, arn_or_name: str) -> RoleInfo | None:
        """A role by exact ARN, else by name (names are unique per account, case-insensitively)."""
        raw = self._roles.get(arn_or_name)
        if raw is None:
            name = arn_or_name.rsplit("/", 1)[-1]
            account = arn_or_name.split(":")[4] if arn_or_name.count(":") >= 5 else None
            raw = self._names.get(name.lower())
            if raw is not None and account is not None and raw["Arn"].split(":")[4] != account:
                raw = None
        if raw is None:
            return None
        info = self._infos.get(raw["Arn"])
        if info is None:
            info = self._infos[raw["Arn"]] = _role_info(raw)
        return info

    def role(self, arn_or_name: str) -> RoleInfo:
        """Like ``find_role``, but a missing role is an ``AccountError``."""
        found = self.find_role(arn_or_name)
        if found is None:
            raise AccountError(f"role {arn_or_name} is not in the account details")
        return found

    def managed_document(self, arn: str, *, used_by: str) -> Any:
        """The default version's document as stored (text or mapping); ``used_by`` names who needs it."""
        policy = self._policies.get(arn)
        if policy is None:
            raise AccountError(f"managed policy {arn} ({used_by}) is not in Policies: export without a --filter")
        versions = policy.get("PolicyVersionList") or []
        default_id = policy.get("DefaultVersionId")
        for version in versions:
            if version.get("IsDefaultVersion") is True or (
                default_id is not None and version.get("VersionId") == default_id
            ):
                if version.get("Document") is None:
                    raise AccountError(f"managed policy {arn}: version {version.get('VersionId')} has no Document")
                return version["Document"]
        wanted = f"default version {default_id}" if default_id else "a default version"
        raise AccountError(f"managed policy {arn}: {wanted} is missing from PolicyVersionList")

    def policy_set_for(self, role_arn: str, scps: Sequence[Sequence[Mapping[str, Any]]] = ()) -> PolicySet:
        """The role's identity policies, boundary and the given SCP levels (root → OUs → account)."""
        role = self.role(role_arn)
        identity = [
            self._parse(document, policy_id=name, policy_type="role", key=f"{role.arn}#{name}")
            for name, document in role.inline
        ]
        identity += [self._managed(arn, used_by=f"attached to {role.name}") for arn in role.attached]
        boundary = self._managed(role.boundary_arn, used_by=f"boundary of {role.name}") if role.boundary_arn else None
        return PolicySet(
            identity=tuple(identity),
            boundary=boundary,
            scps=self.parse_scps(scps),
            principal_arn=role.arn,
        )

    def trust_policy(self, role_arn: str) -> Policy:
        """The role's trust policy, parsed (the id is the role name, the type "trust")."""
        role = self.role(role_arn)
        document = role.raw.get("AssumeRolePolicyDocument")
        if document is None:
            raise AccountError(f"role {role.arn} has no AssumeRolePolicyDocument")
        return self._parse(document, policy_id=role.name, policy_type="trust", key=f"{role.arn}#trust")

    def parse_scps(self, scps: Sequence[Sequence[Mapping[str, Any]]]) -> tuple[tuple[Policy, ...], ...]:
        """SCP levels parsed once per levels object (an SCP is a document or ``{Name, Id, Content}``)."""
        if not scps:
            return ()
        cached = self._scp_cache.get(id(scps))
        if cached is not None and cached[0] is scps:
            return cached[1]
        levels = tuple(
            tuple(_parse_scp(scp, f"scp level {i + 1} #{j + 1}") for j, scp in enumerate(level))
            for i, level in enumerate(scps)
        )
        self._scp_cache[id(scps)] = (scps, levels)
        return levels

    def _managed(self, arn: str, *, used_by: str) -> Policy:
        policy = self._managed_cache.get(arn)
        if policy is None:
            document = self.managed_document(arn, used_by=used_by)
            name = str(self._policies[arn].get("PolicyName") or arn.rsplit("/", 1)[-1])
            policy_type = "aws-managed" if ":iam::aws:policy/" in arn else "user-managed"
            policy = self._parse(document, policy_id=name, policy_type=policy_type, key=arn)
            self._managed_cache[arn] = policy
        return policy

    def _parse(self, document: Any, *, policy_id: str, policy_type: str, key: str) -> Policy:
        cache_key = (key, policy_id, policy_type)
        policy = self._parsed.get(cache_key)
        if policy is None:
            policy = parse_policy(_as_source(document, policy_id), policy_id=policy_id, policy_type=policy_type)
            self._parsed[cache_key] = policy
        return policy


def _parse_scp(scp: Mapping[str, Any], fallback_id: str) -> Policy:
    if "Statement" in scp:
        return parse_policy(scp, policy_id=fallback_id, policy_type="scp")
    nested = scp.get("PolicySummary")
    summary: Mapping[str, Any] = nested if isinstance(nested, Mapping) else scp
    name = str(summary.get("Name") or summary.get("Id") or fallback_id)
    return parse_policy(_as_source(scp.get("Content"), name), policy_id=name, policy_type="scp")


def _as_source(document: Any, policy_id: str) -> str:
    """The policy's JSON text: the stored text when the snapshot kept it, else indented JSON.

    Indented JSON is what the local endpoint stores when seeded from a snapshot, so statement
    positions agree with its answers, and "lines a-b" in a verdict point at readable lines.
    """
    if isinstance(document, str):
        return document  # JSON text or URL-encoded JSON text: parse_policy reads both
    if isinstance(document, Mapping):
        return json.dumps(document, indent=4)
    raise PolicyError(policy_id, "document", "a policy must be a JSON object")


def _role_info(raw: Mapping[str, Any]) -> RoleInfo:
    boundary = raw.get("PermissionsBoundary") or {}
    trust = decode_document(raw.get("AssumeRolePolicyDocument") or {})
    return RoleInfo(
        arn=raw["Arn"],
        name=raw["RoleName"],
        role_id=str(raw.get("RoleId", "")),
        path=str(raw.get("Path", "/")),
        trust_policy=trust if isinstance(trust, Mapping) else {},
        boundary_arn=boundary.get("PermissionsBoundaryArn"),
        inline=tuple((p["PolicyName"], p["PolicyDocument"]) for p in raw.get("RolePolicyList") or ()),
        attached=tuple(p["PolicyArn"] for p in raw.get("AttachedManagedPolicies") or ()),
        instance_profiles=tuple(raw.get("InstanceProfileList") or ()),
        raw=raw,
    )
