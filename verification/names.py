"""The names a user gives: a role to verify, the caller, the appliance principal, the KMS key.

Each is parsed and checked here, once, with one clear line (``InputError``) when it is wrong. They
sit at the bottom of the layers (see ``ORDER`` in ``tests/test_layers.py``), so that every layer
that takes them (fleet targets, snapshots, backends, verdicts) reads them from below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from verification.errors import InputError
from verification.policy.model import Principal

__all__ = [
    "ACCOUNT_RE",
    "ACCOUNT_ROOT_RE",
    "APPLIANCE_ROLE_RE",
    "KMS_KEY_RE",
    "ROLE_ARN_RE",
    "AppliancePrincipal",
    "CallerIdentity",
    "KmsKey",
    "RoleRef",
]

ROLE_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>\d{12}):role/"
    r"(?P<path>(?:[\x21-\x7e]+/)*)?(?P<name>[\w+=,.@-]{1,64})$",
    re.ASCII,  # IAM names are ASCII: without this, \w would accept "Vééam"
)
# re.ASCII: IAM names and account ids are ASCII; Unicode \w and \d would let "Vééam" or "١٢٣..." through.
ACCOUNT_RE = re.compile(r"^\d{12}$", re.ASCII)
APPLIANCE_ROLE_RE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role/[\w+=,.@/-]{1,512}$", re.ASCII)
ACCOUNT_ROOT_RE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):root$", re.ASCII)
KMS_KEY_RE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):kms:([a-z0-9-]+):(\d{12}):key/([A-Za-z0-9-]{1,128})$", re.ASCII)


@dataclass(frozen=True)
class RoleRef:
    """A role named by ARN: the one thing a user gives to say what to verify."""

    arn: str
    partition: str
    account: str
    path: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> RoleRef:
        """Parse and check a role ARN; raise InputError saying what is wrong with it."""
        match = ROLE_ARN_RE.match(arn.strip())
        if match:
            path = "/" + (match["path"] or "")
            return cls(arn.strip(), match["partition"], match["account"], path, match["name"])
        if not arn.isascii():
            raise InputError(
                f"{arn!r} contains non-ASCII characters: IAM role names and paths are ASCII "
                "(letters, digits and +=,.@_-)"
            )
        if ":assumed-role/" in arn or arn.startswith("arn:aws:sts:"):
            raise InputError(
                f"{arn!r} is an assumed-role session, not a role: give the role's ARN, arn:aws:iam::ACCOUNT:role/NAME"
            )
        if re.match(r"^arn:[^:]+:iam::\d{12}:(user|group|policy|instance-profile)/", arn):
            raise InputError(f"{arn!r} is not a role ARN: give arn:aws:iam::ACCOUNT:role/NAME")
        if re.match(r"^arn:[^:]+:", arn) and not re.match(r"^arn:(aws|aws-cn|aws-us-gov):", arn):
            raise InputError(f"{arn!r} has an unknown partition: use aws, aws-cn or aws-us-gov")
        raise InputError(
            f"{arn!r} is not a role ARN: expected arn:aws:iam::ACCOUNT:role/NAME "
            "with a 12-digit account and a role name of at most 64 characters"
        )

    @property
    def label(self) -> str:
        """``account/name``: the readable test id of the role."""
        return f"{self.account}/{self.name}"


@dataclass(frozen=True)
class CallerIdentity:
    """Who the verifying identity is (sts:GetCallerIdentity, or what a snapshot recorded)."""

    account: str
    arn: str
    user_id: str = ""


@dataclass(frozen=True)
class AppliancePrincipal:
    """Who the backup appliance is: its Impersonation IAM role, or its AWS account."""

    value: str
    account: str
    role_arn: str | None

    @classmethod
    def parse(cls, value: str) -> AppliancePrincipal:
        """Accept a role ARN, an account id or an account root ARN; InputError otherwise."""
        value = value.strip()
        if ACCOUNT_RE.match(value):
            return cls(value, value, None)
        if match := ACCOUNT_ROOT_RE.match(value):
            return cls(value, match[2], None)
        if match := APPLIANCE_ROLE_RE.match(value):
            return cls(value, match[2], value)
        raise InputError(
            f"--appliance-principal {value!r} is neither a 12-digit account id nor a role ARN "
            "(arn:aws:iam::ACCOUNT:role/NAME of the appliance's Impersonation role)"
        )

    @property
    def principal(self) -> Principal:
        """The principal that calls sts:AssumeRole."""
        return Principal("AWS", self.role_arn or self.account)


@dataclass(frozen=True)
class KmsKey:
    """The KMS key the role works with (``--kms-key``): its key policy decides the ``kms:`` requirements too."""

    arn: str
    account: str

    @classmethod
    def parse(cls, value: str) -> KmsKey:
        """Accept a key ARN (an alias cannot be read with kms:GetKeyPolicy); InputError otherwise."""
        value = value.strip()
        if match := KMS_KEY_RE.match(value):
            return cls(value, match[3])
        raise InputError(
            f"--kms-key {value!r} is not a KMS key ARN: give arn:aws:kms:REGION:ACCOUNT:key/KEY-ID "
            "(an alias cannot be read with kms:GetKeyPolicy)"
        )
