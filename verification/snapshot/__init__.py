"""Account snapshots: the output of ``aws iam get-account-authorization-details``, read from a file.

A snapshot lets auditors verify roles with no network and no credentials. One module per concern:
``model`` (``Snapshot`` and the export format's name), ``load`` (reading snapshot and SCP files),
``details`` (merging and checking the authorization-details document), ``export`` (``python -m
verification snapshot export``). This module only re-exports; the layer's place in the import rule
is ``ORDER`` in ``tests/test_layers.py`` (see docs/architecture.md).
"""

from __future__ import annotations

from verification.snapshot.details import DETAIL_LISTS
from verification.snapshot.load import details_from_pages, load_scp_files, load_snapshot
from verification.snapshot.model import FORMAT, FORMAT_PREFIX, Snapshot

__all__ = [
    "DETAIL_LISTS",
    "FORMAT",
    "FORMAT_PREFIX",
    "Snapshot",
    "details_from_pages",
    "load_scp_files",
    "load_snapshot",
]
