"""The requests a permission is judged on: real resources, derived keys, and values nobody knows.

- ``judged_resources``: the ARNs a permission's requests name. One per resource type, shaped as the
  type's real ids; where the role's policies are in hand, one more for each part of the type that a
  statement scoped to part of it (``volume/vol-0*``) sets apart (``verification.policy.coverage``).
  An action that takes no resource type is judged on ``*``.
- ``derived_context``: keys a request carries because of others (request tags imply
  ``aws:TagKeys``; a service's tag key and the global one where the Service Authorization Reference
  lists both for the action).
- ``probe``: keys every request carries with a value the harness does not know (the instance's
  VPC and private IP, the credentials' delivery); decided for each value a policy names, so a
  decision that turns on one is "depends on", never a pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from verification.policy import Context, Evaluation, PolicySet, simulate
from verification.policy.coverage import partition
from verification.policy.parse import Policy, Statement
from verification.scope.catalogue import condition_keys, judged_types, representative_arn, type_language

#: Past this many parts of one type, the rest are not judged: the requirement is then broken, never passed.
MAX_PARTS = 32
#: What an unknown key is set to when deciding: a value that no policy names.
UNKNOWN_VALUE = "(unknown)"
_RESTRICTIVENESS: dict[str, int] = {"allowed": 0, "implicitDeny": 1, "explicitDeny": 2}


@dataclass(frozen=True)
class Judged:
    """One resource a permission is judged on, and which part of its type it stands for ("" for all of it)."""

    arn: str
    part: str = ""


class TooManyParts(Exception):
    """The statements divide a type into more parts than are judged (or the search was cut short)."""


def _layers(policies: PolicySet) -> Iterable[Policy]:
    for level in policies.scps:
        yield from level
    yield from policies.identity
    if policies.boundary is not None:
        yield policies.boundary
    if policies.resource is not None:
        yield policies.resource


def raw_statement(policy: Policy, statement: Statement) -> Mapping[str, Any]:
    """The statement's JSON as written (the parsed form keeps matchers, not the patterns)."""
    body = policy.document.get("Statement")
    items = body if isinstance(body, list) else [body]
    found = items[statement.index] if 0 <= statement.index < len(items) else {}
    return found if isinstance(found, Mapping) else {}


def _patterns(raw: Mapping[str, Any]) -> tuple[str, ...]:
    value = raw.get("Resource", raw.get("NotResource", ()))
    return tuple(str(v) for v in ([value] if isinstance(value, str) else value or ()))


def scoped_patterns(policies: PolicySet, action: str) -> tuple[tuple[str, ...], ...]:
    """The Resource (or NotResource) patterns of each statement bearing on ``action`` that names some resources.

    A pattern with a policy variable is left out: it names different resources per request, and the
    engine decides it on each judged ARN anyway.
    """
    found: dict[tuple[str, ...], None] = {}
    for policy in _layers(policies):
        for statement in policy.statements_for(action.lower()):
            if statement.resources is None or statement.resources.match_all:
                continue
            patterns = tuple(p for p in _patterns(raw_statement(policy, statement)) if "${" not in p)
            if patterns:
                found.setdefault(patterns, None)
    return tuple(found)


