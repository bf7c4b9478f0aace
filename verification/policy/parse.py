"""Read a policy as IAM hands it out and compile it for evaluation.

Accepts JSON text, URL-encoded JSON text (GetRole, get-account-authorization-details) or an
already-decoded mapping (botocore decodes policy documents). ``Statement`` may be one object or a
list; every element may be a string or a list. Anything AWS would reject, or that this engine could
only guess at, raises ``PolicyError`` naming the policy and the element: a skipped element could
become a false allow.
Source: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from verification.policy import conditions
from verification.policy.errors import PolicyError
from verification.policy.match import ActionMatcher, PrincipalMatcher, ResourceMatcher, arn_parts, complete_arn
from verification.policy.model import MatchedStatement, Position

PolicyKind = Literal["identity", "boundary", "scp", "resource", "trust"]

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"

_KINDS: dict[str, PolicyKind] = {
    "identity": "identity",
    "inline": "identity",
    "user": "identity",
    "group": "identity",
    "role": "identity",
    "aws-managed": "identity",
    "user-managed": "identity",
    "managed": "identity",
    "iam policy": "identity",
    "boundary": "boundary",
    "permission-boundary": "boundary",
    "permissions-boundary": "boundary",
    "scp": "scp",
    "resource": "resource",
    "trust": "trust",
}
_TOP_LEVEL = frozenset({"Version", "Id", "Statement"})
_STATEMENT_ELEMENTS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)
_PRINCIPAL_KEYS = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
_ACTION = re.compile(r"^[A-Za-z0-9*?-]+:[A-Za-z0-9*?_-]+$")
_AWS_PRINCIPAL = re.compile(r"^(\*|\d{12}|arn:[^:]+:(iam|sts)::[^:]+:.+|A[A-Z0-9]{15,})$")
_WS = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True, slots=True)
class Statement:
    """One normalised statement with its matchers compiled and its place in the policy text."""

    index: int
    sid: str | None
    is_allow: bool
    actions: ActionMatcher
    not_action: bool
    resources: ResourceMatcher | None
    not_resource: bool
    principals: PrincipalMatcher | None
    not_principal: bool
    condition: conditions.CompiledCondition | None
    matched: MatchedStatement
    condition_keys: tuple[tuple[str, str], ...] = ()
    """(lower-cased, as written) for each condition key: to report absent keys without re-folding."""


@dataclass(frozen=True, eq=False)
class Policy:
    """A parsed policy: its identity, the JSON text positions refer to, and compiled statements."""

    id: str
    type: str
    kind: PolicyKind
    version: str
    text: str
    document: Mapping[str, Any]
    statements: tuple[Statement, ...]
    _by_action: dict[str, tuple[Statement, ...]] = field(default_factory=dict, repr=False)
    _fingerprints: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    _by_service: dict[str, tuple[Statement, ...]] = field(default_factory=dict, repr=False)
    _plans: dict[tuple[str, ...], tuple[tuple[int, ...], ...]] = field(default_factory=dict, repr=False)
    _tokens: list[int] = field(default_factory=list, repr=False)
    _by_token: dict[int, Statement] = field(default_factory=dict, repr=False)

    def statements_for(self, action_lower: str) -> tuple[Statement, ...]:
        """The statements whose Action/NotAction matches ``action_lower``, memoised per action."""
        found = self._by_action.get(action_lower)
        if found is None:
            found = tuple(
                s for s in self._service_statements(action_lower) if s.actions.matches(action_lower) != s.not_action
            )
            if len(self._by_action) > 4096:
                self._by_action.clear()
                self._fingerprints.clear()
            self._by_action[action_lower] = found
        return found

    @property
    def tokens(self) -> list[int]:
        """One fingerprint token per statement, in order (computed on first use).

        A statement's fingerprint is everything but Action/NotAction that a decision reads from it:
        its MatchedStatement (policy name, type, positions, Sid), the policy's version and kind, and
        the rest of its JSON. Equal tokens mean equal fingerprints (see ``_token``): once their
        actions matched, such statements decide every request alike and name themselves alike, so the
        decision memo (decide.py) keys on tokens to share work across roles holding equal statements.
        """
        if not self._tokens and self.statements:
            with _TOKENS_LOCK:  # computed once: plans and statement_of must see the same tokens
                if not self._tokens:
                    raw = self.document["Statement"]
                    raw_statements = [raw] if isinstance(raw, Mapping) else raw
                    for statement, element in zip(self.statements, raw_statements, strict=True):
                        rest = json.dumps({k: v for k, v in element.items() if k not in ("Action", "NotAction")})
                        self._tokens.append(_token((statement.matched, self.version, self.kind, rest)))
        return self._tokens

    def fingerprints_for(self, action_lower: str) -> tuple[int, ...]:
        """The fingerprint tokens of ``statements_for(action_lower)``, in order (memoised alike)."""
        found = self._fingerprints.get(action_lower)
        if found is None:
            tokens = self.tokens
            found = tuple(tokens[s.index] for s in self.statements_for(action_lower))
            self._fingerprints[action_lower] = found
        return found

    def statement_of(self, token: int) -> Statement:
        """The statement of this policy whose fingerprint token is ``token`` (unique within a policy)."""
        by_token = self._by_token
        if not by_token:
            by_token.update(zip(self.tokens, self.statements, strict=True))
        return by_token[token]

    def fingerprint_plan(self, lowered: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
        """``fingerprints_for`` of each action of a batch, memoised per batch (a managed policy serves many roles).

        Works statement by statement: a statement of exact actions looks its few actions up in the
        batch; one with wildcards tests only the batch's actions of its services (NotAction takes the
        other services' actions untested); a wildcard in the service part tests every action.
        """
        found = self._plans.get(lowered)
        if found is not None:
            return found
        positions, services = _batch_index(lowered)
        plan: list[tuple[int, ...]] = [()] * len(lowered)
        for statement, token in zip(self.statements, self.tokens, strict=True):
            matcher, negated, single = statement.actions, statement.not_action, (token,)
            matched: list[int]
            if matcher.match_all or matcher.services is None:
                matched = [p for p, action in enumerate(lowered) if matcher.matches(action) != negated]
            elif matcher.regex is None and not negated:
                matched = [p for action in matcher.exact for p in positions.get(action, ())]
            else:
                inside = (p for service in matcher.services for p in services.get(service, ()))
                matched = [p for p in inside if matcher.matches(lowered[p]) != negated]
                if negated:
                    # Actions of other services cannot match the patterns: NotAction takes them all.
                    others = (spots for service, spots in services.items() if service not in matcher.services)
                    matched += [p for spots in others for p in spots]
            for p in matched:
                current = plan[p]
                plan[p] = current + single if current else single
        found = tuple(plan)
        if len(self._plans) >= 8:
            self._plans.clear()
        self._plans[lowered] = found
        return found

    def _service_statements(self, action_lower: str) -> tuple[Statement, ...]:
        """The statements that can match an action of this service prefix, in order.

        A statement listing only patterns of other services (``ec2:*``, ``s3:GetObject``) cannot
        match, so most actions test one or two statements of a long policy instead of all of them.
        NotAction statements and patterns with a wildcard in the service match any service.
        """
        service = action_lower.partition(":")[0]
        found = self._by_service.get(service)
        if found is None:
            found = tuple(
                s
                for s in self.statements
                if s.not_action or s.actions.services is None or service in s.actions.services
            )
            if len(self._by_service) > 1024:
                self._by_service.clear()
            self._by_service[service] = found
        return found

    @property
    def dangling_principals(self) -> tuple[str, ...]:
        """Bare unique ids (AROA…, AIDA…) in Principal elements: principals that were deleted."""
        return tuple(d for s in self.statements if s.principals for d in s.principals.dangling)


_BATCHES: dict[tuple[str, ...], tuple[dict[str, list[int]], dict[str, list[int]]]] = {}


def _batch_index(lowered: tuple[str, ...]) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Positions of each action, and of each service prefix's actions, in a batch (memoised per batch)."""
    found = _BATCHES.get(lowered)
    if found is None:
        positions: dict[str, list[int]] = {}
        services: dict[str, list[int]] = {}
        for position, action in enumerate(lowered):
            positions.setdefault(action, []).append(position)
            services.setdefault(action.partition(":")[0], []).append(position)
        if len(_BATCHES) >= 8:
            _BATCHES.clear()
        found = _BATCHES[lowered] = (positions, services)
    return found


