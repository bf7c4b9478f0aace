"""Managed policy documents for a template's roles: from the file, moto's copy of AWS's, or a snapshot.

Order: a policy the file itself declares; then, for AWS managed policies, the copy moto ships
(``moto/iam/aws_managed_policies.py``, whose newest ``UpdateDate`` dates it and is named in the
evidence); then a ``--snapshot`` of the account when given. A policy found nowhere stays
unresolved, and every requirement it could bear on is undecided.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version
from typing import Any

from verification.backends.template.model import Document


@dataclass(frozen=True)
class MotoCopy:
    """moto's bundled AWS managed policies: by name, with their paths, and the copy's date."""

    policies: Mapping[str, Mapping[str, Any]]
    moto_version: str
    newest_update: str

    @property
    def label(self) -> str:
        """Names the copy in evidence: moto's version and its newest policy update."""
        return f"moto {self.moto_version}'s copy of AWS managed policies (newest update {self.newest_update})"


@cache
def moto_copy() -> MotoCopy:
    """Load moto's copy once per process (4.7 MB of JSON: only when an AWS managed ARN is met)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, Mapping[str, Any]] = json.loads(aws_managed_policies_data)
    newest = max((str(p.get("UpdateDate", "")) for p in data.values()), default="")
    return MotoCopy(data, version("moto"), newest[:10])


@dataclass
class ManagedPolicies:
    """Resolves managed policy ARNs to documents, remembering which source answered each."""

    declared: dict[str, Document] = field(default_factory=dict)
    snapshot: Any = None
    used: dict[str, str] = field(default_factory=dict)

    def lookup(self, arn: str, where: str) -> Document | None:
        """The policy's document, or None when no source holds it."""
        found = self.declared.get(arn)
        if found is not None:
            self.used[arn] = "the file"
            return found
        parts = arn.split(":", 5)
        if len(parts) == 6 and parts[4] == "aws" and parts[5].startswith("policy/"):
            copy = moto_copy()
            path_name = parts[5][len("policy") :]
            name = path_name.rsplit("/", 1)[-1]
            policy = copy.policies.get(name)
            if policy is not None and str(policy.get("Path", "/")) + name == path_name:
                self.used[arn] = copy.label
                return Document(name, policy["Document"], where)
        if self.snapshot is not None:
            from verification.policy.account import AccountError, decode_document

            try:
                document = self.snapshot.managed_document(arn, used_by=where)
            except AccountError:
                return None
            self.used[arn] = "the --snapshot"
            return Document(arn.rsplit("/", 1)[-1], decode_document(document), where)
        return None
