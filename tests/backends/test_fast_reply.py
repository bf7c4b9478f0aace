"""The fast simulation reader gives exactly botocore's answer, or lets botocore give it.

Compared with botocore's own ``QueryParser`` on the same bytes: AWS's recorded answers of both
dialects (before and since July 2026) written as AWS writes them, the local endpoint's answers over
HTTP, and any value botocore's output shape admits (Hypothesis), written with members in any order,
with or without whitespace and IAM's namespace. Equal means equal dictionaries with keys in the same
order (the evidence is written from them). Anything the reader does not know goes to botocore.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.parsers import QueryParser, ResponseParserError
from hypothesis import given, settings
from hypothesis import strategies as st

from verification.backends import fast_reply
from verification.backends.fast_reply import (
    NAMESPACE,
    FastQueryParser,
    FastReplyParserFactory,
    Unexpected,
    read_reply,
)
from verification.backends.live import LiveBackend
from verification.endpoint import Endpoint, start_endpoint
from verification.endpoint.answer import render

ANSWERS = Path(__file__).parents[1] / "system" / "review" / "answers"
DIALECTS = ("pre-2026", "2026")
OPERATIONS = ("SimulatePrincipalPolicy", "SimulateCustomPolicy")
HEADERS = {"x-amzn-requestid": "3d1e0f7a-0000-4000-8000-000000000000", "content-type": "text/xml"}


def operation(name: str = "SimulatePrincipalPolicy") -> OperationModel:
    model: OperationModel = botocore.session.get_session().get_service_model("iam").operation_model(name)
    return model


def reply(body: bytes | str, status: int = 200) -> dict[str, Any]:
    """A response dictionary as botocore's endpoint hands it to a parser."""
    return {"body": body.encode() if isinstance(body, str) else body, "headers": dict(HEADERS), "status_code": status}


def both(response: Mapping[str, Any], shape: Shape) -> tuple[Any, Any]:
    """(the fast parser's answer, botocore's answer) to the same reply."""
    return FastQueryParser().parse(dict(response), shape), QueryParser().parse(dict(response), shape)


def assert_same(fast: Any, ours: Any) -> None:
    assert fast == ours
    assert json.dumps(fast, default=str) == json.dumps(ours, default=str)  # the same keys in the same order


def assert_botocores_answer(body: str, shape: Shape) -> None:
    """The fast parser answers ``body`` as botocore's does: the same result, or the same kind of error."""
    try:
        expected = QueryParser().parse(reply(body), shape)
    except Exception as error:  # botocore itself fails: the fast parser fails alike
        with pytest.raises(type(error)):
            FastQueryParser().parse(reply(body), shape)
    else:
        assert_same(FastQueryParser().parse(reply(body), shape), expected)


def write(
    shape: Shape, value: Any, tag: str, rng: random.Random | None = None, indent: str = "", shuffle: bool = True
) -> str:
    """``value`` as query-protocol XML, as AWS writes it (``rng``: whitespace between, and any member order
    unless not ``shuffle``)."""
    gap = f"\n{indent}  " if rng is not None and rng.random() < 0.5 else ""
    end = f"\n{indent}" if gap else ""
    if isinstance(shape, StructureShape):
        names = [name for name in shape.members if name in value]
        if rng is not None and shuffle:
            rng.shuffle(names)
        inner = "".join(
            gap
            + write(
                shape.members[n], value[n], shape.members[n].serialization.get("name", n), rng, indent + "  ", shuffle
            )
            for n in names
        )
    elif isinstance(shape, ListShape):
        inner = "".join(gap + write(shape.member, item, "member", rng, indent + "  ", shuffle) for item in value)
    elif isinstance(shape, MapShape):
        inner = "".join(
            f"{gap}<entry>{write(shape.key, k, 'key')}{write(shape.value, v, 'value')}</entry>"
            for k, v in value.items()
        )
    elif shape.type_name == "boolean":
        return f"<{tag}>{'true' if value else 'false'}</{tag}>"
    else:
        return f"<{tag}>{escape(str(value))}</{tag}>" if str(value) else f"<{tag}/>"
    return f"<{tag}>{inner}{end}</{tag}>"


