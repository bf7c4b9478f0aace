"""``python -m verification endpoint --port N [--seed SNAPSHOT]``: serve the local IAM endpoint.

Prints one line with the URL once it accepts requests, then serves until SIGINT or SIGTERM and
exits 0. A bad seed file is one line on stderr naming the file and the fault, and exit status 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from verification.endpoint import start_endpoint
from verification.endpoint.seed import SeedError
from verification.errors import InputError
from verification.snapshot import load_snapshot


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m verification endpoint",
        description="Local IAM endpoint on 127.0.0.1: moto, with Simulate* answered by the policy engine.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: 0, a free port)")
    parser.add_argument(
        "--seed",
        type=Path,
        metavar="SNAPSHOT",
        help="account snapshot to load (output of `aws iam get-account-authorization-details`)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str]) -> int:
    """Run the endpoint until SIGINT or SIGTERM; 0 on a clean stop, 2 on bad input."""
    args = _parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"endpoint: --port {args.port} is not a TCP port (0-65535)", file=sys.stderr)
        return 2
    details = None
    if args.seed is not None:
        try:
            details = load_snapshot(args.seed).details
        except InputError as error:
            print(f"endpoint: {error}", file=sys.stderr)
            return 2

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            endpoint = start_endpoint(args.port, seed=details, quiet=not args.verbose)
        except SeedError as error:
            print(f"endpoint: seed {args.seed}: {error}", file=sys.stderr)
            return 2
        except OSError as error:
            print(f"endpoint: cannot listen on 127.0.0.1:{args.port}: {error.strerror}", file=sys.stderr)
            return 2
        with endpoint:
            print(f"IAM endpoint ready at {endpoint.url}", flush=True)
            while not stop.wait(timeout=1.0):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
