"""Fuzzing: malformed input is the documented validation error, and never an allow.

Hypothesis feeds the policy engine random JSON-ish documents, mutated policy text and malformed
Condition blocks, and feeds the snapshot reader random bytes and mutated snapshots. The only
exception allowed is the documented one (``PolicyError`` from the engine, ``InputError`` naming
the file in one line from the snapshot reader); a policy the engine rejects never yields an
allowed decision by any path (the engine, the account model, the snapshot backend).
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from verification import FIXTURES
from verification.backends import RoleRef
from verification.backends.snapshot import SnapshotBackend
from verification.errors import CheckError, InputError
from verification.policy import (
    Context,
    PolicyError,
    PolicySet,
    Principal,
    Request,
    evaluate,
    evaluate_trust,
    parse_policy,
    simulate,
)
from verification.snapshot import Snapshot, load_snapshot

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/Fuzzed"
ACTIONS = ("s3:GetObject", "ec2:DescribeInstances", "sts:AssumeRole", "kms:Decrypt")
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DEMO = json.loads((FIXTURES / "demo" / "account.json").read_text())
WORKER = f"arn:aws:iam::{ACCOUNT}:role/VeeamFLRWorker"

ELEMENTS = ["Version", "Id", "Statement", "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction"]
ELEMENTS += ["Resource", "NotResource", "Condition", "AWS", "Service", "StringEquals", "Bool", "aws:username"]
WORDS = ["2012-10-17", "2008-10-17", "Allow", "Deny", "*", "s3:*", "s3:GetObject", "arn:aws:s3:::b/*", "ec2:Describe*"]
WORDS += ["arn:aws:iam::123456789012:root", "ec2.amazonaws.com", "${aws:username}", "true", "", "a:b:c", "*:*"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
json_ish = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(ELEMENTS), st.text(max_size=8)), children, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def policy_like(draw: st.DrawFn) -> Any:
    """Mostly policy-shaped documents (a Statement list of element maps), sometimes anything at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(json_ish)
    statement = draw(st.dictionaries(st.sampled_from(ELEMENTS[3:12]), json_ish, min_size=1, max_size=6))
    document: dict[str, Any] = {"Statement": draw(st.sampled_from([[statement], statement]))}
    if draw(st.booleans()):
        document["Version"] = draw(st.sampled_from(["2012-10-17", "2008-10-17", "2012-10-18", 2012]))
    return document


def _decisions(policy_source: Any, *, as_boundary: bool = False) -> list[str]:
    """Every decision the engine gives for the fuzzed policy, by each way a caller can use it."""
    policy = parse_policy(policy_source, policy_id="fuzzed", policy_type="identity")
    allow_all = parse_policy(ALLOW_ALL, policy_id="allow-all", policy_type="identity")
    sets = [PolicySet(identity=(policy,)), PolicySet(identity=(allow_all,), boundary=policy)]
    decisions: list[str] = [e.decision for s in sets for e in simulate(s, ACTIONS, ("*", "arn:aws:s3:::b/k"))]
    trust = parse_policy(policy_source, policy_id="fuzzed", policy_type="trust")
    for principal in (Principal("Service", "ec2.amazonaws.com"), Principal("AWS", f"arn:aws:iam::{ACCOUNT}:role/x")):
        decisions.append(evaluate_trust(trust, principal, role_arn=ROLE_ARN).decision)
    return decisions


@FUZZ
@given(document=policy_like())
def test_random_documents_are_parsed_or_rejected_with_policy_error(document: Any) -> None:
    """Any JSON-ish value (a mapping as is, anything else as its JSON text): decide, or PolicyError."""
    with contextlib.suppress(PolicyError):
        _decisions(_stored(document))


@FUZZ
@given(text=st.one_of(st.text(max_size=60), st.binary(max_size=60).map(lambda b: b.decode("latin-1"))))
def test_random_text_is_rejected_with_policy_error(text: str) -> None:
    """Any text (JSON or not, URL-encoded or not): PolicyError unless it is a policy."""
    with contextlib.suppress(PolicyError):
        _decisions(text)


VALID_TEXT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Deny", "Effect": "Deny", "Action": "s3:*", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["ec2:Describe*", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:username": "alice"}},
            },
        ],
    }
)


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """The valid policy text with a few characters deleted, inserted or replaced."""
    text = VALID_TEXT
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "replace"]))
        piece = draw(st.sampled_from(['"', "{", "}", "[", "]", ",", ":", "*", "\\", "%", "\x00", "é", "0", " "]))
        if kind == "delete":
            text = text[:at] + text[at + 1 :]
        elif kind == "insert":
            text = text[:at] + piece + text[at:]
        else:
            text = text[:at] + piece + text[at + 1 :]
    return text