_TOKENS: dict[tuple[object, ...], int] = {}
_NEXT_TOKEN = itertools.count()
_TOKENS_LOCK = threading.Lock()


def _token(fingerprint: tuple[object, ...]) -> int:
    """One int per distinct fingerprint: ints hash and compare faster in the decision memo's keys.

    Tokens are never reused (the counter only grows), so equal tokens always mean equal
    fingerprints; forgetting the table only costs sharing between statements parsed before and after.
    """
    found = _TOKENS.get(fingerprint)
    if found is None:
        if len(_TOKENS) >= 1 << 16:
            _TOKENS.clear()
        found = _TOKENS[fingerprint] = next(_NEXT_TOKEN)
    return found


def parse_policy(source: str | bytes | Mapping[str, Any], *, policy_id: str, policy_type: str) -> Policy:
    """Parse and validate one policy; raise ``PolicyError`` naming the policy and the offending element.

    ``policy_type`` is "identity" (or a SimulatePrincipalPolicy source type such as "role",
    "aws-managed", "user-managed"), "boundary", "scp", "resource" or "trust".
    """
    kind = _KINDS.get(policy_type.lower())
    if kind is None:
        raise PolicyError(policy_id, "policy_type", f"unknown policy type {policy_type!r}")
    if isinstance(source, Mapping):
        document: Any = source
        try:
            text = json.dumps(source, indent=4)
        except (TypeError, ValueError) as exc:
            raise PolicyError(policy_id, "document", f"not JSON-serialisable: {exc}") from None
    else:
        text = _decode_text(source, policy_id)
        document = _load_json(text, policy_id)
    if not isinstance(document, Mapping):
        raise PolicyError(policy_id, "document", "a policy must be a JSON object")
    return _build(document, text, policy_id=policy_id, policy_type=policy_type, kind=kind)


