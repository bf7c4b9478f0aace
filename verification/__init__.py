"""Verify AWS IAM roles against documented requirement sets.

Layers, with arrows pointing one way:
- ``verification.policy``: the IAM policy engine (pure Python, no boto3, pytest or Allure);
- ``verification.backends``: where facts about a role come from (live boto3, or an account snapshot);
- ``verification.endpoint``: a local IAM endpoint (moto plus the engine for the Simulate* calls);
- ``verification.plugin`` and ``verification.suite``: the only modules that know pytest and Allure.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The checkout's ``fixtures/`` folder: bundled requirement sets, the demo account, the verifier's policy.
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
