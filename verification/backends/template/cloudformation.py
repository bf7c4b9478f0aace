"""CloudFormation templates (JSON, YAML with short-form tags, CDK synth output) → declared roles.

Intrinsic functions are resolved as CloudFormation would at deployment, from what the user gives
(``--parameter``, ``--account``, ``--aws-region``) and what the template says (Defaults, Mappings,
Conditions). What stays open becomes an ``Unknown`` naming its place in the file. A parameter
without a value but with AllowedValues, and a condition that cannot be decided, split the run
into *worlds*: each value, each branch, is tried, and a requirement must hold in all of them.
Faults the deployment itself would reject (a cyclic reference, an invalid role name), and what
this reader does not expand (a Transform, a Rain module, a nested stack handed the verified role),
are one ``InputError`` line naming the file and the resource. Scalars become strings as
CloudFormation makes them (YAML's true/false are "true"/"false").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from verification.backends.template.managed import ManagedPolicies
from verification.backends.template.model import (
    PLACEHOLDER_ACCOUNT,
    DeclaredRole,
    Document,
    ManagedRef,
    ProfileRef,
    Unknown,
    role_fault,
    unknowns_in,
)
from verification.errors import InputError

#: The most worlds one role may need (parameter values x undecidable conditions) before the run asks
#: for values instead of trying them all.
MAX_WORLDS = 256

_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    "GetAtt": "Fn::GetAtt",
}
_ATTACHING = ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile")
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


#: The one Transform read as is: its functions are resolved here.
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"

#: libyaml's parser when PyYAML was built with it (ten times faster on a large template).
_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE):  # type: ignore[misc]
    """YAML as CloudFormation reads it: short-form tags become long-form functions, dates stay text."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_tag(loader: Any, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = _SHORT_TAGS.get(suffix, f"Fn::{suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _construct_tag)


class _Choose(Exception):
    """Raised while resolving: this world must choose ``key`` (a parameter or a condition) first."""

    def __init__(self, key: tuple[str, str], options: Sequence[Any]) -> None:
        super().__init__(key)
        self.key = key
        self.options = list(options)


@dataclass(frozen=True)
class _Link:
    """A Ref to a resource of the template: its logical id (for linking) and its value (for text)."""

    logical_id: str
    value: Any


_NO_VALUE = object()


