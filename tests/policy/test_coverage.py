"""Which of a resource type's ARNs a statement covers: all, some or none (issue #26, point 1).

Table cases from the documented id shapes (fixtures/scope/resource-ids.json names each source) and
the Resource element's wildcard rules
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html: "*"
and "?" in any segment; a "*" that ends a segment reaches past its colons). Every witness is checked
against the engine's own ResourceMatcher and against Python's regular expressions, so the
enumeration and the engine never disagree on what a pattern matches.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verification.policy.coverage import partition
from verification.policy.match import ResourceMatcher
from verification.policy.model import Context
from verification.scope.catalogue import id_shape, representative_arn, type_language

ACCOUNT = "111122223333"
WHERE = {"partition": "aws", "region": "eu-west-1", "account": ACCOUNT}
VOLUME = "arn:${Partition}:ec2:${Region}:${Account}:volume/${VolumeId}"
SNAPSHOT = "arn:${Partition}:ec2:${Region}::snapshot/${SnapshotId}"
QUEUE = "arn:${Partition}:sqs:${Region}:${Account}:${QueueName}"
KEY_PAIR = "arn:${Partition}:ec2:${Region}:${Account}:key-pair/${KeyPairName}"
INSTANCE = "arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}"


def extent(arn_format: str, *patterns: str, service: str | None = None) -> str:
    language = type_language(arn_format, service=service, **WHERE)
    example = representative_arn(arn_format, service=service, **WHERE)
    return partition(language, (tuple(patterns),), example).extents[0]


@pytest.mark.parametrize(
    ("arn_format", "patterns", "expected"),
    [
        # ec2-ids: every volume id starts "vol-": vol-* is all of them, vol-0* only some.
        (VOLUME, ("arn:aws:ec2:*:*:volume/*",), "all"),
        (VOLUME, ("arn:aws:ec2:*:*:volume/vol-*",), "all"),
        (VOLUME, ("arn:aws:ec2:*:*:volume/vol-0*",), "some"),
        (VOLUME, ("arn:aws:ec2:*:*:volume/vol-????????",), "some"),  # the 8-digit ids made before 2018
        (VOLUME, ("arn:aws:ec2:eu-west-1:111122223333:volume/vol-0b7e5a1c9d3f24680",), "some"),
        (VOLUME, ("arn:aws:ec2:*:*:snapshot/*",), "none"),
        (VOLUME, ("arn:aws:ec2:us-east-1:*:volume/*",), "none"),  # another region
        (VOLUME, ("arn:aws:ec2:*:444455556666:volume/*",), "none"),  # another account
        (VOLUME, ("arn:aws:ec2:*",), "all"),  # a "*" ending a segment reaches past the colons
        (VOLUME, ("*",), "all"),
        # A snapshot's ARN has no account: "snap-*" covers every snapshot, "*:*:snapshot/*" too.
        (SNAPSHOT, ("arn:aws:ec2:*::snapshot/snap-*",), "all"),
        (SNAPSHOT, ("arn:aws:ec2:*:*:snapshot/*",), "all"),
        (SNAPSHOT, ("arn:aws:ec2:*:111122223333:snapshot/*",), "none"),
        # sqs-queue: names of letters, digits, "-" and "_", FIFO queues end ".fifo".
        (QUEUE, ("arn:aws:sqs:*:*:*",), "all"),
        (QUEUE, ("arn:aws:sqs:*:*:veeam-*",), "some"),
        (QUEUE, ("arn:aws:sqs:*:*:*.fifo",), "some"),
        (QUEUE, ("arn:aws:sqs:*:*:*-*",), "some"),
        # ec2-key-pair: names are the owner's choice.
        (KEY_PAIR, ("arn:aws:ec2:*:*:key-pair/*",), "all"),
        (KEY_PAIR, ("arn:aws:ec2:*:*:key-pair/veeam-*",), "some"),
        (INSTANCE, ("arn:aws:ec2:*:*:instance/i-*",), "all"),
        (INSTANCE, ("arn:aws:ec2:*:*:instance/i-0*", "arn:aws:ec2:*:*:instance/i-1*"), "some"),
    ],
)
def test_a_statement_covers_all_some_or_none_of_a_type(
    arn_format: str, patterns: tuple[str, ...], expected: str
) -> None:
    assert extent(arn_format, *patterns) == expected


def test_the_representative_arns_have_the_real_id_shapes() -> None:
    """ec2-ids: a prefix and 17 hexadecimal digits; the example fits its own shape."""
    assert representative_arn(VOLUME, **WHERE) == f"arn:aws:ec2:eu-west-1:{ACCOUNT}:volume/vol-0b7e5a1c9d3f24680"
    assert representative_arn(SNAPSHOT, **WHERE) == "arn:aws:ec2:eu-west-1::snapshot/snap-0b7e5a1c9d3f24680"
    assert representative_arn(INSTANCE, **WHERE).endswith(":instance/i-0b7e5a1c9d3f24680")
    for service, variable in [("ec2", "VolumeId"), ("sqs", "QueueName"), ("kms", "KeyId"), ("rds", "SnapshotName")]:
        shape = id_shape(service, variable)
        assert re.fullmatch(shape.shape, shape.example), (service, variable)
        assert shape.source.startswith("https://docs.aws.amazon.com/"), shape.source


def test_a_witness_per_part_names_one_real_arn_inside_and_one_outside() -> None:
    language = type_language(VOLUME, **WHERE)
    example = representative_arn(VOLUME, **WHERE)
    coverage = partition(language, (("arn:aws:ec2:*:*:volume/vol-1*",),), example)
    assert coverage.complete and coverage.extents == ("some",)
    inside = [arn for arn, (hit,) in coverage.witnesses if hit]
    outside = [arn for arn, (hit,) in coverage.witnesses if not hit]
    assert outside == [example]  # the usual ARN stays the one judged for its part
    assert len(inside) == 1 and re.fullmatch(
        r"arn:aws:ec2:eu-west-1:111122223333:volume/vol-1[0-9a-f]{7,16}", inside[0]
    )


#: Wildcards in the id only: how a wildcard over the resource type or a partial ARN reads is the
#: engine's to decide (issue #25), and the engine judges every witness anyway.
PATTERN_PIECES = st.sampled_from(["*", "?", "vol-", "0", "1", "a", "f", "-", "snap-"])


@settings(max_examples=150, deadline=None)
@given(
    prefix=st.sampled_from(
        [
            "arn:aws:ec2:*:*:volume/",
            "arn:aws:ec2:eu-west-1:111122223333:volume/",
            "arn:aws:ec2:eu-*:*:volume/",
            "arn:aws:ec2:*:444455556666:volume/",
            "arn:aws:ec2:*::snapshot/",
        ]
    ),
    pieces=st.lists(PATTERN_PIECES, min_size=1, max_size=6),
)
def test_every_witness_is_a_real_arn_that_the_engine_matches_as_the_partition_says(
    prefix: str, pieces: list[str]
) -> None:
    """Property: each witness fits the type's shape, and the engine's own matcher agrees with its signature."""
    pattern = prefix + "".join(pieces)
    language = type_language(VOLUME, **WHERE)  # the subset's syntax: every literal escaped
    coverage = partition(language, ((pattern,),), representative_arn(VOLUME, **WHERE))
    matcher = ResourceMatcher([pattern], allow_variables=False)
    for arn, (hit,) in coverage.witnesses:
        assert re.fullmatch(r"arn:aws:ec2:eu-west-1:111122223333:volume/vol-([0-9a-f]{8}|[0-9a-f]{17})", arn), arn
        assert matcher.matches(arn, Context()) is hit, (pattern, arn)
