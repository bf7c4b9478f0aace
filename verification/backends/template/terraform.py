"""Terraform plans (``terraform show -json PLANFILE``, format_version 1.x) → declared roles.

Values are read from ``change.after`` together with ``change.after_unknown``: a value known only
after apply is an ``Unknown`` naming its place in the file. A policy string is atomic, so one
unknown part makes its whole document unknown. Resources point at roles by name; where the name
is unknown (``name_prefix``) the configuration's ``references`` tell which resource an attribute
points at. A plan has no open parameters (its variables are set), so it has one world.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from verification.backends.template.cloudformation import read_text
from verification.backends.template.managed import ManagedPolicies
from verification.backends.template.model import (
    PLACEHOLDER_ACCOUNT,
    DeclaredRole,
    Document,
    ManagedRef,
    ProfileRef,
    Unknown,
)
from verification.errors import InputError

_INDEX = re.compile(r"\[[^\]]*\]")
_ATTACHING = (
    "aws_iam_role_policy",
    "aws_iam_role_policy_attachment",
    "aws_iam_policy_attachment",
    "aws_iam_role_policy_attachments_exclusive",
    "aws_iam_instance_profile",
)


def load_plan(path: Path) -> dict[str, Any]:
    """Read a plan's JSON; one InputError line when it is not a Terraform plan this reader knows."""
    text = read_text(path, "plan")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        hint = " (give `terraform show -json PLANFILE` output, not the binary plan file)" if "\x00" in text else ""
        raise InputError(
            f"plan {path}: not JSON: {error.msg} at line {error.lineno} column {error.colno}{hint}"
        ) from None
    if not isinstance(data, Mapping) or "format_version" not in data:
        if isinstance(data, Mapping) and "Resources" in data:
            raise InputError(
                f"plan {path}: this is a CloudFormation template, not a Terraform plan: give it with --template"
            )
        raise InputError(f"plan {path}: not `terraform show -json` output: no format_version")
    version = str(data["format_version"])
    if version.split(".", 1)[0] != "1":
        raise InputError(f"plan {path}: format_version {version} is not supported: this reader knows 1.x")
    if "resource_changes" not in data and "planned_values" not in data:
        if "values" in data:
            raise InputError(
                f"plan {path}: this is a Terraform state, not a plan: run `terraform plan -out PLANFILE` and give "
                "`terraform show -json PLANFILE`"
            )
        raise InputError(f"plan {path}: no resource_changes: not a plan")
    if not isinstance(data.get("resource_changes", []), list):
        raise InputError(f"plan {path}: resource_changes: expected a list")
    return dict(data)


