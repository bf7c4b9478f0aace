"""Managed policy documents for a template's roles: from the file, moto's copy of AWS's, or a snapshot.

Order: a policy the file itself declares; then, for AWS managed policies, the copy moto ships
(``moto/iam/aws_managed_policies.py``, whose newest ``UpdateDate`` dates it and is named in the
evidence); then a ``--snapshot`` of the account when given. A policy found nowhere stays
unresolved, and every requirement it could bear on is undecided.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any

from verification.backends.template.model import Document


class MotoCopy:
    """moto's bundled AWS managed policies, read by name on demand, and the copy's date.

    The module is read as text, not imported: importing it imports all of moto (about a second),
    and its one statement is a JSON document (a top-level object keyed by policy name, one key per
    line) in a triple-quoted string. A policy is decoded where its key starts; the copy is dated by
    the newest ``UpdateDate`` it holds.
    """

    def __init__(self, text: str, moto_version: str) -> None:
        self.text = text
        self.moto_version = moto_version
        self._decoder = json.JSONDecoder()
        self._found: dict[str, Mapping[str, Any] | None] = {}

    def get(self, name: str) -> Mapping[str, Any] | None:
        """The policy named ``name`` (with Document, Path, DefaultVersionId, UpdateDate), or None."""
        if name not in self._found:
            at = self.text.find(f'\n "{name}":')
            found = None
            if at >= 0:
                found, _ = self._decoder.raw_decode(self.text, self.text.index("{", at + len(name) + 4))
            self._found[name] = found if isinstance(found, Mapping) else None
        return self._found[name]

    @cached_property
    def newest_update(self) -> str:
        """The day of the newest policy update in the copy."""
        return max(re.findall(r'"UpdateDate":\s*"(\d{4}-\d{2}-\d{2})', self.text), default="unknown")

    @property
    def label(self) -> str:
        """Names the copy in evidence: moto's version and its newest policy update."""
        return f"moto {self.moto_version}'s copy of AWS managed policies (newest update {self.newest_update})"


@cache
def moto_copy() -> MotoCopy:
    """moto's copy, found once per process; empty when moto is not installed."""
    spec = importlib.util.find_spec("moto")
    if spec is None or not spec.submodule_search_locations:
        return MotoCopy("", "not installed")
    source = (Path(spec.submodule_search_locations[0]) / "iam" / "aws_managed_policies.py").read_text()
    return MotoCopy(source[source.index('"""') + 3 : source.rindex('"""')], version("moto"))


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
            policy = copy.get(name)
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
