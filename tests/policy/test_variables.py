"""Policy variables and wildcard patterns, as reference_policies_variables.html describes them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verification.policy.model import Context
from verification.policy.variables import arn_wildcard_regex, has_variables, resolve, wildcard_regex

CONTEXT = Context.of(
    {
        "aws:username": "alice",
        "aws:PrincipalTag/team": "a.b",
        "aws:TagKeys": ["x", "y"],
        "aws:userid": [],
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("home/${aws:username}/", "home/alice/", id="variable"),
        pytest.param("${AWS:UserName}", "alice", id="key-case-insensitive"),
        pytest.param("${aws:PrincipalTag/team}", "a.b", id="principal-tag"),
        pytest.param("${aws:userid, 'anonymous'}", "anonymous", id="default-when-no-value"),
        pytest.param("${aws:username, 'anonymous'}", "alice", id="default-unused"),
        pytest.param("${ aws:username , 'x' }", "alice", id="spaces-around-key"),
        pytest.param("${k, 'it''s'}", "it's", id="doubled-quote-in-default"),
        pytest.param("${k, '${aws:username}'}", "${aws:username}", id="one-round-of-substitution"),
        pytest.param("${*}${?}${$}", "*?$", id="special-characters"),
        pytest.param("${aws:TagKeys, 'many'}", "many", id="multivalued-key-uses-default"),
        pytest.param("no variables", "no variables", id="plain"),
        pytest.param("${unclosed", "${unclosed", id="malformed-is-literal"),
        pytest.param("${a b}", "${a b}", id="space-inside-key-is-literal"),
        pytest.param("$5 {x}", "$5 {x}", id="dollar-without-brace"),
    ],
)
def test_resolve(text: str, expected: str) -> None:
    assert resolve(text, CONTEXT) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("${aws:TokenIssueTime}", id="absent-key"),
        pytest.param("${aws:userid}", id="key-without-values"),
        pytest.param("${aws:TagKeys}", id="multivalued-key"),
        pytest.param("ok/${aws:username}/${missing}", id="one-of-several"),
    ],
)
def test_unresolved_variable_gives_none(text: str) -> None:
    assert resolve(text, CONTEXT) is None
    assert wildcard_regex(text, CONTEXT, ignore_case=False) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("${aws:username}", True), ("${*}", True), ("a${b", False), ("plain*", False), ("${}", False)],
)
def test_has_variables(text: str, expected: bool) -> None:
    assert has_variables(text) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c", True),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", False),
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("a.c", "abc", False),
        ("a+(b)|[c]^$", "a+(b)|[c]^$", True),
        ("*", "line\nbreak", True),
        ("abc", "ABC", False),
    ],
)
def test_wildcard_regex(pattern: str, value: str, matches: bool) -> None:
    regex = wildcard_regex(pattern, None, ignore_case=False)
    assert regex is not None
    assert bool(regex.match(value)) is matches


def test_wildcard_ignore_case() -> None:
    regex = wildcard_regex("Home/*", None, ignore_case=True)
    assert regex is not None and regex.match("HOME/x")


def test_variable_values_are_literal() -> None:
    regex = wildcard_regex("b/${aws:PrincipalTag/team}/*", CONTEXT, ignore_case=False)
    assert regex is not None
    assert regex.match("b/a.b/file")
    assert not regex.match("b/aXb/file"), "a '.' in a variable's value must not act as a regex wildcard"


def test_special_star_is_literal_star() -> None:
    regex = wildcard_regex("a${*}", CONTEXT, ignore_case=False)
    assert regex is not None
    assert regex.match("a*")
    assert not regex.match("ab")


def test_version_2008_leaves_variables_as_text() -> None:
    regex = wildcard_regex("home/${aws:username}", None, ignore_case=False)
    assert regex is not None
    assert regex.match("home/${aws:username}")
    assert not regex.match("home/alice")


def test_arn_wildcards_stay_within_a_part() -> None:
    """The ArnLike example of reference_policies_elements_condition_operators.html."""
    regex = arn_wildcard_regex("arn:aws:someservice:*:111122223333:finance/*", None)
    assert regex is not None
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    assert not regex.match(value)
    assert regex.match("arn:aws:someservice:us-east-2:111122223333:finance/a:b")
    string_like = wildcard_regex("arn:aws:someservice:*:111122223333:finance/*", None, ignore_case=False)
    assert string_like is not None and string_like.match(value)


def test_arn_variable_may_supply_whole_arn() -> None:
    context = Context.of({"aws:PrincipalArn": "arn:aws:iam::111122223333:role/r"})
    regex = arn_wildcard_regex("${aws:PrincipalArn}", context)
    assert regex is not None and regex.match("arn:aws:iam::111122223333:role/r")


text_without_variables = st.text().filter(lambda t: "${" not in t)
literal_text = st.text().filter(lambda t: "*" not in t and "?" not in t)


@given(text_without_variables)
def test_text_without_variables_resolves_to_itself(text: str) -> None:
    assert resolve(text, CONTEXT) == text


@given(literal_text, st.text())
def test_pattern_without_wildcards_matches_only_itself(pattern: str, other: str) -> None:
    regex = wildcard_regex(pattern, None, ignore_case=False)
    assert regex is not None
    assert regex.match(pattern)
    assert bool(regex.match(other)) is (other == pattern)


@given(literal_text, st.text())
def test_trailing_star_matches_every_extension(prefix: str, rest: str) -> None:
    regex = wildcard_regex(prefix + "*", None, ignore_case=False)
    assert regex is not None and regex.match(prefix + rest)


@given(st.text(max_size=20))
def test_default_round_trips(default: str) -> None:
    quoted = default.replace("'", "''")
    assert resolve("${no:such-key, '" + quoted + "'}", CONTEXT) == default