class TerraformPlan:
    """One plan, indexed by address; ``worlds`` gives a role in its one world."""

    kind = "Terraform plan"

    def __init__(
        self,
        path: Path,
        data: Mapping[str, Any],
        *,
        account: str | None,
        partition: str,
        managed: ManagedPolicies,
    ) -> None:
        self.path = path
        self.account = account
        self.partition = partition
        self.managed = managed
        self.warnings: list[str] = []
        if data.get("complete") is False:
            self.warnings.append(
                f"plan {path}: complete is false: applying it leaves more to plan; verdicts cover only this plan"
            )
        if data.get("errored") is True:
            self.warnings.append(f"plan {path}: errored is true: the plan stopped on an error and may be partial")
        self.changes: dict[str, tuple[int, Mapping[str, Any]]] = {}
        for index, change in enumerate(data.get("resource_changes") or []):
            if not isinstance(change, Mapping) or not isinstance(change.get("address"), str):
                raise InputError(f"plan {path}: resource_changes[{index}]: expected an object with an address")
            body = change.get("change")
            if not isinstance(body, Mapping) or "after" not in body:
                raise InputError(f"plan {path}: resource_changes[{index}].change.after: missing")
            if body.get("after") is None:  # deleted: not there after apply
                continue
            if not isinstance(body["after"], Mapping):
                raise InputError(f"plan {path}: resource_changes[{index}].change.after: expected an object")
            self.changes[change["address"]] = (index, change)
        self.expressions: dict[str, Mapping[str, Any]] = {}
        configuration = data.get("configuration") or {}
        self._index_module(configuration.get("root_module") or {}, "")
        self.data_json: dict[str, str] = {}
        self._index_data(((data.get("prior_state") or {}).get("values") or {}).get("root_module") or {})

    def _index_module(self, module: Mapping[str, Any], prefix: str) -> None:
        for resource in module.get("resources") or []:
            if isinstance(resource, Mapping) and isinstance(resource.get("address"), str):
                self.expressions[prefix + resource["address"]] = resource.get("expressions") or {}
        for name, call in (module.get("module_calls") or {}).items():
            self._index_module((call or {}).get("module") or {}, f"{prefix}module.{name}.")

    def _index_data(self, module: Mapping[str, Any]) -> None:
        for resource in module.get("resources") or []:
            values = resource.get("values") or {}
            if resource.get("type") == "aws_iam_policy_document" and isinstance(values.get("json"), str):
                self.data_json[_INDEX.sub("", str(resource.get("address")))] = values["json"]
        for child in module.get("child_modules") or []:
            self._index_data(child)

    def fault(self, message: str) -> InputError:
        """One line naming the file and the fault."""
        return InputError(f"plan {self.path}: {message}")

    def role_keys(self) -> list[str]:
        """Every aws_iam_role's address, in plan order."""
        return [
            a
            for a, (_, c) in self.changes.items()
            if c.get("mode", "managed") == "managed" and c.get("type") == "aws_iam_role"
        ]

    # -- values ------------------------------------------------------------------------------

    def _after(self, address: str) -> tuple[int, Mapping[str, Any], Mapping[str, Any]]:
        index, change = self.changes[address]
        body = change["change"]
        unknown = body.get("after_unknown")
        return index, body["after"], unknown if isinstance(unknown, Mapping) else {}

    def value(self, address: str, attribute: str) -> Any:
        """An attribute after apply: its value, None when unset, or Unknown (known only after apply)."""
        index, after, unknown = self._after(address)
        where = f"resource_changes[{index}].change.after.{attribute} ({address})"
        if _is_unknown(unknown.get(attribute)):
            return _mark(
                after.get(attribute), unknown.get(attribute), where, f"{address}.{attribute} is known only after apply"
            )
        if unknown.get(attribute) is True:
            return Unknown(where, f"{address}.{attribute} is known only after apply")
        return after.get(attribute)

    def configured(self, address: str, attribute: str) -> bool:
        """Does the configuration set this attribute (so an unknown value is not just a computed default)?"""
        return attribute in self._expressions(address)

    def _expressions(self, address: str) -> Mapping[str, Any]:
        return self.expressions.get(_INDEX.sub("", address), {})

    def references(self, address: str, attribute: str) -> list[str]:
        """Addresses (config form) an attribute refers to: ``aws_iam_role.worker`` from ``aws_iam_role.worker.name``."""
        module = _module_prefix(_INDEX.sub("", address))
        found: list[str] = []
        stack = [self._expressions(address).get(attribute)]
        while stack:
            item = stack.pop()
            if isinstance(item, Mapping):
                for reference in item.get("references") or []:
                    parts = _INDEX.sub("", str(reference)).split(".")
                    size = 3 if parts[0] == "data" else 2
                    if parts[0] == "module" or len(parts) < size:
                        continue
                    found.append(module + ".".join(parts[:size]))
                stack.extend(v for k, v in item.items() if k != "references")
            elif isinstance(item, list):
                stack.extend(item)
        return list(dict.fromkeys(found))

    def _instances(self, config_address: str) -> list[str]:
        return [a for a in self.changes if _INDEX.sub("", a) == config_address]

    def document(self, address: str, attribute: str, name: str) -> Document:
        """A policy attribute as a document: parsed JSON, or Unknown (a policy string is atomic)."""
        index, _, _ = self._after(address)
        where = f"resource_changes[{index}].change.after.{attribute} ({address})"
        value = self.value(address, attribute)
        if isinstance(value, Unknown) or value is None:
            for reference in self.references(address, attribute):
                if reference in self.data_json:
                    value = self.data_json[reference]
                    break
            else:
                cause = next((r for r in self.references(address, attribute) if r.startswith("data.")), None)
                why = f"{address}.{attribute} is known only after apply" + (f" (it reads {cause})" if cause else "")
                return Document(
                    name, Unknown(where, why, "make the policy known at plan time, or verify the applied role"), where
                )
        return Document(name, _parse_json(value, where, self), where)

    # -- roles -------------------------------------------------------------------------------

    def worlds(self, key: str) -> list[tuple[dict[tuple[str, str], Any], DeclaredRole | None, list[str]]]:
        """The plan's one world."""
        return [({}, self.declare(key), [])]

    def declare(self, key: str) -> DeclaredRole:
        """The role at ``key`` and everything the plan attaches to it."""
        index, _, _ = self._after(key)
        name = self.value(key, "name")
        if name is None or isinstance(name, Unknown):
            prefix = self.value(key, "name_prefix")
            why = f"{key}.name is generated at apply" + (
                f" from name_prefix {prefix!r}" if isinstance(prefix, str) else ""
            )
            name = Unknown(f"resource_changes[{index}].change.after.name ({key})", why)
        path = self.value(key, "path") or "/"
        if isinstance(path, Unknown):
            raise self.fault(f"{key}: path must be known at plan time")
        trust = self.document(key, "assume_role_policy", "trust")
        role = DeclaredRole(key=key, name=name, path=str(path), trust=trust.body, where=key)
        if self.configured(key, "inline_policy"):
            inline = self.value(key, "inline_policy")
            if isinstance(inline, Unknown):
                role.inline.append(Document("inline_policy", inline, inline.where))
            for number, block in enumerate(inline if isinstance(inline, list) else []):
                where = f"resource_changes[{index}].change.after.inline_policy[{number}].policy ({key})"
                policy = block.get("policy") if isinstance(block, Mapping) else None
                body = policy if isinstance(policy, Unknown) else _parse_json(policy, where, self)
                block_name = block.get("name") if isinstance(block, Mapping) else None
                role.inline.append(
                    Document(block_name if isinstance(block_name, str) else f"inline-{number}", body, where)
                )
        if self.configured(key, "managed_policy_arns"):
            arns = self.value(key, "managed_policy_arns")
            if isinstance(arns, Unknown):
                role.managed.append(ManagedRef(arns, None, arns.where))
            else:
                for arn in arns or []:
                    role.managed.append(self._managed(arn, key, "managed_policy_arns"))
        if self.configured(key, "permissions_boundary") or self.value(key, "permissions_boundary"):
            boundary = self.value(key, "permissions_boundary")
            if boundary:
                role.boundary = self._managed(boundary, key, "permissions_boundary")
        self._attachments(role)
        return role

    def _managed(self, arn: Any, address: str, attribute: str) -> ManagedRef:
        index, _, _ = self._after(address)
        where = f"resource_changes[{index}].change.after.{attribute} ({address})"
        if isinstance(arn, Unknown):
            for policy in self._referenced_policies(address, attribute):
                return ManagedRef(self.policy_arn(policy) or arn, self._policy_document(policy), arn.where)
            return ManagedRef(arn, None, arn.where)
        if not isinstance(arn, str):
            raise self.fault(f"{where}: expected a policy ARN")
        for policy in self._policies():
            known = self.value(policy, "arn")
            if known == arn:
                return ManagedRef(arn, self._policy_document(policy), where)
            computed = self.policy_arn(policy)
            if (
                isinstance(known, Unknown)
                and computed is not None
                and computed.split(":", 5)[5] == arn.split(":", 5)[-1]
            ):
                # Same name and path; the same account only when --account says so.
                same = self.account is not None and computed == arn
                return ManagedRef(arn, self._policy_document(policy), where, possible=not same)
        return ManagedRef(arn, self.managed.lookup(arn, where), where)

    def policy_arn(self, policy: str) -> str | None:
        """An aws_iam_policy's ARN: known, or made from its known name and path (and the account)."""
        known = self.value(policy, "arn")
        if isinstance(known, str):
            return known
        name, path = self.value(policy, "name"), self.value(policy, "path") or "/"
        if not isinstance(name, str) or not isinstance(path, str):
            return None
        return f"arn:{self.partition}:iam::{self.account or PLACEHOLDER_ACCOUNT}:policy{path}{name}"

    def _policy_document(self, policy: str) -> Document:
        name = self.value(policy, "name")
        return self.document(policy, "policy", name if isinstance(name, str) else policy)

    def _policies(self) -> list[str]:
        return [
            a
            for a, (_, c) in self.changes.items()
            if c.get("type") == "aws_iam_policy" and c.get("mode", "managed") == "managed"
        ]

    def _referenced_policies(self, address: str, attribute: str) -> list[str]:
        """The aws_iam_policy resources an unknown ARN (or list of ARNs) refers to, through the configuration."""
        policies = self._policies()
        found = [a for r in self.references(address, attribute) for a in self._instances(r) if a in policies]
        return list(dict.fromkeys(found))

    def _targets(self, address: str, attribute: str, role: DeclaredRole) -> str | None:
        """Does the attribute name the role: "yes", "maybe" (unknown) or None."""
        value = self.value(address, attribute)
        values = value if isinstance(value, list) else [value]
        references = [r for r in self.references(address, attribute) if r.split(".")[-2] == "aws_iam_role"]
        if references:
            instances = [a for r in references for a in self._instances(r)]
            if role.key in instances:
                named = [v for v in values if isinstance(v, str)]
                if len(instances) == 1 or (isinstance(role.name, str) and role.name in named):
                    return "yes"
                return "maybe"
            return None  # the configuration points it at other roles
        if isinstance(role.name, str) and role.name in values:
            return "yes"
        if any(isinstance(v, Unknown) for v in values) or isinstance(value, Unknown):
            return "maybe"
        return None

    def _attachments(self, role: DeclaredRole) -> None:
        """Inline policies, attachments and instance profiles the plan gives the role."""
        exclusive: list[ManagedRef] | None = None
        attached: list[ManagedRef] = []
        for address, (index, change) in self.changes.items():
            kind = change.get("type")
            if change.get("mode", "managed") != "managed" or kind not in _ATTACHING:
                continue
            field = {
                "aws_iam_policy_attachment": "roles",
                "aws_iam_role_policy_attachments_exclusive": "role_name",
            }.get(str(kind), "role")
            hit = self._targets(address, field, role)
            if hit is None:
                continue
            possible = hit == "maybe"
            if kind == "aws_iam_role_policy":
                name = self.value(address, "name")
                document = self.document(address, "policy", name if isinstance(name, str) else address)
                role.inline.append(Document(document.name, document.body, document.where, possible=possible))
            elif kind in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment"):
                ref = self._managed(self.value(address, "policy_arn"), address, "policy_arn")
                attached.append(dataclasses.replace(ref, possible=possible or ref.possible))
            elif kind == "aws_iam_role_policy_attachments_exclusive":
                exclusive = exclusive or []
                arns = self.value(address, "policy_arns")
                if isinstance(arns, Unknown):
                    # The list is known after apply; the policies the configuration names are in it.
                    named = self._referenced_policies(address, "policy_arns")
                    exclusive += [
                        ManagedRef(self.policy_arn(p) or arns, self._policy_document(p), arns.where, possible=possible)
                        for p in named
                    ]
                else:
                    for arn in arns or []:
                        ref = self._managed(arn, address, "policy_arns")
                        exclusive.append(dataclasses.replace(ref, possible=possible or ref.possible))
            else:
                name = self.value(address, "name")
                shown = name if isinstance(name, str) else address
                arn = self.value(address, "arn")
                partition, account = self.partition, self.account or PLACEHOLDER_ACCOUNT
                role.profiles.append(
                    ProfileRef(
                        shown,
                        arn if isinstance(arn, str) else f"arn:{partition}:iam::{account}:instance-profile/{shown}",
                        f"resource_changes[{index}] ({address})",
                        possible=possible,
                    )
                )
        if exclusive is not None:
            # The exclusive set detaches every other policy: one attached elsewhere may or may not
            # stay (it depends on the order of applies), so it counts as uncertain.
            listed = {m.arn for m in exclusive if isinstance(m.arn, str)}
            others = [*role.managed, *attached]
            role.managed = exclusive + [
                dataclasses.replace(m, possible=True)
                for m in others
                if not (isinstance(m.arn, str) and m.arn in listed)
            ]
        else:
            role.managed.extend(attached)


