"""What a template or plan declares about roles, with what it leaves open, before any decision.

Both readers (CloudFormation, Terraform) produce ``DeclaredRole``s for one *world*: one choice of
every parameter value and condition the file leaves open. A value that cannot be known before
deployment is an ``Unknown`` carrying where it is in the file and what would resolve it; it may
stand for a whole document, one statement's part, a role name, a boundary or an attachment.
``bounds`` turns one world into two account details documents the engine reads as it reads a
snapshot: the *lower* one where every unknown takes the least permissive value it could have
(unknown Denies deny every action they could name; unknown Allows grant nothing), the *upper* one
where it takes the most permissive. A requirement met in the lower account is met whatever the
unknowns turn out to be; one not met in the upper account is not met whatever they are; between
the two it is undecided, never passed.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Bound = Literal["lower", "upper"]
#: The account of role and policy ARNs when neither --account nor a snapshot names one.
PLACEHOLDER_ACCOUNT = "000000000000"


@dataclass(frozen=True)
class Unknown:
    """A value known only at deployment: where it is in the file, and what would resolve it."""

    where: str
    why: str
    resolve: str = ""

    def describe(self) -> str:
        """``<where> (<why>)``: the one-line name of the unknown."""
        return f"{self.where} ({self.why})"


def unknowns_in(value: Any) -> list[Unknown]:
    """Every ``Unknown`` inside a resolved value, in document order."""
    found: list[Unknown] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Unknown):
            found.append(item)
        elif isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
    return found


@dataclass(frozen=True)
class Document:
    """A policy document as declared: a mapping that may hold Unknowns, or Unknown altogether.

    ``possible`` is True when the document may or may not apply to the role (an attachment whose
    target role is unknown): it then counts as unknown in both bounds.
    """

    name: str
    body: Any
    where: str
    possible: bool = False
    #: Why it may or may not apply, when ``possible`` (default: its target role is unknown).
    because: str = ""


@dataclass(frozen=True)
class ManagedRef:
    """A managed policy attached to (or bounding) a role: its ARN, and its document when resolved."""

    arn: str | Unknown
    document: Document | None
    source: str
    possible: bool = False
    because: str = ""


@dataclass(frozen=True)
class ProfileRef:
    """An instance profile holding the role (``possible`` when its Roles are unknown)."""

    name: str
    arn: str
    where: str
    possible: bool = False


@dataclass
class DeclaredRole:
    """One role as one world of the file declares it."""

    key: str
    name: str | Unknown
    path: str
    trust: Any
    where: str
    inline: list[Document] = field(default_factory=list)
    managed: list[ManagedRef] = field(default_factory=list)
    boundary: ManagedRef | None = None
    profiles: list[ProfileRef] = field(default_factory=list)


_ROLE_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")
_ROLE_PATH = re.compile(r"/([\x21-\x7e]*/)?")


def role_fault(name: Any, path: Any) -> str | None:
    """What IAM would refuse in a role's name or path (``RoleName: ...``), or None.

    A ``${...}`` outside Fn::Sub stays literal in CloudFormation, so the message says so rather
    than only that the name is invalid.
    """
    if isinstance(name, str) and not _ROLE_NAME.fullmatch(name):
        if "${" in name:
            return (
                f"RoleName: {name!r} is not a valid role name: ${{...}} is replaced only inside Fn::Sub "
                "(write !Sub or pass the value with --parameter)"
            )
        return (
            f"RoleName: {name!r} is not a valid role name: IAM takes 1 to 64 letters, digits and +=,.@_- "
            f"(it has {len(name)} characters)"
        )
    if isinstance(path, str) and (len(path) > 512 or not _ROLE_PATH.fullmatch(path)):
        hint = " (${...} is replaced only inside Fn::Sub)" if "${" in path else ""
        return f"Path: {path!r} is not a valid IAM path: it starts and ends with / and holds printable ASCII{hint}"
    return None


def role_name(role: DeclaredRole) -> str:
    """The role's name where known, else its key made into a valid IAM name (the ARN must name something)."""
    if isinstance(role.name, str):
        return role.name
    cleaned = "".join(c if c.isalnum() or c in "+=,.@_-" else "-" for c in role.key)
    return cleaned[-64:]


def role_arn(role: DeclaredRole, account: str, partition: str) -> str:
    """The role's ARN in the given account and partition."""
    return f"arn:{partition}:iam::{account}:role{role.path}{role_name(role)}"


