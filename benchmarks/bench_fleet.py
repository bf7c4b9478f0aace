"""Fleet mode against round-trips: 100 roles in 5 accounts through a proxy that adds 50-100 ms to every call.

Against AWS a run waits on round-trips, not on CPU. This benchmark puts a proxy in front of the
local endpoint (``tests/support/proxy.py``'s ``Meter``) that holds every call 50-100 ms, and runs the
same verification with ``--concurrency 1`` (one call at a time) and with ``--concurrency N``, in
fleet mode (``--prefetch always``) and in per-role mode (``--prefetch never``), each paced at
``--max-rate`` per account. The proxy tells accounts apart by the credentials that sign each call
and reports the busiest second of each account, which the pace must bound (rate + burst of 4).

Target: concurrency makes the run at least 3x faster, with the pace per account kept. This prints
figures; it asserts nothing.

    python benchmarks/bench_fleet.py [--roles 100] [--rate 5] [--concurrency 4] [--modes always,never]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.bench_scale import (  # noqa: E402
    ACCOUNTS,
    SUITE,
    Endpoint,
    Measured,
    basetemp,
    clean_env,
    items_of,
    run,
    write_targets,
)
from tests.support import proxy as fp  # noqa: E402

#: The token bucket's burst (verification.fleet.pacing.DEFAULT_BURST).
BURST = 4


def verify(folder: Path, url: str, rate: float, concurrency: int, prefetch: str) -> Measured:
    """The suite over every seeded role, one pattern entry per account, paced and through the proxy."""
    write_targets(folder)
    command = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider", "--targets", "targets.json"]
    command += ["--endpoint-url", url, "--alluredir", "allure-results", "-n", "0", "--max-rate", str(rate)]
    command += ["--concurrency", str(concurrency), "--prefetch", prefetch]
    return run(command + basetemp(folder), folder, clean_env())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5.0, help="--max-rate per account (default 5, as against AWS)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--modes", default="always,never", help="--prefetch modes to measure")
    parser.add_argument("--low", type=float, default=0.05)
    parser.add_argument("--high", type=float, default=0.10)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp, Endpoint(args.roles) as endpoint:
        folder = Path(tmp)
        latency = f"{args.low * 1000:.0f}-{args.high * 1000:.0f} ms"
        print(f"seeded {args.roles} roles in {len(ACCOUNTS)} accounts; latency {latency}")
        for mode in args.modes.split(","):
            for concurrency in (1, args.concurrency):
                meter = fp.Meter(args.low, args.high)
                with fp.FaultProxy(endpoint.url, [fp.Rule("latency", lambda _: True, meter.effect())]) as proxy:
                    measured = verify(folder / f"{mode}-c{concurrency}", proxy.url, args.rate, concurrency, mode)
                calls = sum(len(v) for v in meter.calls.values())
                output = (folder / f"{mode}-c{concurrency}" / "output.txt").read_text()
                waited = re.search(r"the tests waited ([\d.]+) s", output)
                busiest = max(meter.busiest(account) for account in ACCOUNTS)
                rows.append((mode, concurrency, measured, calls, busiest, float(waited[1]) if waited else 0.0))
                print(
                    f"--prefetch {mode} --concurrency {concurrency}: {measured.seconds:.1f} s, exit "
                    f"{measured.returncode}, {items_of(measured)} tests, {calls} calls, busiest second of an "
                    f"account {busiest} calls; the tests waited {rows[-1][5]:.1f} s for facts"
                )
                if measured.returncode not in (0, 1):
                    print(measured.tail)

    print()
    limit = BURST + args.rate
    for mode in args.modes.split(","):
        off = next(r for r in rows if r[0] == mode and r[1] == 1)
        on = next(r for r in rows if r[0] == mode and r[1] == args.concurrency)
        speedup = off[2].seconds / on[2].seconds
        print(
            f"--prefetch {mode}: concurrency {args.concurrency} {on[2].seconds:.1f} s against {off[2].seconds:.1f} s "
            f"one call at a time: {speedup:.2f}x (target >= 3x: {'within' if speedup >= 3 else 'UNDER'}); "
            f"{on[3]} calls; busiest second per account {on[4]} (pace {args.rate:g}/s + burst {BURST} = "
            f"{limit:g}: {'kept' if on[4] <= limit else 'EXCEEDED'})"
        )
        print(
            f"  waiting on round-trips: {on[5]:.1f} s against {off[5]:.1f} s ({off[5] / max(on[5], 0.01):.1f}x); "
            f"the rest of each run is pytest's own work on {items_of(on[2])} tests"
        )


if __name__ == "__main__":
    main()
