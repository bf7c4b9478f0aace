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

PrincipalMatch = Literal["any", "account", "arn", "role", "service", "federated", "canonical"]
"""How a Principal element matched: "account" and "any" delegate to the caller's account; "role"
names the role ARN of an assumed-role session caller (not the session itself)."""

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


#: Services whose ARNs name a resource without a resource type ("arn:aws:sqs:REGION:ACCOUNT:queue1"; an
#: S3 bucket's "bucket/key"; an API's "api-id/stage/..."). Elsewhere the resource part starts with a
#: type ("instance/i-1", "user/Bob", "function:f"), which a wildcard may not stand for in part
#: (reference_policies_elements_resource: "arn:aws:iam::123456789012:u*" names no user).
#: Source: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html (ARN format).
_UNTYPED_SERVICES = frozenset({"sqs", "sns", "execute-api"})


def arn_parts(pattern: str) -> int:
    """How many colon-separated parts an ARN pattern has (up to six), colons in ``${...}`` not counted."""
    return len(_split_outside_variables(pattern))


def complete_arn(pattern: str) -> str:
    """A partial ARN completed with ``*`` as the IAM User Guide describes (``arn:aws:sqs`` → ``arn:aws:sqs:*:*:*``).

    Source: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
    (identity policies: missing ARN parts are filled with wildcards). A complete ARN is returned as is.
    """
    missing = _ARN_SEGMENTS - arn_parts(pattern)
    return pattern + ":*" * missing if missing > 0 else pattern


def resource_type(resource: str) -> str | None:
    """The resource type an ARN names ("instance" in ``...:instance/i-1``), or None when it names none.

    An S3 bucket or object ARN (no account) and the resources of ``_UNTYPED_SERVICES`` have no type;
    nor has a resource part without ``/`` or ``:`` (``root``, ``queue1``) or one that starts with ``/``.
    """
    parts = resource.split(":", 5)
    if len(parts) != _ARN_SEGMENTS or parts[0] != "arn":
        return None
    service, account, rest = parts[2], parts[4], parts[5]
    if service in _UNTYPED_SERVICES or (service == "s3" and not account):
        return None
    cut = min((i for i in (rest.find("/"), rest.find(":")) if i >= 0), default=-1)
    return rest[:cut] if cut > 0 else None


def _type_lead(pattern: str) -> str | None:
    """The literal text before the first wildcard of a pattern's resource part (variables kept as written).

    None when the resource part is a lone ``*`` or has no wildcard: then no wildcard stands for the type.
    """
    segments = _split_outside_variables(pattern)
    if len(segments) != _ARN_SEGMENTS:
        return None
    rest = segments[-1]
    if rest == "*":
        return None
    depth = 0
    i = 0
    while i < len(rest):
        if rest.startswith("${", i):
            depth += 1
            i += 2
            continue
        ch = rest[i]
        if ch == "}" and depth:
            depth -= 1
        elif ch in "*?" and not depth:
            return rest[:i]
        i += 1
    return None


def _type_kept(resource: str, lead: str | None) -> bool:
    """Whether a pattern whose resource part has ``lead`` before its first wildcard spells out the type."""
    if lead is None:
        return True
    kind = resource_type(resource)
    return kind is None or len(lead) >= len(kind)


class _VariablePattern:
    """A resource pattern with policy variables, resolved against each request's context."""

    __slots__ = ("lead", "segments", "text")

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.segments = _split_outside_variables(pattern)
        self.lead = _type_lead(pattern)

    def resolves(self, context: Context) -> bool:
        """Whether every variable of the pattern has a value (or a default) in ``context``."""
        return variables.resolve(self.text, context) is not None

    def matches(self, resource: str, context: Context) -> bool:
        parts = resource.split(":", len(self.segments) - 1)
        if len(parts) != len(self.segments):
            return False
        for segment, part in zip(self.segments, parts, strict=True):
            regex = variables.wildcard_regex(segment, context, ignore_case=False)
            if regex is None or regex.fullmatch(part) is None:
                return False
        if self.lead is None:
            return True
        lead = variables.resolve(self.lead, context)
        return lead is not None and _type_kept(resource, lead)


class ResourceMatcher:
    """Resource or NotResource patterns: ARN-aware, case-sensitive, with optional policy variables.

    ``written`` keeps the patterns as the policy wrote them (before a partial ARN was completed), for
    explanations. A pattern whose wildcard comes before the end of the resource type is matched on
    its own, so that it never stands for part of the type.
    """

    __slots__ = ("exact", "guarded", "match_all", "regex", "variable_patterns", "written")

    def __init__(self, patterns: Iterable[str], *, allow_variables: bool, written: Sequence[str] | None = None) -> None:
        exact: set[str] = set()
        wild: list[str] = []
        guarded: list[tuple[str, re.Pattern[str]]] = []
        variable_patterns: list[_VariablePattern] = []
        self.match_all = False
        patterns = tuple(patterns)
        for pattern in patterns:
            if pattern == "*":
                self.match_all = True
            elif allow_variables and "${" in pattern and variables.has_variables(pattern):
                variable_patterns.append(_VariablePattern(pattern))
            elif "*" in pattern or "?" in pattern:
                lead = _type_lead(pattern)
                if lead is None:
                    wild.append(_arn_regex(pattern))
                else:
                    guarded.append((lead, re.compile(_arn_regex(pattern), re.DOTALL)))
            else:
                exact.add(pattern)
        self.exact = frozenset(exact)
        self.regex = re.compile("|".join(f"(?:{w})" for w in wild), re.DOTALL) if wild else None
        self.guarded = tuple(guarded)
        self.variable_patterns = tuple(variable_patterns)
        self.written: tuple[str, ...] = tuple(written) if written is not None else patterns

    def matches(self, resource: str, context: Context) -> bool:
        """Whether a listed pattern matches ``resource``; an unresolved variable matches nothing."""
        if self.match_all or resource in self.exact:
            return True
        if self.regex is not None and self.regex.fullmatch(resource) is not None:
            return True
        for lead, regex in self.guarded:
            if regex.fullmatch(resource) is not None and _type_kept(resource, lead):
                return True
        return any(p.matches(resource, context) for p in self.variable_patterns)

    def resolves(self, context: Context) -> bool:
        """Whether every policy variable of every pattern can be resolved in ``context``.

        "If AWS cannot resolve a variable this might cause the entire statement to be invalid"
        (reference_policies_variables.html#policy-vars-no-value): a NotResource statement with an
        unresolved exclusion does not apply, rather than apply to everything.
        """
        return all(p.resolves(context) for p in self.variable_patterns)


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
            return "role"
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