def _is_unknown(marker: Any) -> bool:
    """Does an after_unknown entry hold ``true`` anywhere (for a list or block)?"""
    if marker is True:
        return True
    if isinstance(marker, Mapping):
        return any(_is_unknown(v) for v in marker.values())
    if isinstance(marker, list):
        return any(_is_unknown(v) for v in marker)
    return False


def _mark(value: Any, marker: Any, where: str, why: str) -> Any:
    """``value`` with the parts ``marker`` flags replaced by Unknowns."""
    if marker is True:
        return Unknown(where, why)
    if isinstance(marker, list):
        items = list(value) if isinstance(value, list) else []
        items += [None] * (len(marker) - len(items))
        return [_mark(v, m, f"{where}[{i}]", why) for i, (v, m) in enumerate(zip(items, marker, strict=False))] + items[
            len(marker) :
        ]
    if isinstance(marker, Mapping):
        base = dict(value) if isinstance(value, Mapping) else {}
        for key, inner in marker.items():
            base[key] = _mark(base.get(key), inner, f"{where}.{key}", why)
        return base
    return value


def _parse_json(value: Any, where: str, plan: TerraformPlan) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise plan.fault(f"{where}: expected a JSON policy document")
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise plan.fault(f"{where}: the policy is not JSON: {error.msg}") from None


def _module_prefix(address: str) -> str:
    parts = address.split(".")
    prefix: list[str] = []
    while len(parts) >= 2 and parts[0] == "module":
        prefix += parts[:2]
        parts = parts[2:]
    return ".".join(prefix) + "." if prefix else ""
