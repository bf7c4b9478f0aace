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

This module reads and checks the template and walks the worlds; ``intrinsics`` evaluates the
functions and conditions, ``cloudformation_roles`` gathers what makes up a role.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from verification.backends.template.cloudformation_roles import RoleDeclarer
from verification.backends.template.intrinsics import (
    ChoiceKey,
    Choose,
    Intrinsics,
    condition_names,
    references,
    scalars,
)
from verification.backends.template.managed import ManagedPolicies
from verification.backends.template.model import DeclaredRole
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
            deps = set(references(resource.get("Properties"), self.resources))
            depends = resource.get("DependsOn") or []
            deps.update(d for d in ([depends] if isinstance(depends, str) else depends) if d in self.resources)
            graph[f"Resources.{logical_id}"] = {f"Resources.{d}" for d in deps}
        for name, condition in self.conditions.items():
            graph[f"Conditions.{name}"] = {f"Conditions.{c}" for c in condition_names(condition)}
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
            handed = key in set(references(properties, self.resources))
            if not handed and isinstance(name, str):
                # Its name, or an ARN ending in it (a longer name that merely contains it is another role).
                handed = any(isinstance(v, str) and (v == name or v.endswith("/" + name)) for v in scalars(properties))
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

    def worlds(self, key: str) -> list[tuple[dict[ChoiceKey, Any], DeclaredRole | None, list[str]]]:
        """The role in every world it needs: (choices, the role or None when not created, notes)."""
        self.nested_fault(key)
        pending: list[dict[ChoiceKey, Any]] = [{}]
        done: list[tuple[dict[ChoiceKey, Any], DeclaredRole | None, list[str]]] = []
        while pending:
            choices = pending.pop(0)
            resolver = Intrinsics(self, choices)
            try:
                role = RoleDeclarer(self, resolver).declare(key)
            except Choose as choose:
                pending[:0] = [{**choices, choose.key: option} for option in choose.options]
                if len(pending) + len(done) > MAX_WORLDS:
                    raise self.fault(
                        f"{key} needs more than {MAX_WORLDS} combinations of parameter values and conditions: "
                        "give values with --parameter"
                    ) from None
                continue
            done.append((choices, role, [*resolver.notes, *self.nested_notes()]))
        return done
