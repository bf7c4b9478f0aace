"""The Condition element: every operator family, IfExists, ForAllValues/ForAnyValue, missing keys.

Contract (used by the decision pipeline):
- ``compile_condition(block, *, policy_id, allow_variables) -> CompiledCondition``; raises
  ``PolicyError(policy_id, "Condition/<operator>/<key>", message)`` on an unknown operator or a
  malformed block. Never skips what it does not understand: a skipped condition is a false allow.
- ``CompiledCondition.keys``: every condition key the block names, in the policy's spelling.
- ``CompiledCondition.evaluate(context) -> ConditionResult``: ``matched``; ``failed_keys`` (present
  but the test was false); ``missing_keys`` (absent, which made a positive operator false);
  ``held_on_absence`` (on a match: the tests that held only because their key was absent).

Rules, from https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html,
…/reference_policies_elements_condition_operators.html and …/reference_policies_multi-value-conditions.html:
operators and keys in a block are ANDed; the values of one key are ORed (a negated operator matches
when none of them does); key names are case-insensitive. A key that is absent (or has no values)
makes positive operators false and negated operators true; ``...IfExists`` makes it true;
``ForAllValues`` is true and ``ForAnyValue`` false. Policy variables are substituted in String, Arn
and Bool values only; elsewhere ``${`` is literal text and fails to parse as a number, date, etc.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from verification.policy.errors import PolicyError
from verification.policy.model import ConditionMiss, Context
from verification.policy.variables import arn_wildcard_regex, has_variables, resolve, wildcard_regex

__all__ = ["CompiledCondition", "ConditionResult", "compile_condition"]

#: Positive test of one request value against the policy's values (ORed).
Matcher = Callable[[str, Context], bool]
_Compare = Callable[[float, float], bool]


@dataclass(frozen=True)
class ConditionResult:
    """Outcome of a Condition block for one request context."""

    matched: bool
    failed_keys: tuple[str, ...] = ()
    missing_keys: tuple[str, ...] = ()
    #: On a match: the tests that held only because their key was absent, as "Operator key values".
    held_on_absence: tuple[str, ...] = ()


_MATCHED = ConditionResult(True)


class _Invalid(ValueError):
    """A policy value that does not parse; turned into a PolicyError naming the element."""


# --- value parsing ---------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)\Z")
_EPOCH = re.compile(r"-?\d+(?:\.\d+)?\Z")
# W3C profile of ISO 8601 (https://www.w3.org/TR/NOTE-datetime), month precision and finer; a bare
# year is read as epoch seconds, since the two cannot be told apart.
_ISO = re.compile(r"\d{4}-\d{2}(?:-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)?\Z")


def _number(text: str) -> float | None:
    return float(text) if _NUMBER.match(text) else None


@lru_cache(maxsize=4096)
def _timestamp(text: str) -> float | None:
    """Seconds since the epoch for an ISO 8601 date/time (UTC unless it says) or epoch seconds."""
    if _EPOCH.match(text):
        return float(text)
    if not _ISO.match(text):
        return None
    if len(text) == 7:
        text += "-01"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@lru_cache(maxsize=1024)
def _binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _parse_all(values: tuple[str, ...], parse: Callable[[str], Any], what: str) -> list[Any]:
    parsed = []
    for value in values:
        result = parse(value)
        if result is None:
            raise _Invalid(f"{value!r} is not {what}")
        parsed.append(result)
    return parsed


# --- matchers, one builder per operator family ---------------------------------------------------


def _split(values: tuple[str, ...], allow_variables: bool) -> tuple[list[str], list[str]]:
    """Values without variables (precomputable) and values with variables (resolved per request)."""
    static: list[str] = []
    dynamic: list[str] = []
    for value in values:
        (dynamic if allow_variables and has_variables(value) else static).append(value)
    return static, dynamic


def _string_equals(values: tuple[str, ...], allow_variables: bool, ignore_case: bool) -> Matcher:
    fold: Callable[[str], str] = str.casefold if ignore_case else str
    static, dynamic = _split(values, allow_variables)
    known = frozenset(fold(v) for v in static)
    if not dynamic:
        if ignore_case:
            return lambda value, _ctx: value.casefold() in known
        return lambda value, _ctx: value in known

    def match(value: str, ctx: Context) -> bool:
        folded = fold(value)
        if folded in known:
            return True
        for pattern in dynamic:
            resolved = resolve(pattern, ctx)
            if resolved is not None and fold(resolved) == folded:
                return True
        return False

    return match


def _like(values: tuple[str, ...], allow_variables: bool, arn: bool) -> Matcher:
    static, dynamic = _split(values, allow_variables)
    exact = frozenset(v for v in static if "*" not in v and "?" not in v)
    wild = [v for v in static if v not in exact]
    if arn:
        # A value with variables is checked once resolved (a variable may supply several parts).
        for value in static:
            if not value.startswith("arn:") or value.count(":") < 5:
                raise _Invalid(f"{value!r} is not an ARN (arn:partition:service:region:account:resource)")
        exact = frozenset()
        wild = static
    regexes = [arn_wildcard_regex(v, None) if arn else wildcard_regex(v, None, ignore_case=False) for v in wild]
    combined = re.compile("|".join(r.pattern for r in regexes if r is not None), re.DOTALL) if wild else None

    def match(value: str, ctx: Context) -> bool:
        if value in exact or (combined is not None and combined.match(value)):
            return True
        for pattern in dynamic:
            regex = arn_wildcard_regex(pattern, ctx) if arn else wildcard_regex(pattern, ctx, ignore_case=False)
            if regex is not None and regex.match(value):
                return True
        return False

    return match


def _bool(values: tuple[str, ...], allow_variables: bool) -> Matcher:
    static, dynamic = _split(values, allow_variables)
    for value in static:
        if value.lower() not in ("true", "false"):
            raise _Invalid(f"{value!r} is not true or false")
    known = frozenset(v.lower() for v in static)

    def match(value: str, ctx: Context) -> bool:
        lowered = value.lower()
        if lowered in known:
            return True
        for pattern in dynamic:
            resolved = resolve(pattern, ctx)
            if resolved is not None and resolved.lower() == lowered:
                return True
        return False

    return match


def _ordered(values: tuple[str, ...], parse: Callable[[str], float | None], what: str, op: _Compare) -> Matcher:
    bounds: list[float] = _parse_all(values, parse, what)

    def match(value: str, _ctx: Context) -> bool:
        parsed = parse(value)
        return parsed is not None and any(op(parsed, bound) for bound in bounds)

    return match


def _binary_equals(values: tuple[str, ...]) -> Matcher:
    known = frozenset(_parse_all(values, _binary, "base64"))

    def match(value: str, _ctx: Context) -> bool:
        decoded = _binary(value)
        return decoded is not None and decoded in known

    return match


def _ip_address(values: tuple[str, ...]) -> Matcher:
    def network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None

    networks = _parse_all(values, network, "an IPv4 or IPv6 address or CIDR range")

    def match(value: str, _ctx: Context) -> bool:
        address = _address(value)
        return address is not None and any(address in net for net in networks)

    return match


# --- operator table ---------------------------------------------------------------------------------

_Builder = Callable[[tuple[str, ...], bool], Matcher]


def _numeric(op: _Compare) -> _Builder:
    return lambda values, _vars: _ordered(values, _number, "a number", op)


def _date(op: _Compare) -> _Builder:
    return lambda values, _vars: _ordered(values, _timestamp, "an ISO 8601 date or epoch time", op)


def _str_equals(values: tuple[str, ...], allow: bool) -> Matcher:
    return _string_equals(values, allow, ignore_case=False)


def _str_equals_ic(values: tuple[str, ...], allow: bool) -> Matcher:
    return _string_equals(values, allow, ignore_case=True)


def _str_like(values: tuple[str, ...], allow: bool) -> Matcher:
    return _like(values, allow, arn=False)


def _arn_like(values: tuple[str, ...], allow: bool) -> Matcher:
    return _like(values, allow, arn=True)


#: Base operator name → (builder, negated). ``Null`` is handled on its own.
_OPERATORS: dict[str, tuple[_Builder, bool]] = {
    "StringEquals": (_str_equals, False),
    "StringNotEquals": (_str_equals, True),
    "StringEqualsIgnoreCase": (_str_equals_ic, False),
    "StringNotEqualsIgnoreCase": (_str_equals_ic, True),
    "StringLike": (_str_like, False),
    "StringNotLike": (_str_like, True),
    "NumericEquals": (_numeric(operator.eq), False),
    "NumericNotEquals": (_numeric(operator.eq), True),
    "NumericLessThan": (_numeric(operator.lt), False),
    "NumericLessThanEquals": (_numeric(operator.le), False),
    "NumericGreaterThan": (_numeric(operator.gt), False),
    "NumericGreaterThanEquals": (_numeric(operator.ge), False),
    "DateEquals": (_date(operator.eq), False),
    "DateNotEquals": (_date(operator.eq), True),
    "DateLessThan": (_date(operator.lt), False),
    "DateLessThanEquals": (_date(operator.le), False),
    "DateGreaterThan": (_date(operator.gt), False),
    "DateGreaterThanEquals": (_date(operator.ge), False),
    "Bool": (_bool, False),
    "BinaryEquals": (lambda values, _vars: _binary_equals(values), False),
    "IpAddress": (lambda values, _vars: _ip_address(values), False),
    "NotIpAddress": (lambda values, _vars: _ip_address(values), True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
}
_QUALIFIERS = {"ForAllValues:": "all", "ForAnyValue:": "any"}


# --- compiled form -------------------------------------------------------------------------------------


class _Entry:
    """One (operator, key) pair of the block."""

    __slots__ = (
        "if_exists",
        "key",
        "lkey",
        "match",
        "negated",
        "null_expect",
        "operator",
        "qualifier",
        "text",
        "values",
    )

    def __init__(
        self,
        key: str,
        *,
        qualifier: str = "",
        negated: bool = False,
        if_exists: bool = False,
        match: Matcher | None = None,
        null_expect: frozenset[bool] = frozenset(),
        text: str = "",
        operator: str = "",
        values: tuple[str, ...] = (),
    ) -> None:
        self.text = text or key
        self.operator = operator
        self.values = values
        self.key = key
        self.lkey = key.lower()
        self.qualifier = qualifier
        self.negated = negated
        self.if_exists = if_exists
        self.match = match
        self.null_expect = null_expect

    def check(self, ctx: Context, values: tuple[str, ...] | None) -> bool:
        """Whether this key's test holds; ``values`` are the request's values for the key."""
        match = self.match
        if match is None:  # Null: true means the key is absent (or has no value)
            return (not values) in self.null_expect
        if not values:
            if self.if_exists or self.qualifier == "all":
                return True
            if self.qualifier == "any":
                return False
            return self.negated
        negated = self.negated
        if self.qualifier == "all":
            return all(match(v, ctx) != negated for v in values)
        if self.qualifier == "any":
            return any(match(v, ctx) != negated for v in values)
        return any(match(v, ctx) for v in values) != negated


class CompiledCondition:
    """A Condition block parsed once, evaluated against many request contexts."""

    __slots__ = ("_entries", "keys")

    def __init__(self, entries: list[_Entry]) -> None:
        self._entries = tuple(entries)
        seen: dict[str, str] = {}
        for entry in entries:
            seen.setdefault(entry.lkey, entry.key)
        self.keys: tuple[str, ...] = tuple(seen.values())

    def evaluate(self, context: Context) -> ConditionResult:
        """AND of every (operator, key) test; names the keys that failed or were missing."""
        failed: list[str] = []
        missing: list[str] = []
        absent: list[str] = []
        values = context.values
        for entry in self._entries:
            found = values.get(entry.lkey)
            if not entry.check(context, found):
                (failed if found else missing).append(entry.key)
            elif not found:
                absent.append(entry.text)
        if not failed and not missing:
            return ConditionResult(True, held_on_absence=tuple(absent)) if absent else _MATCHED
        return ConditionResult(False, tuple(dict.fromkeys(failed)), tuple(dict.fromkeys(missing)))

    def misses(self, context: Context) -> tuple[ConditionMiss, ...]:
        """Each (operator, key) test that does not hold: what the policy wanted, what the request carried.

        For explanations only (an implicit deny's nearest statement); ``evaluate`` decides.
        """
        values = context.values
        found: list[ConditionMiss] = []
        for entry in self._entries:
            carried = values.get(entry.lkey)
            if not entry.check(context, carried):
                found.append(ConditionMiss(entry.operator, entry.key, entry.values, carried or None))
        return tuple(found)

    def __repr__(self) -> str:
        return f"CompiledCondition(keys={self.keys!r})"


def _scalar(value: Any) -> str | None:
    """A condition value as text: JSON strings, booleans and numbers are accepted."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _values(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list | tuple) else [raw]
    if not items:
        raise _Invalid("no values")
    out = []
    for item in items:
        text = _scalar(item)
        if text is None:
            raise _Invalid(f"value {item!r} is not a string, number or boolean")
        out.append(text)
    return tuple(out)


def _split_operator(name: str) -> tuple[str, str, bool]:
    """(qualifier, base operator, IfExists) of an operator name such as ``ForAnyValue:StringLikeIfExists``."""
    qualifier = ""
    for prefix, kind in _QUALIFIERS.items():
        if name.startswith(prefix):
            qualifier, name = kind, name[len(prefix) :]
            break
    if_exists = name.endswith("IfExists")
    if if_exists:
        name = name[: -len("IfExists")]
    return qualifier, name, if_exists


def compile_condition(block: Any, *, policy_id: str, allow_variables: bool) -> CompiledCondition:
    """Parse a Condition block; raise PolicyError for anything malformed or unknown."""
    if not isinstance(block, Mapping):
        raise PolicyError(policy_id, "Condition", f"must be an object of operators, not {type(block).__name__}")
    entries: list[_Entry] = []
    for op_name, keys in block.items():
        where = f"Condition/{op_name}"
        if not isinstance(op_name, str):
            raise PolicyError(policy_id, "Condition", f"operator {op_name!r} is not a string")
        qualifier, base, if_exists = _split_operator(op_name)
        if base != "Null" and base not in _OPERATORS:
            raise PolicyError(policy_id, where, "unknown condition operator")
        if base == "Null" and (if_exists or qualifier):
            raise PolicyError(policy_id, where, "Null takes neither IfExists nor ForAllValues/ForAnyValue")
        if not isinstance(keys, Mapping) or not keys:
            raise PolicyError(policy_id, where, "must be a non-empty object of condition keys to values")
        for key, raw in keys.items():
            if not isinstance(key, str) or not key.strip():
                raise PolicyError(policy_id, where, f"condition key {key!r} is not a non-empty string")
            try:
                values = _values(raw)
                text = f"{op_name} {key} {', '.join(values)}"
                if base == "Null":
                    expect = frozenset(_parse_all(values, _null_value, "true or false"))
                    entries.append(_Entry(key, null_expect=expect, text=text, operator=op_name, values=values))
                    continue
                build, negated = _OPERATORS[base]
                matcher = build(values, allow_variables)
            except _Invalid as exc:
                raise PolicyError(policy_id, f"{where}/{key}", str(exc)) from None
            entries.append(
                _Entry(
                    key,
                    qualifier=qualifier,
                    negated=negated,
                    if_exists=if_exists,
                    match=matcher,
                    text=text,
                    operator=op_name,
                    values=values,
                )
            )
    return CompiledCondition(entries)


def _null_value(text: str) -> bool | None:
    lowered = text.lower()
    return True if lowered == "true" else False if lowered == "false" else None
