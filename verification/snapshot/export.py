"""``python -m verification snapshot export --out FILE``: save what the account looks like, for replay.

Captures every page of iam:GetAccountAuthorizationDetails, the caller identity, a UTC timestamp
and, where the caller may read AWS Organizations, the SCPs that apply to the account (root → OUs →
account). Where it may not, the file says so and the export goes on. The file is what a later
``pytest --snapshot FILE`` reads; ``.gz`` names are gzip-compressed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from verification import __version__
from verification.errors import CheckError, InputError
from verification.safety import readonly
from verification.snapshot.model import FORMAT

#: Error codes of a caller that may not make the call.
_DENIED = ("AccessDenied", "AccessDeniedException")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``snapshot export``; print one line on success, one line on failure; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m verification snapshot", description="Account snapshots for offline verification."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="save get-account-authorization-details, the caller and SCPs")
    export.add_argument("--out", required=True, type=Path, help="file to write (.json, or .json.gz)")
    export.add_argument("--aws-profile", help="AWS profile (default: the usual credential chain)")
    export.add_argument("--aws-region", help="AWS region for the clients (IAM is global)")
    export.add_argument("--endpoint-url", help="IAM/STS/Organizations endpoint, e.g. the local endpoint")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        path, roles, sha256 = export_snapshot(
            args.out, profile=args.aws_profile, region=args.aws_region, endpoint_url=args.endpoint_url
        )
    except InputError as error:
        print(f"snapshot export: {error}", file=sys.stderr)
        return 2
    except CheckError as error:
        print(f"snapshot export: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}: {roles} roles, sha256 {sha256}")
    return 0


def export_snapshot(
    out: Path,
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    session: boto3.Session | None = None,
) -> tuple[Path, int, str]:
    """Capture the account and write the snapshot; return (path, role count, SHA-256 of the file)."""
    try:
        session = session or boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound:
        raise InputError(f"AWS profile {profile!r} is not configured: check ~/.aws/config or --aws-profile") from None
    config = Config(
        region_name=session.region_name or "us-east-1",
        retries={"mode": "standard"},
        user_agent_extra=f"veeam-role-verification/{__version__}",
    )

    def client(service: str) -> Any:
        return readonly.client(session, service, endpoint_url=endpoint_url, config=config)

    captured_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    identity = _call("GetCallerIdentity", lambda: client("sts").get_caller_identity())
    account_id = str(identity["Account"])
    paginator = client("iam").get_paginator("get_account_authorization_details")
    details = _call("GetAccountAuthorizationDetails", lambda: paginator.paginate().build_full_result())
    details.pop("ResponseMetadata", None)
    scps, scp_note = capture_scps(client("organizations"), account_id)
    organization_id = capture_organization_id(client("organizations"))
    document = {
        "format": FORMAT,
        "captured_at": captured_at,
        "tool": f"veeam-role-verification {__version__}",
        "caller": {"Account": account_id, "Arn": identity["Arn"], "UserId": identity.get("UserId", "")},
        "account_id": account_id,
        "authorization_details": details,
        "scps": scps,
        "scp_note": scp_note,
        "organization_id": organization_id,
    }
    data = json.dumps(document, indent=1, default=_json_default).encode()
    if out.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    _write_atomically(out, data)
    return out, len(details.get("RoleDetailList", [])), hashlib.sha256(data).hexdigest()


def capture_organization_id(organizations: Any) -> str | None:
    """The account's organization id (its roles' ``aws:PrincipalOrgID``); None when it cannot be read."""
    try:
        return str(organizations.describe_organization()["Organization"]["Id"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, KeyError):
        return None


def capture_scps(organizations: Any, account_id: str) -> tuple[list[list[dict[str, Any]]] | None, str | None]:
    """The SCP levels root → OUs → account that apply to ``account_id``, and a note when there are none.

    Returns ``(None, note)`` when they cannot be read (the snapshot then says so), ``([], note)``
    when none apply (no organization, the management account, or consolidated billing only).
    """
    operation = "DescribeOrganization"
    try:
        organization = organizations.describe_organization()["Organization"]
        if organization.get("MasterAccountId") == account_id:
            return [], "the account is the organization's management account: SCPs do not apply to it"
        if organization.get("FeatureSet") != "ALL":
            return [], "the organization has consolidated billing only: SCPs do not apply"
        operation = "ListParents"
        targets = [account_id]
        parents = organizations.get_paginator("list_parents")
        while True:
            found = parents.paginate(ChildId=targets[-1]).build_full_result()["Parents"]
            if not found:
                break
            targets.append(found[0]["Id"])
            if found[0]["Type"] == "ROOT":
                break
        operation = "ListPoliciesForTarget"
        listing = organizations.get_paginator("list_policies_for_target")
        contents: dict[str, str] = {}
        levels: list[list[dict[str, Any]]] = []
        for target in reversed(targets):
            summaries = listing.paginate(TargetId=target, Filter="SERVICE_CONTROL_POLICY").build_full_result()
            level = []
            for summary in summaries["Policies"]:
                if summary["Id"] not in contents:
                    operation = "DescribePolicy"
                    described = organizations.describe_policy(PolicyId=summary["Id"])
                    contents[summary["Id"]] = described["Policy"]["Content"]
                level.append(
                    {
                        "Id": summary["Id"],
                        "Name": summary["Name"],
                        "Arn": summary["Arn"],
                        "Content": contents[summary["Id"]],
                    }
                )
            levels.append(level)
        return levels, None
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        if code == "AWSOrganizationsNotInUseException":
            return [], "the account is not in an organization: no SCPs apply"
        if code in _DENIED:
            return None, f"SCPs not captured: the caller may not read AWS Organizations ({code} on {operation})"
        return None, f"SCPs not captured: {operation} failed: {code}"
    except botocore.exceptions.BotoCoreError as error:
        return None, f"SCPs not captured: {operation} failed: {error}"


def _call(operation: str, function: Any) -> Any:
    """Run one API call (or pagination); a failure becomes CheckError with what to do."""
    try:
        return function()
    except botocore.exceptions.NoCredentialsError:
        raise CheckError("no AWS credentials found", "set AWS_PROFILE or --aws-profile") from None
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        if code in _DENIED:
            raise CheckError(
                f"{operation}: access denied", f"the exporting identity needs {_permission(operation)}"
            ) from None
        message = error.response.get("Error", {}).get("Message", "")
        raise CheckError(f"{operation}: {code}: {message}".rstrip(": ")) from None
    except botocore.exceptions.BotoCoreError as error:
        raise CheckError(f"{operation}: {error}") from None


def _permission(operation: str) -> str:
    return "sts:GetCallerIdentity" if operation == "GetCallerIdentity" else f"iam:{operation}"


def _json_default(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, so a failed export leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
