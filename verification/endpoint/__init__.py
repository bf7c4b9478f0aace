"""A local IAM endpoint: moto's server, with the Simulate* calls answered by our policy engine.

One module per concern: ``server`` (``start_endpoint``, ``Endpoint``), ``simulate`` (the Simulate*
calls answered by the engine), ``answer`` (their replies), ``seed`` (an account from a snapshot),
``organization`` (the demo organization), ``cli`` (``python -m verification endpoint``). This
module only re-exports; the layer's place in the import rule is ``ORDER`` in
``tests/test_layers.py`` (see docs/architecture.md).
"""

from __future__ import annotations

from verification.endpoint.server import Endpoint, start_endpoint

__all__ = ["Endpoint", "start_endpoint"]
