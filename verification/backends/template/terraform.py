"""Terraform plans (``terraform show -json PLANFILE``, format_version 0.1, 0.2 and 1.x) → declared roles.

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
    role_fault,
)
from verification.errors import InputError

_INDEX = re.compile(r"\[[^\]]*\]")
#: A reference's resource part: ``[data.]TYPE.NAME[KEY]`` (KEY only when the configuration writes a literal one).
_REFERENCE = re.compile(r"(data\.|module\.)?([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)(\[[^\]]*\])?")
_ATTACHING = (
    "aws_iam_role_policy",
    "aws_iam_role_policy_attachment",
    "aws_iam_policy_attachment",
    "aws_iam_role_policy_attachments_exclusive",
    "aws_iam_role_policies_exclusive",
    "aws_iam_instance_profile",
)
#: Where each resource names its role(s).
_ROLE_FIELD = {
    "aws_iam_policy_attachment": "roles",
    "aws_iam_role_policy_attachments_exclusive": "role_name",
    "aws_iam_role_policies_exclusive": "role_name",
}


#: The pre-1.0 JSON plan formats read as 1.x is.
_FORMATS_0 = ("0.1", "0.2")


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
    # 0.1 (Terraform 0.12-0.14) and 0.2 (0.15-1.0) hold what 1.x holds for this reader: resource
    # changes with after/after_unknown, configuration references (resource addresses only in 0.1,
    # where 1.x also lists each attribute), no complete/errored. Their providers may lack newer
    # attributes (inline_policy, managed_policy_arns): absent means not set, as in 1.x.
    if version not in _FORMATS_0 and version.split(".", 1)[0] != "1":
        raise InputError(f"plan {path}: format_version {version} is not supported: this reader knows 0.1, 0.2 and 1.x")
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

    def references(self, address: str, attribute: str, *, indexed: bool = False) -> list[str]:
        """Addresses (config form) an attribute refers to: ``aws_iam_role.worker`` from ``aws_iam_role.worker.name``.

        With ``indexed``, a literal instance key is kept (``aws_iam_role.worker[0]``, ``...["a"]``), so
        a reference to one count or for_each instance names that instance only.
        """
        module = _module_prefix(_INDEX.sub("", address))
        found: list[str] = []
        stack = [self._expressions(address).get(attribute)]
        while stack:
            item = stack.pop()
            if isinstance(item, Mapping):
                for reference in item.get("references") or []:
                    match = _REFERENCE.match(str(reference))
                    if match is None or match.group(1) == "module." or match.group(2) in ("each", "count"):
                        continue
                    found.append(module + (match.group(0) if indexed else _INDEX.sub("", match.group(0))))
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
        """The role at ``key`` and everything the plan attaches to it, as the AWS provider applies it."""
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
        fault = role_fault(name, path)
        if fault:
            raise self.fault(f"{key}: {fault.replace('RoleName: ', 'name: ').replace('Path: ', 'path: ')}")
        trust = self.document(key, "assume_role_policy", "trust")
        role = DeclaredRole(key=key, name=name, path=str(path), trust=trust.body, where=key)
        exclusive = _Exclusive()
        if self.configured(key, "inline_policy"):
            # Exclusive: the blocks are the role's inline policies; an empty block (name and policy
            # "") removes every other one (the aws_iam_role documentation, inline_policy).
            names: set[str] | None = set()
            inline = self.value(key, "inline_policy")
            if isinstance(inline, Unknown):
                role.inline.append(Document("inline_policy", inline, inline.where))
                names = None
            for number, block in enumerate(inline if isinstance(inline, list) else []):
                where = f"resource_changes[{index}].change.after.inline_policy[{number}].policy ({key})"
                policy = block.get("policy") if isinstance(block, Mapping) else None
                block_name = block.get("name") if isinstance(block, Mapping) else None
                if policy in ("", None) and block_name in ("", None):
                    continue  # the empty block: no policy of its own
                if isinstance(block_name, Unknown):
                    names = None
                body = policy if isinstance(policy, Unknown) else _parse_json(policy, where, self)
                shown = block_name if isinstance(block_name, str) else f"inline-{number}"
                if names is not None:
                    names.add(shown)
                role.inline.append(Document(shown, body, where))
            exclusive.inline.append((f"{key}.inline_policy", names))
        if self.configured(key, "managed_policy_arns"):
            listed = self._policy_list(key, "managed_policy_arns", possible=False)
            role.managed.extend(listed)
            exclusive.managed.append((f"{key}.managed_policy_arns", listed))
        if self.configured(key, "permissions_boundary") or self.value(key, "permissions_boundary"):
            boundary = self.value(key, "permissions_boundary")
            if boundary:
                role.boundary = self._managed(boundary, key, "permissions_boundary")
        self._attachments(role, exclusive)
        return role

    def _policy_list(self, address: str, attribute: str, *, possible: bool) -> list[ManagedRef]:
        """A list of policy ARNs (managed_policy_arns, policy_arns) as ManagedRefs.

        Known after apply only (it names an aws_iam_policy of the plan), it is read from the
        configuration: its constant value, else the aws_iam_policy resources it refers to.
        """
        arns = self.value(address, attribute)
        if isinstance(arns, Unknown):
            constant = self._expressions(address).get(attribute)
            if isinstance(constant, Mapping) and isinstance(constant.get("constant_value"), list):
                arns = constant["constant_value"]
            else:
                named = self._referenced_policies(address, attribute)
                if not named:
                    return [ManagedRef(arns, None, arns.where, possible=possible)]
                # The plan shows the list's references, never the ARNs written literally beside them
                # (an AWSDenyAll, say): the list may hold more than the policies it refers to.
                more = Unknown(
                    arns.where,
                    f"{address}.{attribute} is known only after apply, and the plan shows only the policies it "
                    "refers to, not ARNs written literally beside them",
                    "write the list so it is known at plan time, or verify the applied role",
                )
                return [
                    *(
                        ManagedRef(self.policy_arn(p) or arns, self._policy_document(p), arns.where, possible=possible)
                        for p in named
                    ),
                    ManagedRef(more, None, arns.where, possible=True, because=more.why),
                ]
        refs = []
        for arn in arns or []:
            ref = self._managed(arn, address, attribute)
            refs.append(dataclasses.replace(ref, possible=possible or ref.possible))
        return refs

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
        """Does the attribute name the role: "yes", "maybe" (unknown) or None.

        Known names decide (each count/for_each instance has its own). Else the configuration's
        references do: a reference to one instance (``aws_iam_role.worker[0]``) names that one only;
        one to the whole resource names each of its instances, as "maybe" when there are several.
        """
        value = self.value(address, attribute)
        values = value if isinstance(value, list) else [value]
        unknown = isinstance(value, Unknown) or any(isinstance(v, Unknown) for v in values)
        if isinstance(role.name, str) and not unknown:
            return "yes" if role.name in values else None
        chosen: dict[str, set[str]] = {}
        for reference in self.references(address, attribute, indexed=True):
            base = _INDEX.sub("", reference)
            if base.split(".")[-2] != "aws_iam_role":
                continue
            chosen.setdefault(base, set())
            if reference != base:
                chosen[base].add(reference)
        if chosen:
            instances = {a for base, exact in chosen.items() for a in (exact or self._instances(base))}
            if role.key not in instances:
                return None  # the configuration points it at other roles
            named = [v for v in values if isinstance(v, str)]
            if len(instances) == 1 or (isinstance(role.name, str) and role.name in named):
                return "yes"
            return "maybe"
        if isinstance(role.name, str) and role.name in values:
            return "yes"
        if unknown:
            return "maybe"
        return None

    def _attachments(self, role: DeclaredRole, exclusive: _Exclusive) -> None:
        """Inline policies, attachments and instance profiles the plan gives the role, applied as the
        provider applies them: what an exclusive resource does not list may be removed."""
        attached: list[ManagedRef] = []
        revoking: list[tuple[str, list[str]]] = []  # aws_iam_policy_attachment elsewhere: (address, policy ARNs)
        for address, (index, change) in self.changes.items():
            kind = str(change.get("type"))
            if change.get("mode", "managed") != "managed" or kind not in _ATTACHING:
                continue
            hit = self._targets(address, _ROLE_FIELD.get(kind, "role"), role)
            if hit is None:
                if kind == "aws_iam_policy_attachment":
                    revoking.append((address, self._arns_of(address)))
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
                listed = self._policy_list(address, "policy_arns", possible=possible)
                exclusive.managed.append((address, listed))
            elif kind == "aws_iam_role_policies_exclusive":
                exclusive.inline.append((address, self._names(address)))
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
        managed: list[ManagedRef] = []
        for ref in [*role.managed, *(m for _, listed in exclusive.managed for m in listed), *attached]:
            if isinstance(ref.arn, str) and any(m.arn == ref.arn for m in managed):
                continue
            managed.append(ref)
        role.managed = [self._exclusive_managed(ref, exclusive, revoking) for ref in managed]
        role.inline = [_exclusive_inline(document, exclusive) for document in role.inline]

    def _exclusive_managed(
        self, ref: ManagedRef, exclusive: _Exclusive, revoking: list[tuple[str, list[str]]]
    ) -> ManagedRef:
        """The attachment as apply leaves it: uncertain when an exclusive list omits it, or when an
        aws_iam_policy_attachment of the same policy does not list the role (it revokes the others)."""
        reasons = []
        for who, listed in exclusive.managed:
            if any(m is ref for m in listed):
                continue
            kept = {m.arn for m in listed if isinstance(m.arn, str)}
            if not isinstance(ref.arn, str) or ref.arn not in kept:
                does = "may not list it" if any(isinstance(m.arn, Unknown) for m in listed) else "does not list it"
                reasons.append(
                    f"{who} manages the role's managed policies exclusively and {does}: "
                    "apply detaches it, and the resource that attaches it attaches it again"
                )
        for address, revoked in revoking:
            if isinstance(ref.arn, str) and ref.arn in revoked:
                reasons.append(
                    f"{address} attaches {ref.arn} exclusively to the roles, users and groups it lists, "
                    "not this role: apply revokes it here"
                )
        if not reasons:
            return ref
        return dataclasses.replace(ref, possible=True, because="; ".join(reasons))

    def _arns_of(self, address: str) -> list[str]:
        """The policy ARN an aws_iam_policy_attachment attaches (made from its aws_iam_policy when unknown)."""
        arn = self.value(address, "policy_arn")
        if isinstance(arn, str):
            return [arn]
        return [a for p in self._referenced_policies(address, "policy_arn") if (a := self.policy_arn(p))]

    def _names(self, address: str) -> set[str] | None:
        """aws_iam_role_policies_exclusive's policy_names (through the configuration when unknown), or None."""
        names = self.value(address, "policy_names")
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return set(names)
        found: set[str] = set()
        for reference in self.references(address, "policy_names"):
            for instance in self._instances(reference):
                name = self.value(instance, "name")
                if not isinstance(name, str):
                    return None
                found.add(name)
        return found or None


@dataclasses.dataclass
class _Exclusive:
    """What manages a role's policies exclusively: (who, the list it keeps) for managed and inline ones.

    An inline list is None when its names are unknown (then every inline policy is uncertain).
    """

    managed: list[tuple[str, list[ManagedRef]]] = dataclasses.field(default_factory=list)
    inline: list[tuple[str, set[str] | None]] = dataclasses.field(default_factory=list)


def _exclusive_inline(document: Document, exclusive: _Exclusive) -> Document:
    """The inline policy as apply leaves it: uncertain when an exclusive set does not name it."""
    reasons = [
        f"{who} manages the role's inline policies exclusively and does not name it: apply deletes it, and "
        "the resource that writes it writes it again"
        for who, names in exclusive.inline
        if names is None or document.name not in names
    ]
    if not reasons:
        return document
    return dataclasses.replace(document, possible=True, because="; ".join(reasons))


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
