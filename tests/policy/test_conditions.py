"""compile_condition / evaluate: operator edge cases, missing-key rules, errors, and properties."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from verification.policy.conditions import ConditionResult, compile_condition
from verification.policy.errors import PolicyError
from verification.policy.model import Context

Entries = Mapping[str, str | Sequence[str]]


def evaluate(block: Any, context: Entries, *, allow_variables: bool = True) -> ConditionResult:
    compiled = compile_condition(block, policy_id="p", allow_variables=allow_variables)
    return compiled.evaluate(Context.of(context))


def matched(block: Any, context: Entries, *, allow_variables: bool = True) -> bool:
    return evaluate(block, context, allow_variables=allow_variables).matched


@pytest.mark.parametrize(
    ("block", "context", "expected"),
    [
        # String
        ({"StringEquals": {"k": "abc"}}, {"k": "ABC"}, False),
        ({"StringEquals": {"k": "a*"}}, {"k": "abc"}, False),
        ({"StringEquals": {"k": "a*"}}, {"k": "a*"}, True),
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "b"}, False),
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "c"}, True),
        ({"StringEqualsIgnoreCase": {"k": "JohnDoe"}}, {"k": "johndoe"}, True),
        ({"StringNotEqualsIgnoreCase": {"k": "JohnDoe"}}, {"k": "JOHNDOE"}, False),
        ({"StringLike": {"k": "t?.*"}}, {"k": "t2.micro"}, True),
        ({"StringLike": {"k": "t?.*"}}, {"k": "t22.micro"}, False),
        ({"StringLike": {"k": "a.c"}}, {"k": "abc"}, False),
        ({"StringLike": {"k": "(x)+"}}, {"k": "(x)+"}, True),
        ({"StringLike": {"k": ""}}, {"k": ""}, True),
        ({"StringNotLike": {"k": ["x*", "y*"]}}, {"k": "yes"}, False),
        # Numeric
        ({"NumericEquals": {"k": "10"}}, {"k": "10.0"}, True),
        ({"NumericEquals": {"k": 10}}, {"k": "10"}, True),
        ({"NumericNotEquals": {"k": "10"}}, {"k": "11"}, True),
        ({"NumericLessThan": {"k": "10"}}, {"k": "10"}, False),
        ({"NumericLessThanEquals": {"k": "10"}}, {"k": "10"}, True),
        ({"NumericGreaterThan": {"k": "-1.5"}}, {"k": "-1"}, True),
        ({"NumericGreaterThanEquals": {"k": "2"}}, {"k": "1.99"}, False),
        ({"NumericLessThan": {"k": ["5", "20"]}}, {"k": "10"}, True),
        ({"NumericEquals": {"k": "10"}}, {"k": "ten"}, False),
        # Date: ISO 8601 and epoch, compared as instants
        ({"DateEquals": {"k": "2020-01-01T00:00:00Z"}}, {"k": "1577836800"}, True),
        ({"DateEquals": {"k": "2020-01-01T01:00:00+01:00"}}, {"k": "2020-01-01T00:00:00Z"}, True),
        ({"DateEquals": {"k": "2020-01-01"}}, {"k": "2020-01-01T00:00:00Z"}, True),
        ({"DateEquals": {"k": "2020-01"}}, {"k": "2020-01-01T00:00:00Z"}, True),
        ({"DateNotEquals": {"k": "2020-01-01"}}, {"k": "2020-01-02"}, True),
        ({"DateLessThan": {"k": "2020-01-01T00:00:00Z"}}, {"k": "2019-12-31T23:59:59Z"}, True),
        ({"DateLessThanEquals": {"k": 1577836800}}, {"k": "2020-01-01T00:00:00Z"}, True),
        ({"DateGreaterThan": {"k": "2020-01-01T00:00:01Z"}}, {"k": "2020-01-01T00:00:01Z"}, False),
        ({"DateGreaterThanEquals": {"k": "2020-01-01T00:00:01.5Z"}}, {"k": "2020-01-01T00:00:02Z"}, True),
        ({"DateEquals": {"k": "2020-01-01"}}, {"k": "not a date"}, False),
        # Bool
        ({"Bool": {"k": "true"}}, {"k": "true"}, True),
        ({"Bool": {"k": True}}, {"k": "True"}, True),
        ({"Bool": {"k": "false"}}, {"k": "true"}, False),
        # Binary
        ({"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}, {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}, True),
        ({"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}, {"k": "QmluYXJ5"}, False),
        # IP: IPv4 and IPv6 CIDRs, a bare address is /32 (or /128)
        ({"IpAddress": {"k": "203.0.113.0/24"}}, {"k": "203.0.113.255"}, True),
        ({"IpAddress": {"k": "203.0.113.0/24"}}, {"k": "203.0.114.0"}, False),
        ({"IpAddress": {"k": "203.0.113.7"}}, {"k": "203.0.113.7"}, True),
        ({"IpAddress": {"k": "203.0.113.7"}}, {"k": "203.0.113.8"}, False),
        ({"IpAddress": {"k": "2001:DB8:1234:5678::/64"}}, {"k": "2001:db8:1234:5678:ffff::1"}, True),
        ({"IpAddress": {"k": "2001:DB8:1234:5678::/64"}}, {"k": "203.0.113.1"}, False),
        ({"NotIpAddress": {"k": ["203.0.113.0/24", "2001:DB8::/32"]}}, {"k": "198.51.100.1"}, True),
        ({"NotIpAddress": {"k": ["203.0.113.0/24", "2001:DB8::/32"]}}, {"k": "2001:db8::1"}, False),
        ({"IpAddress": {"k": "203.0.113.0/24"}}, {"k": "garbage"}, False),
        # ARN: per-part wildcards, Equals behaves like Like
        (
            {"ArnEquals": {"k": "arn:aws:sns:*:123456789012:topic"}},
            {"k": "arn:aws:sns:eu-west-1:123456789012:topic"},
            True,
        ),
        ({"ArnLike": {"k": "arn:aws:iam::*:role/*"}}, {"k": "arn:aws:iam::123456789012:role/path/r"}, True),
        ({"ArnLike": {"k": "arn:aws:iam::*:role/*"}}, {"k": "arn:aws:iam::123456789012:user/u"}, False),
        ({"ArnLike": {"k": "arn:aws:iam::*:role/*"}}, {"k": "not-an-arn"}, False),
        ({"ArnNotLike": {"k": "arn:aws:iam::*:role/*"}}, {"k": "arn:aws:iam::123456789012:user/u"}, True),
        ({"ArnNotEquals": {"k": "arn:aws:iam::1:role/r"}}, {"k": "arn:aws:iam::1:role/r"}, False),
        # Null
        ({"Null": {"k": "true"}}, {}, True),
        ({"Null": {"k": "true"}}, {"k": "x"}, False),
        ({"Null": {"k": "false"}}, {"k": "x"}, True),
        ({"Null": {"k": False}}, {}, False),
        # ANDs and ORs
        ({"StringEquals": {"a": "1", "b": "2"}}, {"a": "1", "b": "2"}, True),
        ({"StringEquals": {"a": "1", "b": "2"}}, {"a": "1", "b": "3"}, False),
        ({"StringEquals": {"a": "1"}, "StringLike": {"b": "x*"}}, {"a": "1", "b": "y"}, False),
        ({}, {}, True),
    ],
)
def test_operator(block: Any, context: Entries, expected: bool) -> None:
    assert matched(block, context) is expected


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("StringEquals", "x", False),
        ("StringNotEquals", "x", True),
        ("StringNotLike", "x*", True),
        ("StringEqualsIfExists", "x", True),
        ("StringNotEqualsIfExists", "x", True),
        ("NumericLessThan", "1", False),
        ("NumericNotEquals", "1", True),
        ("DateNotEquals", "2020-01-01", True),
        ("NotIpAddress", "10.0.0.0/8", True),
        ("ArnNotLike", "arn:aws:iam::*:role/*", True),
        ("Bool", "true", False),
        ("BoolIfExists", "true", True),
        ("ForAllValues:StringEquals", "x", True),
        ("ForAllValues:StringNotEquals", "x", True),
        ("ForAnyValue:StringEquals", "x", False),
        ("ForAnyValue:StringNotEquals", "x", False),
        ("ForAnyValue:StringEqualsIfExists", "x", True),
    ],
)
@pytest.mark.parametrize("context", [{}, {"k": []}], ids=["absent", "no-values"])
def test_missing_key(operator: str, value: str, expected: bool, context: Entries) -> None:
    result = evaluate({operator: {"k": value}}, context)
    assert result.matched is expected
    assert result.missing_keys == (() if expected else ("k",))
    assert result.failed_keys == ()


def test_key_names_are_case_insensitive_and_reported_in_policy_spelling() -> None:
    assert matched({"StringEquals": {"AWS:SourceIP": "1"}}, {"aws:sourceip": "1"})
    result = evaluate({"StringEquals": {"AWS:SourceIP": "1", "Other": "x"}}, {"aws:sourceip": "2"})
    assert result == ConditionResult(False, failed_keys=("AWS:SourceIP",), missing_keys=("Other",))


def test_keys_lists_each_key_once_in_policy_spelling() -> None:
    compiled = compile_condition(
        {"StringLike": {"s3:prefix": "a*"}, "StringNotLike": {"S3:Prefix": "ab*"}, "Null": {"k": "false"}},
        policy_id="p",
        allow_variables=True,
    )
    assert compiled.keys == ("s3:prefix", "k")


def test_single_valued_operator_on_several_request_values_matches_any() -> None:
    assert matched({"StringEquals": {"k": "b"}}, {"k": ["a", "b"]})
    assert not matched({"StringNotEquals": {"k": "b"}}, {"k": ["a", "b"]})


@pytest.mark.parametrize(
    ("operator", "request_values", "expected"),
    [
        ("ForAllValues:StringEquals", ["a", "b"], True),
        ("ForAllValues:StringEquals", ["a", "z"], False),
        ("ForAnyValue:StringEquals", ["z", "b"], True),
        ("ForAnyValue:StringEquals", ["y", "z"], False),
        ("ForAllValues:StringNotEquals", ["y", "z"], True),
        ("ForAllValues:StringNotEquals", ["a", "z"], False),
        ("ForAnyValue:StringNotEquals", ["a", "z"], True),
        ("ForAnyValue:StringNotEquals", ["a", "b"], False),
        ("ForAllValues:StringLike", ["a1", "b2"], False),
        ("ForAllValues:StringLike", ["a", "b"], True),
    ],
)
def test_set_qualifiers(operator: str, request_values: list[str], expected: bool) -> None:
    assert matched({operator: {"k": ["a", "b"]}}, {"k": request_values}) is expected


@pytest.mark.parametrize(
    ("block", "context", "expected"),
    [
        ({"StringEquals": {"k": "${aws:username}"}}, {"k": "alice", "aws:username": "alice"}, True),
        ({"StringEquals": {"k": "${aws:username}"}}, {"k": "${aws:username}"}, False),
        ({"StringNotEquals": {"k": "${aws:username}"}}, {"k": "alice"}, True),
        ({"StringEqualsIgnoreCase": {"k": "${aws:username}"}}, {"k": "ALICE", "aws:username": "alice"}, True),
        ({"StringLike": {"k": "home/${aws:username}/*"}}, {"k": "home/a.b/x", "aws:username": "a.b"}, True),
        ({"StringLike": {"k": "home/${aws:username}/*"}}, {"k": "home/aXb/x", "aws:username": "a.b"}, False),
        ({"StringLike": {"k": "${*}"}}, {"k": "anything"}, False),
        ({"StringLike": {"k": "${*}"}}, {"k": "*"}, True),
        ({"StringEquals": {"k": "${aws:userid, 'anonymous'}"}}, {"k": "anonymous"}, True),
        ({"Bool": {"k": "${flag}"}}, {"k": "true", "flag": "true"}, True),
        (
            {"ArnEquals": {"k": "arn:aws:iam::${aws:PrincipalAccount}:role/*"}},
            {"k": "arn:aws:iam::111122223333:role/r", "aws:PrincipalAccount": "111122223333"},
            True,
        ),
        ({"ArnEquals": {"k": "${src}"}}, {"k": "arn:aws:sns:us-east-1:1:t", "src": "arn:aws:sns:us-east-1:1:t"}, True),
    ],
)
def test_policy_variables_in_values(block: Any, context: Entries, expected: bool) -> None:
    assert matched(block, context) is expected


def test_version_2008_takes_variables_literally() -> None:
    block = {"StringEquals": {"k": "${aws:username}"}}
    assert matched(block, {"k": "${aws:username}", "aws:username": "alice"}, allow_variables=False)
    assert not matched(block, {"k": "alice", "aws:username": "alice"}, allow_variables=False)


@pytest.mark.parametrize(
    ("block", "element"),
    [
        ([{"StringEquals": {"k": "v"}}], "Condition"),
        ("StringEquals", "Condition"),
        ({"StringEqual": {"k": "v"}}, "Condition/StringEqual"),
        ({"stringequals": {"k": "v"}}, "Condition/stringequals"),
        ({"ForEachValue:StringEquals": {"k": "v"}}, "Condition/ForEachValue:StringEquals"),
        ({"StringLikeIgnoreCase": {"k": "v"}}, "Condition/StringLikeIgnoreCase"),
        ({"NullIfExists": {"k": "true"}}, "Condition/NullIfExists"),
        ({"ForAllValues:Null": {"k": "true"}}, "Condition/ForAllValues:Null"),
        ({"StringEquals": "v"}, "Condition/StringEquals"),
        ({"StringEquals": {}}, "Condition/StringEquals"),
        ({"StringEquals": {"k": []}}, "Condition/StringEquals/k"),
        ({"StringEquals": {"k": None}}, "Condition/StringEquals/k"),
        ({"StringEquals": {"k": {"nested": "v"}}}, "Condition/StringEquals/k"),
        ({"StringEquals": {"": "v"}}, "Condition/StringEquals"),
        ({"Bool": {"k": "yes"}}, "Condition/Bool/k"),
        ({"Null": {"k": "maybe"}}, "Condition/Null/k"),
        ({"NumericEquals": {"k": "ten"}}, "Condition/NumericEquals/k"),
        ({"NumericEquals": {"k": "nan"}}, "Condition/NumericEquals/k"),
        ({"NumericLessThan": {"k": "${aws:MaxKeys}"}}, "Condition/NumericLessThan/k"),
        ({"DateLessThan": {"k": "tomorrow"}}, "Condition/DateLessThan/k"),
        ({"DateLessThan": {"k": "2020-13-01"}}, "Condition/DateLessThan/k"),
        ({"IpAddress": {"k": "203.0.113.0/33"}}, "Condition/IpAddress/k"),
        ({"NotIpAddress": {"k": "localhost"}}, "Condition/NotIpAddress/k"),
        ({"ArnLike": {"k": "*"}}, "Condition/ArnLike/k"),
        ({"ArnEquals": {"k": "arn:aws:s3"}}, "Condition/ArnEquals/k"),
        ({"BinaryEquals": {"k": "not base64!"}}, "Condition/BinaryEquals/k"),
    ],
)
def test_malformed_condition_is_an_error(block: Any, element: str) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_condition(block, policy_id="my-policy", allow_variables=True)
    assert caught.value.policy_id == "my-policy"
    assert caught.value.element == element


# --- properties --------------------------------------------------------------------------------------

POSITIVE_NEGATED = [
    ("StringEquals", "StringNotEquals", st.text(max_size=5)),
    ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", st.text(max_size=5)),
    ("StringLike", "StringNotLike", st.text(alphabet="ab*?", max_size=5)),
    ("NumericEquals", "NumericNotEquals", st.integers(-5, 5).map(str)),
    ("DateEquals", "DateNotEquals", st.integers(0, 3).map(lambda d: f"2020-01-0{d + 1}")),
    ("IpAddress", "NotIpAddress", st.sampled_from(["10.0.0.0/8", "10.1.2.3", "::1", "2001:db8::/32"])),
    ("ArnLike", "ArnNotLike", st.sampled_from(["arn:aws:iam::1:role/*", "arn:aws:*:*:*:*", "arn:aws:s3:::b"])),
]
REQUEST_VALUES = st.one_of(
    st.text(alphabet="ab*?", max_size=5),
    st.integers(-5, 5).map(str),
    st.sampled_from(["2020-01-01", "2020-01-03T00:00:00Z", "10.9.9.9", "2001:db8::5", "::1"]),
    st.sampled_from(["arn:aws:iam::1:role/x", "arn:aws:s3:::b", "arn:aws:iam::1:user/u"]),
)


@st.composite
def operator_pair_with_values(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    positive, negated, values = draw(st.sampled_from(POSITIVE_NEGATED))
    return positive, negated, draw(st.lists(values, min_size=1, max_size=3))


@given(operator_pair_with_values(), st.lists(REQUEST_VALUES, min_size=1, max_size=3))
def test_negated_operator_is_the_opposite_when_the_key_is_present(
    pair: tuple[str, str, list[str]], request_values: list[str]
) -> None:
    positive, negated, values = pair
    context = {"k": request_values}
    assert matched({negated: {"k": values}}, context) is not matched({positive: {"k": values}}, context)


@given(operator_pair_with_values(), st.booleans())
def test_for_all_values_is_true_on_an_absent_key(pair: tuple[str, str, list[str]], use_negated: bool) -> None:
    positive, negated, values = pair
    operator = f"ForAllValues:{negated if use_negated else positive}"
    assert matched({operator: {"k": values}}, {})
    assert not matched({f"ForAnyValue:{positive}": {"k": values}}, {})


@given(st.text(alphabet=st.characters(codec="latin-1"), max_size=8))
def test_string_equals_ignore_case_is_case_invariant(value: str) -> None:
    block = {"StringEqualsIgnoreCase": {"k": value}}
    for variant in (value, value.upper(), value.lower(), value.swapcase()):
        assert matched(block, {"k": variant})


@given(st.text(max_size=8), st.text(max_size=8))
def test_string_like_without_wildcards_is_string_equals(policy_value: str, request_value: str) -> None:
    assume("*" not in policy_value and "?" not in policy_value)
    context = {"k": request_value}
    assert matched({"StringLike": {"k": policy_value}}, context) is (policy_value == request_value)


MALFORMING = st.sampled_from(
    [
        ("NumericEquals", "x1"),
        ("NumericLessThan", ""),
        ("DateEquals", "01/02/2020"),
        ("Bool", "1"),
        ("IpAddress", "1.2.3.4/40"),
        ("ArnLike", "arn-like"),
        ("BinaryEquals", "%%"),
        ("Null", "yes"),
        ("StringEqualsIfExist", "v"),
        ("ForAllValue:StringEquals", "v"),
        ("NullIfExists", "true"),
    ]
)


@given(
    MALFORMING,
    st.dictionaries(st.sampled_from(["StringEquals", "StringNotLike", "Bool"]), st.just({"k": "true"})),
    st.lists(REQUEST_VALUES, max_size=2),
)
def test_a_malformed_entry_spoils_the_whole_block(
    bad: tuple[str, str], good: dict[str, dict[str, str]], request_values: list[str]
) -> None:
    """However the rest of the block looks, one bad entry is an error, never a skipped test."""
    operator, value = bad
    block: dict[str, Any] = {**good, operator: {"k": value}}
    with pytest.raises(PolicyError):
        evaluate(block, {"k": request_values} if request_values else {})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from(["StringEquals", "Bool", "Nul", "DateLessThan", "IpAddress"]), JSON))
def test_any_block_either_compiles_or_raises_policy_error(block: dict[str, Any]) -> None:
    try:
        compiled = compile_condition(block, policy_id="p", allow_variables=True)
    except PolicyError:
        return
    compiled.evaluate(Context.of({"k": "v"}))
