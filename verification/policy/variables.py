"""Policy variables (``${aws:username}``, ``${k, 'default'}``, ``${*}``...) and IAM wildcard patterns.

Contract (owned by the conditions work; used by resource matching too):
- ``has_variables(text) -> bool``
- ``resolve(text, context) -> str | None``: substitute every variable; ``${*}``, ``${?}``, ``${$}`` give
  the literal characters; ``${key, 'default'}`` falls back to the default; None when any variable
  cannot be resolved (an unresolved variable matches nothing).
- ``wildcard_regex(pattern, context, *, ignore_case) -> re.Pattern[str] | None``: an anchored regex for
  an IAM wildcard pattern (``*`` any run, ``?`` one character), every other character literal
  (regex metacharacters escaped). With a context, variables are substituted first and their values
  are literal (``${*}`` is a literal star); with ``context=None`` variables are left as literal text
  (policies of Version 2008-10-17). None when a variable cannot be resolved.

Also ``arn_wildcard_regex(pattern, context)`` for the Arn* condition operators, where each of the
first five colon-separated parts is matched on its own (``*`` stops at ``:``) and the resource part
takes the rest.

Source: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
A key with no value, or with several values, does not resolve; a default then applies. Key names are
case-insensitive; the default is taken as written, with ``''`` standing for one quote. Substitution
happens once: a value or default that looks like a variable stays literal text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from verification.policy.model import Context

__all__ = ["arn_wildcard_regex", "has_variables", "resolve", "wildcard_regex"]

_SPECIALS = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True)
class _Var:
    """One ``${...}``: a context key with an optional default, or a special character (``key`` None)."""

    key: str | None
    default: str | None = None
    char: str = ""


_Token = str | _Var  # literal policy text, or a variable


def _parse_var(text: str, start: int) -> tuple[_Var, int] | None:
    """Parse the variable whose ``${`` is at ``start``; return it and the index after ``}``.

    None when the text there is not a well-formed variable (it then stays literal text).
    """
    i = start + 2
    n = len(text)
    if i + 1 < n and text[i] in _SPECIALS and text[i + 1] == "}":
        return _Var(None, None, _SPECIALS[text[i]]), i + 2
    end = i
    while end < n and text[end] not in ",}":
        if text[end] in "${'":
            return None
        end += 1
    if end >= n:
        return None
    key = text[i:end].strip()
    if not key or any(c.isspace() for c in key):
        return None
    if text[end] == "}":
        return _Var(key), end + 1
    j = end + 1
    while j < n and text[j] == " ":
        j += 1
    if j >= n or text[j] != "'":
        return None
    j += 1
    default: list[str] = []
    while True:
        if j >= n:
            return None
        if text[j] == "'":
            if j + 1 < n and text[j + 1] == "'":
                default.append("'")
                j += 2
                continue
            j += 1
            break
        default.append(text[j])
        j += 1
    while j < n and text[j] == " ":
        j += 1
    if j >= n or text[j] != "}":
        return None
    return _Var(key, "".join(default)), j + 1


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[_Token, ...]:
    """Split policy text into literal runs and variables."""
    out: list[_Token] = []
    literal: list[str] = []
    i = 0
    while True:
        j = text.find("${", i)
        if j < 0:
            literal.append(text[i:])
            break
        parsed = _parse_var(text, j)
        if parsed is None:
            literal.append(text[i : j + 1])
            i = j + 1
            continue
        literal.append(text[i:j])
        if literal_text := "".join(literal):
            out.append(literal_text)
        literal = []
        out.append(parsed[0])
        i = parsed[1]
    if literal_text := "".join(literal):
        out.append(literal_text)
    return tuple(out)


def has_variables(text: str) -> bool:
    """Whether ``text`` holds at least one well-formed ``${...}`` (special characters included)."""
    return "${" in text and any(isinstance(t, _Var) for t in _tokens(text))


def _value(var: _Var, context: Context) -> str | None:
    """The text a variable stands for, or None when it cannot be resolved."""
    if var.key is None:
        return var.char
    values = context.get(var.key)
    if values is not None and len(values) == 1:
        return values[0]
    return var.default


def resolve(text: str, context: Context) -> str | None:
    """``text`` with every variable substituted; None when one cannot be resolved."""
    if "${" not in text:
        return text
    parts: list[str] = []
    for token in _tokens(text):
        if isinstance(token, str):
            parts.append(token)
            continue
        value = _value(token, context)
        if value is None:
            return None
        parts.append(value)
    return "".join(parts)


def _translate(literal: str, star: str, one: str) -> str:
    """Regex source for policy text: ``*`` and ``?`` are wildcards, everything else literal."""
    return "".join(star if c == "*" else one if c == "?" else re.escape(c) for c in literal)


@lru_cache(maxsize=8192)
def _compile(body: str, ignore_case: bool) -> re.Pattern[str]:
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(rf"(?:{body})\Z", flags)


@lru_cache(maxsize=4096)
def _pieces(pattern: str) -> tuple[str | _Var, ...]:
    """The pattern's literal runs already translated to regex source, and its variables."""
    return tuple(_translate(t, ".*", ".") if isinstance(t, str) else t for t in _tokens(pattern))


@lru_cache(maxsize=8192)
def _literal_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """Compiled regex for a pattern whose every character is policy text (no substitution)."""
    return _compile(_translate(pattern, ".*", "."), ignore_case)


def wildcard_regex(pattern: str, context: Context | None, *, ignore_case: bool) -> re.Pattern[str] | None:
    """Anchored regex for an IAM wildcard pattern; None when a variable cannot be resolved.

    Use ``.match`` or ``.fullmatch`` on the result: it is anchored at the end, and ``match`` anchors
    the start. ``context=None`` means variables are not substituted (Version 2008-10-17).
    """
    if context is None or not has_variables(pattern):
        return _literal_regex(pattern, ignore_case)
    parts: list[str] = []
    for piece in _pieces(pattern):
        if isinstance(piece, str):
            parts.append(piece)
            continue
        value = _value(piece, context)
        if value is None:
            return None
        parts.append(re.escape(value))
    return _compile("".join(parts), ignore_case)


def _arn_body(pieces: list[tuple[str, bool]]) -> str:
    """Regex source for an ARN pattern given as (text, wildcards-active) pieces.

    Wildcards in the first five parts stay within their part; in the resource part they run freely.
    Colons count as separators wherever they come from, so a variable may supply several parts.
    """
    out: list[str] = []
    colons = 0
    for text, wild in pieces:
        for c in text:
            if c == ":":
                colons += 1
                out.append(":")
            elif wild and c == "*":
                out.append(".*" if colons >= 5 else "[^:]*")
            elif wild and c == "?":
                out.append("." if colons >= 5 else "[^:]")
            else:
                out.append(re.escape(c))
    return "".join(out)


@lru_cache(maxsize=4096)
def _literal_arn_regex(pattern: str) -> re.Pattern[str]:
    return _compile(_arn_body([(pattern, True)]), False)


def arn_wildcard_regex(pattern: str, context: Context | None) -> re.Pattern[str] | None:
    """Anchored, case-sensitive regex for an Arn* condition value; None when a variable is unresolved."""
    if context is None or not has_variables(pattern):
        return _literal_arn_regex(pattern)
    pieces: list[tuple[str, bool]] = []
    for token in _tokens(pattern):
        if isinstance(token, str):
            pieces.append((token, True))
            continue
        value = _value(token, context)
        if value is None:
            return None
        pieces.append((value, False))
    return _compile(_arn_body(pieces), False)
