"""The Condition element: every operator family, IfExists, ForAllValues/ForAnyValue, missing keys.

Contract (used by the decision pipeline):
- ``compile_condition(block, *, policy_id, allow_variables) -> CompiledCondition``; raises
  ``PolicyError(policy_id, "Condition/<operator>/<key>", message)`` on an unknown operator or a
  malformed block. Never skips what it does not understand: a skipped condition is a false allow.
- ``CompiledCondition.keys``: every condition key the block names, in the policy's spelling.
- ``CompiledCondition.evaluate(context) -> ConditionResult``: ``matched``; ``failed_keys`` (present
  but the test was false); ``missing_keys`` (absent, which made a positive operator false).
"""
