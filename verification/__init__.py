"""Verify AWS IAM roles against documented requirement sets.

The layers, bottom first (their ranked order, the one import rule, is ``ORDER`` in
``tests/test_layers.py``):
- ``errors``, ``policy`` (the IAM policy engine) and ``names`` (what a user gives: role ARNs, the
  appliance principal, the KMS key);
- ``scope`` → ``requirements`` → ``backends`` (facts: live, snapshot, template) → ``verdicts``: the
  product's spine, with ``safety`` (read-only guard, redaction, size limits), ``fleet`` (targets,
  pacing, API accounting) and ``snapshot`` (account snapshot files) beneath the backends;
- ``reporting``: evidence, remediation, Allure categories, the HTML report;
- ``endpoint``: the local IAM endpoint (moto + the engine);
- ``plugin`` and ``suite``: the pytest plugin and the verification suite.
"""

from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path

try:
    __version__ = version("veeam-role-verification")
except PackageNotFoundError:  # pragma: no cover - run from a source tree that was never installed
    __version__ = "0+unknown"

#: The bundled data (``fixtures/`` in the repository, ``verification/fixtures`` in the wheel):
#: requirement sets, the demo account, the verifier's policy. In the checkout
#: ``verification/fixtures`` is a symbolic link to ``fixtures/``, resolved here so that paths name the
#: one copy.
FIXTURES = Path(str(files("verification.fixtures"))).resolve()