def read_text(path: Path, kind: str) -> str:
    """A template's or plan's text; one InputError line naming the file when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{kind} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{kind} {path}: cannot read: {error}") from None


def load_template(path: Path) -> dict[str, Any]:
    """Read a template file; one InputError line when it is not a CloudFormation template."""
    text = read_text(path, "template")
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=_Loader)
    except json.JSONDecodeError as error:
        raise InputError(
            f"template {path}: not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise InputError(f"template {path}: not YAML: {getattr(error, 'problem', error)}{where}") from None
    if isinstance(data, Mapping) and "format_version" in data and ("resource_changes" in data or "values" in data):
        raise InputError(f"template {path}: this is Terraform JSON, not a CloudFormation template: give it with --plan")
    if not isinstance(data, Mapping) or not isinstance(data.get("Resources"), Mapping):
        raise InputError(
            f"template {path}: not a CloudFormation template: no Resources section "
            "(give a CloudFormation JSON/YAML template or a CDK cdk.out/*.template.json)"
        )
    return dict(data)


class CloudFormation:
    """One template, checked once; ``declare`` gives a role in each world it needs."""

    kind = "CloudFormation template"

    def __init__(
        self,
        path: Path,
        data: Mapping[str, Any],
        *,
        parameters: Mapping[str, str],
        account: str | None,
        region: str | None,
        partition: str,
        managed: ManagedPolicies,
    ) -> None:
        self.path = path
        self.data = data
        self.parameters = dict(parameters)
        self.account = account
        self.region = region
        self.partition = partition
        self.managed = managed
        self.resources: Mapping[str, Mapping[str, Any]] = data["Resources"]
        self.conditions: Mapping[str, Any] = data.get("Conditions") or {}
        self.declared_parameters: Mapping[str, Mapping[str, Any]] = data.get("Parameters") or {}
        self.mappings: Mapping[str, Any] = data.get("Mappings") or {}
        self._check()
        self._index_attachments()

    def fault(self, message: str) -> InputError:
        """One line naming the file and the fault."""
        return InputError(f"template {self.path}: {message}")

    def _check(self) -> None:
        transform = self.data.get("Transform")
        names = (transform if isinstance(transform, list) else [transform]) if transform else []
        # AWS::LanguageExtensions adds functions this reader resolves (Fn::Length, Fn::ToJsonString,
        # Fn::FindInMap's DefaultValue); only its Fn::ForEach, which writes resources, is refused.
        self.extensions = LANGUAGE_EXTENSIONS in names
        names = [n for n in names if n != LANGUAGE_EXTENSIONS]
        if names:
            shown = ", ".join(str(n if not isinstance(n, Mapping) else n.get("Name", n)) for n in names)
            raise self.fault(
                f"Transform {shown} is not supported: the roles are known only after CloudFormation expands it "
                "(SAM: run `sam build` and give .aws-sam/build/template.yaml; macros: give the processed template "
                "from `aws cloudformation get-template --template-stage Processed`)"
            )
        #: Nested stacks: logical id -> type. Not read; a role they are handed is refused (``nested_fault``).
        self.nested: dict[str, str] = {}
        for logical_id, resource in self.resources.items():
            if str(logical_id).startswith("Fn::ForEach::"):
                raise self.fault(
                    f"Resources.{logical_id}: Fn::ForEach (AWS::LanguageExtensions) writes resources only when "
                    "CloudFormation processes the template; give the processed template from "
                    "`aws cloudformation get-template --template-stage Processed`"
                )
            if not isinstance(resource, Mapping):
                raise self.fault(f"Resources.{logical_id}: expected a mapping with a Type")
            kind = resource.get("Type")
            if isinstance(kind, Mapping) and any("Rain::" in str(k) for k in kind):
                raise self.fault(
                    f"Resources.{logical_id}.Type is a Rain module ({', '.join(map(str, kind))}): it is expanded "
                    "only by `rain pkg`; give the packaged template (`rain pkg TEMPLATE > packaged.yaml`)"
                )
            if not isinstance(kind, str):
                shown = "missing" if kind is None else f"{type(kind).__name__} {kind!r}"[:120]
                raise self.fault(
                    f"Resources.{logical_id}.Type: expected a resource type such as AWS::IAM::Role, not {shown}"
                )
            if kind in ("AWS::CloudFormation::Stack", "AWS::Serverless::Application"):
                self.nested[logical_id] = kind
                continue
            if kind.startswith("AWS::Serverless::"):
                raise self.fault(
                    f"Resources.{logical_id} is a SAM resource ({kind}): give the template `sam build` writes"
                )
            for key in ("Properties",):
                if key in resource and not isinstance(resource[key], Mapping):
                    raise self.fault(f"Resources.{logical_id}.{key}: expected a mapping")
        self._check_cycles()

    def _check_cycles(self) -> None:
        graph: dict[str, set[str]] = {}
        for logical_id, resource in self.resources.items():
            deps = set(_references(resource.get("Properties"), self.resources))
            depends = resource.get("DependsOn") or []
            deps.update(d for d in ([depends] if isinstance(depends, str) else depends) if d in self.resources)
            graph[f"Resources.{logical_id}"] = {f"Resources.{d}" for d in deps}
        for name, condition in self.conditions.items():
            graph[f"Conditions.{name}"] = {f"Conditions.{c}" for c in _condition_names(condition)}
        state: dict[str, int] = {}

        def visit(node: str, trail: list[str]) -> None:
            state[node] = 1
            for nxt in sorted(graph.get(node, ())):
                if state.get(nxt) == 1:
                    cycle = [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
                    raise self.fault(f"circular reference: {' -> '.join(cycle)} (CloudFormation rejects it)")
                if nxt not in state:
                    visit(nxt, [*trail, nxt])
            state[node] = 2

        for node in graph:
            if node not in state:
                visit(node, [node])

    def _index_attachments(self) -> None:
        """Which resources may attach to which role: exact for ``Roles: [Ref R]``, else every role."""
        self.attaching: dict[str, list[str]] = {}
        self.dynamic: list[str] = []
        self.managed_policies = [k for k, r in self.resources.items() if r["Type"] == "AWS::IAM::ManagedPolicy"]
        for logical_id, resource in self.resources.items():
            kind = resource["Type"]
            if kind not in _ATTACHING:
                continue
            value = (resource.get("Properties") or {}).get("RoleName" if kind == "AWS::IAM::RolePolicy" else "Roles")
            if value is None:
                continue
            entries = value if isinstance(value, list) else [value]
            refs = [e.get("Ref") if isinstance(e, Mapping) and len(e) == 1 else None for e in entries]
            if all(isinstance(r, str) and self.resources.get(r, {}).get("Type") == "AWS::IAM::Role" for r in refs):
                for ref in dict.fromkeys(refs):
                    self.attaching.setdefault(str(ref), []).append(logical_id)
            else:
                self.dynamic.append(logical_id)
        self._order = {key: number for number, key in enumerate(self.resources)}

    def attachments_of(self, key: str) -> list[str]:
        """Resources that may attach to the role ``key``, in file order."""
        return sorted([*self.attaching.get(key, ()), *self.dynamic], key=self._order.__getitem__)

    def nested_fault(self, key: str) -> None:
        """Refuse the role ``key`` when a nested stack is handed it (its name, ARN or id): the nested
        template may attach policies to it, and this reader does not read that template."""
        role = self.resources[key]
        name = (role.get("Properties") or {}).get("RoleName")
        for logical_id, kind in self.nested.items():
            properties = self.resources[logical_id].get("Properties")
            handed = key in set(_references(properties, self.resources))
            if not handed and isinstance(name, str):
                # Its name, or an ARN ending in it (a longer name that merely contains it is another role).
                handed = any(isinstance(v, str) and (v == name or v.endswith("/" + name)) for v in _scalars(properties))
            if handed:
                raise self.fault(
                    f"Resources.{logical_id} is a nested stack ({kind}) handed role {key}: its template may "
                    f"attach policies to {key}, and it is not read; verify with the nested template's policies "
                    "in this one, or the deployed role (CDK: cdk.out/*.nested.template.json)"
                )

    def nested_notes(self) -> list[str]:
        """One note per nested stack that the verified role is not handed (the stack is not read)."""
        return [
            f"Resources.{logical_id} ({kind}) is not read: it is handed nothing that names this role"
            for logical_id, kind in self.nested.items()
        ]

    def roles_elsewhere(self) -> str:
        """Where this template's roles may be instead: nested stacks and StackSets carry templates of their own."""
        others = [
            f"{logical_id} ({resource['Type']})"
            for logical_id, resource in self.resources.items()
            if resource["Type"] in ("AWS::CloudFormation::Stack", "AWS::CloudFormation::StackSet")
        ]
        if not others:
            return ""
        if len(others) == 1:
            return f"; {others[0]} deploys a template of its own: verify that template itself"
        return f"; {', '.join(others)} deploy templates of their own: verify those templates themselves"

    def role_keys(self) -> list[str]:
        """Every AWS::IAM::Role's logical id, in file order."""
        return [key for key, res in self.resources.items() if res["Type"] == "AWS::IAM::Role"]

    def worlds(self, key: str) -> list[tuple[dict[tuple[str, str], Any], DeclaredRole | None, list[str]]]:
        """The role in every world it needs: (choices, the role or None when not created, notes)."""
        self.nested_fault(key)
        pending: list[dict[tuple[str, str], Any]] = [{}]
        done: list[tuple[dict[tuple[str, str], Any], DeclaredRole | None, list[str]]] = []
        while pending:
            choices = pending.pop(0)
            resolver = _Resolver(self, choices)
            try:
                role = resolver.declare(key)
            except _Choose as choose:
                pending[:0] = [{**choices, choose.key: option} for option in choose.options]
                if len(pending) + len(done) > MAX_WORLDS:
                    raise self.fault(
                        f"{key} needs more than {MAX_WORLDS} combinations of parameter values and conditions: "
                        "give values with --parameter"
                    ) from None
                continue
            done.append((choices, role, [*resolver.notes, *self.nested_notes()]))
        return done


