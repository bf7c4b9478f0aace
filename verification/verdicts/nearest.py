"""Say why an implicit deny happened when an Allow nearly applied, and what to change for that cause.

The engine (``Explanation.nearest``) names the Allow of the deciding layer that failed on the fewest
elements: condition tests that did not hold (the key, what the policy wanted, what the request
carried) or Resource patterns that did not cover the ARN judged. The fix follows from that cause:
verify in the region or with the value the policy expects, or widen that statement. It never
proposes adding the action as if the role lacked it: the role already allows it elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verification.policy.model import ConditionMiss, NearMiss

_REGION_KEY = "aws:requestedregion"
_EQUALS = ("StringEquals", "StringEqualsIgnoreCase", "ArnEquals", "NumericEquals", "DateEquals", "Bool", "BinaryEquals")
_LIKE = ("StringLike", "ArnLike")
_NOT_EQUALS = ("StringNotEquals", "StringNotEqualsIgnoreCase", "ArnNotEquals", "NumericNotEquals", "DateNotEquals")
_NOT_LIKE = ("StringNotLike", "ArnNotLike")


@dataclass(frozen=True)
class Nearly:
    """The reason and the fix a near miss gives, and the evidence that backs them."""

    reason: str
    remedy: str
    evidence: dict[str, Any]


def explain(near: NearMiss, action: str, requirement_resource: str, global_region: str | None = None) -> Nearly | None:
    """Reason and fix for an implicit deny whose nearest Allow is ``near``; None when it says nothing new.

    A near miss on absent keys only is the "allowed only when ... present" verdict the caller
    already gives; this handles values that differ and resources outside the statement's patterns.
    ``global_region``: the region every request of ``action`` names when its service is global (IAM:
    us-east-1 in the aws partition), whichever region the worker runs in.
    """
    present = [m for m in near.conditions if m.actual is not None]
    if not present and not near.resource_missed:
        return None
    statement = near.statement
    where = f"{statement.policy_id} ({statement.lines})"
    parts = []
    if near.conditions:
        parts.append("only when " + " and ".join(_wanted(m) for m in near.conditions))
    judged = [_carried(m, len(near.conditions) > 1) for m in near.conditions]
    if near.resource_missed:
        patterns = ", ".join(near.patterns)
        parts.append(f"to every resource except {patterns}" if near.not_resource else f"only to {patterns}")
        judged.append(near.resource)
    reason = (
        f"implicitly denied: the Allow in {where} applies {' and '.join(parts)}; this run judged {', '.join(judged)}"
    )
    fixes = [_condition_fix(m, where, action, global_region) for m in near.conditions]
    if near.resource_missed:
        fixes.append(
            f"widen the Resource of the Allow in {where} to cover {near.resource} "
            f"(the requirement is {action} on {requirement_resource})"
        )
    limits = "these limits" if len(fixes) > 1 else ("this condition" if near.conditions else "this Resource")
    them = "them" if len(fixes) > 1 else "it"
    remedy = "; ".join(fixes) + (
        f" (the role already allows {action} under {limits}: granting it again without {them} would widen it)"
    )
    evidence = {
        "NearestStatement": {
            "SourcePolicyId": statement.policy_id,
            "Lines": statement.lines,
            "Sid": statement.sid,
            "Conditions": [
                {
                    "Operator": m.operator,
                    "Key": m.key,
                    "PolicyValues": list(m.wanted),
                    "RequestValues": None if m.actual is None else list(m.actual),
                }
                for m in near.conditions
            ],
            "ResourcePatterns": list(near.patterns),
            "NotResource": near.not_resource,
            "ResourceJudged": near.resource,
        }
    }
    return Nearly(reason, remedy, evidence)


def _base(operator: str) -> tuple[str, str]:
    """(qualifier, operator without ``IfExists`` and set qualifier) of a condition operator."""
    qualifier, _, name = operator.rpartition(":")
    return qualifier, name.removesuffix("IfExists")


def _wanted(miss: ConditionMiss) -> str:
    """What the test asks for, in words: ``aws:RequestedRegion is eu-west-1``."""
    qualifier, name = _base(miss.operator)
    values = ", ".join(miss.wanted)
    several = len(miss.wanted) > 1
    if name == "Null":
        wants_absent = miss.wanted and miss.wanted[0].lower() == "true"
        return f"{miss.key} is {'absent' if wants_absent else 'present'}"
    if qualifier:
        return f"{miss.key} passes {miss.operator} {values}"
    if name in _EQUALS:
        return f"{miss.key} is {'one of ' if several else ''}{values}"
    if name in _LIKE:
        return f"{miss.key} matches {'one of ' if several else ''}{values}"
    if name in _NOT_EQUALS:
        return f"{miss.key} is not {values}"
    if name in _NOT_LIKE:
        return f"{miss.key} does not match {values}"
    return f"{miss.key} passes {miss.operator} {values}"


def _carried(miss: ConditionMiss, name_key: bool) -> str:
    """What the request carried for the key (``us-east-1``; ``no aws:SourceVpce`` when absent)."""
    if miss.actual is None:
        return f"no {miss.key}"
    values = ", ".join(miss.actual)
    return f"{miss.key} {values}" if name_key else values


def _condition_fix(miss: ConditionMiss, where: str, action: str, global_region: str | None) -> str:
    """Verify where the policy expects the worker to be, or widen the condition: never add the action."""
    _, name = _base(miss.operator)
    plain = name in _EQUALS and not any(c in v for v in miss.wanted for c in "*?$")
    widen = f"widen the condition on {miss.key} in {where}"
    carried = ", ".join(miss.actual) if miss.actual is not None else None
    if miss.key.lower() == _REGION_KEY and global_region is not None:
        service = action.split(":", 1)[0]
        return (
            f"{service} is a global service: its requests carry aws:RequestedRegion {global_region} wherever "
            f"the worker runs, so {widen} to include {global_region}"
        )
    widen_to = f"{widen} to include {carried}" if carried else widen
    if miss.key.lower() == _REGION_KEY and plain:
        regions = ",".join(miss.wanted)
        where_runs = miss.wanted[0] if len(miss.wanted) == 1 else f"one of {', '.join(miss.wanted)}"
        return f"if the worker runs in {where_runs}, verify with `--regions {regions}`; otherwise {widen_to}"
    if plain:
        return (
            f"if the worker's requests carry {miss.key} {miss.wanted[0]}, verify with "
            f"`--context {miss.key}={miss.wanted[0]}`; otherwise {widen_to}"
        )
    if miss.actual is None:
        supply = f"`--context {miss.key}=VALUE`"
        return f"if the worker's requests carry {miss.key}, give its value with {supply}; otherwise {widen}"
    return widen_to
