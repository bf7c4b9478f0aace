"""The IAM policy engine, written from the AWS documentation: parse → match → decide → explain.

Its layer's place in the one import rule: ``ORDER`` in ``tests/test_layers.py``.

It knows nothing of boto3, pytest or Allure. Public API (the contract other layers code against):

- ``parse_policy(source, *, policy_id, policy_type) -> Policy``: JSON text, URL-encoded JSON text,
  or a dict. Raises ``PolicyError`` naming the policy and the offending element; never guesses.
- ``evaluate(request, policies) -> Evaluation``: one decision in AWS's order (explicit deny in any
  layer; every SCP level must allow; the boundary must allow; identity or resource policy must allow).
- ``simulate(policies, actions, resources=("*",), context=Context()) -> list[Evaluation]``: one
  evaluation per action (and resource), as SimulatePrincipalPolicy does.
- ``evaluate_trust(trust, principal, *, role_arn, context=Context(), action="sts:AssumeRole")
  -> Evaluation``: may ``principal`` assume the role under this trust policy? The explanation says
  whether the caller's own identity policy must allow too (``requires_caller_allow``) and names
  dangling unique-id principals.
"""

from verification.policy.decide import evaluate, evaluate_trust, simulate
from verification.policy.errors import PolicyError
from verification.policy.model import (
    Context,
    Evaluation,
    Explanation,
    MatchedStatement,
    PolicySet,
    Position,
    Principal,
    Request,
)
from verification.policy.parse import Policy, parse_policy

__all__ = [
    "Context",
    "Evaluation",
    "Explanation",
    "MatchedStatement",
    "Policy",
    "PolicyError",
    "PolicySet",
    "Position",
    "Principal",
    "Request",
    "evaluate",
    "evaluate_trust",
    "parse_policy",
    "simulate",
]
