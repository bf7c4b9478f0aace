"""The local IAM endpoint's server: moto's server, in a thread of this process, bound to 127.0.0.1 only.

``start_endpoint()`` starts one. moto keeps its state per process, so every endpoint in one process
sees the same accounts; ``Endpoint.reset()`` clears them. Starting an endpoint also makes moto load
AWS-managed policies (for this process), as every real account has them, and has the Simulate*
calls answered by our policy engine (``simulate``).
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from moto.core.config import default_user_config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from verification.endpoint import simulate

HOST = "127.0.0.1"


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without the one-line-per-request access log (errors still print)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class _Server(ThreadedMotoServer):
    """ThreadedMotoServer with a choice of request handler (moto hard-codes the noisy one)."""

    def __init__(self, port: int, *, quiet: bool) -> None:
        super().__init__(ip_address=HOST, port=port, verbose=False)
        self._handler = _QuietRequestHandler if quiet else MotoRequestHandler

    def start(self) -> None:
        """Bind first, in this thread, so that a busy port raises OSError here instead of hanging."""
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=self._handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="iam-endpoint", daemon=True)
        self._thread.start()
        self._server_ready_event.set()


class Endpoint:
    """A running endpoint: ``url`` for boto3's ``endpoint_url``; ``stop()`` or use it as a context."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        host, port = server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self._stopped = False

    def reset(self) -> None:
        """Forget every account, role, policy and organization (moto's own reset)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def stop(self) -> None:
        """Stop serving; safe to call twice."""
        if not self._stopped:
            self._stopped = True
            self._server.stop()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_endpoint(port: int = 0, *, seed: Mapping[str, Any] | None = None, quiet: bool = True) -> Endpoint:
    """Start moto's server on 127.0.0.1 (a free port when ``port`` is 0) and seed it if asked.

    ``seed`` is a merged ``get-account-authorization-details`` document; its roles and policies are
    created in the account its ARNs name.
    """
    # AWS-managed policies (arn:aws:iam::aws:policy/...) exist in every real account; moto loads them
    # only when asked, for accounts whose state is created after this.
    default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True
    simulate.install()
    server = _Server(port, quiet=quiet)
    server.start()
    endpoint = Endpoint(server)
    if seed is not None:
        from verification.endpoint.seed import seed_account

        try:
            seed_account(endpoint.url, seed)
        except BaseException:
            endpoint.stop()
            raise
    return endpoint