def document(
    name: str,
    result: Mapping[str, Any],
    rng: random.Random | None = None,
    namespace: bool = True,
    shuffle: bool = True,
) -> str:
    """A whole reply: the result wrapper and ResponseMetadata, in IAM's namespace unless told otherwise."""
    shape = operation(name).output_shape
    assert shape is not None
    xmlns = f' xmlns="{NAMESPACE}"' if namespace else ""
    wrapped = write(shape, result, shape.serialization["resultWrapper"], rng, shuffle=shuffle)
    metadata = "<ResponseMetadata><RequestId>3d1e0f7a-0000-4000-8000-000000000000</RequestId></ResponseMetadata>"
    return f"<{name}Response{xmlns}>\n  {wrapped}\n  {metadata}\n</{name}Response>\n"


def recorded(dialect: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads((ANSWERS / f"simulate-principal-policy-{dialect}.json").read_text())
    return {k: v for k, v in answer.items() if not k.startswith("_")}


# -- AWS's recorded answers, both dialects ---------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("style", ["as AWS indents it", "compact", "no namespace"])
def test_recorded_answers_of_both_dialects_read_as_botocore_reads_them(dialect: str, style: str) -> None:
    answer = recorded(dialect) | {"Marker": "page-2"}
    rng = random.Random(7) if style == "as AWS indents it" else None
    body = document("SimulatePrincipalPolicy", answer, rng, namespace=style != "no namespace")
    shape = operation().output_shape
    assert shape is not None
    fast, ours = both(reply(body), shape)
    assert_same(fast, ours)
    assert fast["EvaluationResults"] == answer["EvaluationResults"]  # and both are the recorded answer
    assert (fast["IsTruncated"], fast["Marker"]) == (answer["IsTruncated"], "page-2")
    assert fast["ResponseMetadata"]["HTTPStatusCode"] == 200
    read_reply(body.encode(), shape)  # read by the fast reader itself, not left to botocore


# -- the local endpoint's answers, over HTTP -------------------------------------------------------

ACCOUNT = "123456789012"
ALLOW = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ec2:Describe*", "s3:GetObject", "sqs:SendMessage"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ],
}
DENY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "NoDeletes", "Effect": "Deny", "Action": "ec2:DeleteSnapshot", "Resource": "*"}],
}
BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ec2:*", "s3:*", "sqs:*"], "Resource": "*"}],
}
ACTIONS = ["ec2:DescribeInstances", "ec2:DeleteSnapshot", "kms:CreateGrant", "sqs:SendMessage", "s3:GetObject"]
RESOURCES = [
    "*",
    "arn:aws:s3:::bucket/key",
    "arn:aws:sqs:eu-west-1:444455556666:queue",
    "arn:aws:ec2:us-east-1::snapshot/s",
]


@pytest.fixture(scope="module")
def endpoint(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    with start_endpoint() as running:
        iam = boto3.client("iam", endpoint_url=running.url, region_name="us-east-1")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        boundary = iam.create_policy(PolicyName="FastReplyBoundary", PolicyDocument=json.dumps(BOUNDARY))
        iam.create_role(
            RoleName="FastReplyWorker",
            AssumeRolePolicyDocument=json.dumps(trust),
            PermissionsBoundary=boundary["Policy"]["Arn"],
        )
        iam.put_role_policy(RoleName="FastReplyWorker", PolicyName="worker", PolicyDocument=json.dumps(ALLOW))
        deny = iam.create_policy(PolicyName="NoDeletes", PolicyDocument=json.dumps(DENY))
        iam.attach_role_policy(RoleName="FastReplyWorker", PolicyArn=deny["Policy"]["Arn"])
        yield running


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }.items():
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv(fast_reply.DISABLE, raising=False)
        yield patch


