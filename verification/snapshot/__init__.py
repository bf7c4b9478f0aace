"""Account snapshots: the output of ``aws iam get-account-authorization-details``, read from a file.

A snapshot lets auditors verify roles with no network and no credentials. One module per concern:
``load`` (reading snapshot and SCP files), ``export`` (``python -m verification snapshot export``).
This module only re-exports; the layer's place in the import rule is ``ORDER`` in
``tests/test_layers.py`` (see docs/architecture.md).
"""

from __future__ import annotations

from verification.snapshot.load import (
    DETAIL_LISTS,
    FORMAT,
    FORMAT_PREFIX,
    Snapshot,
    details_from_pages,
    load_scp_files,
    load_snapshot,
)

__all__ = [
    "DETAIL_LISTS",
    "FORMAT",
    "FORMAT_PREFIX",
    "Snapshot",
    "details_from_pages",
    "load_scp_files",
    "load_snapshot",
]
