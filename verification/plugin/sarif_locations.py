"""Where a SARIF result points: a file the user named (relative to the run's folder) and a line in it.

- A CloudFormation/CDK template: the statement that decides the verdict where the verdict names one
  (a Deny, the Allow whose condition is missing, an unknown value it depends on), else the role's
  logical id. Lines are read from the file itself (YAML or JSON, composed with its marks), by the
  paths the template reader gives every document and unknown (``Resources.R.Properties.Policies[1]``).
- A Terraform plan: the line in the plan JSON of the document that decides (or the role's entry in
  ``resource_changes``), the resource address as a logical location, and, as a related location,
  the ``resource`` block in the configuration's ``.tf`` files when the plan's folder holds them (a
  plan records no source lines; its ``module_calls`` name local module folders).
- A live or snapshot run: the targets file entry that named the role (``--targets``), else the
  role's line in the roles file the run writes beside the SARIF (``FILE.roles.txt``).

Nothing here calls AWS or changes a verdict: when a line cannot be found, the role's own line is
used, so every result keeps a file and a line (code scanning drops a result without one).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from verification.reporting.sarif import Place
from verification.requirements import Requirement
from verification.verdicts import Verdict

if TYPE_CHECKING:
    from verification.backends.template import TemplateBackend
    from verification.backends.template.model import DeclaredRole

_TOKENS = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
_SHORT = {"Ref": "!Ref", "Condition": "!Condition"}
#: ``(when Stage=prod, condition IsProd is true)`` at the end of a template verdict's reason.
_WHEN = re.compile(r"\(when ([^()]*)\)\s*$")
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def relative_uri(path: Path, base: Path) -> str:
    """``path`` as a URI relative to ``base`` (the run's folder); a ``file://`` URI when it is outside it."""
    absolute = (base / path).resolve() if not path.is_absolute() else path.resolve()
    try:
        return absolute.relative_to(base.resolve()).as_posix()
    except ValueError:
        return absolute.as_uri()


class SourceTree:
    """A YAML or JSON file's nodes with their lines, found by the paths the template readers write."""

    def __init__(self, text: str) -> None:
        try:
            self.root: yaml.Node | None = yaml.compose(text, Loader=_BASE_LOADER)
        except yaml.YAMLError:
            self.root = None

    def find(self, path: str) -> tuple[yaml.Node | None, int | None, bool]:
        """The node at ``path`` (``Resources.R.Properties.Policies[0]``), its line, and whether all of it was found.

        A path that goes where the file has something else (an ``Fn::If`` the reader resolved) stops
        at the last node it reached: its line is the closest the file has.
        """
        node, line = self.root, None
        if node is None:
            return None, None, False
        for index, key in _TOKENS.findall(path.split(" (", 1)[0]):
            found = _step(node, int(index) if index else None, key)
            if found is None:
                return node, line, False
            node, line = found
        return node, line, True

    def line(self, path: str) -> int | None:
        """The line of ``path``, or of the closest node on the way to it.

        A plan's value known only after apply is absent from ``change.after``: its line is then the
        one in ``change.after_unknown``.
        """
        _, line, exact = self.find(path)
        if not exact and ".change.after." in path:
            _, unknown_line, exact = self.find(path.replace(".change.after.", ".change.after_unknown.", 1))
            if exact:
                return unknown_line
        return line


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _step(node: yaml.Node, index: int | None, key: str) -> tuple[yaml.Node, int] | None:
    if index is not None:
        if isinstance(node, yaml.SequenceNode) and index < len(node.value):
            item = node.value[index]
            return item, _line(item)
        return None
    if isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            if isinstance(name, yaml.ScalarNode) and name.value == key:
                return value, _line(name)
        return None
    short = _SHORT.get(key) or ("!" + key[4:] if key.startswith("Fn::") else None)
    if short is not None and node.tag == short:  # a short-form function (!Sub) is its own Fn::Sub
        return node, _line(node)
    return None


def statement_nodes(node: yaml.Node | None) -> list[yaml.Node]:
    """A document's statements as written, through ``Fn::If`` branches (either form), in file order."""
    if isinstance(node, yaml.SequenceNode):
        return [found for item in node.value for found in _statements(item)]
    return _statements(node) if node is not None else []


def _statements(item: yaml.Node) -> list[yaml.Node]:
    if isinstance(item, yaml.MappingNode):
        keys = [name.value for name, _ in item.value if isinstance(name, yaml.ScalarNode)]
        if keys == ["Fn::If"]:
            return _branches(item.value[0][1])
        if keys in (["Ref"], ["Fn::GetAtt"]) or not keys:
            return []
        return [item]
    if isinstance(item, yaml.SequenceNode) and item.tag == "!If":
        return _branches(item)
    return []


def _branches(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode) and len(node.value) == 3:
        return _statements(node.value[1]) + _statements(node.value[2])
    return []


def _scalar(node: yaml.Node, key: str) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            if isinstance(name, yaml.ScalarNode) and name.value == key and isinstance(value, yaml.ScalarNode):
                return str(value.value)
    return None


@dataclass
class _Doc:
    """A policy document of one world's role: the names the engine gives it, its body and place."""

    names: tuple[str, ...]
    body: Any
    where: str
    trust: bool = False
    possible: bool = False


class TemplateLocator:
    """Places in a template or plan, for one run's template backend."""

    def __init__(self, backend: TemplateBackend, base: Path) -> None:
        self.backend = backend
        self.base = base
        self.uri = relative_uri(Path(backend.path), base)
        self.terraform = backend.source.kind.lower().startswith("terraform")
        text = Path(backend.path).read_text(encoding="utf-8-sig")
        self.tree = SourceTree(text)
        #: A plan's configuration (its module calls name the folders of the .tf files).
        self.configuration: Mapping[str, Any] = json.loads(text).get("configuration") or {} if self.terraform else {}
        self._tf_files: dict[Path, list[tuple[Path, list[str]]]] = {}
        #: The Sid of the statement that decided the result being placed (a plan's .tf holds it too).
        self._deciding_sid: str | None = None

    # -- the role ------------------------------------------------------------------------------

    def role_path(self, key: str) -> str:
        if self.terraform:
            index = self.backend.source.changes.get(key, (None,))[0]
            return f"resource_changes[{index}].address" if index is not None else "resource_changes"
        return f"Resources.{key}"

    def role_line(self, key: str) -> int:
        return self.tree.line(self.role_path(key)) or 1

    def place(
        self, key: str, requirement: Requirement | None, verdict: Verdict | None, broken: bool
    ) -> tuple[Place, tuple[Place, ...]]:
        """The result's place (and related places: the .tf block) for a role's failed or broken requirement."""
        self._deciding_sid = None
        path = self._deciding_path(key, requirement, verdict, broken)
        line = (self.tree.line(path) if isinstance(path, str) else path) or self.role_line(key)
        logical = ((key, "resource"),) if self.terraform else ((f"Resources.{key}", "resource"),)
        related: list[Place] = []
        if self.terraform:
            named = _address_in(path) if isinstance(path, str) else None
            if self._deciding_sid is not None:
                statement = self.configuration_statement(self._deciding_sid)
                if statement is not None:
                    related.append(statement)
            for address in dict.fromkeys(a for a in (named, key) if a):
                block = self.configuration_place(address)
                if block is not None:
                    related.append(block)
        return Place(self.uri, line, logical), tuple(related)

    def _deciding_path(
        self, key: str, requirement: Requirement | None, verdict: Verdict | None, broken: bool
    ) -> str | int | None:
        worlds = [w for w in self.backend.worlds(key) if w.role is not None]
        if not worlds or requirement is None:
            return None
        from verification.backends.template.model import role_unknowns

        if broken:
            kind = requirement.kind
            for role in (world.role for world in worlds if world.role is not None):
                unknowns = role_unknowns(role, requirement.action).get(kind, [])
                if unknowns:
                    return unknowns[0].where
            return None
        if verdict is None:
            return None
        chosen = _worlds_named(worlds, verdict.reason)
        for statement in _matched(verdict.evidence):
            for world in chosen:
                found = self._statement_line(world.role, statement)
                if found is not None:
                    return found
        role = chosen[0].role
        if verdict.cause == "conditional" and requirement.action and requirement.kind == "permission":
            found = self._conditional_allow(role, requirement.action)
            if found is not None:
                return found
        if verdict.cause == "boundary" and role.boundary is not None:
            return str(role.boundary.source)
        if requirement.kind == "trust":
            return self._trust_path(role)
        return None

    def _conditional_allow(self, role: DeclaredRole, action: str) -> int | None:
        """The line of the Allow for ``action`` that holds a condition (an "allowed only when" verdict)."""
        for document in self._documents(role):
            body = document.body
            if document.trust or not isinstance(body, Mapping):
                continue
            for statement in _as_list(body.get("Statement")):
                if (
                    isinstance(statement, Mapping)
                    and statement.get("Effect") == "Allow"
                    and statement.get("Condition")
                    and _names_action(statement, action)
                ):
                    return self._written_line(document, statement)
        return None

    def _trust_path(self, role: DeclaredRole) -> str:
        if self.terraform:
            index = self.backend.source.changes.get(role.key, (None,))[0]
            return f"resource_changes[{index}].change.after.assume_role_policy"
        return f"{role.where}.Properties.AssumeRolePolicyDocument"

    def _documents(self, role: DeclaredRole) -> Iterator[_Doc]:
        for document in role.inline:
            yield _Doc((document.name,), document.body, document.where, possible=document.possible)
        for managed in [*role.managed, *([role.boundary] if role.boundary else [])]:
            if managed.document is None:
                continue
            arn = managed.arn if isinstance(managed.arn, str) else ""
            names = (managed.document.name, arn, arn.rsplit("/", 1)[-1])
            yield _Doc(names, managed.document.body, managed.document.where, possible=managed.possible)
        yield _Doc(
            ("trust policy", role.name if isinstance(role.name, str) else ""),
            role.trust,
            self._trust_path(role),
            trust=True,
        )

    def _statement_line(self, role: DeclaredRole, matched: Mapping[str, Any]) -> int | None:
        """The line of the statement the engine matched (by its policy and its end in the policy's text)."""
        policy_id = str(matched.get("SourcePolicyId", ""))
        end = (matched.get("EndPosition") or {}).get("Line")
        trust = str(matched.get("SourcePolicyType", "")) == "trust" or policy_id == "trust policy"
        for document in self._documents(role):
            if policy_id not in document.names or document.trust != trust:
                continue
            from verification.backends.template.model import bound_document

            for bound in ("lower", "upper"):
                shown = bound_document(document.body, bound, trust=document.trust, certain=not document.possible)
                index = _statement_ending(shown, end)
                if index is None:
                    continue
                return self._source_statement(document, shown, index)
        return None

    def _source_statement(self, document: _Doc, shown: Mapping[str, Any], index: int) -> int | None:
        """The file's line for statement ``index`` of a bound document."""
        return self._written_line(document, _as_list(shown.get("Statement"))[index])

    def _written_line(self, document: _Doc, made: Any) -> int | None:
        """The file's line for a statement of the document as resolved (the unknown's, for a made one)."""
        from verification.backends.template.model import Unknown, unknowns_in

        written = _as_list(document.body.get("Statement")) if isinstance(document.body, Mapping) else []
        if isinstance(made, Mapping) and isinstance(made.get("Sid"), str):
            self._deciding_sid = made["Sid"]
        _, doc_line, exact = self.tree.find(document.where)
        if not exact or self.terraform:  # a plan holds each policy as one JSON string
            return doc_line
        position = next((i for i, s in enumerate(written) if s == made), None)
        if position is None:
            unknown = next((u for s in written for u in unknowns_in(s)), None)
            return self.tree.line(unknown.where) if isinstance(unknown, Unknown) else doc_line
        statements_node = self.tree.find(f"{document.where}.Statement")[0]
        candidates = statement_nodes(statements_node)
        sid = made.get("Sid") if isinstance(made, Mapping) else None
        if isinstance(sid, str):
            for candidate in candidates:
                if _scalar(candidate, "Sid") == sid:
                    return _line(candidate)
        if len(candidates) == len(written):
            return _line(candidates[position])
        return doc_line

    # -- Terraform configuration -----------------------------------------------------------------

    def configuration_place(self, address: str) -> Place | None:
        """The ``resource "TYPE" "NAME"`` block of an address, in the .tf files of its module's folder."""
        folder = Path(self.backend.path).parent
        module: Mapping[str, Any] = self.configuration.get("root_module") or {}
        parts = address.split(".")
        while len(parts) > 2 and parts[0] == "module":
            call = (module.get("module_calls") or {}).get(re.sub(r"\[.*\]$", "", parts[1])) or {}
            source = str(call.get("source", ""))
            if not source.startswith(("./", "../")):
                return None
            folder, module = folder / source, call.get("module") or {}
            parts = parts[2:]
        if len(parts) < 2 or parts[0] == "data":
            return None
        kind, name = parts[0], re.sub(r"\[.*\]$", "", parts[1])
        block = re.compile(rf'^\s*resource\s+"{re.escape(kind)}"\s+"{re.escape(name)}"')
        for path, lines in self._tf(folder):
            for number, text in enumerate(lines, start=1):
                if block.match(text):
                    return Place(relative_uri(path, self.base), number, ((address, "resource"),), "resource block")
        return None

    def configuration_statement(self, sid: str) -> Place | None:
        """The statement with this Sid in the .tf files (a policy document's ``sid``, or jsonencode's ``Sid``)."""
        pattern = re.compile(rf'^\s*"?sid"?\s*[=:]\s*"{re.escape(sid)}"', re.IGNORECASE)
        for path, lines in self._tf(Path(self.backend.path).parent):
            for number, text in enumerate(lines, start=1):
                if pattern.match(text):
                    return Place(relative_uri(path, self.base), number, note=f"statement {sid}")
        return None

    def _tf(self, folder: Path) -> list[tuple[Path, list[str]]]:
        if folder not in self._tf_files:
            found = []
            for path in sorted(folder.glob("*.tf")) if folder.is_dir() else []:
                try:
                    found.append((path, path.read_text(encoding="utf-8").splitlines()))
                except (OSError, UnicodeDecodeError):
                    continue
            self._tf_files[folder] = found
        return self._tf_files[folder]


def _names_action(statement: Mapping[str, Any], action: str) -> bool:
    """Does a statement's Action (not NotAction) name ``action``, wildcards as IAM reads them?"""
    patterns = [p for p in _as_list(statement.get("Action")) if isinstance(p, str)]
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _address_in(path: str) -> str | None:
    """The resource address a plan path names at its end: ``... .policy (aws_iam_role_policy.x)``."""
    match = re.search(r" \(([^()]+)\)$", path)
    return match[1] if match else None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _statement_ending(document: Mapping[str, Any], end_line: Any) -> int | None:
    """Which statement of a document ends on ``end_line`` of its text as the engine reads it.

    The engine reads a template's documents as ``json.dumps(document, indent=4)`` (as a snapshot's
    are stored), so each statement's lines follow from its own dump: no second parser needed.
    """
    if not isinstance(end_line, int) or "Statement" not in document:
        return None
    lines = json.dumps(document, indent=4).splitlines()
    statements = document["Statement"]
    opening = '    "Statement": ' + ("[" if isinstance(statements, list) else "{")
    if opening not in lines:
        return None
    line = lines.index(opening) + 1  # the 1-based line of the opening; statements start below it
    if not isinstance(statements, list):
        return 0 if end_line == line + len(json.dumps(statements, indent=4).splitlines()) - 1 else None
    for index, statement in enumerate(statements):
        line += len(json.dumps(statement, indent=4).splitlines())
        if line == end_line:
            return index
    return None


def _matched(evidence: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The statements a verdict's evidence says took part: the decision's own, else the trust evaluation's."""
    found: list[Mapping[str, Any]] = []
    for holder in (evidence, evidence.get("Evaluation") or {}):
        if isinstance(holder, Mapping):
            found += [s for s in holder.get("MatchedStatements") or () if isinstance(s, Mapping)]
    return found


def _worlds_named(worlds: Sequence[Any], reason: str) -> list[Any]:
    """The worlds a verdict's ``(when ...)`` names (all of them when it names none)."""
    match = _WHEN.search(reason)
    if not match:
        return list(worlds)
    wanted = set(match[1].split(", "))
    named = [w for w in worlds if wanted <= set(w.label.split(", "))]
    return named or list(worlds)


class TargetsLocator:
    """A live run from ``--targets``: the entry that named each role."""

    def __init__(self, path: Path, resolved: Sequence[tuple[int, str]], base: Path) -> None:
        self.uri = relative_uri(path, base)
        tree = SourceTree(path.read_text(encoding="utf-8"))
        self.lines = {arn: tree.line(f"targets[{index - 1}]") or 1 for index, arn in resolved}

    def place(self, arn: str) -> Place:
        return Place(self.uri, self.lines.get(arn, 1))


class RolesFileLocator:
    """A run that names roles on the command line (or the demo, or a snapshot): a line per role in FILE.roles.txt."""

    def __init__(self, path: Path, roles: Sequence[str], base: Path) -> None:
        self.path = path
        self.uri = relative_uri(path, base)
        self.roles = list(roles)
        self.lines = {arn: number for number, arn in enumerate(self.roles, start=1)}

    def place(self, arn: str) -> Place:
        return Place(self.uri, self.lines.get(arn, 1))

    def write(self) -> None:
        """The roles, one per line, in the run's order: the lines the results point at."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(f"{arn}\n" for arn in self.roles), encoding="utf-8")


def roles_file_for(sarif: Path) -> Path:
    """Where the roles file goes: beside the SARIF, named after it."""
    return sarif.with_name(sarif.name + ".roles.txt")
