"""The demo: the bundled account on a local IAM endpoint, started here (or joined on an xdist worker)."""

from __future__ import annotations

import json

import pytest

from verification.errors import InputError
from verification.plugin.run import DEMO_FILE, Run

MISSING_EXTRA = (
    "--demo needs the local IAM endpoint, which needs moto's server: pip install 'veeam-role-verification[demo]'"
)


def start_demo_endpoint(config: pytest.Config, run: Run) -> None:
    """Start (or, on an xdist worker, join) the demo's local IAM endpoint and point the run at it."""
    import boto3

    worker_input = getattr(config, "workerinput", None)
    if worker_input and worker_input.get("verification_endpoint"):
        url = worker_input["verification_endpoint"]
    else:
        try:
            from verification.endpoint import start_endpoint
        except ImportError as error:
            if (error.name or "").split(".")[0] in ("moto", "flask", "werkzeug", "flask_cors"):
                raise InputError(MISSING_EXTRA) from None
            raise
        account = json.loads((DEMO_FILE.parent / "account.json").read_text())
        run.endpoint = start_endpoint(0, seed=account)
        url = run.endpoint.url
    # Demo credentials are fixed dummies for the local endpoint; the user's own are never used or needed.
    session = boto3.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name="us-east-1")
    run.connections["default"].update(endpoint_url=url, session=session)
    run.source = f"demo: local IAM endpoint at {url} seeded from fixtures/demo/account.json"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the demo endpoint."""
    from verification.plugin.run import RUN_KEY

    run = config.stash.get(RUN_KEY, None)
    if run is not None and run.endpoint is not None:
        run.endpoint.stop()