#: The lower bound of a document about which nothing is known: it may deny anything.
DENY_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
#: Its upper bound: it may allow anything.
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _actions(statement: Mapping[str, Any]) -> Any:
    """The statement's Action when fully known (and no NotAction), else "*" (it may name anything)."""
    action = statement.get("Action")
    if "NotAction" in statement or action is None or unknowns_in(action):
        return "*"
    return action


def bound_document(body: Any, bound: Bound, *, trust: bool = False, certain: bool = True) -> dict[str, Any]:
    """The document at one bound: known statements kept, unknown ones made least or most permissive.

    A statement with any unknown part (or every statement of an uncertain document) becomes, in the
    lower bound, a Deny of every action it could name on every resource without condition when its
    Effect could be Deny, and nothing otherwise; in the upper bound, an Allow of those actions when
    its Effect could be Allow. A trust policy's bound statements keep a known Principal (a Condition
    filled at deployment narrows who may assume the role, never widens it); else they name every principal.
    """
    whole = DENY_ALL if bound == "lower" else ALLOW_ALL
    if not isinstance(body, Mapping) or isinstance(body.get("Statement"), Unknown):
        return _trusting(whole, trust)
    rest = {key: value for key, value in body.items() if key != "Statement"}
    if unknowns_in(rest):
        return _trusting(whole, trust)
    raw = body.get("Statement", [])
    statements = raw if isinstance(raw, list) else [raw]
    out: list[Any] = []
    for statement in statements:
        if isinstance(statement, Mapping) and certain and not unknowns_in(statement):
            out.append(dict(statement))
            continue
        if not isinstance(statement, Mapping):
            effect: Any = None
            actions: Any = "*"
        else:
            effect = statement.get("Effect")
            actions = _actions(statement)
        effect = effect if effect in ("Allow", "Deny") else None
        wanted = "Deny" if bound == "lower" else "Allow"
        if effect not in (None, wanted):
            continue
        made: dict[str, Any] = {"Effect": wanted, "Action": actions}
        if trust:
            made["Principal"] = _principals(statement)
        else:
            made["Resource"] = "*"
        out.append(made)
    # Key order kept: statement lines in verdicts are those of the document as written.
    return (
        {key: out if key == "Statement" else value for key, value in body.items()}
        if "Statement" in body
        else {**rest, "Statement": out}
    )


def _principals(statement: Any) -> Any:
    """A trust statement's Principal when fully known (an unknown Condition cannot widen it), else "*"."""
    if not isinstance(statement, Mapping) or "NotPrincipal" in statement:
        return "*"
    principal = statement.get("Principal")
    if principal is None or unknowns_in(principal):
        return "*"
    return principal


def _trusting(document: Mapping[str, Any], trust: bool) -> dict[str, Any]:
    if not trust:
        return dict(document)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": s["Effect"], "Principal": "*", "Action": "sts:AssumeRole"} for s in document["Statement"]
        ],
    }


def document_unknowns(document: Document) -> list[Unknown]:
    """What is unknown about a document, including its being attached at all."""
    found = unknowns_in(document.body)
    if document.possible:
        found.append(_maybe(document.where, document.because))
    return found


def _managed_entry(arn: str, name: str, body: Any, bound: Bound, certain: bool) -> dict[str, Any]:
    path = "/" + arn.split(":policy/", 1)[-1].rsplit("/", 1)[0] + "/" if "/" in arn.split(":policy/", 1)[-1] else "/"
    return {
        "PolicyName": name,
        "Arn": arn,
        "Path": path,
        "DefaultVersionId": "v1",
        "PolicyVersionList": [
            {"Document": bound_document(body, bound, certain=certain), "VersionId": "v1", "IsDefaultVersion": True}
        ],
    }


def _unknown_arn(role: DeclaredRole, number: int, account: str, partition: str, kind: str) -> str:
    return f"arn:{partition}:iam::{account}:policy/unknown-{kind}-{role_name(role)}-{number}"[:2048]