def judged_resources(
    action: str,
    *,
    partition_name: str,
    region: str,
    account: str,
    touched: frozenset[str],
    policies: PolicySet | None,
) -> tuple[Judged, ...]:
    """The resources ``action``'s requests are judged on in ``region``: each type's ARNs, or ``*``.

    TooManyParts when the policies divide a type into more parts than are judged: the requirement
    is then "could not check", never a pass judged on some of them.
    """
    types = judged_types(action, touched)
    if not types:
        return (Judged("*"),)
    service = action.partition(":")[0]
    sets = scoped_patterns(policies, action) if policies is not None else ()
    out: dict[str, Judged] = {}
    for kind in types:
        where = {"partition": partition_name, "region": region, "account": account, "service": service}
        example = representative_arn(kind.arn_format, **where)
        if not sets:
            out.setdefault(example, Judged(example))
            continue
        try:
            coverage = partition(type_language(kind.arn_format, **where), sets, example)
        except (ValueError, IndexError):  # a pattern outside the subset: the example alone, as before
            out.setdefault(example, Judged(example))
            continue
        partial = [i for i, extent in enumerate(coverage.extents) if extent == "some"]
        # A statement that names resources by their ids, without a wildcard, is about those resources:
        # the worker's own (made with ids nobody can name in advance) are outside it.
        named = [i for i in partial if all(_names_ids(p) for p in sets[i])]
        partial = [i for i in partial if i not in named]
        # The representative itself is always judged (as a live per-role run judges it).
        kept = [(arn, sig) for arn, sig in coverage.witnesses if arn == example or not any(sig[i] for i in named)]
        if len(kept) > MAX_PARTS or not coverage.complete:
            raise TooManyParts(
                f"the role's statements divide the {kind.name} ARNs into more parts than the harness judges "
                f"({len(kept)} found, at most {MAX_PARTS})"
            )
        for arn, signature in kept:
            inside = [signature[i] for i in partial]
            out.setdefault(arn, Judged(arn, _part(kind.name, [sets[i] for i in partial], inside)))
    return tuple(out.values())


def _names_ids(pattern: str) -> bool:
    """Whether a pattern names resources by id: no wildcard in its resource segment (``instance/i-0abc…``)."""
    parts = pattern.split(":", 5)
    return len(parts) == 6 and "*" not in parts[5] and "?" not in parts[5]


def _part(type_name: str, sets: Sequence[tuple[str, ...]], inside: Sequence[bool]) -> str:
    """``the volume ARNs inside arn:aws:ec2:*:*:volume/vol-0*`` (or outside): the part a witness stands for."""
    if not sets:
        return ""
    pieces = [
        f"{'inside' if hit else 'outside'} {' or '.join(patterns)}" for patterns, hit in zip(sets, inside, strict=True)
    ]
    return f"the {type_name} ARNs {' and '.join(pieces)}"


# --- keys derived from others -------------------------------------------------------------------------