def _decode_text(source: str | bytes, policy_id: str) -> str:
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(policy_id, "document", f"not UTF-8: {exc}") from None
    source = source.removeprefix("\ufeff")
    stripped = source.strip()
    if not stripped.startswith("{") and "%" in stripped:
        source = urllib.parse.unquote(stripped)
    return source


def _load_json(text: str, policy_id: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise PolicyError(policy_id, key, "element appears twice in one object")
            result[key] = value
        return result

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise PolicyError(
            policy_id, "document", f"not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from None


def _build(document: Mapping[str, Any], text: str, *, policy_id: str, policy_type: str, kind: PolicyKind) -> Policy:
    for key in document:
        if key not in _TOP_LEVEL:
            raise PolicyError(policy_id, str(key), "unknown top-level element")
    version = document.get("Version", VERSION_2008)
    if version not in (VERSION_2012, VERSION_2008):
        raise PolicyError(policy_id, "Version", f"must be {VERSION_2012} or {VERSION_2008}, not {version!r}")
    if "Id" in document and not isinstance(document["Id"], str):
        raise PolicyError(policy_id, "Id", "must be a string")
    if "Statement" not in document:
        raise PolicyError(policy_id, "Statement", "missing")
    raw = document["Statement"]
    raw_statements = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(raw_statements, list):
        raise PolicyError(policy_id, "Statement", "must be an object or a list of objects")
    spans = _statement_spans(text, len(raw_statements))
    sids: set[str] = set()
    statements = []
    for index, (raw_statement, span) in enumerate(zip(raw_statements, spans, strict=True)):
        statement = _statement(
            raw_statement,
            index,
            span,
            policy_id=policy_id,
            policy_type=policy_type,
            kind=kind,
            allow_variables=version == VERSION_2012,
        )
        # IAM accepts repeated empty Sids (the AWS provider's aws_iam_policy_document writes "Sid": "").
        if statement.sid:
            if statement.sid in sids:
                raise PolicyError(policy_id, f"Statement[{index}]/Sid", f"duplicate Sid {statement.sid!r}")
            sids.add(statement.sid)
        statements.append(statement)
    return Policy(
        id=policy_id,
        type=policy_type,
        kind=kind,
        version=version,
        text=text,
        document=document,
        statements=tuple(statements),
    )


def _statement(
    raw: Any,
    index: int,
    span: tuple[Position, Position, Position],
    *,
    policy_id: str,
    policy_type: str,
    kind: PolicyKind,
    allow_variables: bool,
) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(raw, Mapping):
        raise PolicyError(policy_id, where, "a statement must be a JSON object")
    for key in raw:
        if key not in _STATEMENT_ELEMENTS:
            raise PolicyError(policy_id, f"{where}/{key}", "unknown statement element")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyError(policy_id, f"{where}/Sid", "must be a string")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(policy_id, f"{where}/Effect", f"must be 'Allow' or 'Deny', not {effect!r}")

    action_key, actions = _statement_actions(raw, policy_id, where)
    resource_key, resources = _statement_resources(raw, kind, policy_id, where, allow_variables=allow_variables)
    principal_key, principals = _statement_principals(raw, kind, effect, policy_id, where)
    condition = _statement_condition(raw, policy_id, where, allow_variables=allow_variables)

    start, end, reported = span
    return Statement(
        index=index,
        sid=sid,
        is_allow=effect == "Allow",
        actions=ActionMatcher(actions),
        not_action=action_key == "NotAction",
        resources=resources,
        not_resource=resource_key == "NotResource",
        principals=principals,
        not_principal=principal_key == "NotPrincipal",
        condition=condition,
        condition_keys=tuple((k.lower(), k) for k in condition.keys) if condition else (),
        matched=MatchedStatement(
            policy_id=policy_id,
            policy_type=policy_type,
            effect="Allow" if effect == "Allow" else "Deny",
            start=start,
            end=end,
            sid=sid,
            index=index,
            reported_start=reported,
        ),
    )


def _statement_actions(raw: Mapping[str, Any], policy_id: str, where: str) -> tuple[str, tuple[str, ...]]:
    """A statement's Action or NotAction (which one, and its patterns), each pattern service:action or ``*``."""
    action_key = _exactly_one(raw, "Action", "NotAction", policy_id, where, required=True)
    assert action_key is not None
    actions = _strings(raw[action_key], policy_id, f"{where}/{action_key}")
    for action in actions:
        if action != "*" and not _ACTION.match(action):
            raise PolicyError(policy_id, f"{where}/{action_key}", f"{action!r} is not service:action")
    return action_key, actions


def _statement_resources(
    raw: Mapping[str, Any], kind: PolicyKind, policy_id: str, where: str, *, allow_variables: bool
) -> tuple[str | None, ResourceMatcher | None]:
    """A statement's Resource or NotResource (which one, and its matcher); a trust policy has neither."""
    resource_key = _exactly_one(raw, "Resource", "NotResource", policy_id, where, required=kind != "trust")
    if kind == "trust" and resource_key is not None:
        raise PolicyError(policy_id, f"{where}/{resource_key}", "a trust policy has no Resource element")
    resources: ResourceMatcher | None = None
    if resource_key is not None:
        written = _strings(raw[resource_key], policy_id, f"{where}/{resource_key}")
        patterns = tuple(_complete(p, kind, policy_id, f"{where}/{resource_key}") for p in written)
        resources = ResourceMatcher(patterns, allow_variables=allow_variables, written=written)
    return resource_key, resources


def _statement_principals(
    raw: Mapping[str, Any], kind: PolicyKind, effect: str, policy_id: str, where: str
) -> tuple[str | None, PrincipalMatcher | None]:
    """A statement's Principal or NotPrincipal (which one, and its matcher): only resource and trust policies."""
    needs_principal = kind in ("resource", "trust")
    principal_key = _exactly_one(raw, "Principal", "NotPrincipal", policy_id, where, required=needs_principal)
    if principal_key is not None and not needs_principal:
        raise PolicyError(policy_id, f"{where}/{principal_key}", f"not allowed in a {kind} policy")
    if principal_key == "NotPrincipal" and (kind == "trust" or effect == "Allow"):
        raise PolicyError(policy_id, f"{where}/NotPrincipal", "only with Deny, and never in a role trust policy")
    principals = None
    if principal_key is not None:
        principals = _principal(raw[principal_key], policy_id, f"{where}/{principal_key}")
    return principal_key, principals


def _statement_condition(
    raw: Mapping[str, Any], policy_id: str, where: str, *, allow_variables: bool
) -> conditions.CompiledCondition | None:
    """A statement's Condition block compiled, or None; a fault names the element inside the statement."""
    condition = None
    if "Condition" in raw:
        block = raw["Condition"]
        if not isinstance(block, Mapping):
            raise PolicyError(policy_id, f"{where}/Condition", "must be an object")
        try:
            condition = conditions.compile_condition(block, policy_id=policy_id, allow_variables=allow_variables)
        except PolicyError as exc:
            raise PolicyError(policy_id, f"{where}/{exc.element}", exc.message) from None
    return condition


def _complete(pattern: str, kind: PolicyKind, policy_id: str, element: str) -> str:
    """A Resource/NotResource pattern as IAM reads it: ``*``, a complete ARN, or a partial ARN completed.

    The IAM User Guide documents how a partial ARN is completed (missing parts are ``*``:
    ``arn:aws:sqs`` is ``arn:aws:sqs:*:*:*``) for identity policies, which permissions boundaries
    are (reference_policies_elements_resource.html). For SCPs and resource-based policies it
    documents nothing: the engine refuses such a policy rather than guess. An ARN needs at least
    its partition and service (a wildcard may not stand for the service).
    """
    if pattern == "*":
        return pattern
    if not pattern.startswith("arn:"):
        raise PolicyError(policy_id, element, f"{pattern!r} is not '*' or an ARN")
    parts = arn_parts(pattern)
    if parts >= 6:
        return pattern
    if parts < 3 or not pattern.split(":", 3)[2]:
        raise PolicyError(policy_id, element, f"{pattern!r} is not an ARN: it names no service")
    if kind not in ("identity", "boundary"):
        raise PolicyError(
            policy_id,
            element,
            f"{pattern!r} is a partial ARN ({parts} of 6 parts); AWS documents how a partial ARN is "
            f"completed only in identity policies, so a {kind} policy must give the whole ARN "
            f"(such as {complete_arn(pattern)!r})",
        )
    return complete_arn(pattern)


def _exactly_one(
    raw: Mapping[str, Any], name: str, negated: str, policy_id: str, where: str, *, required: bool
) -> str | None:
    if name in raw and negated in raw:
        raise PolicyError(policy_id, f"{where}/{negated}", f"{name} and {negated} cannot both appear")
    if name in raw:
        return name
    if negated in raw:
        return negated
    if required:
        raise PolicyError(policy_id, f"{where}/{name}", f"one of {name} or {negated} is required")
    return None


def _strings(value: Any, policy_id: str, element: str) -> tuple[str, ...]:
    """A string-or-list element as a non-empty tuple of strings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise PolicyError(policy_id, element, "must be a non-empty string or a non-empty list of strings")
    return tuple(items)


def _principal(value: Any, policy_id: str, element: str) -> PrincipalMatcher:
    if value == "*":
        return PrincipalMatcher("*")
    if not isinstance(value, Mapping) or not value:
        raise PolicyError(policy_id, element, 'must be "*" or an object such as {"AWS": ...}')
    entries: dict[str, Sequence[str]] = {}
    for key, raw in value.items():
        if key not in _PRINCIPAL_KEYS:
            raise PolicyError(policy_id, f"{element}/{key}", "unknown principal type")
        entries[key] = _strings(raw, policy_id, f"{element}/{key}")
        for item in entries[key]:
            if ("*" in item and item != "*") or (item == "*" and key != "AWS"):
                raise PolicyError(policy_id, f"{element}/{key}", f"{item!r}: no wildcards in principals")
            if key == "AWS" and not _AWS_PRINCIPAL.match(item):
                raise PolicyError(policy_id, f"{element}/{key}", f"{item!r} is not an account, ARN or unique id")
    return PrincipalMatcher(entries)


def _statement_spans(text: str, count: int) -> list[tuple[Position, Position, Position]]:
    """1-based (start, end, reported start) of each statement object in ``text``.

    ``start`` is the statement's ``{`` and ``end`` just past its ``}``. ``reported start`` is where
    AWS's simulator says a statement starts: just after the ``[`` or ``,`` that precedes it (the
    ``{`` itself for a lone statement object). Only called on text that already parsed as JSON. For a
    statement that cannot be located (a mapping whose text was regenerated differently) the policy's
    own bounds are used.
    """
    decoder = json.JSONDecoder()
    line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]

    def position(offset: int) -> Position:
        line = bisect.bisect_right(line_starts, offset) - 1
        return Position(line + 1, offset - line_starts[line] + 1)

    def skip(i: int) -> int:
        match = _WS.match(text, i)
        return match.end() if match else i

    offsets: list[tuple[int, int, int]] = []
    i = skip(0)
    if text[i : i + 1] == "{":
        i = skip(i + 1)
        while i < len(text) and text[i] != "}":
            key, i = decoder.raw_decode(text, i)
            i = skip(skip(i) + 1)
            if key == "Statement" and text[i] == "[":
                after_delimiter = i + 1
                j = skip(i + 1)
                offsets = []
                while text[j] != "]":
                    _, end = decoder.raw_decode(text, j)
                    offsets.append((j, end, after_delimiter))
                    j = skip(end)
                    if text[j] == ",":
                        after_delimiter = j + 1
                        j = skip(j + 1)
                i = j + 1
            else:
                start = i
                _, i = decoder.raw_decode(text, i)
                if key == "Statement":
                    offsets = [(start, i, start)]
            i = skip(i)
            if text[i : i + 1] == ",":
                i = skip(i + 1)
    if len(offsets) != count:
        whole = (position(0), position(len(text.rstrip())), position(0))
        return [whole] * count
    return [(position(s), position(e), position(r)) for s, e, r in offsets]
