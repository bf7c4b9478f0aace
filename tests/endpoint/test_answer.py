"""The endpoint's own XML for Simulate* answers is byte for byte what moto's serializer would write.

``answer.render`` replaces moto's generic serializer for the two simulation operations (it was most
of the endpoint's CPU at scale). Any value the output shape admits is compared with moto's own
serializer, and botocore must read the endpoint's answers back as it reads moto's.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.parsers import QueryParser
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core.serialize import XFormedAttributePicker, get_serializer_class
from moto.core.utils import get_service_model

from verification.endpoint.answer import REQUEST_ID, render

OPERATIONS = ("SimulatePrincipalPolicy", "SimulateCustomPolicy")
#: Text as IAM could return it: markup characters, quotes, non-ASCII; no lone surrogates (not UTF-8).
TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r"), max_size=12)


def _value(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Any value of ``shape``, with members left out at random (an absent member is not written)."""
    if isinstance(shape, StructureShape):
        members = {name: _value(member, depth + 1) for name, member in shape.members.items()}
        return st.fixed_dictionaries({}, optional=members)
    if isinstance(shape, ListShape):
        return st.lists(_value(shape.member, depth + 1), max_size=3 if depth < 4 else 1)
    if isinstance(shape, MapShape):
        return st.dictionaries(TEXT, _value(shape.value, depth + 1), max_size=3)
    if shape.type_name == "boolean":
        return st.booleans()
    if shape.type_name in ("integer", "long"):
        return st.integers(min_value=-(2**31), max_value=2**31 - 1)
    return TEXT


def _moto(operation: str, result: dict[str, Any]) -> str:
    model = get_service_model("iam").operation_model(operation)
    serializer = get_serializer_class("iam", "query")(
        operation_model=model, pretty_print=False, value_picker=XFormedAttributePicker()
    )
    return str(serializer.serialize(result)["body"]).replace("<RequestId>request-id</RequestId>", REQUEST_ID)


@pytest.mark.parametrize("operation", OPERATIONS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_render_writes_what_motos_serializer_writes(operation: str, data: st.DataObject) -> None:
    output = get_service_model("iam").operation_model(operation).output_shape
    assert output is not None
    result = data.draw(_value(output))
    body, headers = render(operation, result)
    assert body == _moto(operation, result)
    assert headers == {"Content-Type": "text/xml"}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_botocore_reads_a_full_answer_back(operation: str) -> None:
    """A denied action with every detail AWS gives, as boto3 users receive it."""
    statement = {
        "SourcePolicyId": "deny <kms> & co",
        "SourcePolicyType": "IAM Policy",
        "StartPosition": {"Line": 1, "Column": 41},
        "EndPosition": {"Line": 3, "Column": 2},
    }
    result = {
        "EvaluationResults": [
            {
                "EvalActionName": "kms:Decrypt",
                "EvalResourceName": "*",
                "EvalDecision": "explicitDeny",
                "MatchedStatements": [statement],
                "MissingContextValues": ["aws:SourceIp"],
                "EvalDecisionDetails": {"IAM Policy": "explicitDeny"},
                "OrganizationsDecisionDetail": {"AllowedByOrganizations": True},
                "PermissionsBoundaryDecisionDetail": {"AllowedByPermissionsBoundary": False},
                "ResourceSpecificResults": [
                    {
                        "EvalResourceName": "arn:aws:kms:us-east-1:111122223333:key/1",
                        "EvalResourceDecision": "explicitDeny",
                        "MatchedStatements": [statement],
                        "MissingContextValues": [],
                    }
                ],
            }
        ],
        "IsTruncated": True,
        "Marker": "MQ==",
    }
    model = get_service_model("iam").operation_model(operation)
    body, _ = render(operation, result)
    parsed = QueryParser().parse({"body": body.encode(), "headers": {}, "status_code": 200}, model.output_shape)
    parsed.pop("ResponseMetadata")
    assert parsed == result