@FUZZ
@given(text=mutated_text())
def test_mutated_policy_text_never_allows_what_the_deny_covers(text: str) -> None:
    """A corrupted copy of a policy that denies s3:*: PolicyError, or s3 still not allowed."""
    try:
        policy = parse_policy(text, policy_id="mutated", policy_type="identity")
    except PolicyError:
        return
    # It still parsed: a few edits cannot make the Allow cover s3, so s3 is never allowed.
    context = Context.of({"aws:username": "alice"})
    assert evaluate(Request("s3:GetObject", "*", context=context), PolicySet((policy,))).decision != "allowed"
    evaluate(Request("ec2:DescribeInstances", "*", context=context), PolicySet((policy,)))


OPERATORS = ["StringEquals", "StringLike", "NumericLessThan", "DateGreaterThan", "Bool", "IpAddress", "ArnLike"]
MALFORMED_OPERATOR_NAMES = st.one_of(
    st.text(min_size=1, max_size=20).filter(lambda name: name not in OPERATORS and not name.startswith("For")),
    st.sampled_from(
        ["StringEqualsSometimes", "stringequals", "ForAnyValue:", "IfExists", "StringEqualsIfExistsIfExists"]
    ),
)
BAD_VALUES: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.just([]),
    st.dictionaries(st.text(max_size=4), st.text(max_size=4), min_size=1, max_size=2),
    st.lists(st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=1), min_size=1, max_size=2),
)


@st.composite
def malformed_conditions(draw: st.DrawFn) -> tuple[dict[str, Any], str, str]:
    """A malformed Condition block, the context key it names and a value a well-formed block would match."""
    key, value = "aws:username", "alice"
    kind = draw(st.sampled_from(["unknown-operator", "block-not-object", "value-not-scalar", "bad-typed-value"]))
    if kind == "unknown-operator":
        return {draw(MALFORMED_OPERATOR_NAMES): {key: value}}, key, value
    if kind == "block-not-object":
        return (
            {draw(st.sampled_from(OPERATORS)): draw(st.one_of(st.text(max_size=5), st.lists(st.text(), max_size=2)))},
            key,
            value,
        )
    if kind == "value-not-scalar":
        return {"StringEquals": {key: draw(BAD_VALUES)}}, key, value
    operator, bad = draw(
        st.sampled_from(
            [
                ("NumericLessThan", "ten"),
                ("DateGreaterThan", "yesterday"),
                ("Bool", "maybe"),
                ("IpAddress", "999.1.1.1"),
                ("IpAddress", "10.0.0.0/33"),
            ]
        )
    )
    return {operator: {key: bad}}, key, value


@FUZZ
@given(condition=malformed_conditions(), effect=st.sampled_from(["Allow", "Deny"]))
def test_a_malformed_condition_never_yields_allowed(condition: tuple[dict[str, Any], str, str], effect: str) -> None:
    """Malformed Condition on an Allow (alone) or on a Deny (next to Allow *): PolicyError, never allowed.

    On a Deny, skipping the malformed block would turn the Allow * into a false allow.
    """
    block, key, value = condition
    statements: list[dict[str, Any]] = [{"Effect": effect, "Action": "*", "Resource": "*", "Condition": block}]
    if effect == "Deny":
        statements.append({"Effect": "Allow", "Action": "*", "Resource": "*"})
    document = {"Version": "2012-10-17", "Statement": statements}
    try:
        decisions = _decisions(document)
    except PolicyError:
        return
    context = Context.of({key: value})
    policy = parse_policy(document, policy_id="fuzzed", policy_type="identity")
    decisions += [e.decision for e in simulate(PolicySet((policy,)), ACTIONS, ("*",), context)]
    assert "allowed" not in decisions, f"{block} was accepted and allowed"


@FUZZ
@given(document=policy_like())
def test_a_rejected_policy_never_allows_through_the_snapshot_backend(document: Any) -> None:
    """A role with Allow * and a policy the engine rejects: every path errors, none answers allowed.

    The rejected policy is tried inline, as an attached managed policy, as the boundary, as the
    trust policy, and as an extra policy of SimulatePrincipalPolicy.
    """
    try:
        parse_policy(_stored(document), policy_id="probe", policy_type="identity")
        parse_policy(_stored(document), policy_id="probe", policy_type="trust")
    except PolicyError:
        pass
    else:
        assume(False)  # only documents the engine rejects (as identity or trust policy) are of interest
    for place in ("inline", "attached", "boundary", "trust"):
        backend = SnapshotBackend(_snapshot_with(document, place))
        ref = RoleRef.parse(ROLE_ARN)
        with pytest.raises(InputError):
            backend.get_role(ref)
        if place != "trust":
            with pytest.raises(InputError):
                backend.simulate(ROLE_ARN, ACTIONS)
    clean = SnapshotBackend(_snapshot_with(None, "nowhere"))
    text = json.dumps(document) if not isinstance(document, str) else document
    with pytest.raises(CheckError):
        clean.simulate(ROLE_ARN, ACTIONS, extra_policies=[text])


