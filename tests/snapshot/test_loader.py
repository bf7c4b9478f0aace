"""The snapshot loader: every accepted form reads the same, and every fault is one line naming the file."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.snapshot_builders import ACCOUNT, allow, details, managed, role
from verification.errors import InputError
from verification.snapshot import FORMAT, load_scp_files, load_snapshot

ROLES = [role("A", attached=["P"]), role("B", inline={"i": allow("s3:GetObject")})]
POLICIES = [managed("P", allow("ec2:*"))]


def write(tmp_path: Path, data: Any, name: str = "snap.json") -> Path:
    path = tmp_path / name
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    path.write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    return path


def role_names(path: Path) -> list[str]:
    return [r["RoleName"] for r in load_snapshot(path).details["RoleDetailList"]]


def test_the_cli_merged_output_is_read_as_is(tmp_path: Path) -> None:
    snapshot = load_snapshot(write(tmp_path, details(ROLES, POLICIES)))
    assert [r["RoleName"] for r in snapshot.details["RoleDetailList"]] == ["A", "B"]
    assert snapshot.details["Policies"][0]["Arn"].endswith(":policy/P")
    assert snapshot.account_id == ACCOUNT
    assert snapshot.caller is None and snapshot.scps is None


def test_one_api_response_is_read(tmp_path: Path) -> None:
    response = {**details(ROLES, POLICIES), "IsTruncated": False, "ResponseMetadata": {"RequestId": "r"}}
    assert role_names(write(tmp_path, response)) == ["A", "B"]


def test_a_list_of_pages_is_merged_in_order(tmp_path: Path) -> None:
    first = {**details(ROLES[:1], POLICIES), "IsTruncated": True, "Marker": "m1"}
    second = {"RoleDetailList": ROLES[1:], "IsTruncated": False}
    snapshot = load_snapshot(write(tmp_path, [first, second]))
    assert [r["RoleName"] for r in snapshot.details["RoleDetailList"]] == ["A", "B"]
    assert len(snapshot.details["Policies"]) == 1
    assert snapshot.details["UserDetailList"] == []


def test_gzip_reads_like_plain_json_and_the_hash_is_of_the_file(tmp_path: Path) -> None:
    plain = load_snapshot(write(tmp_path, details(ROLES, POLICIES)))
    path = write(tmp_path, details(ROLES, POLICIES), "snap.json.gz")
    packed = load_snapshot(path)
    assert packed.details == plain.details
    assert packed.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() != plain.sha256


def test_the_export_wrapper_carries_caller_time_and_scps(tmp_path: Path) -> None:
    wrapper = {
        "format": FORMAT,
        "captured_at": "2026-01-02T03:04:05Z",
        "caller": {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/auditor", "UserId": "AIDA1"},
        "account_id": ACCOUNT,
        "authorization_details": details(ROLES, POLICIES),
        "scps": [[{"Id": "p-1", "Name": "FullAWSAccess", "Content": json.dumps(allow("*"))}], []],
        "scp_note": None,
    }
    snapshot = load_snapshot(write(tmp_path, wrapper))
    assert snapshot.caller is not None and snapshot.caller.arn.endswith(":user/auditor")
    assert snapshot.captured_at == "2026-01-02T03:04:05Z"
    assert snapshot.scps is not None and snapshot.scps[0][0]["Name"] == "FullAWSAccess"
    assert snapshot.role_count == 2


def truncated_gzip() -> bytes:
    packed = gzip.compress(json.dumps(details(ROLES, POLICIES)).encode())
    return packed[: len(packed) // 2]


def bad_role() -> dict[str, Any]:
    broken = role("A")
    del broken["RoleName"]
    return details([broken])


BAD_INPUTS = {
    "not-json": (b"RoleDetailList: nope", "not JSON"),
    "truncated": (json.dumps(details(ROLES, POLICIES)).encode()[:200], "truncated"),
    "truncated-gzip": (truncated_gzip(), "truncated"),
    "empty": (b"  \n", "empty"),
    "not-utf8": (b'{"RoleDetailList": ["\xff"]}', "not UTF-8"),
    "a-number": (b"42", "not a number"),
    "list-of-numbers": (b"[1, 2]", "[0]: expected a response page"),
    "another-api": (json.dumps({"Role": {"RoleName": "A"}}).encode(), "none of UserDetailList"),
    "role-without-name": (json.dumps(bad_role()).encode(), "RoleDetailList[0].RoleName: missing"),
    "roles-not-a-list": (json.dumps({"RoleDetailList": {"A": 1}}).encode(), "RoleDetailList: expected a list"),
    "inline-without-document": (
        json.dumps(details([{**role("A"), "RolePolicyList": [{"PolicyName": "x"}]}])).encode(),
        "RoleDetailList[0].RolePolicyList[0].PolicyDocument: missing",
    ),
    "incomplete-pages": (
        json.dumps({**details(ROLES), "IsTruncated": True, "Marker": "m"}).encode(),
        "incomplete: IsTruncated",
    ),
    "newer-format": (
        json.dumps({"format": "veeam-role-verification/snapshot@9", "authorization_details": {}}).encode(),
        "newer than this tool reads",
    ),
    "wrapper-wrong-details": (
        json.dumps({"format": FORMAT, "authorization_details": {"Policies": [{"PolicyName": "x"}]}}).encode(),
        "authorization_details.Policies[0].Arn: missing",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_a_bad_file_is_one_line_naming_the_file_and_the_fault(tmp_path: Path, case: str) -> None:
    raw, fault = BAD_INPUTS[case]
    path = write(tmp_path, raw, "bad.json.gz" if case == "truncated-gzip" else "bad.json")
    if case == "truncated-gzip":
        path.write_bytes(raw)
    with pytest.raises(InputError) as caught:
        load_snapshot(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert fault in message


def test_a_syntax_fault_names_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"RoleDetailList": [\n  {"Arn": x}\n]}')
    with pytest.raises(InputError, match=r"not JSON: .* at line 2 column 11"):
        load_snapshot(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"snapshot .*nowhere\.json: no such file"):
        load_snapshot(tmp_path / "nowhere.json")


def test_scp_files_are_levels_in_the_order_given(tmp_path: Path) -> None:
    root = write(tmp_path, allow("*"), "root.json")
    account = write(tmp_path, [allow("ec2:*"), allow("s3:*", effect="Deny")], "account.json")
    levels = load_scp_files([root, account])
    assert [len(level) for level in levels] == [1, 2]
    assert levels[1][1]["Statement"][0]["Effect"] == "Deny"


def test_a_bad_scp_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, {"Version": "2012-10-17"}, "scp.json")
    with pytest.raises(InputError, match=r"SCP file .*scp\.json: the document: not an SCP"):
        load_scp_files([path])
