"""Partial and complete ARN forms decide alike, and a wildcard never stands for part of a resource type.

The IAM User Guide (reference_policies_elements_resource.html): in identity-based policies missing
ARN parts are filled with ``*`` (``arn:aws:sqs`` is ``arn:aws:sqs:*:*:*``); "arn:aws:iam::123456789012:u*"
is its counter-example of a wildcard in place of part of the resource type. SCPs and resource-based
policies get no documented completion: the engine refuses them with one line naming the element.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verification.policy import Context, PolicyError, PolicySet, Request, evaluate, parse_policy
from verification.policy.match import complete_arn

SERVICES = ["sqs", "ec2", "iam", "s3", "logs", "kms"]
REGIONS = ["us-east-1", "eu-west-1", ""]
ACCOUNTS = ["111122223333", "444455556666", ""]
RESOURCE_PARTS = ["jobs", "instance/i-1", "user/Bob", "bucket/key", "log-group:app:log-stream:s", "key/k-1"]


@st.composite
def partial_arns(draw: st.DrawFn) -> str:
    """``arn:aws:SERVICE`` with zero to two of the region and account parts, each maybe a wildcard."""
    parts = ["arn", "aws", draw(st.sampled_from(SERVICES))]
    for choices in (REGIONS, ACCOUNTS)[: draw(st.integers(0, 2))]:
        parts.append(draw(st.sampled_from([*choices, "*", "us-*"])))
    return ":".join(parts)


@st.composite
def resources(draw: st.DrawFn) -> str:
    service = draw(st.sampled_from(SERVICES))
    region, account = draw(st.sampled_from(REGIONS)), draw(st.sampled_from(ACCOUNTS))
    return f"arn:aws:{service}:{region}:{account}:{draw(st.sampled_from(RESOURCE_PARTS))}"


def covers(pattern: str, resource: str) -> bool:
    """The guide's reading, written independently of the engine: each given part matches, missing parts are ``*``."""
    given_parts = pattern.split(":")
    parts = resource.split(":", 5)
    return all(fnmatchcase(part, want) for part, want in zip(parts, given_parts, strict=False))


def identity(pattern: str, element: str, effect: str = "Allow") -> PolicySet:
    statements: list[dict[str, Any]] = [{"Effect": effect, "Action": "*", element: pattern}]
    if effect == "Deny":
        statements.insert(0, {"Effect": "Allow", "Action": "*", "Resource": "*"})
    policy = parse_policy({"Version": "2012-10-17", "Statement": statements}, policy_id="p", policy_type="identity")
    return PolicySet(identity=(policy,))


def decide(policies: PolicySet, resource: str) -> str:
    return evaluate(Request(action="sqs:SendMessage", resource=resource, context=Context()), policies).decision


@settings(max_examples=300, deadline=None)
@given(partial_arns(), resources(), st.sampled_from(["Resource", "NotResource"]), st.sampled_from(["Allow", "Deny"]))
def test_a_partial_arn_decides_as_its_completed_form(pattern: str, resource: str, element: str, effect: str) -> None:
    """Resource and NotResource, Allow and Deny: writing the missing parts as ``*`` changes nothing."""
    complete = complete_arn(pattern)
    assert complete.count(":") == 5 and complete.startswith(pattern)
    assert decide(identity(pattern, element, effect), resource) == decide(identity(complete, element, effect), resource)


@settings(max_examples=300, deadline=None)
@given(partial_arns(), resources())
def test_not_resource_with_a_partial_arn_never_allows_what_it_names(pattern: str, resource: str) -> None:
    """The false-allow shape: an Allow with NotResource [partial] must not apply to the resources it excludes."""
    covered = decide(identity(pattern, "Resource"), resource) == "allowed"
    excluded_allows = decide(identity(pattern, "NotResource"), resource) == "allowed"
    assert covered == covers(pattern, resource)
    assert excluded_allows == (not covers(pattern, resource))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["instance", "volume", "snapshot"]), st.text("abcdef0123456789", min_size=1, max_size=6))
def test_a_wildcard_never_stands_for_part_of_the_resource_type(kind: str, ident: str) -> None:
    """``*/ID`` and a type cut short (``ins*``) match no typed resource; the type spelled out does."""
    resource = f"arn:aws:ec2:us-east-1:111122223333:{kind}/{ident}"
    for pattern in (f"*/{ident}", f"{kind[:2]}*", f"?{kind[1:]}/{ident}", f"{kind[:-1]}*/{ident}"):
        arn = f"arn:aws:ec2:us-east-1:111122223333:{pattern}"
        assert decide(identity(arn, "Resource"), resource) == "implicitDeny", arn
    for pattern in (f"{kind}/*", f"{kind}/{ident}", f"{kind}*", "*"):
        arn = f"arn:aws:ec2:us-east-1:111122223333:{pattern}"
        assert decide(identity(arn, "Resource"), resource) == "allowed", arn


@pytest.mark.parametrize("kind", ["scp", "resource"])
@pytest.mark.parametrize("pattern", ["arn:aws:sqs", "arn:aws:sqs:us-east-1", "arn:aws:sqs:us-east-1:111122223333"])
def test_a_partial_arn_where_aws_documents_no_completion_is_refused_in_one_line(kind: str, pattern: str) -> None:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "sqs:*", "Resource": pattern}
    if kind == "resource":
        statement["Principal"] = {"AWS": "111122223333"}
    with pytest.raises(PolicyError) as raised:
        parse_policy({"Version": "2012-10-17", "Statement": [statement]}, policy_id="P", policy_type=kind)
    message = str(raised.value)
    assert "\n" not in message
    assert "Statement[0]/Resource" in raised.value.element
    assert "partial ARN" in message and complete_arn(pattern) in message