def bounds(role: DeclaredRole, account: str, partition: str, bound: Bound) -> dict[str, Any]:
    """The authorization details of an account holding the role, at one bound."""
    arn = role_arn(role, account, partition)
    name = role_name(role)
    policies: dict[str, dict[str, Any]] = {}
    attached: list[dict[str, str]] = []
    for number, managed in enumerate(role.managed, start=1):
        policy_arn = (
            managed.arn if isinstance(managed.arn, str) else _unknown_arn(role, number, account, partition, "policy")
        )
        body = managed.document.body if managed.document is not None else Unknown(managed.source, "not resolved")
        certain = not managed.possible and not (managed.document is not None and managed.document.possible)
        policy_name = policy_arn.rsplit("/", 1)[-1]
        policies.setdefault(policy_arn, _managed_entry(policy_arn, policy_name, body, bound, certain))
        attached.append({"PolicyName": policy_name, "PolicyArn": policy_arn})
    inline = [
        {"PolicyName": d.name, "PolicyDocument": bound_document(d.body, bound, certain=not d.possible)}
        for d in role.inline
    ]
    raw: dict[str, Any] = {
        "Path": role.path,
        "RoleName": name,
        "RoleId": "AROATEMPLATE" + "".join(c for c in name.upper() if c.isalnum())[:12],
        "Arn": arn,
        "AssumeRolePolicyDocument": bound_document(role.trust, bound, trust=True),
        "RolePolicyList": inline,
        "AttachedManagedPolicies": attached,
        "InstanceProfileList": [
            {"InstanceProfileName": p.name, "Arn": p.arn, "Path": "/", "Roles": [{"RoleName": name, "Arn": arn}]}
            for p in role.profiles
            if bound == "upper" or not p.possible
        ],
    }
    boundary = role.boundary
    # A boundary that may or may not be set bounds the lower account and not the upper one; an
    # unresolved one denies everything in the lower account and allows everything in the upper.
    if boundary is not None and not (boundary.possible and bound == "upper"):
        boundary_arn = (
            boundary.arn if isinstance(boundary.arn, str) else _unknown_arn(role, 0, account, partition, "boundary")
        )
        body = boundary.document.body if boundary.document is not None else Unknown(boundary.source, "not resolved")
        policies.setdefault(
            boundary_arn, _managed_entry(boundary_arn, boundary_arn.rsplit("/", 1)[-1], body, bound, True)
        )
        raw["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
            "PermissionsBoundaryArn": boundary_arn,
        }
    return {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [raw], "Policies": list(policies.values())}


def _could_name(statement: Any, action: str | None) -> bool:
    """Could a statement with unknown parts bear on ``action``? Unknown actions could name anything."""
    if action is None or not isinstance(statement, Mapping):
        return True
    patterns = _actions(statement)
    if not isinstance(patterns, list):
        patterns = [patterns]
    return any(not isinstance(p, str) or fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _bearing(document: Document, action: str | None) -> list[Unknown]:
    """The unknowns of a document that could bear on ``action``."""
    body = document.body
    if not isinstance(body, Mapping) or isinstance(body.get("Statement"), Unknown):
        return document_unknowns(document)
    rest = unknowns_in({k: v for k, v in body.items() if k != "Statement"})
    if rest:
        return document_unknowns(document)
    raw = body.get("Statement", [])
    statements = raw if isinstance(raw, list) else [raw]
    found: list[Unknown] = []
    relevant = False
    for statement in statements:
        if _could_name(statement, action):
            relevant = True
            found += unknowns_in(statement)
    if document.possible and relevant:
        found.append(_maybe(document.where, document.because))
    return found


def _maybe(where: str, because: str) -> Unknown:
    """An attachment that may or may not hold after apply, and why."""
    return Unknown(where, because or "it may or may not be attached to the role")


def role_unknowns(role: DeclaredRole, action: str | None = None) -> dict[str, list[Unknown]]:
    """What the file leaves unknown about the role, by what it bears on: permission (``action``), trust, profile."""
    permission: list[Unknown] = []
    for document in role.inline:
        permission += _bearing(document, action)
    for managed in [*role.managed, *([role.boundary] if role.boundary else [])]:
        if managed.document is None and isinstance(managed.arn, Unknown):
            permission.append(managed.arn)
        elif managed.document is None:
            permission.append(
                Unknown(
                    managed.source,
                    f"managed policy {managed.arn} is neither in the file, nor in moto's copy of the AWS managed "
                    "policies, nor in a --snapshot",
                    "give --snapshot of the account that holds it",
                )
            )
        else:
            permission += _bearing(managed.document, action)
        if managed.possible:
            permission.append(_maybe(managed.source, managed.because))
    profile = [Unknown(p.where, "it may or may not hold the role") for p in role.profiles if p.possible]
    return {
        "permission": list(dict.fromkeys(permission)),
        "trust": list(dict.fromkeys(unknowns_in(role.trust))),
        "instance-profile": profile,
    }