def _snapshot_with(document: Any, place: str) -> Snapshot:
    """A one-role snapshot: Allow * inline, and the document where ``place`` says (or "nowhere")."""
    policy_arn = f"arn:aws:iam::{ACCOUNT}:policy/Fuzzed"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role: dict[str, Any] = {
        "RoleName": "Fuzzed",
        "Arn": ROLE_ARN,
        "Path": "/",
        "RoleId": "AROAFUZZED0000000000",
        "AssumeRolePolicyDocument": _stored(document) if place == "trust" else trust,
        "RolePolicyList": [{"PolicyName": "AllowAll", "PolicyDocument": ALLOW_ALL}],
        "AttachedManagedPolicies": [],
    }
    policies: list[dict[str, Any]] = []
    if place == "inline":
        role["RolePolicyList"].append({"PolicyName": "Fuzzed", "PolicyDocument": _stored(document)})
    if place in ("attached", "boundary"):
        policies.append(
            {
                "PolicyName": "Fuzzed",
                "Arn": policy_arn,
                "DefaultVersionId": "v1",
                "PolicyVersionList": [{"Document": _stored(document), "VersionId": "v1", "IsDefaultVersion": True}],
            }
        )
        if place == "attached":
            role["AttachedManagedPolicies"].append({"PolicyName": "Fuzzed", "PolicyArn": policy_arn})
        else:
            role["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": policy_arn}
    details = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [role], "Policies": policies}
    return Snapshot(path=Path("fuzzed.json"), sha256="0" * 64, details=details, account_id=ACCOUNT)


def _stored(document: Any) -> Any:
    """As a file delivers a document: a mapping stays one; anything else as its JSON text.

    (``parse_policy`` takes text or a mapping; a decoded null or number is not in its contract.)
    """
    return document if isinstance(document, dict) else json.dumps(document)


# The snapshot reader.


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the fuzzed files (Hypothesis reuses it across examples)."""
    return tmp_path_factory.mktemp("fuzz")


def _load(workdir: Path, raw: bytes) -> Snapshot | None:
    """Load ``raw`` as a snapshot file: a Snapshot, or None after the one-line InputError naming the file."""
    path = workdir / "snapshot.json"
    path.write_bytes(raw)
    try:
        return load_snapshot(path)
    except InputError as error:
        message = str(error)
        assert message.startswith(f"snapshot {path}: "), message
        assert "\n" not in message and len(message) < 2_000, message
        return None


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), st.binary(max_size=200).map(gzip.compress)))
def test_random_bytes_are_one_input_error(workdir: Path, raw: bytes) -> None:
    """Random bytes (plain or gzipped): a snapshot, or one InputError line naming the file."""
    _load(workdir, raw)


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (dict keys and list indexes) in a JSON document."""
    found = [here]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*here, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*here, index))
    return found


@st.composite
def mutated_snapshots(draw: st.DrawFn) -> bytes:
    """The demo account with one to three nodes replaced or deleted, maybe truncated or gzipped."""
    document = copy.deepcopy(DEMO)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths[1:]))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            parent[path[-1]] = draw(json_ish)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    raw = json.dumps(document).encode()
    if draw(st.integers(0, 5)) == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]
    if draw(st.integers(0, 5)) == 0:
        raw = gzip.compress(raw)
    return raw


@FUZZ
@given(raw=mutated_snapshots())
def test_mutated_snapshots_are_one_input_error_or_verifiable(workdir: Path, raw: bytes) -> None:
    """A mutated snapshot loads or is one InputError line; a loaded one answers or says why not.

    Reading the worker role from a loaded snapshot gives its facts, an InputError (the file's
    fault, one line) or a CheckError (the harness could not check): never another exception.
    """
    snapshot = _load(workdir, raw)
    if snapshot is None:
        return
    ref = RoleRef.parse(WORKER)
    try:
        backend = SnapshotBackend(snapshot)
        backend.get_role(ref)
        backend.list_instance_profiles(ref)
        backend.simulate(WORKER, ACTIONS)
    except InputError as error:
        assert "\n" not in str(error), str(error)
    except CheckError:
        pass


def test_fuzzers_reach_both_outcomes(workdir: Path) -> None:
    """The fuzzers are not vacuous: the unmutated demo loads, and a truncated copy is an InputError."""
    raw = json.dumps(DEMO).encode()
    assert _load(workdir, raw) is not None
    assert _load(workdir, raw[: len(raw) // 2]) is None
