"""Statement elements matched against a request: Action, Resource and Principal.

Everything is compiled once at parse time: lower-cased action sets, a regex only where a wildcard
is present, plain string comparison otherwise. Actions are case-insensitive; resources are
case-sensitive and ARN-aware (a wildcard in the partition, service, region or account segment stays
inside that segment; in the last segment ``*`` crosses ``/`` and ``:``).
Sources: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Literal

from verification.policy import variables
from verification.policy.model import Context, Principal

PrincipalMatch = Literal["any", "account", "arn", "service", "federated", "canonical"]
"""How a Principal element matched: "account" and "any" delegate to the caller's account."""

_DANGLING = re.compile(r"^A(ROA|IDA)[A-Z0-9]+$")
_ACCOUNT = re.compile(r"^\d{12}$")
_ARN_SEGMENTS = 6


@lru_cache(maxsize=4096)
def _wildcard_to_regex(pattern: str, *, segment_bound: bool) -> str:
    """Regex source for an IAM wildcard pattern; ``segment_bound`` keeps wildcards out of colons."""
    star, one = ("[^:]*", "[^:]") if segment_bound else (".*", ".")
    return "".join(star if ch == "*" else one if ch == "?" else re.escape(ch) for ch in pattern)


class ActionMatcher:
    """Action or NotAction patterns, matched case-insensitively against a lower-cased action."""

    __slots__ = ("exact", "match_all", "regex", "services")

    def __init__(self, patterns: Iterable[str]) -> None:
        exact: set[str] = set()
        wild: list[str] = []
        services: set[str] | None = set()
        self.match_all = False
        for pattern in patterns:
            lowered = pattern.lower()
            if lowered == "*":
                self.match_all = True
            elif "*" in lowered or "?" in lowered:
                wild.append(_wildcard_to_regex(lowered, segment_bound=False))
            else:
                exact.add(lowered)
            service, colon, _ = lowered.partition(":")
            if not colon or "*" in service or "?" in service:
                services = None
            elif services is not None:
                services.add(service)
        self.services: frozenset[str] | None = None if services is None else frozenset(services)
        """Service prefixes an action must have to match, or None when any service may (``*``, ``s*:Get``)."""
        self.exact = frozenset(exact)
        self.regex = re.compile("|".join(f"(?:{w})" for w in wild), re.DOTALL) if wild else None

    def matches(self, action_lower: str) -> bool:
        """Whether a listed pattern matches ``action_lower`` (already lower-cased)."""
        if self.match_all or action_lower in self.exact:
            return True
        return self.regex is not None and self.regex.fullmatch(action_lower) is not None


def _split_outside_variables(pattern: str) -> list[str]:
    """Split ``pattern`` on colons that are not inside a ``${...}`` policy variable."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(pattern):
        if pattern.startswith("${", i):
            depth += 1
            i += 2
            continue
        ch = pattern[i]
        if ch == "}" and depth:
            depth -= 1
        elif ch == ":" and not depth and len(parts) < _ARN_SEGMENTS - 1:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


class _VariablePattern:
    """A resource pattern with policy variables, resolved against each request's context."""

    __slots__ = ("segments",)

    def __init__(self, pattern: str) -> None:
        self.segments = _split_outside_variables(pattern)

    def matches(self, resource: str, context: Context) -> bool:
        parts = resource.split(":", len(self.segments) - 1)
        if len(parts) != len(self.segments):
            return False
        for segment, part in zip(self.segments, parts, strict=True):
            regex = variables.wildcard_regex(segment, context, ignore_case=False)
            if regex is None or regex.fullmatch(part) is None:
                return False
        return True


class ResourceMatcher:
    """Resource or NotResource patterns: ARN-aware, case-sensitive, with optional policy variables."""

    __slots__ = ("exact", "match_all", "regex", "variable_patterns")

    def __init__(self, patterns: Iterable[str], *, allow_variables: bool) -> None:
        exact: set[str] = set()
        wild: list[str] = []
        variable_patterns: list[_VariablePattern] = []
        self.match_all = False
        for pattern in patterns:
            if pattern == "*":
                self.match_all = True
            elif allow_variables and "${" in pattern and variables.has_variables(pattern):
                variable_patterns.append(_VariablePattern(pattern))
            elif "*" in pattern or "?" in pattern:
                wild.append(_arn_regex(pattern))
            else:
                exact.add(pattern)
        self.exact = frozenset(exact)
        self.regex = re.compile("|".join(f"(?:{w})" for w in wild), re.DOTALL) if wild else None
        self.variable_patterns = tuple(variable_patterns)

    def matches(self, resource: str, context: Context) -> bool:
        """Whether a listed pattern matches ``resource``; an unresolved variable matches nothing."""
        if self.match_all or resource in self.exact:
            return True
        if self.regex is not None and self.regex.fullmatch(resource) is not None:
            return True
        return any(p.matches(resource, context) for p in self.variable_patterns)


