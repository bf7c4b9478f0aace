"""Where reading GAAD starts to pay: k verified roles of an account of N roles, per-role calls against fleet mode.

Per-role mode spends GetRole, ListInstanceProfilesForRole and two simulations per role; fleet mode
spends the account's GetAccountAuthorizationDetails pages (all N roles, whatever k is), one
simulation per role and one appliance simulation. Each case runs through the 50-100 ms latency proxy
(``tests/support/proxy.py``'s ``Meter``), one call at a time and paced at ``--rate`` per account, as
against AWS. The figures choose ``--prefetch auto``'s threshold (``AUTO_THRESHOLD``).

    python benchmarks/bench_prefetch_threshold.py [--account-roles 1000] [--rate 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import proxy as fp

ACCOUNT = "777777777777"


def seed(roles: int) -> None:
    """``roles`` worker roles straight in moto's backend (the endpoint is in this process)."""
    from moto.iam.models import iam_backends

    from verification.requirements import load_requirement_set

    actions = list(load_requirement_set().actions)
    policy = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    )
    appliance = f"arn:aws:iam::{ACCOUNT}:role/VeeamImpersonation"
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
                {"Effect": "Allow", "Principal": {"AWS": appliance}, "Action": "sts:AssumeRole"},
            ],
        }
    )
    backend = iam_backends[ACCOUNT]["aws"]
    backend.create_role("VeeamImpersonation", trust, "/", None, "", [], None)
    assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    backend.put_role_policy("VeeamImpersonation", "assume", json.dumps(assume))
    for number in range(roles):
        name = f"VeeamWorker{number:04d}"
        backend.create_role(name, trust, "/", None, "", [], None)
        backend.put_role_policy(name, "worker", policy)
        backend.create_instance_profile(name, "/", [name])


def measure(url: str, verified: int, prefetch: bool, rate: float) -> tuple[float, int]:
    """Seconds and IAM calls to gather ``verified`` roles' facts, one role after another."""
    from verification.backends import RoleRef
    from verification.backends.live import LiveBackend
    from verification.backends.prefetch import PrefetchBackend
    from verification.fleet.accounting import ApiCounter
    from verification.fleet.pacing import Pacer
    from verification.requirements import load_requirement_set
    from verification.verdicts import AppliancePrincipal, gather

    counter = ApiCounter()
    live = LiveBackend(
        endpoint_url=url,
        assume_role_arn=f"arn:aws:iam::{ACCOUNT}:role/RoleVerification",
        counter=counter,
        pacer=Pacer(rate),
    )
    appliance = AppliancePrincipal.parse(f"arn:aws:iam::{ACCOUNT}:role/VeeamImpersonation")
    refs = [RoleRef.parse(f"arn:aws:iam::{ACCOUNT}:role/VeeamWorker{n:04d}") for n in range(verified)]
    backend = PrefetchBackend(live, verified={appliance.role_arn or "": [r.arn for r in refs]}) if prefetch else live
    requirements = load_requirement_set()
    start = time.perf_counter()
    for ref in refs:
        facts = gather(backend, ref, requirements, appliance)
        assert not facts.errors, facts.errors
    seconds = time.perf_counter() - start
    return seconds, sum(n for op, n in counter.by_operation().items() if op.startswith("iam:"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--account-roles", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--verified", default="1,2,3,5,10")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    from verification.endpoint import start_endpoint

    with start_endpoint() as endpoint:
        seed(args.account_roles)
        measure(endpoint.url, 1, False, 0)  # moto builds the account's backends on first use
        meter = fp.Meter(0.05, 0.10)
        with fp.FaultProxy(endpoint.url, [fp.Rule("latency", lambda _: True, meter.effect())]) as proxy:
            print(f"account of {args.account_roles} roles; 50-100 ms per call; paced at {args.rate:g}/s")
            for verified in (int(k) for k in args.verified.split(",")):
                per_role = measure(proxy.url, verified, False, args.rate)
                fleet = measure(proxy.url, verified, True, args.rate)
                print(
                    f"{verified:>3} role(s): per-role {per_role[0]:6.2f} s, {per_role[1]:3d} IAM calls; "
                    f"fleet {fleet[0]:6.2f} s, {fleet[1]:3d} IAM calls; "
                    f"fleet/per-role time {fleet[0] / per_role[0]:.2f}"
                )


if __name__ == "__main__":
    main()
