"""Roles as a CloudFormation template declares them, in one world: their own properties (name, path,
trust, inline policies, managed policy ARNs, permissions boundary) and what other resources attach
to them (AWS::IAM::Policy, RolePolicy, ManagedPolicy, InstanceProfile). Values come from
``intrinsics.Intrinsics``; this module only says which values make up a role.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from verification.backends.template.intrinsics import NO_VALUE, Intrinsics, Link, unlink, value_or
from verification.backends.template.model import (
    PLACEHOLDER_ACCOUNT,
    DeclaredRole,
    Document,
    ManagedRef,
    ProfileRef,
    Unknown,
    role_fault,
)

if TYPE_CHECKING:
    from verification.backends.template.cloudformation import CloudFormation


@dataclass
class RoleDeclarer:
    """Declares a role of ``template`` with the values of one world (``values``)."""

    template: CloudFormation
    values: Intrinsics

    def declare(self, key: str) -> DeclaredRole | None:
        """The role ``key`` as this world declares it, with everything attached to it."""
        if not self.values.exists(key):
            return None
        here = f"Resources.{key}.Properties"
        properties = self.template.resources[key].get("Properties") or {}
        role = self._own(key, properties, here)
        self._inline_policies(role, properties, here)
        self._managed_arns(role, properties, here)
        if "PermissionsBoundary" in properties:
            boundary = self.values.resolve(properties["PermissionsBoundary"], f"{here}.PermissionsBoundary")
            if boundary is not NO_VALUE:
                role.boundary = self._managed(boundary, f"{here}.PermissionsBoundary")
        self._attachments(role)
        return role

    def _own(self, key: str, properties: Mapping[str, Any], here: str) -> DeclaredRole:
        """The role with its name, path and trust policy, checked as IAM would; no policies yet."""
        template = self.template
        name = self.values.resource_ref(key, template.resources[key], f"{here}.RoleName")
        path = value_or(self.values.plain(properties.get("Path", "/"), f"{here}.Path"), "/")
        if isinstance(path, Unknown):
            raise template.fault(f"{here}.Path: the path must be known ({path.why})")
        fault = role_fault(name, path)
        if fault:
            raise template.fault(f"{here}.{fault}")
        trust = value_or(
            self.values.plain(properties.get("AssumeRolePolicyDocument"), f"{here}.AssumeRolePolicyDocument")
        )
        if trust is None:
            raise template.fault(f"{here}.AssumeRolePolicyDocument: missing (a role needs a trust policy)")
        return DeclaredRole(key=key, name=name, path=str(path), trust=trust, where=f"Resources.{key}")

    def _inline_policies(self, role: DeclaredRole, properties: Mapping[str, Any], here: str) -> None:
        """The role's own Policies, each a Document (an Unknown list or item stays one unknown Document)."""
        template, key = self.template, role.key
        # A list property may be !If [C, [...], !Ref AWS::NoValue] as a whole: no value is an empty list.
        policies = value_or(self.values.resolve(properties.get("Policies", []), f"{here}.Policies"), [])
        if isinstance(policies, Unknown):
            role.inline.append(Document("unknown", policies, f"{here}.Policies"))
        elif not isinstance(policies, list):
            raise template.fault(f"{here}.Policies: expected a list of {{PolicyName, PolicyDocument}}")
        else:
            for number, item in enumerate(policies):
                where = f"{here}.Policies[{number}]"
                if isinstance(item, Unknown):
                    role.inline.append(Document(f"{key}-policy-{number}", item, where))
                    continue
                if not isinstance(item, Mapping) or "PolicyDocument" not in item:
                    raise template.fault(f"{where}: expected {{PolicyName, PolicyDocument}}")
                name_value = unlink(item.get("PolicyName"))
                policy_name = name_value if isinstance(name_value, str) else f"{key}-policy-{number}"
                role.inline.append(Document(policy_name, unlink(item["PolicyDocument"]), f"{where}.PolicyDocument"))

    def _managed_arns(self, role: DeclaredRole, properties: Mapping[str, Any], here: str) -> None:
        """The role's ManagedPolicyArns, each resolved to its document where it can be."""
        arns = value_or(self.values.resolve(properties.get("ManagedPolicyArns", []), f"{here}.ManagedPolicyArns"), [])
        if isinstance(arns, Unknown):
            role.managed.append(ManagedRef(arns, None, arns.where))
        elif not isinstance(arns, list):
            raise self.template.fault(f"{here}.ManagedPolicyArns: expected a list of policy ARNs")
        else:
            for number, value in enumerate(arns):
                role.managed.append(self._managed(value, f"{here}.ManagedPolicyArns[{number}]"))

    def _managed(self, value: Any, where: str) -> ManagedRef:
        """A managed policy named by ARN or by a Ref to the template's own ManagedPolicy."""
        if isinstance(value, Link):
            resource = self.template.resources[value.logical_id]
            if resource["Type"] == "AWS::IAM::ManagedPolicy":
                return self._declared_policy(value.logical_id, value.value, where)
            value = value.value
        if isinstance(value, Unknown):
            return ManagedRef(value, None, where)
        if not isinstance(value, str):
            raise self.template.fault(f"{where}: expected a policy ARN")
        for logical_id in self.template.managed_policies:
            properties = self.template.resources[logical_id].get("Properties") or {}
            arn = unlink(self.values.managed_arn(logical_id, properties, where))
            if arn == value:
                return self._declared_policy(logical_id, arn, where)
        return ManagedRef(value, self.template.managed.lookup(value, where), where)

    def _declared_policy(self, logical_id: str, arn: Any, where: str) -> ManagedRef:
        here = f"Resources.{logical_id}.Properties"
        properties = self.template.resources[logical_id].get("Properties") or {}
        if not self.values.exists(logical_id):
            raise self.template.fault(f"{where}: {logical_id} is not created in this case (its Condition is false)")
        body = self.values.plain(properties.get("PolicyDocument"), f"{here}.PolicyDocument")
        name = unlink(self.values.plain(properties.get("ManagedPolicyName", logical_id), here))
        path = self.values.plain(properties.get("Path", "/"), here)
        shown = name if isinstance(name, str) else logical_id
        # The ARN is only a name for reports when it is unknown: the document is the file's own.
        policy_arn = (
            arn
            if isinstance(arn, str)
            else f"arn:{self.template.partition}:iam::{self.template.account or PLACEHOLDER_ACCOUNT}:policy"
            f"{path if isinstance(path, str) else '/'}{shown}"
        )
        return ManagedRef(
            policy_arn,
            Document(str(name) if isinstance(name, str) else logical_id, body, f"{here}.PolicyDocument"),
            where,
        )

    def _targets(self, value: Any, role: DeclaredRole) -> str | None:
        """Does a Roles/RoleName value name ``role``: "yes", "maybe" (unknown) or None."""
        if isinstance(value, Link):
            if value.logical_id == role.key:
                return "yes"
            if self.template.resources[value.logical_id]["Type"] == "AWS::IAM::Role":
                return None  # another role of the template
            value = value.value
        if isinstance(value, Unknown):
            return "maybe"
        if isinstance(value, str) and isinstance(role.name, str) and value == role.name:
            return "yes"
        return None  # a generated name cannot be written down in advance

    def _attachments(self, role: DeclaredRole) -> None:
        """Policies, managed policies and instance profiles elsewhere in the template that name the role."""
        for logical_id in self.template.attachments_of(role.key):
            resource = self.template.resources[logical_id]
            kind = resource["Type"]
            here = f"Resources.{logical_id}.Properties"
            properties = resource.get("Properties") or {}
            certain = self._names_role(kind, properties, here, role)
            if certain is None:
                continue
            if not self.values.exists(logical_id):
                continue
            self._attach(role, logical_id, kind, properties, here, possible=not certain)

    def _names_role(self, kind: str, properties: Mapping[str, Any], here: str, role: DeclaredRole) -> bool | None:
        """Does the resource's Roles/RoleName name ``role``: True, False (it may: unknown), None (it does not)."""
        field_name = "RoleName" if kind == "AWS::IAM::RolePolicy" else "Roles"
        if field_name not in properties:
            return None
        targets = self.values.resolve(properties[field_name], f"{here}.{field_name}")
        entries = targets if isinstance(targets, list) else [targets]
        hits = [self._targets(entry, role) for entry in entries]
        if "yes" in hits:
            return True
        if "maybe" in hits:
            return False
        return None

    def _attach(
        self,
        role: DeclaredRole,
        logical_id: str,
        kind: str,
        properties: Mapping[str, Any],
        here: str,
        *,
        possible: bool,
    ) -> None:
        """Add what the resource ``logical_id`` attaches (profile, managed or inline policy) to ``role``."""
        if kind == "AWS::IAM::InstanceProfile":
            name = unlink(self.values.plain(properties.get("InstanceProfileName", logical_id), here))
            shown = name if isinstance(name, str) else logical_id
            arn = unlink(self.values.arn("instance-profile", properties, shown, here))
            role.profiles.append(
                ProfileRef(
                    shown,
                    arn
                    if isinstance(arn, str)
                    else f"arn:{self.template.partition}:iam::{PLACEHOLDER_ACCOUNT}:instance-profile/{shown}",
                    here,
                    possible=possible,
                )
            )
        elif kind == "AWS::IAM::ManagedPolicy":
            ref = self._declared_policy(logical_id, unlink(self.values.managed_arn(logical_id, properties, here)), here)
            role.managed.append(ManagedRef(ref.arn, ref.document, here, possible=possible))
        else:
            name = unlink(self.values.plain(properties.get("PolicyName", logical_id), f"{here}.PolicyName"))
            body = self.values.plain(properties.get("PolicyDocument"), f"{here}.PolicyDocument")
            role.inline.append(
                Document(
                    name if isinstance(name, str) else logical_id,
                    body,
                    f"{here}.PolicyDocument",
                    possible=possible,
                )
            )
