"""Reading policies: positions in the JSON text, the forms IAM hands out, and named errors."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from verification.policy import PolicyError, PolicySet, Position, Request, evaluate, parse_policy

TEXT = """{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "First",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/{not-a-brace}/*"
        },
        {"Sid": "Second", "Effect": "Deny", "Action": ["s3:Put*"], "Resource": "*"}
    ]
}"""


def _span(text: str, start: Position, end: Position) -> str:
    """The text between two 1-based positions, end exclusive."""
    lines = text.split("\n")
    if start.line == end.line:
        return lines[start.line - 1][start.column - 1 : end.column - 1]
    middle = lines[start.line : end.line - 1]
    return "\n".join([lines[start.line - 1][start.column - 1 :], *middle, lines[end.line - 1][: end.column - 1]])


def test_positions_cover_each_statement_object_exactly() -> None:
    policy = parse_policy(TEXT, policy_id="p", policy_type="identity")
    for statement in policy.statements:
        covered = _span(policy.text, statement.matched.start, statement.matched.end)
        assert json.loads(covered)["Sid"] == statement.sid
    first, second = (s.matched for s in policy.statements)
    assert (first.start, first.end) == (Position(4, 9), Position(9, 10))
    assert (second.start.line, second.start.column) == (10, 9)


def test_matched_statements_render_like_simulate_principal_policy() -> None:
    policy = parse_policy(TEXT, policy_id="PolicyInputList.1", policy_type="identity")
    result = evaluate(Request("s3:PutObject"), PolicySet(identity=(policy,))).to_result()
    assert result["EvalDecision"] == "explicitDeny"
    assert result["MatchedStatements"] == [
        {
            "SourcePolicyId": "PolicyInputList.1",
            "SourcePolicyType": "identity",
            "StartPosition": {"Line": 9, "Column": 11},  # as AWS counts: just after the "," before it
            "EndPosition": {"Line": 10, "Column": 84},
        }
    ]


def test_reported_starts_sit_just_after_the_bracket_or_comma_as_aws_counts() -> None:
    """AWS's simulator starts a statement just after the ``[`` or ``,`` before it, not at its ``{``."""
    first, second = (s.matched for s in parse_policy(TEXT, policy_id="p", policy_type="identity").statements)
    assert (first.reported_start, second.reported_start) == (Position(3, 19), Position(9, 11))
    assert (first.lines, second.lines) == ("lines 3-9", "lines 9-10")
    # A one-line policy as tools write it: AWS answered column 41 for this prefix (one observation).
    text = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, '
    text += '{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}'
    one, two = (s.matched for s in parse_policy(text, policy_id="p", policy_type="identity").statements)
    assert one.reported_start == Position(1, 41) and one.start == Position(1, 41)
    assert two.reported_start == Position(1, 93) and two.start == Position(1, 94)


def test_a_single_statement_object_has_its_position() -> None:
    text = '{"Version": "2012-10-17",\n "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}'
    (statement,) = parse_policy(text, policy_id="p", policy_type="identity").statements
    assert (statement.matched.start, statement.matched.end) == (Position(2, 15), Position(2, 66))


def test_url_encoded_text_is_decoded_and_positions_refer_to_the_decoded_text() -> None:
    policy = parse_policy(urllib.parse.quote(TEXT), policy_id="p", policy_type="identity")
    assert policy.text == TEXT
    assert policy.statements[0].matched.start == Position(4, 9)


def test_a_mapping_is_rendered_with_four_space_indent_for_positions() -> None:
    document = json.loads(TEXT)
    policy = parse_policy(document, policy_id="p", policy_type="identity")
    assert policy.text == json.dumps(document, indent=4)
    second = policy.statements[1].matched
    assert json.loads(_span(policy.text, second.start, second.end))["Sid"] == "Second"


def test_bytes_and_string_elements_are_accepted() -> None:
    text = b'{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}'
    policy = parse_policy(text, policy_id="p", policy_type="role")
    assert policy.kind == "identity"
    assert evaluate(Request("s3:GetObject"), PolicySet(identity=(policy,))).decision == "allowed"


@pytest.mark.parametrize(
    ("source", "element"),
    [
        ("not json", "document"),
        ("%7Bbroken", "document"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*"}}', "Statement[0]/Resource"),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, 1]}',
            "Statement[1]",
        ),
    ],
)
def test_errors_name_the_policy_and_the_element(source: str, element: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(source, policy_id="MyPolicy", policy_type="identity")
    assert raised.value.policy_id == "MyPolicy"
    assert raised.value.element == element
    assert "MyPolicy" in str(raised.value)


def test_an_unknown_policy_type_is_an_error() -> None:
    with pytest.raises(PolicyError, match="policy type"):
        parse_policy({"Statement": []}, policy_id="p", policy_type="session")


def test_a_condition_error_names_the_statement() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bogus": {"k": "v"}}}],
    }
    with pytest.raises(PolicyError) as raised:
        parse_policy(document, policy_id="p", policy_type="identity")
    assert raised.value.element.startswith("Statement[0]/Condition")


def test_a_byte_order_mark_before_the_json_is_ignored() -> None:
    text = '\ufeff{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}'
    policy = parse_policy(text, policy_id="p", policy_type="identity")
    assert not policy.text.startswith("\ufeff")
    assert policy.statements[0].matched.start == Position(1, 40)
