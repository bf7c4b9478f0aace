"""Intrinsic functions and conditions of a CloudFormation template, evaluated in one *world*.

A world is a choice for each open parameter (one without a value but with AllowedValues) and each
condition that cannot be decided; ``Choose`` asks the caller to try every option. ``Intrinsics``
resolves Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap, Fn::If, the
condition functions, pseudo parameters (AWS::NoValue becomes ``NO_VALUE``) and the functions of
AWS::LanguageExtensions, as CloudFormation would at deployment. What stays open is an ``Unknown``
naming its place in the file. It knows which IAM resources' physical ids can be written down in
advance (a role's name, a managed policy's ARN), not how roles gather their policies: that is
``cloudformation_roles``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from verification.backends.template.model import Unknown, unknowns_in
from verification.errors import InputError

#: A world's choice is keyed by ("parameter", name) or ("condition", name).
ChoiceKey = tuple[str, str]

SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateFacts(Protocol):
    """What evaluating intrinsic functions needs to know of a template and of the user's values."""

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def conditions(self) -> Mapping[str, Any]: ...
    @property
    def declared_parameters(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def mappings(self) -> Mapping[str, Any]: ...
    @property
    def parameters(self) -> Mapping[str, str]: ...
    @property
    def account(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    @property
    def partition(self) -> str: ...
    @property
    def extensions(self) -> bool: ...

    def fault(self, message: str) -> InputError:
        """One line naming the file and the fault."""
        ...


class Choose(Exception):
    """Raised while resolving: this world must choose ``key`` (a parameter or a condition) first."""

    def __init__(self, key: ChoiceKey, options: Sequence[Any]) -> None:
        super().__init__(key)
        self.key = key
        self.options = list(options)


@dataclass(frozen=True)
class Link:
    """A Ref to a resource of the template: its logical id (for linking) and its value (for text)."""

    logical_id: str
    value: Any


#: What Ref AWS::NoValue resolves to: the property, list item or key is dropped as if not written.
NO_VALUE = object()


@dataclass
class Intrinsics:
    """Resolves intrinsic functions in one world (a choice for each open parameter and condition)."""

    template: TemplateFacts
    choices: Mapping[ChoiceKey, Any]
    notes: list[str] = field(default_factory=list)
    _conditions: dict[str, Any] = field(default_factory=dict)

    # -- values ------------------------------------------------------------------------------

    def resolve(self, node: Any, where: str) -> Any:
        """A node with every intrinsic function resolved; AWS::NoValue removed; Links kept."""
        if isinstance(node, Mapping):
            if len(node) == 1:
                ((name, arg),) = node.items()
                if name == "Ref" or (name.startswith("Fn::") and name != "Fn::Transform"):
                    return self._function(name, arg, where)
                if name == "Fn::Transform":
                    raise self.template.fault(f"{where}: Fn::Transform is not supported (give the processed template)")
            out: dict[str, Any] = {}
            for key, value in node.items():
                resolved = self.resolve(value, f"{where}.{key}")
                if resolved is not NO_VALUE:
                    out[str(key)] = resolved
            return out
        if isinstance(node, list):
            items = [self.resolve(value, f"{where}[{i}]") for i, value in enumerate(node)]
            return [item for item in items if item is not NO_VALUE]
        return node

    def plain(self, node: Any, where: str) -> Any:
        """Resolved, with resource Links replaced by their values (for documents and text)."""
        return unlink(self.resolve(node, where))

    def _function(self, name: str, arg: Any, where: str) -> Any:
        here = f"{where}.{name}"
        if name == "Ref":
            return self._ref(arg, here)
        if name == "Fn::GetAtt":
            return self._get_att(arg, here)
        if name == "Fn::Sub":
            return self._sub(arg, here)
        if name == "Fn::Join":
            return self._join(arg, here)
        if name == "Fn::Select":
            return self._select(arg, here)
        if name == "Fn::Split":
            return self._split(arg, here)
        if name == "Fn::FindInMap":
            return self._find_in_map(arg, here)
        if name == "Fn::If":
            return self._if(arg, here)
        if name in ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not"):
            return self._condition_value({name: arg}, here)
        if name == "Fn::ImportValue":
            return Unknown(here, "another stack's export, known only at deployment", "give the value as a literal")
        if name == "Fn::Length" and self.template.extensions:
            values = self.plain(arg, here)
            if isinstance(values, Unknown):
                return values
            if not isinstance(values, list):
                raise self.template.fault(f"{here}: Fn::Length needs a list")
            return len(values)
        if name == "Fn::ToJsonString" and self.template.extensions:
            value = self.plain(arg, here)
            found = unknowns_in(value)
            if found:
                return Unknown(here, "; ".join(dict.fromkeys(u.why for u in found)), found[0].resolve)
            return json.dumps(value, separators=(",", ":"))
        if name.startswith("Fn::Rain::"):
            return Unknown(
                here,
                f"!{name[4:]} is a Rain directive, expanded only by `rain pkg`",
                "give the packaged template (`rain pkg TEMPLATE > packaged.yaml`)",
            )
        return Unknown(here, f"{name} is known only at deployment")

    def _ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise self.template.fault(f"{where}: Ref needs a name")
        if name.startswith("AWS::"):
            return self._pseudo(name, where)
        if name in self.template.declared_parameters:
            return self._parameter(name, where)
        resource = self.template.resources.get(name)
        if resource is None:
            raise self.template.fault(f"{where}: Ref {name}: no such parameter or resource")
        return Link(name, self.resource_ref(name, resource, where))

    def _pseudo(self, name: str, where: str) -> Any:
        template = self.template
        if name in template.parameters:
            return template.parameters[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name == "AWS::Partition":
            if template.region is None:
                self._note("AWS::Partition is taken as aws (give --aws-region for another partition)")
            return template.partition
        if name == "AWS::URLSuffix":
            return "amazonaws.com.cn" if template.partition == "aws-cn" else "amazonaws.com"
        if name == "AWS::AccountId":
            return template.account or Unknown(where, "AWS::AccountId: the account is not given", "pass --account ID")
        if name == "AWS::Region":
            return template.region or Unknown(where, "AWS::Region: the region is not given", "pass --aws-region")
        if name == "AWS::StackName":
            return Unknown(where, "AWS::StackName is not given", "pass --parameter AWS::StackName=NAME")
        return Unknown(where, f"{name} is known only at deployment")

    def _parameter(self, name: str, where: str) -> Any:
        spec = self.template.declared_parameters[name] or {}
        kind = str(spec.get("Type", "String"))
        listed = kind == "CommaDelimitedList" or kind.startswith("List<")
        if kind.startswith("AWS::SSM::Parameter::Value"):
            return Unknown(
                where, f"parameter {name} is read from SSM at deployment", f"replace Ref {name} with the value"
            )
        if name in self.template.parameters:
            value: Any = self.template.parameters[name]
        elif ("parameter", name) in self.choices:
            value = self.choices[("parameter", name)]
        elif "Default" in spec:
            value = spec["Default"] if isinstance(spec["Default"], list) else as_text(spec["Default"])
            self._note(f"parameter {name} is not given: its Default {value!r} was used")
        elif spec.get("AllowedValues"):
            raise Choose(("parameter", name), [as_text(v) for v in spec["AllowedValues"]])
        else:
            return Unknown(where, f"parameter {name} has no value and no Default", f"pass --parameter {name}=VALUE")
        if listed:
            return [part.strip() for part in value.split(",")] if isinstance(value, str) else value
        return value

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def resource_ref(self, logical_id: str, resource: Mapping[str, Any], where: str) -> Any:
        """What Ref gives for a resource: a role's name, a managed policy's ARN, else an Unknown."""
        kind = resource["Type"]
        properties = resource.get("Properties") or {}
        here = f"Resources.{logical_id}.Properties"
        if kind == "AWS::IAM::Role":
            name = (
                value_or(self.plain(properties["RoleName"], f"{here}.RoleName")) if "RoleName" in properties else None
            )
            if name is not None:
                return name
            return Unknown(
                where, f"{logical_id}'s RoleName is generated at deployment", f"set RoleName on {logical_id}"
            )
        if kind == "AWS::IAM::ManagedPolicy":
            return self.managed_arn(logical_id, properties, where)
        if kind == "AWS::IAM::InstanceProfile" and "InstanceProfileName" in properties:
            return self.plain(properties["InstanceProfileName"], f"{here}.InstanceProfileName")
        return Unknown(where, f"the physical id of {logical_id} ({kind}) is known only at deployment")

    def managed_arn(self, logical_id: str, properties: Mapping[str, Any], where: str) -> Any:
        """A template's own ManagedPolicy's ARN, or an Unknown when its name is generated."""
        name = properties.get("ManagedPolicyName")
        if name is None:
            return Unknown(where, f"{logical_id}'s ManagedPolicyName is generated at deployment")
        return self.arn(
            "policy", properties, self.plain(name, f"Resources.{logical_id}.Properties.ManagedPolicyName"), where
        )

    def arn(self, kind: str, properties: Mapping[str, Any], name: Any, where: str) -> Any:
        """An IAM ARN (role, policy, instance-profile) from name and Path, or the first Unknown part."""
        path = self.plain(properties.get("Path", "/"), where)
        account = self.template.account
        for part in (name, path):
            if isinstance(part, Unknown):
                return part
        if account is None:
            return Unknown(where, "AWS::AccountId: the account is not given", "pass --account ID")
        return f"arn:{self.template.partition}:iam::{account}:{kind}{path}{name}"

    def _get_att(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2:
            raise self.template.fault(f"{where}: Fn::GetAtt needs [resource, attribute]")
        logical_id, attribute = arg[0], self.plain(arg[1], where)
        resource = self.template.resources.get(logical_id)
        if resource is None:
            raise self.template.fault(f"{where}: Fn::GetAtt {logical_id}: no such resource")
        kind = resource["Type"]
        properties = resource.get("Properties") or {}
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return self.arn("role", properties, self.resource_ref(logical_id, resource, where), where)
        if kind == "AWS::IAM::InstanceProfile" and attribute == "Arn":
            return self.arn("instance-profile", properties, self.resource_ref(logical_id, resource, where), where)
        if kind == "AWS::IAM::ManagedPolicy" and attribute == "PolicyArn":
            return self.managed_arn(logical_id, properties, where)
        return Unknown(where, f"{logical_id}.{attribute} is known only at deployment")

    def _sub(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            text, local = arg, {}
        elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], Mapping):
            text, local = arg[0], {k: self.plain(v, f"{where}[1].{k}") for k, v in arg[1].items()}
        else:
            raise self.template.fault(f"{where}: Fn::Sub needs a string or [string, {{variables}}]")
        unknown: list[Unknown] = []

        def value(match: re.Match[str]) -> str:
            variable = match.group(1)
            if variable.startswith("!"):
                return "${" + variable[1:] + "}"
            if variable in local:
                found = local[variable]
            elif "." in variable and not variable.startswith("AWS::"):
                found = unlink(self._get_att(variable.split(".", 1), where))
            else:
                found = unlink(self._ref(variable, where))
            if isinstance(found, Unknown):
                unknown.append(found)
                return ""
            if isinstance(found, (list, Mapping)):
                raise self.template.fault(f"{where}: Fn::Sub variable {variable} is not a string")
            return as_text(found)

        result = SUB_VARIABLE.sub(value, text)
        if unknown:
            return Unknown(where, "; ".join(dict.fromkeys(u.why for u in unknown)), unknown[0].resolve)
        return result

    def _join(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            raise self.template.fault(f"{where}: Fn::Join needs [delimiter, [values]]")
        delimiter, values = self.plain(arg[0], where), self.plain(arg[1], where)
        if isinstance(values, Unknown):
            return values
        if not isinstance(values, list):
            raise self.template.fault(f"{where}: Fn::Join needs a list of values")
        unknown = [v for v in values if isinstance(v, Unknown)]
        if unknown:
            return Unknown(where, "; ".join(dict.fromkeys(u.why for u in unknown)), unknown[0].resolve)
        return as_text(delimiter).join(as_text(v) for v in values)

    def _select(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            raise self.template.fault(f"{where}: Fn::Select needs [index, [values]]")
        index, values = self.plain(arg[0], where), self.plain(arg[1], where)
        for part in (index, values):
            if isinstance(part, Unknown):
                return part
        if not isinstance(values, list) or not str(index).isdigit() or int(index) >= len(values):
            raise self.template.fault(f"{where}: Fn::Select index {index} is out of range")
        return values[int(index)]

    def _split(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            raise self.template.fault(f"{where}: Fn::Split needs [delimiter, string]")
        delimiter, text = self.plain(arg[0], where), self.plain(arg[1], where)
        if isinstance(text, Unknown):
            return text
        return str(text).split(str(delimiter))

    def _find_in_map(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) < 3:
            raise self.template.fault(f"{where}: Fn::FindInMap needs [map, top-level key, second-level key]")
        keys = [self.plain(a, where) for a in arg[:3]]
        for key in keys:
            if isinstance(key, Unknown):
                return key
        default = arg[3].get("DefaultValue", NO_VALUE) if len(arg) > 3 and isinstance(arg[3], Mapping) else NO_VALUE
        found: Any = self.template.mappings
        for depth, key in enumerate(keys):
            level = {as_text(k): v for k, v in found.items()} if isinstance(found, Mapping) else None
            if (level is None or as_text(key) not in level) and default is not NO_VALUE:
                return self.resolve(default, f"{where}[3].DefaultValue")  # AWS::LanguageExtensions
            if level is None or as_text(key) not in level:
                path = ".".join(as_text(k) for k in keys[: depth + 1])
                raise self.template.fault(f"{where}: Fn::FindInMap: Mappings has no {path}")
            found = level[as_text(key)]
        return self.resolve(found, f"Mappings.{'.'.join(as_text(k) for k in keys)}")

    def _if(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 3 or not isinstance(arg[0], str):
            raise self.template.fault(f"{where}: Fn::If needs [condition, value if true, value if false]")
        chosen = self.condition(arg[0], where)
        return self.resolve(arg[1] if chosen else arg[2], f"{where}[{1 if chosen else 2}]")

    # -- conditions --------------------------------------------------------------------------

    def condition(self, name: str, where: str) -> bool:
        """A named condition's value; an undecidable one makes the world choose both branches."""
        key = ("condition", name)
        if key in self.choices:
            return bool(self.choices[key])
        value = self._named(name, where)
        if isinstance(value, Unknown):
            raise Choose(key, [True, False])
        return bool(value)

    def _named(self, name: str, where: str) -> Any:
        if name not in self._conditions:
            if name not in self.template.conditions:
                raise self.template.fault(f"{where}: condition {name} is not in Conditions")
            self._conditions[name] = self._condition_value(self.template.conditions[name], f"Conditions.{name}")
        return self._conditions[name]

    def _condition_value(self, node: Any, where: str) -> Any:
        """True, False, or Unknown (three-valued: an And with a known False is False)."""
        if isinstance(node, Mapping) and len(node) == 1:
            ((name, arg),) = node.items()
            if name == "Condition":
                key = ("condition", str(arg))
                return bool(self.choices[key]) if key in self.choices else self._named(str(arg), where)
            if name == "Fn::Equals":
                if not isinstance(arg, list) or len(arg) != 2:
                    raise self.template.fault(f"{where}: Fn::Equals needs two values")
                left, right = (self.plain(a, where) for a in arg)
                if isinstance(left, Unknown) or isinstance(right, Unknown):
                    return left if isinstance(left, Unknown) else right
                return as_text(left) == as_text(right)
            if name in ("Fn::And", "Fn::Or", "Fn::Not") and isinstance(arg, list):
                values = [self._condition_value(a, f"{where}.{name}[{i}]") for i, a in enumerate(arg)]
                known = [v for v in values if not isinstance(v, Unknown)]
                unknown = next((v for v in values if isinstance(v, Unknown)), None)
                if name == "Fn::Not":
                    return unknown if unknown is not None else not known[0]
                decisive = name == "Fn::Or"
                if decisive in known:
                    return decisive
                return unknown if unknown is not None else not decisive
        raise self.template.fault(
            f"{where}: not a condition function (Fn::Equals, Fn::And, Fn::Or, Fn::Not, Condition)"
        )

    def exists(self, logical_id: str) -> bool:
        """Is the resource created in this world (its Condition, if any, is true)?"""
        condition = self.template.resources[logical_id].get("Condition")
        return condition is None or self.condition(str(condition), f"Resources.{logical_id}.Condition")


def references(value: Any, resources: Mapping[str, Any]) -> Iterator[str]:
    """Logical ids of resources a value refers to (Ref, GetAtt, Sub variables)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            if len(item) == 1:
                ((name, arg),) = item.items()
                if name == "Ref" and isinstance(arg, str) and arg in resources:
                    yield arg
                elif name == "Fn::GetAtt":
                    target = arg.split(".", 1)[0] if isinstance(arg, str) else (arg[0] if arg else None)
                    if isinstance(target, str) and target in resources:
                        yield target
                elif name == "Fn::Sub":
                    text = arg if isinstance(arg, str) else (arg[0] if isinstance(arg, list) and arg else "")
                    local = arg[1] if isinstance(arg, list) and len(arg) > 1 and isinstance(arg[1], Mapping) else {}
                    for variable in SUB_VARIABLE.findall(str(text)):
                        base = variable.split(".", 1)[0]
                        if not variable.startswith("!") and base in resources and base not in local:
                            yield base
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def scalars(value: Any) -> Iterator[Any]:
    """Every scalar inside a value (strings of a nested stack's Parameters, say)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            yield item


def condition_names(value: Any) -> Iterator[str]:
    """Names of the conditions a value refers to (``Condition: Name`` inside it)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            if len(item) == 1 and "Condition" in item and isinstance(item["Condition"], str):
                yield item["Condition"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def value_or(value: Any, default: Any = None) -> Any:
    """``default`` where a property resolved to AWS::NoValue (CloudFormation then treats it as not set)."""
    return default if value is NO_VALUE else value


def unlink(value: Any) -> Any:
    """A resolved value with every resource Link replaced by its value."""
    if isinstance(value, Link):
        return value.value
    if isinstance(value, Mapping):
        return {k: unlink(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unlink(v) for v in value]
    return value


def as_text(value: Any) -> str:
    """A scalar as CloudFormation reads it as a string: YAML's unquoted true/false are "true"/"false"."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
