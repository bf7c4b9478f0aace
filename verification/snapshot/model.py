"""What a loaded snapshot is (``Snapshot``), and the name of the export wrapper's format.

A snapshot is the output of ``aws iam get-account-authorization-details``, optionally wrapped by
``python -m verification snapshot export`` with the caller, a timestamp and the SCPs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verification.names import CallerIdentity

#: The ``format`` value of the export wrapper; the suffix is the version this code reads.
FORMAT = "veeam-role-verification/snapshot@1"
FORMAT_PREFIX = "veeam-role-verification/snapshot@"


@dataclass(frozen=True)
class Snapshot:
    """One loaded snapshot.

    ``details`` is the merged authorization-details document (all four lists always present).
    ``scps`` lists the SCP levels root → OUs → account as the exporter found them; None when they
    were not captured (``scp_note`` then says why), ``[]`` when none apply to the account.
    """

    path: Path
    sha256: str
    details: Mapping[str, Any]
    account_id: str | None = None
    caller: CallerIdentity | None = None
    captured_at: str | None = None
    scps: list[list[dict[str, Any]]] | None = None
    scp_note: str | None = None
    #: The account's organization (``aws:PrincipalOrgID`` of its roles' sessions), when the export saw it.
    organization_id: str | None = None

    @property
    def role_count(self) -> int:
        """How many roles the snapshot holds."""
        return len(self.details["RoleDetailList"])