@cache
def _tag_table() -> dict[str, Any]:
    text = files("verification.fixtures").joinpath("scope/tag-keys.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def derived_context(action: str, own: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """``own`` with the keys a real request carrying it also carries.

    Request tags imply ``aws:TagKeys`` (the tag keys of the request,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-tagkeys).
    A service's own tag key and the global one (``ec2:ResourceTag/K`` and ``aws:ResourceTag/K``) carry
    the same value where the Service Authorization Reference lists both for the action
    (``fixtures/scope/tag-keys.json``). A key stated already is never overwritten.
    """
    out = {k: tuple(v) for k, v in own.items()}
    have = {k.lower() for k in out}
    listed = condition_keys(action)
    for pair in _tag_table()["equivalent"]:
        forms = [str(f) for f in pair["forms"]]
        for key, values in list(out.items()):
            for form in forms:
                prefix = form.split("${", 1)[0]
                if not key.lower().startswith(prefix.lower()) or key.lower() == prefix.lower():
                    continue
                tag = key[len(prefix) :]
                for other in forms:
                    other_prefix = other.split("${", 1)[0]
                    target = f"{other_prefix}{tag}"
                    if target.lower() not in have and other.lower() in listed and form.lower() in listed:
                        out[target] = values
                        have.add(target.lower())
    if "aws:tagkeys" not in have:
        tags = [
            key.split("/", 1)[1]
            for key in out
            if "/" in key and key.split("/", 1)[0].lower() in _request_tag_prefixes()
        ]
        if tags:
            out["aws:TagKeys"] = tuple(dict.fromkeys(tags))
    return out


@cache
def _request_tag_prefixes() -> frozenset[str]:
    return frozenset(str(p).lower() for p in _tag_table()["request_tags"])


# --- keys whose value nobody knows ----------------------------------------------------------------------


def references(policies: PolicySet, keys: Iterable[str]) -> tuple[str, ...]:
    """Which of ``keys`` (or, ending in ``/``, keys with that prefix) the policies' conditions test."""
    wanted = [k.lower() for k in keys]
    found: dict[str, None] = {}
    for policy in _layers(policies):
        for statement in policy.statements:
            for lowered, spelled in statement.condition_keys:
                if any(lowered == w or (w.endswith("/") and lowered.startswith(w)) for w in wanted):
                    found.setdefault(spelled, None)
    return tuple(found)


def _named_values(policies: PolicySet, key: str) -> tuple[str, ...]:
    """The values the policies' conditions compare ``key`` with (a CIDR's first address): the values to try."""
    out: dict[str, None] = {}
    for policy in _layers(policies):
        for statement in policy.statements:
            block = raw_statement(policy, statement).get("Condition")
            if not isinstance(block, Mapping):
                continue
            for operator, tests in block.items():
                if not isinstance(tests, Mapping):
                    continue
                for name, values in tests.items():
                    if str(name).lower() != key.lower() or str(operator).startswith("Null"):
                        continue
                    for value in [values] if not isinstance(values, list) else values:
                        text = str(value).lower() if isinstance(value, bool) else str(value)
                        if "${" in text:
                            continue
                        if "IpAddress" in str(operator):
                            text = text.split("/", 1)[0]
                        out.setdefault(text, None)
                        if "Numeric" in str(operator):  # either side of a bound: 1.0 and 3.0 around 2.0
                            try:
                                number = float(text)
                            except ValueError:
                                continue
                            out.setdefault(f"{number - 1:g}.0" if float(number).is_integer() else str(number - 1), None)
                            out.setdefault(f"{number + 1:g}.0" if float(number).is_integer() else str(number + 1), None)
    return tuple(out)


@dataclass(frozen=True)
class Probe:
    """A value of an unknown key under which a request is decided otherwise than with a value no policy names."""

    key: str
    value: str
    evaluation: Evaluation
    #: The decision with a value no policy names.
    base: Evaluation

    @property
    def stricter(self) -> bool:
        """Whether the named value denies what the unnamed one allows (else it allows what it denies)."""
        return _RESTRICTIVENESS[self.evaluation.decision] > _RESTRICTIVENESS[self.base.decision]


def probe(
    policies: PolicySet,
    action: str,
    resources: Sequence[str],
    context: Mapping[str, Sequence[str]],
    unknown: Sequence[str],
) -> dict[str, Probe]:
    """Per resource, the first value of an unknown key under which the engine decides otherwise than the base.

    The base gives each unknown key a value no policy names; each probe gives one key a value a
    policy names (the others keep theirs). A resource absent from the answer is decided the same
    whatever the worker's values are, as far as the policies tell.
    """
    base_context = dict(context)
    for key in unknown:
        base_context.setdefault(key, (UNKNOWN_VALUE,))
    base = {e.resource: e for e in simulate(policies, [action], resources, Context.of(base_context))}
    found: dict[str, Probe] = {}
    for key in unknown:
        for value in _named_values(policies, key):
            trial = {**base_context, key: (value,)}
            for evaluation in simulate(policies, [action], resources, Context.of(trial)):
                known = base.get(evaluation.resource)
                if evaluation.resource in found or known is None:
                    continue
                if evaluation.decision != known.decision:
                    found[evaluation.resource] = Probe(key, value, evaluation, known)
    return found


def statements_testing(policies: PolicySet, keys: Sequence[str]) -> dict[Any, tuple[str, ...]]:
    """Each statement (its ``MatchedStatement``) whose condition tests some of ``keys``, with those keys."""
    wanted = {k.lower(): k for k in keys}
    out: dict[Any, tuple[str, ...]] = {}
    for policy in _layers(policies):
        for statement in policy.statements:
            hits = tuple(wanted[lowered] for lowered, _ in statement.condition_keys if lowered in wanted)
            if hits:
                out[statement.matched] = tuple(dict.fromkeys(hits))
    return out