def _arn_regex(pattern: str) -> str:
    """Regex source for a wildcard ARN pattern.

    Wildcards stay inside their colon-separated segment, except in the resource (last) segment and
    for a ``*`` that ends a segment: "If the * wildcard is the last character of a resource ARN
    segment, it can expand to match beyond the colon boundaries" (reference_policies_elements_resource).
    """
    segments = pattern.split(":", _ARN_SEGMENTS - 1)
    head = [
        _wildcard_to_regex(s[:-1], segment_bound=True) + ".*"
        if s.endswith("*")
        else _wildcard_to_regex(s, segment_bound=True)
        for s in segments[:-1]
    ]
    return ":".join([*head, _wildcard_to_regex(segments[-1], segment_bound=False)])


def is_dangling(value: str) -> bool:
    """A bare role or user unique id: what IAM shows once the named principal was deleted."""
    return _DANGLING.match(value) is not None


def account_of_arn(arn: str) -> str | None:
    """The account segment of an ARN, or None when it has none."""
    parts = arn.split(":", 5)
    if len(parts) == _ARN_SEGMENTS and parts[0] == "arn" and parts[4]:
        return parts[4]
    return None


def identities(principal: Principal) -> tuple[Principal, ...]:
    """The identities AWS checks for a caller, broadest first: account, role, session.

    A user is its account and its ARN; an assumed-role session is its account, its role and the
    session (reference_policies_elements_notprincipal: "AWS verifies the account, then the role,
    then the assumed-role user").
    """
    if principal.kind != "AWS":
        return (principal,)
    account = principal.account
    if account is None or _ACCOUNT.match(principal.id) or principal.id.endswith(":root"):
        return (Principal("AWS", account),) if account else (principal,)
    found: list[Principal] = [Principal("AWS", account)]
    parts = principal.id.split(":", 5)
    if parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role_name = parts[5].split("/")[1]
        found.append(Principal("AWS", f"arn:{parts[1]}:iam::{account}:role/{role_name}"))
    found.append(principal)
    return tuple(found)


def _role_name(arn: str) -> str | None:
    """The name of a role ARN (paths dropped), or None for other ARNs."""
    parts = arn.split(":", 5)
    if len(parts) == _ARN_SEGMENTS and parts[2] == "iam" and parts[5].startswith("role/"):
        return parts[5].rsplit("/", 1)[-1]
    return None


class PrincipalMatcher:
    """A Principal or NotPrincipal element, normalised: ``"*"``, accounts, ARNs, services..."""

    __slots__ = ("accounts", "arns", "canonical", "dangling", "federated", "match_all", "role_names", "services")

    def __init__(self, entries: Mapping[str, Sequence[str]] | Literal["*"]) -> None:
        accounts: set[str] = set()
        arns: set[str] = set()
        dangling: list[str] = []
        role_names: set[tuple[str, str]] = set()
        self.match_all = entries == "*"
        mapping: Mapping[str, Sequence[str]] = {} if entries == "*" else entries
        for value in mapping.get("AWS", ()):
            if value == "*":
                self.match_all = True
            elif _ACCOUNT.match(value):
                accounts.add(value)
            elif is_dangling(value):
                dangling.append(value)
            elif value.endswith(":root") and account_of_arn(value):
                accounts.add(account_of_arn(value) or "")
            else:
                arns.add(value)
                name = _role_name(value)
                account = account_of_arn(value)
                if name and account:
                    role_names.add((account, name))
        self.accounts = frozenset(accounts)
        self.arns = frozenset(arns)
        self.role_names = frozenset(role_names)
        self.dangling = tuple(dangling)
        self.services = frozenset(v.lower() for v in mapping.get("Service", ()))
        self.federated = frozenset(mapping.get("Federated", ()))
        self.canonical = frozenset(mapping.get("CanonicalUser", ()))

    def match(self, principal: Principal | None) -> PrincipalMatch | None:
        """How this element names ``principal`` (an account names everything in it), or None."""
        if self.match_all:
            return "any"
        if principal is None:
            return None
        if principal.kind == "Service":
            return "service" if principal.id.lower() in self.services else None
        if principal.kind == "Federated":
            return "federated" if principal.id in self.federated else None
        if principal.kind == "CanonicalUser":
            return "canonical" if principal.id in self.canonical else None
        if principal.id in self.arns:
            return "arn"
        account = principal.account
        if account is not None and self._session_of_named_role(principal.id, account):
            return "arn"
        if account is not None and account in self.accounts:
            return "account"
        return None

    def _session_of_named_role(self, arn: str, account: str) -> bool:
        parts = arn.split(":", 5)
        if len(parts) != _ARN_SEGMENTS or parts[2] != "sts" or not parts[5].startswith("assumed-role/"):
            return False
        return (account, parts[5].split("/")[1]) in self.role_names

    def names_exactly(self, identity: Principal) -> bool:
        """Whether ``identity`` itself is listed: an account entry names the account, not its users.

        This is what NotPrincipal needs: each identity AWS checks must be listed to be exempt.
        """
        if self.match_all:
            return True
        if identity.kind != "AWS":
            return self.match(identity) is not None
        if identity.id in self.arns:
            return True
        is_account = _ACCOUNT.match(identity.id) is not None or identity.id.endswith(":root")
        return is_account and identity.account in self.accounts
