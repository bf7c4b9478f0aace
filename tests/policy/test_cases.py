"""Walk every engine case file (tests/policy/cases/*.yaml) through one parametrized test.

Each file cites the AWS documentation page its cases come from; each case gives the policies by
layer, one request, and what must come out (decision, deciding layer, reason, keys...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from verification.policy import (
    Context,
    Evaluation,
    PolicyError,
    PolicySet,
    Principal,
    Request,
    evaluate,
    evaluate_trust,
    parse_policy,
)
from verification.policy.parse import Policy

CASES = Path(__file__).parent / "cases"


def _load() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert str(data.get("source", "")).startswith("https://docs.aws.amazon.com/"), f"{path.name}: source"
        for case in data["cases"]:
            section = case.get("section")
            assert section is None or str(section).startswith("https://docs.aws.amazon.com/"), case["name"]
            params.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return params


def _policy(doc: Any, policy_id: str, policy_type: str) -> Policy:
    return parse_policy(doc, policy_id=policy_id, policy_type=policy_type)


def _principal(spec: dict[str, str] | str | None) -> Principal | None:
    if spec is None:
        return None
    if spec == "*":
        return Principal("*", "*")
    assert isinstance(spec, dict) and len(spec) == 1, f"principal must be one {{kind: id}}: {spec!r}"
    ((kind, value),) = spec.items()
    return Principal(kind, value)  # type: ignore[arg-type]


def _run(case: dict[str, Any]) -> Evaluation:
    policies = case.get("policies", {})
    request = case["request"]
    context = Context.of(request.get("context"))
    if "trust" in policies:
        principal = _principal(request.get("principal"))
        assert principal is not None, "a trust case needs request.principal"
        return evaluate_trust(
            _policy(policies["trust"], "trust", "trust"),
            principal,
            role_arn=request["role_arn"],
            context=context,
            action=request.get("action", "sts:AssumeRole"),
        )
    policy_set = PolicySet(
        identity=tuple(
            _policy(doc, f"PolicyInputList.{i}", "identity") for i, doc in enumerate(policies.get("identity", []), 1)
        ),
        boundary=_policy(policies["boundary"], "PermissionsBoundary", "boundary") if "boundary" in policies else None,
        scps=tuple(
            tuple(_policy(doc, f"SCP.{level}.{i}", "scp") for i, doc in enumerate(docs, 1))
            for level, docs in enumerate(policies.get("scps", []), 1)
        ),
        resource=_policy(policies["resource"], "ResourcePolicy", "resource") if "resource" in policies else None,
        principal_arn=request.get("principal_arn"),
    )
    return evaluate(
        Request(
            action=request["action"],
            resource=request.get("resource", "*"),
            principal=_principal(request.get("principal")),
            context=context,
        ),
        policy_set,
    )


@pytest.mark.parametrize("case", _load())
def test_case(case: dict[str, Any]) -> None:
    """The engine decides each documented example as the AWS documentation says."""
    expect = case["expect"]
    if "error" in expect:
        assert expect["error"] == "PolicyError"
        with pytest.raises(PolicyError) as raised:
            _run(case)
        if "element" in expect:
            assert expect["element"] in raised.value.element
        return
    result = _run(case)
    why = result.explanation
    assert result.decision == expect["decision"], why
    if "layer" in expect:
        assert why.layer == expect["layer"], why
    if "reason" in expect:
        assert why.reason == expect["reason"], why
    if "missing_context" in expect:
        assert sorted(k.lower() for k in result.missing_context) == sorted(k.lower() for k in expect["missing_context"])
    if "failed_keys" in expect:
        assert sorted(k.lower() for k in why.failed_condition_keys) == sorted(k.lower() for k in expect["failed_keys"])
    if "requires_caller_allow" in expect:
        assert why.requires_caller_allow == expect["requires_caller_allow"], why
    if "dangling_principals" in expect:
        assert list(why.dangling_principals) == expect["dangling_principals"]
    if "matched_sids" in expect:
        assert [m.sid for m in result.matched] == expect["matched_sids"]
    if "nearest" in expect:
        _check_nearest(result, expect["nearest"])
    if "scoped_deny_sids" in expect:
        assert [m.sid for m in why.scoped_denies] == expect["scoped_deny_sids"], why


def _check_nearest(result: Evaluation, expect: dict[str, Any] | None) -> None:
    """The implicit deny names the Allow that nearly applied, and exactly what kept it from applying."""
    near = result.explanation.nearest
    if expect is None:
        assert near is None, near
        return
    assert near is not None, result.explanation
    assert near.statement.sid == expect.get("sid"), near
    if "policy" in expect:
        assert near.statement.policy_id == expect["policy"], near
    misses = [
        {
            "key": m.key,
            "operator": m.operator,
            "wanted": list(m.wanted),
            "actual": None if m.actual is None else list(m.actual),
        }
        for m in near.conditions
    ]
    assert misses == expect.get("conditions", []), near
    assert list(near.patterns) == expect.get("patterns", []), near
    if "resource" in expect:
        assert near.resource == expect["resource"], near