def test_the_endpoints_answers_read_by_the_live_backend_as_botocore_reads_them(endpoint: Endpoint) -> None:
    """Through the live backend's own client (which has the fast reader), page by page."""
    backend = LiveBackend(endpoint_url=endpoint.url, region="us-east-1")
    replies: list[dict[str, Any]] = []
    backend.iam.meta.events.register(
        "before-parse.iam.SimulatePrincipalPolicy", lambda response_dict, **_: replies.append(dict(response_dict))
    )
    arn = f"arn:aws:iam::{ACCOUNT}:role/FastReplyWorker"
    pages = list(
        backend.iam.get_paginator("simulate_principal_policy").paginate(
            PolicySourceArn=arn,
            ActionNames=ACTIONS,
            ResourceArns=RESOURCES,
            ContextEntries=[
                {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1"], "ContextKeyType": "ip"}
            ],
            PaginationConfig={"PageSize": 2},
        )
    )
    assert len(pages) == len(replies) == 3  # 5 actions, 2 a page: IsTruncated and Marker on the first two
    shape = operation().output_shape
    assert shape is not None
    for page, response in zip(pages, replies, strict=True):
        read_reply(response["body"], shape)  # the fast reader read it, not botocore
        expected = QueryParser().parse(dict(response), shape)
        expected["ResponseMetadata"]["RetryAttempts"] = 0  # what the client adds to any parsed reply
        assert_same(page, expected)
    answers = [result for page in pages for result in page["EvaluationResults"]]
    by_action = {result["EvalActionName"]: result for result in answers}
    # the reply held what the reader must get right: statements with positions, missing context,
    # the boundary, per-resource answers and cross-account details
    assert by_action["ec2:DeleteSnapshot"]["EvalDecision"] == "explicitDeny"
    assert by_action["ec2:DeleteSnapshot"]["MatchedStatements"][0]["StartPosition"]["Line"] >= 1
    grant = by_action["kms:CreateGrant"]["ResourceSpecificResults"]
    assert all(r["MissingContextValues"] == ["kms:GrantIsForAWSResource"] for r in grant)
    assert by_action["kms:CreateGrant"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    assert len(by_action["sqs:SendMessage"]["ResourceSpecificResults"]) == len(RESOURCES)
    assert by_action["sqs:SendMessage"]["EvalDecisionDetails"] == {"IAM Policy": "allowed"}
    assert pages[0]["IsTruncated"] is True and pages[0]["Marker"]


def test_an_error_reply_from_the_endpoint_is_botocores_error(endpoint: Endpoint) -> None:
    backend = LiveBackend(endpoint_url=endpoint.url, region="us-east-1")
    with pytest.raises(ClientError) as raised:
        backend.iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/Absent", ActionNames=ACTIONS
        )
    assert raised.value.response["Error"]["Code"] == "NoSuchEntity"


# -- any value the output shape admits (Hypothesis) ------------------------------------------------

TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Cn"], include_characters="\t\n "), max_size=8
)


