"""Verify AWS IAM roles against documented requirement sets.

The layers, each a folder whose ``__init__`` says what it may import (``tests/test_layers.py`` checks):
- ``policy``: the IAM policy engine (pure Python: no boto3, pytest or Allure);
- ``requirements`` → ``backends`` (facts: live, snapshot) → ``verdicts``: the product's spine;
- ``reporting``: evidence, remediation, Allure categories, the HTML report;
- ``fleet``: targets, pacing, API accounting; ``safety``: read-only guard, redaction, size limits;
- ``snapshot``: account snapshot files; ``endpoint``: the local IAM endpoint (moto + the engine);
- ``plugin`` and ``suite``: the only modules that know pytest and Allure.
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