def _references(value: Any, resources: Mapping[str, Any]) -> Iterator[str]:
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
                    for variable in _SUB_VARIABLE.findall(str(text)):
                        base = variable.split(".", 1)[0]
                        if not variable.startswith("!") and base in resources and base not in local:
                            yield base
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _scalars(value: Any) -> Iterator[Any]:
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


def _condition_names(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            if len(item) == 1 and "Condition" in item and isinstance(item["Condition"], str):
                yield item["Condition"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@dataclass
class _Resolver:
    """Resolves intrinsic functions in one world (a choice for each open parameter and condition)."""

    template: CloudFormation
    choices: Mapping[tuple[str, str], Any]
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
                if resolved is not _NO_VALUE:
                    out[str(key)] = resolved
            return out
        if isinstance(node, list):
            items = [self.resolve(value, f"{where}[{i}]") for i, value in enumerate(node)]
            return [item for item in items if item is not _NO_VALUE]
        return node

    def plain(self, node: Any, where: str) -> Any:
        """Resolved, with resource Links replaced by their values (for documents and text)."""
        return _unlink(self.resolve(node, where))

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
        return _Link(name, self._resource_ref(name, resource, where))

    def _pseudo(self, name: str, where: str) -> Any:
        template = self.template
        if name in template.parameters:
            return template.parameters[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
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
            value = spec["Default"] if isinstance(spec["Default"], list) else _text(spec["Default"])
            self._note(f"parameter {name} is not given: its Default {value!r} was used")
        elif spec.get("AllowedValues"):
            raise _Choose(("parameter", name), [_text(v) for v in spec["AllowedValues"]])
        else:
            return Unknown(where, f"parameter {name} has no value and no Default", f"pass --parameter {name}=VALUE")
        if listed:
            return [part.strip() for part in value.split(",")] if isinstance(value, str) else value
        return value

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _resource_ref(self, logical_id: str, resource: Mapping[str, Any], where: str) -> Any:
        kind = resource["Type"]
        properties = resource.get("Properties") or {}
        here = f"Resources.{logical_id}.Properties"
        if kind == "AWS::IAM::Role":
            name = _or(self.plain(properties["RoleName"], f"{here}.RoleName")) if "RoleName" in properties else None
            if name is not None:
                return name
            return Unknown(
                where, f"{logical_id}'s RoleName is generated at deployment", f"set RoleName on {logical_id}"
            )
        if kind == "AWS::IAM::ManagedPolicy":
            return self._managed_arn(logical_id, properties, where)
        if kind == "AWS::IAM::InstanceProfile" and "InstanceProfileName" in properties:
            return self.plain(properties["InstanceProfileName"], f"{here}.InstanceProfileName")
        return Unknown(where, f"the physical id of {logical_id} ({kind}) is known only at deployment")

    def _managed_arn(self, logical_id: str, properties: Mapping[str, Any], where: str) -> Any:
        name = properties.get("ManagedPolicyName")
        if name is None:
            return Unknown(where, f"{logical_id}'s ManagedPolicyName is generated at deployment")
        return self._arn(
            "policy", properties, self.plain(name, f"Resources.{logical_id}.Properties.ManagedPolicyName"), where
        )

    def _arn(self, kind: str, properties: Mapping[str, Any], name: Any, where: str) -> Any:
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
            return self._arn("role", properties, self._resource_ref(logical_id, resource, where), where)
        if kind == "AWS::IAM::InstanceProfile" and attribute == "Arn":
            return self._arn("instance-profile", properties, self._resource_ref(logical_id, resource, where), where)
        if kind == "AWS::IAM::ManagedPolicy" and attribute == "PolicyArn":
            return self._managed_arn(logical_id, properties, where)
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
                found = _unlink(self._get_att(variable.split(".", 1), where))
            else:
                found = _unlink(self._ref(variable, where))
            if isinstance(found, Unknown):
                unknown.append(found)
                return ""
            if isinstance(found, (list, Mapping)):
                raise self.template.fault(f"{where}: Fn::Sub variable {variable} is not a string")
            return _text(found)

        result = _SUB_VARIABLE.sub(value, text)
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
        return _text(delimiter).join(_text(v) for v in values)

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
        default = arg[3].get("DefaultValue", _NO_VALUE) if len(arg) > 3 and isinstance(arg[3], Mapping) else _NO_VALUE
        found: Any = self.template.mappings
        for depth, key in enumerate(keys):
            level = {_text(k): v for k, v in found.items()} if isinstance(found, Mapping) else None
            if (level is None or _text(key) not in level) and default is not _NO_VALUE:
                return self.resolve(default, f"{where}[3].DefaultValue")  # AWS::LanguageExtensions
            if level is None or _text(key) not in level:
                path = ".".join(_text(k) for k in keys[: depth + 1])
                raise self.template.fault(f"{where}: Fn::FindInMap: Mappings has no {path}")
            found = level[_text(key)]
        return self.resolve(found, f"Mappings.{'.'.join(_text(k) for k in keys)}")

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
            raise _Choose(key, [True, False])
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
                return _text(left) == _text(right)
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

    # -- roles -------------------------------------------------------------------------------

    def declare(self, key: str) -> DeclaredRole | None:
        """The role ``key`` as this world declares it, with everything attached to it."""
        if not self.exists(key):
            return None
        template = self.template
        here = f"Resources.{key}.Properties"
        properties = template.resources[key].get("Properties") or {}
        name = self._resource_ref(key, template.resources[key], f"{here}.RoleName")
        path = _or(self.plain(properties.get("Path", "/"), f"{here}.Path"), "/")
        if isinstance(path, Unknown):
            raise template.fault(f"{here}.Path: the path must be known ({path.why})")
        fault = role_fault(name, path)
        if fault:
            raise template.fault(f"{here}.{fault}")
        trust = _or(self.plain(properties.get("AssumeRolePolicyDocument"), f"{here}.AssumeRolePolicyDocument"))
        if trust is None:
            raise template.fault(f"{here}.AssumeRolePolicyDocument: missing (a role needs a trust policy)")
        role = DeclaredRole(key=key, name=name, path=str(path), trust=trust, where=f"Resources.{key}")
        # A list property may be !If [C, [...], !Ref AWS::NoValue] as a whole: no value is an empty list.
        policies = _or(self.resolve(properties.get("Policies", []), f"{here}.Policies"), [])
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
                name_value = _unlink(item.get("PolicyName"))
                policy_name = name_value if isinstance(name_value, str) else f"{key}-policy-{number}"
                role.inline.append(Document(policy_name, _unlink(item["PolicyDocument"]), f"{where}.PolicyDocument"))
        arns = _or(self.resolve(properties.get("ManagedPolicyArns", []), f"{here}.ManagedPolicyArns"), [])
        if isinstance(arns, Unknown):
            role.managed.append(ManagedRef(arns, None, arns.where))
        elif not isinstance(arns, list):
            raise template.fault(f"{here}.ManagedPolicyArns: expected a list of policy ARNs")
        else:
            for number, value in enumerate(arns):
                role.managed.append(self._managed(value, f"{here}.ManagedPolicyArns[{number}]"))
        if "PermissionsBoundary" in properties:
            boundary = self.resolve(properties["PermissionsBoundary"], f"{here}.PermissionsBoundary")
            if boundary is not _NO_VALUE:
                role.boundary = self._managed(boundary, f"{here}.PermissionsBoundary")
        self._attachments(role)
        return role

    def _managed(self, value: Any, where: str) -> ManagedRef:
        """A managed policy named by ARN or by a Ref to the template's own ManagedPolicy."""
        if isinstance(value, _Link):
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
            arn = _unlink(self._managed_arn(logical_id, properties, where))
            if arn == value:
                return self._declared_policy(logical_id, arn, where)
        return ManagedRef(value, self.template.managed.lookup(value, where), where)

    def _declared_policy(self, logical_id: str, arn: Any, where: str) -> ManagedRef:
        here = f"Resources.{logical_id}.Properties"
        properties = self.template.resources[logical_id].get("Properties") or {}
        if not self.exists(logical_id):
            raise self.template.fault(f"{where}: {logical_id} is not created in this case (its Condition is false)")
        body = self.plain(properties.get("PolicyDocument"), f"{here}.PolicyDocument")
        name = _unlink(self.plain(properties.get("ManagedPolicyName", logical_id), here))
        path = self.plain(properties.get("Path", "/"), here)
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
        if isinstance(value, _Link):
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
            field_name = "RoleName" if kind == "AWS::IAM::RolePolicy" else "Roles"
            if field_name not in properties:
                continue
            targets = self.resolve(properties[field_name], f"{here}.{field_name}")
            entries = targets if isinstance(targets, list) else [targets]
            hits = [self._targets(entry, role) for entry in entries]
            if "yes" in hits:
                certain = True
            elif "maybe" in hits:
                certain = False
            else:
                continue
            if not self.exists(logical_id):
                continue
            if kind == "AWS::IAM::InstanceProfile":
                name = _unlink(self.plain(properties.get("InstanceProfileName", logical_id), here))
                shown = name if isinstance(name, str) else logical_id
                arn = _unlink(self._arn("instance-profile", properties, shown, here))
                role.profiles.append(
                    ProfileRef(
                        shown,
                        arn
                        if isinstance(arn, str)
                        else f"arn:{self.template.partition}:iam::{PLACEHOLDER_ACCOUNT}:instance-profile/{shown}",
                        here,
                        possible=not certain,
                    )
                )
            elif kind == "AWS::IAM::ManagedPolicy":
                ref = self._declared_policy(logical_id, _unlink(self._managed_arn(logical_id, properties, here)), here)
                role.managed.append(ManagedRef(ref.arn, ref.document, here, possible=not certain))
            else:
                name = _unlink(self.plain(properties.get("PolicyName", logical_id), f"{here}.PolicyName"))
                body = self.plain(properties.get("PolicyDocument"), f"{here}.PolicyDocument")
                role.inline.append(
                    Document(
                        name if isinstance(name, str) else logical_id,
                        body,
                        f"{here}.PolicyDocument",
                        possible=not certain,
                    )
                )


def _or(value: Any, default: Any = None) -> Any:
    """``default`` where a property resolved to AWS::NoValue (CloudFormation then treats it as not set)."""
    return default if value is _NO_VALUE else value


def _unlink(value: Any) -> Any:
    if isinstance(value, _Link):
        return value.value
    if isinstance(value, Mapping):
        return {k: _unlink(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unlink(v) for v in value]
    return value


def _text(value: Any) -> str:
    """A scalar as CloudFormation reads it as a string: YAML's unquoted true/false are "true"/"false"."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
