"""The request context of the worker's own calls: an EC2 instance-role session, as AWS sees it.

The worker calls AWS with the temporary credentials of its instance profile's role. Every such
request carries the keys below, with these values, and AWS's conditions are decided on them
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html). The
simulator knows none of them unless they are sent, and a missing key turns negated operators true
and positive ones false: so they are sent, each with its documented type.

Keys that only a real request knows (the source IP or VPC, resource and request tags...) are never
invented: a statement that turns on one is reported as such, and ``--context KEY=VALUE`` (or a
requirement's own ``context:``) supplies a value that is known.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from verification.errors import InputError
from verification.scope.catalogue import id_shape

#: ``ContextKeyType`` of the global keys whose type is not a single string (the documented types).
_TYPES = {
    "aws:currenttime": "date",
    "aws:epochtime": "numeric",
    "aws:multifactorauthpresent": "boolean",
    "aws:multifactorauthage": "numeric",
    "aws:securetransport": "boolean",
    "aws:viaawsservice": "boolean",
    "aws:principalisawsservice": "boolean",
    "aws:sourceip": "ip",
    "aws:vpcsourceip": "ip",
    "aws:tokenissuetime": "date",
    "aws:tagkeys": "stringList",
    "aws:calledvia": "stringList",
    "aws:principalorgpaths": "stringList",
    "aws:principalservicenameslist": "stringList",
    "aws:ec2instancesourceprivateipv4": "ip",
    "ec2:roledelivery": "numeric",
}
#: The multi-valued form of each single type, for a key given several values.
_LIST = {"string": "stringList", "numeric": "numericList", "boolean": "booleanList", "ip": "ipList", "date": "dateList"}

#: The session name an EC2 instance-role session carries: the instance id, unknown until it runs
#: (an example shaped as EC2's instance ids, ``fixtures/scope/resource-ids.json``).
EXAMPLE_INSTANCE_ID = id_shape("ec2", "InstanceId").example
#: Keys every request made with an EC2 instance's role credentials carries, with a value only the
#: worker's instance knows: its VPC, its private IPv4 address, and the credentials' delivery (1.0
#: through IMDSv1, 2.0 through IMDSv2), https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-ec2instancesourcevpc
#: and https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html#amazonec2-policy-keys.
#: A decision that turns on one of them "depends on" it, unless ``--context`` gives its value.
UNKNOWN_INSTANCE_KEYS = ("aws:EC2InstanceSourceVPC", "aws:EC2InstanceSourcePrivateIPv4", "ec2:RoleDelivery")
_KEY = re.compile(r"^[A-Za-z0-9-]+:[\x21-\x7e]+$", re.ASCII)


def context_type(key: str, values: Sequence[str]) -> str:
    """The ``ContextKeyType`` to send ``key`` with: single-valued keys as ``string``, booleans as ``boolean``..."""
    known = _TYPES.get(key.lower(), "string")
    if len(values) > 1 and not known.endswith("List"):
        return _LIST.get(known, "stringList")
    return known


def context_entries(context: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """``ContextEntries`` of a SimulatePrincipalPolicy request, each key with its type."""
    return [
        {"ContextKeyName": key, "ContextKeyValues": list(values), "ContextKeyType": context_type(key, values)}
        for key, values in context.items()
    ]


def session_context(
    role_arn: str,
    *,
    role_id: str = "",
    tags: Mapping[str, str] | None = None,
    org_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, tuple[str, ...]]:
    """The keys every request of the role's EC2 instance-role session carries, with their values.

    ``aws:userid`` is ``ROLEID:SESSION``; an instance-role session is named after the instance, so
    the session part is an example instance id. ``aws:MultiFactorAuthPresent`` is false: the
    credentials are temporary and no MFA was used. ``aws:PrincipalOrgID`` is sent only when known.
    """
    moment = now or datetime.now(UTC)
    parts = role_arn.split(":")
    account = parts[4] if len(parts) >= 6 else ""
    context: dict[str, tuple[str, ...]] = {
        "aws:CurrentTime": (moment.strftime("%Y-%m-%dT%H:%M:%SZ"),),
        "aws:EpochTime": (str(int(moment.timestamp())),),
        "aws:PrincipalArn": (role_arn,),
        "aws:PrincipalAccount": (account,),
        "aws:PrincipalType": ("AssumedRole",),
        "aws:MultiFactorAuthPresent": ("false",),
        "aws:ViaAWSService": ("false",),
        "aws:SecureTransport": ("true",),
        "aws:PrincipalIsAWSService": ("false",),
    }
    if role_id:
        context["aws:userid"] = (f"{role_id}:{EXAMPLE_INSTANCE_ID}",)
    for key, value in (tags or {}).items():
        context[f"aws:PrincipalTag/{key}"] = (value,)
    if org_id:
        context["aws:PrincipalOrgID"] = (org_id,)
    return context


def instance_context(partition: str, region: str, account: str) -> dict[str, tuple[str, ...]]:
    """The key a request made with instance credentials carries whose value is known in shape: the instance's ARN.

    ``ec2:SourceInstanceARN`` names the instance the credentials were delivered to: an example
    instance of the verified account, in the region the request is judged in.
    """
    arn = f"arn:{partition}:ec2:{region}:{account}:instance/{EXAMPLE_INSTANCE_ID}"
    return {"ec2:SourceInstanceARN": (arn,)}


def unknown_keys(known: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The instance credentials' keys whose value the run does not know (none given with ``--context``)."""
    given = {k.lower() for k in known}
    return tuple(k for k in UNKNOWN_INSTANCE_KEYS if k.lower() not in given)


def parse_context_option(text: str, *, option: str = "--context") -> tuple[str, str]:
    """``KEY=VALUE`` of ``--context``; InputError naming what is wrong."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not _KEY.match(key):
        raise InputError(f"{option} {text!r} is not KEY=VALUE with a condition key such as aws:SourceIp=192.0.2.10")
    if not value:
        raise InputError(f"{option} {text!r} gives {key} no value")
    if key.lower() == "aws:requestedregion":
        raise InputError(f"{option} {text!r}: name the regions with --regions R1,R2; each is judged on its own")
    return key, value


def run_context(pairs: Sequence[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """``--context`` pairs as a context: a key given twice has both values."""
    out: dict[str, list[str]] = {}
    spelled: dict[str, str] = {}
    for key, value in pairs:
        name = spelled.setdefault(key.lower(), key)
        out.setdefault(name, []).append(value)
    return {key: tuple(values) for key, values in out.items()}


def merge(*layers: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    """Contexts merged left to right, keys compared case-insensitively: a later layer's value wins.

    The order is the session's own keys, then the run's ``--context``, then a requirement's own
    ``context:``: what the user states about a request overrides what the harness assumes.
    """
    merged: dict[str, tuple[str, tuple[str, ...]]] = {}
    for layer in layers:
        for key, values in (layer or {}).items():
            merged[key.lower()] = (key, tuple(values))
    return dict(merged.values())


def requirement_context(requirement: Any) -> Mapping[str, Sequence[str]]:
    """A requirement's own ``context:`` (keys to values), or {} when it states none.

    The requirement-set schema gains ``context:`` (per-requirement known request values) in issue
    #16; until then no requirement has one. Read by attribute so either side can land first.
    """
    own = getattr(requirement, "context", None) or {}
    return {str(k): (v,) if isinstance(v, str) else tuple(str(x) for x in v) for k, v in dict(own).items()}
