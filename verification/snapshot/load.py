"""Reading snapshot and SCP files: plain or gzip-compressed JSON, in every form the AWS CLI or the exporter writes.

``load_snapshot`` accepts one API response, a list of response pages, the merged output the AWS
CLI writes, or the wrapper ``python -m verification snapshot export`` writes (which adds the
caller, a timestamp and the SCPs). Every fault is an ``InputError`` of one line naming the file and
the fault.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from verification.errors import InputError
from verification.names import CallerIdentity
from verification.snapshot.details import Fault, account_of, check_scp, merge_details
from verification.snapshot.model import FORMAT, FORMAT_PREFIX, Snapshot


def load_snapshot(path: Path) -> Snapshot:
    """Read, check and merge a snapshot file; raise InputError with one line on any fault."""
    path = Path(path)

    def fault(message: str) -> InputError:
        return InputError(f"snapshot {path}: {message}")

    raw = _read_bytes(path, fault)
    data = _parse_json(raw, fault)
    sha256 = hashlib.sha256(raw).hexdigest()
    if isinstance(data, Mapping) and "format" in data:
        return _from_wrapper(data, path=path, sha256=sha256, fault=fault)
    details = merge_details(data, fault)
    return Snapshot(path=path, sha256=sha256, details=details, account_id=account_of(details))


def details_from_pages(pages: Any, source: str) -> dict[str, Any]:
    """GetAccountAuthorizationDetails pages (as botocore returns them) merged and checked like a snapshot file.

    The live fleet mode reads an account with the same checks an offline run applies; a fault is an
    ``InputError`` naming ``source``.
    """

    def fault(message: str) -> InputError:
        return InputError(f"{source}: {message}")

    return merge_details(list(pages), fault)


def load_scp_files(paths: Iterable[Path]) -> list[list[dict[str, Any]]]:
    """Read SCP files, one organization level each (root → OUs → account).

    A file holds one SCP document or a list of them (the SCPs attached at that level). A document
    may also be Organizations' ``{"PolicySummary": ..., "Content": "..."}`` or the exporter's
    ``{"Name", "Id", "Content"}`` form.
    """
    levels: list[list[dict[str, Any]]] = []
    for path in paths:
        path = Path(path)

        def fault(message: str, path: Path = path) -> InputError:
            return InputError(f"SCP file {path}: {message}")

        data = _parse_json(_read_bytes(path, fault), fault)
        documents = data if isinstance(data, list) else [data]
        if not documents:
            raise fault("the list is empty: give at least one SCP (FullAWSAccess allows everything)")
        levels.append(
            [
                check_scp(document, f"[{i}]" if isinstance(data, list) else "the document", fault)
                for i, document in enumerate(documents)
            ]
        )
    return levels


def _read_bytes(path: Path, fault: Fault) -> bytes:
    """The file's bytes, gunzipped when they are gzip (by content, not by name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fault("no such file") from None
    except IsADirectoryError:
        raise fault("is a directory, not a file") from None
    except OSError as error:
        raise fault(f"cannot read: {error.strerror}") from None
    return raw


def _parse_json(raw: bytes, fault: Fault) -> Any:
    """Decode (gunzip if needed) and parse JSON, naming the position of a syntax fault."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError:
            raise fault("truncated: the gzip stream ends early") from None
        except (gzip.BadGzipFile, zlib.error) as error:
            raise fault(f"not a valid gzip file ({error})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise fault(f"not JSON: not UTF-8 text (byte {error.start})") from None
    if not text.strip():
        raise fault("empty: expected JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        if error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated"):
            raise fault(f"truncated: the JSON ends before the document is complete ({where})") from None
        raise fault(f"not JSON: {error.msg} at {where}") from None


def _from_wrapper(data: Mapping[str, Any], *, path: Path, sha256: str, fault: Fault) -> Snapshot:
    """Read the exporter's wrapper: authorization details plus caller, timestamp and SCPs."""
    form = data["format"]
    if not isinstance(form, str) or not form.startswith(FORMAT_PREFIX):
        raise fault(f"format {form!r} is not a snapshot format this tool knows ({FORMAT})")
    if form != FORMAT:
        raise fault(f"format {form!r} is newer than this tool reads ({FORMAT}): upgrade the tool")
    if "authorization_details" not in data:
        raise fault("authorization_details: missing")
    details = merge_details(data["authorization_details"], fault, where="authorization_details")

    caller = None
    raw_caller = data.get("caller")
    if raw_caller is not None:
        if not isinstance(raw_caller, Mapping) or not isinstance(raw_caller.get("Arn"), str):
            raise fault("caller: expected an object with Account, Arn and UserId")
        caller = CallerIdentity(
            account=str(raw_caller.get("Account", "")),
            arn=raw_caller["Arn"],
            user_id=str(raw_caller.get("UserId", "")),
        )
    for key in ("account_id", "captured_at", "scp_note", "organization_id"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise fault(f"{key}: expected a string")

    scps: list[list[dict[str, Any]]] | None = None
    raw_scps = data.get("scps")
    if raw_scps is not None:
        if not isinstance(raw_scps, list) or not all(isinstance(level, list) for level in raw_scps):
            raise fault("scps: expected a list of organization levels, each a list of SCPs")
        scps = [
            [check_scp(scp, f"scps[{i}][{j}]", fault) for j, scp in enumerate(level)]
            for i, level in enumerate(raw_scps)
        ]
    return Snapshot(
        path=path,
        sha256=sha256,
        details=details,
        account_id=data.get("account_id") or account_of(details),
        caller=caller,
        captured_at=data.get("captured_at"),
        scps=scps,
        scp_note=data.get("scp_note"),
        organization_id=data.get("organization_id"),
    )
