"""From facts about a role to a verdict per requirement: met or not, why, and what to change.

Its layer's place in the one import rule: ``ORDER`` in ``tests/test_layers.py``. One module per
concern: ``model`` (the data), ``ask`` (asking a backend), ``rules`` and ``trust`` (the rules
and their wording), ``weigh`` (a template's possible accounts), ``remediation`` (the fix, proposed
and tried) and ``role`` (a role judged once: ``gather``, then ``judge_role``).
"""

from verification.names import AppliancePrincipal, KmsKey
from verification.verdicts.ask import request_context
from verification.verdicts.model import DEFAULT_REGION, Check, RoleFacts, Scope, Verdict
from verification.verdicts.role import NO_APPLIANCE, Judgement, Outcome, gather, judge_role, skip_reason
from verification.verdicts.rules import judge
from verification.verdicts.trust import trusted_roles

__all__ = [
    "DEFAULT_REGION",
    "NO_APPLIANCE",
    "AppliancePrincipal",
    "Check",
    "Judgement",
    "KmsKey",
    "Outcome",
    "RoleFacts",
    "Scope",
    "Verdict",
    "gather",
    "judge",
    "judge_role",
    "request_context",
    "skip_reason",
    "trusted_roles",
]