def value_of(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Any value of ``shape`` (members left out at random), from botocore's own output shape."""
    if isinstance(shape, StructureShape):
        return st.fixed_dictionaries({}, optional={n: value_of(m, depth + 1) for n, m in shape.members.items()})
    if isinstance(shape, ListShape):
        return st.lists(value_of(shape.member, depth + 1), max_size=3 if depth < 4 else 1)
    if isinstance(shape, MapShape):
        return st.dictionaries(TEXT, value_of(shape.value, depth + 1), max_size=3)
    if shape.type_name == "boolean":
        return st.booleans()
    if shape.type_name in ("integer", "long"):
        return st.integers(min_value=-(2**31), max_value=2**31 - 1)
    return TEXT


@st.composite
def replies(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(OPERATIONS))
    shape = operation(name).output_shape
    assert shape is not None
    value = draw(value_of(shape))
    if draw(st.booleans()):
        body, _ = render(name, value)  # the local endpoint's own writer
        return name, body.replace("<RequestId>pending</RequestId>", "<RequestId>r-1</RequestId>")
    return name, document(name, value, draw(st.randoms(use_true_random=False)), namespace=draw(st.booleans()))


@settings(max_examples=200, deadline=None)
@given(replies())
def test_any_reply_the_shape_admits_reads_as_botocore_reads_it(generated: tuple[str, str]) -> None:
    name, body = generated
    shape = operation(name).output_shape
    assert shape is not None
    read_reply(body.encode(), shape)  # the fast reader reads every well-formed reply of the shape
    assert_same(*both(reply(body), shape))


# -- anything unexpected goes to botocore ---------------------------------------------------------

GOOD = document("SimulatePrincipalPolicy", recorded("2026"))
UNEXPECTED = {
    "an unknown element": GOOD.replace("<EvalDecision>", "<EvalNovelty>x</EvalNovelty><EvalDecision>", 1),
    "an unknown element at the top": GOOD.replace("<ResponseMetadata>", "<Extra/><ResponseMetadata>"),
    "a repeated structure": GOOD.replace(
        "<OrganizationsDecisionDetail>",
        "<OrganizationsDecisionDetail><AllowedByOrganizations>false</AllowedByOrganizations>"
        "</OrganizationsDecisionDetail><OrganizationsDecisionDetail>",
        1,
    ),
    "a repeated element after one out of order": GOOD.replace(
        "<member><SourcePolicyId>VeeamFLRWorkerPartial</SourcePolicyId><SourcePolicyType>user-managed</SourcePolicyType>",
        "<member><SourcePolicyType>user-managed</SourcePolicyType><SourcePolicyId>VeeamFLRWorkerPartial</SourcePolicyId>"
        "<StartPosition><Line>1</Line><Column>1</Column></StartPosition>",
        1,
    ),
    "another namespace": GOOD.replace(NAMESPACE, "https://example.com/doc/"),
    "a prefixed element": GOOD.replace("<IsTruncated>", '<x:IsTruncated xmlns:x="urn:x">').replace(
        "</IsTruncated>", "</x:IsTruncated>"
    ),
    "children in a scalar": GOOD.replace("<EvalDecision>", "<EvalDecision><b/>", 1),
    "a list item that is not a member": GOOD.replace(
        "<MissingContextValues>", "<MissingContextValues><item>k</item>", 1
    ),
    "a map entry without a value": GOOD,  # replaced below
    "no result wrapper": GOOD.replace("SimulatePrincipalPolicyResult", "SomethingElse"),
    "a line number that is not a number": GOOD.replace("<Line>3</Line>", "<Line>three</Line>", 1),
}


@pytest.mark.parametrize("case", sorted(UNEXPECTED))
def test_unexpected_content_is_left_to_botocore(case: str) -> None:
    body = UNEXPECTED[case]
    if case == "a map entry without a value":
        body = GOOD.replace(
            "<EvalDecision>",
            "<EvalDecisionDetails><entry><key>IAM Policy</key></entry></EvalDecisionDetails><EvalDecision>",
            1,
        )
    assert body != GOOD
    shape = operation().output_shape
    assert shape is not None
    with pytest.raises(Exception):  # noqa: B017 (Unexpected, or the error botocore meets too)
        read_reply(body.encode(), shape)
    assert_botocores_answer(body, shape)


def test_an_unknown_element_is_refused_by_name() -> None:
    shape = operation().output_shape
    assert shape is not None
    with pytest.raises(Unexpected, match="EvalNovelty"):
        read_reply(UNEXPECTED["an unknown element"].encode(), shape)


@pytest.mark.parametrize("status", [400, 403, 500, 503])
def test_an_error_reply_is_botocores(status: int) -> None:
    body = (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
        "<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r-2</RequestId></ErrorResponse>"
    )
    shape = operation().output_shape
    assert shape is not None
    fast, ours = both(reply(body, status), shape)
    assert_same(fast, ours)
    assert fast["Error"]["Code"] == "Throttling"


def test_a_success_status_other_than_200_is_botocores() -> None:
    shape = operation().output_shape
    assert shape is not None
    assert_same(*both(reply(GOOD, 203), shape))


def test_a_reply_that_is_not_xml_fails_as_in_botocore() -> None:
    shape = operation().output_shape
    assert shape is not None
    for parser in (FastQueryParser(), QueryParser()):
        with pytest.raises(ResponseParserError, match="invalid XML"):
            parser.parse(reply(b'{"EvaluationResults": []}'), shape)


def test_other_operations_are_botocores() -> None:
    shape = operation("GetRole").output_shape
    assert shape is not None
    body = (
        f'<GetRoleResponse xmlns="{NAMESPACE}"><GetRoleResult><Role><RoleName>R</RoleName><Path>/</Path>'
        "<Arn>arn:aws:iam::123456789012:role/R</Arn><RoleId>AROA1</RoleId>"
        "<CreateDate>2026-01-01T00:00:00Z</CreateDate></Role></GetRoleResult></GetRoleResponse>"
    )
    with pytest.raises(Unexpected):
        read_reply(body.encode(), shape)
    assert_same(*both(reply(body), shape))


def test_the_environment_switch_gives_botocores_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(FastReplyParserFactory().create_parser("query")) is FastQueryParser
    monkeypatch.setenv(fast_reply.DISABLE, "1")
    assert type(FastReplyParserFactory().create_parser("query")) is QueryParser
    assert type(FastReplyParserFactory().create_parser("json")) is not FastQueryParser


# -- the per-resource answers of the common form, read by the regular expression -------------------


def common_answer(resource: str, decision: str = "allowed", statements: int = 1) -> dict[str, Any]:
    """A per-resource answer as nearly all of them are: its matched statements, no missing context."""
    statement = {
        "SourcePolicyId": "role_Worker_worker",
        "SourcePolicyType": "role",
        "StartPosition": {"Line": 1, "Column": 41},
        "EndPosition": {"Line": 1, "Column": 2152},
    }
    return {
        "EvalResourceName": resource,
        "EvalResourceDecision": decision,
        "MatchedStatements": [dict(statement) for _ in range(statements)],
        "MissingContextValues": [],
    }


def evaluation(answers: list[dict[str, Any]], action: str = "ec2:AttachVolume") -> dict[str, Any]:
    return {
        "EvalActionName": action,
        "EvalResourceName": "*",
        "EvalDecision": "allowed",
        "MatchedStatements": [],
        "MissingContextValues": [],
        "ResourceSpecificResults": answers,
    }


COMMON = {
    "EvaluationResults": [
        evaluation([common_answer(f"arn:aws:ec2:us-east-1:123456789012:volume/vol-{n}") for n in range(15)]),
        evaluation(
            [common_answer("*", "implicitDeny", 0), common_answer("*", "explicitDeny", 2)], "ec2:DeleteSnapshot"
        ),
    ],
    "IsTruncated": False,
}


@pytest.mark.parametrize("style", ["the local endpoint's", "as AWS indents it", "compact"])
def test_every_common_answer_is_read_by_the_expression_and_as_botocore_reads_it(style: str) -> None:
    if style == "the local endpoint's":
        body, _ = render("SimulatePrincipalPolicy", COMMON)
    else:
        rng = random.Random(3) if style == "as AWS indents it" else None
        body = document("SimulatePrincipalPolicy", COMMON, rng, shuffle=False)
    shape = operation().output_shape
    assert shape is not None
    rest, taken = fast_reply._simple_answers(body.encode())
    assert taken is not None and len(taken) == 17  # all of them: the parser reads only what is left
    assert len(rest) < len(body) / 3
    fast, ours = both(reply(body), shape)
    assert_same(fast, ours)
    assert fast["EvaluationResults"] == COMMON["EvaluationResults"]


def plain(answer: dict[str, Any]) -> str:
    return str(answer["EvalResourceName"])


ANSWER_TEXT = st.text(st.sampled_from("aZ09:/*-_ .\t\n\r&<>]é\"'"), max_size=10)


@st.composite
def answer_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Per-resource answers, most of the common form, some not (missing context, a boundary), any text."""
    answers = []
    for _ in range(draw(st.integers(1, 6))):
        answer = common_answer(draw(ANSWER_TEXT), draw(st.sampled_from(["allowed", "implicitDeny", " allowed"])))
        answer["MatchedStatements"] = answer["MatchedStatements"] * draw(st.integers(0, 2))
        if answer["MatchedStatements"] and draw(st.booleans()):
            answer["MatchedStatements"][0] = {**answer["MatchedStatements"][0], "SourcePolicyId": draw(ANSWER_TEXT)}
        kind = draw(st.sampled_from(["common", "common", "missing context", "boundary"]))
        if kind == "missing context":
            answer["MissingContextValues"] = [draw(ANSWER_TEXT)]
        elif kind == "boundary":
            answer["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": draw(st.booleans())}
        answers.append(answer)
    return answers


@settings(max_examples=200, deadline=None)
@given(st.lists(answer_lists(), min_size=1, max_size=3), st.randoms(use_true_random=False), st.booleans())
def test_replies_of_common_and_other_answers_read_as_botocore_reads_them(
    answers: list[list[dict[str, Any]]], rng: random.Random, indented: bool
) -> None:
    """Whatever their text and wherever the answers of other forms are, the result is botocore's."""
    value = {"EvaluationResults": [evaluation(a) for a in answers], "IsTruncated": False}
    body = document("SimulatePrincipalPolicy", value, rng if indented else None, shuffle=False)
    shape = operation().output_shape
    assert shape is not None
    read_reply(body.encode(), shape)  # read by the fast reader, not left to botocore
    assert_same(*both(reply(body), shape))


SIMPLE_MEMBER = (
    "<member><EvalResourceName>*</EvalResourceName><EvalResourceDecision>allowed</EvalResourceDecision>"
    "<MatchedStatements/><MissingContextValues/></member>"
)
ANSWERS_XML = document("SimulatePrincipalPolicy", COMMON)
NOT_THE_EXPRESSIONS = {
    "a comment holding an answer": ANSWERS_XML.replace(
        "<ResourceSpecificResults>", f"<ResourceSpecificResults><!-- {SIMPLE_MEMBER} -->", 1
    ),
    "CDATA holding an answer": ANSWERS_XML.replace(
        "<EvalActionName>ec2:AttachVolume", f"<EvalActionName><![CDATA[{SIMPLE_MEMBER}]]>ec2:AttachVolume", 1
    ),
    "an entity whose text is an answer": (
        f'<?xml version="1.0"?><!DOCTYPE SimulatePrincipalPolicyResponse [<!ENTITY a "{SIMPLE_MEMBER}">]>'
        + ANSWERS_XML.replace("<ResourceSpecificResults>", "<ResourceSpecificResults>&a;", 1)
    ),
    "a placeholder's tag in the reply": ANSWERS_XML.replace(
        "<ResourceSpecificResults>", "<ResourceSpecificResults><_/>", 1
    ),
    "an answer among the results, not the per-resource answers": ANSWERS_XML.replace(
        "<EvaluationResults>", f"<EvaluationResults>{SIMPLE_MEMBER}", 1
    ),
    "an answer in the matched statements": ANSWERS_XML.replace(
        "<MatchedStatements>", f"<MatchedStatements>{SIMPLE_MEMBER}", 1
    ),
    "a carriage return in a resource": ANSWERS_XML.replace("vol-3<", "vol-3\r\nx<", 1),
    "an entity in a resource": ANSWERS_XML.replace("vol-4<", "vol-4&amp;&#x41;<", 1),
    "a resource that is not ASCII": ANSWERS_XML.replace("vol-5<", "vol-5\u00e9\u4e2d<", 1),
    "a number of ten digits": ANSWERS_XML.replace("<Line>1</Line>", "<Line>0000000001</Line>", 1),
    "a number with a sign": ANSWERS_XML.replace("<Line>1</Line>", "<Line>+1</Line>", 1),
    "a space inside a tag": ANSWERS_XML.replace("<EvalResourceDecision>", "<EvalResourceDecision >", 1),
    "an attribute on an answer": ANSWERS_XML.replace(
        "<ResourceSpecificResults><member>", '<ResourceSpecificResults><member a="1">', 1
    ),
    "a form feed between tags": ANSWERS_XML.replace(
        "</EvalResourceName><EvalResourceDecision>", "</EvalResourceName>\f<EvalResourceDecision>", 1
    ),
}


@pytest.mark.parametrize("case", sorted(NOT_THE_EXPRESSIONS))
def test_what_the_expression_must_not_read_gives_botocores_answer(case: str) -> None:
    """Each of these either keeps its answers from the expression, or leaves the reply to botocore."""
    body = NOT_THE_EXPRESSIONS[case]
    assert body != ANSWERS_XML
    shape = operation().output_shape
    assert shape is not None
    assert_botocores_answer(body, shape)
