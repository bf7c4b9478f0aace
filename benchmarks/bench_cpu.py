"""The runner's own CPU per role against a bare pytest+Allure run of as many items, in alternation.

The runner is the pytest process and its xdist workers: their user + system CPU time, from
``os.wait4`` on the pytest subprocess (its waited-for workers included). The local endpoint (AWS's
side of each call) is a separate process and is not counted; its CPU time is printed beside.

Each repeat runs the verification and then the bare baseline (trivial parametrized tests written to
Allure, our plugin not loaded) with the same number of items and the same ``-n``, for every ``-n``
asked; the ratio of each pair, their median and spread are printed. With ``--compare-parser`` each
repeat also runs the verification with botocore's own parser for the simulation reply
(``VERIFICATION_BOTOCORE_PARSER=1``), so the fast reader's gain is measured in the same alternation.

``--profile`` instead runs one verification with ``-n 0`` under cProfile and prints where the
pytest process's CPU goes, grouped by package (and garbage collection, timed by ``gc.callbacks``).

Target (issue 27): at most 1.5x at 200 and at 1,000 roles, with and without xdist. A benchmark that
prints figures, not a timed test.

    python benchmarks/bench_cpu.py [--roles 200] [--workers 0 2] [--repeat 3] [--compare-parser]
    python benchmarks/bench_cpu.py --roles 200 --profile
"""

from __future__ import annotations

import argparse
import pstats
import statistics
import sys
import tempfile
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_scale  # a sibling script (benchmarks/ is a namespace package)
from benchmarks.bench_scale import SUITE, Endpoint, Measured, baseline, basetemp, clean_env, items_of, run

#: A pytest plugin, written next to the run: cProfile in every thread of the pytest process, and
#: garbage collection timed by ``gc.callbacks``. (``python -m cProfile`` would see the main thread
#: only, not the threads that fetch and read replies.) cProfile's clock is the wall clock (a CPU clock
#: per call made the run seven times slower): time spent waiting (locks, sockets, sleeps) is counted
#: apart by ``report``.
PROFILER = """
import cProfile, gc, threading, time

profilers = [cProfile.Profile()]
_gc = [0.0, 0.0, 0]


def _start_in_thread(*_):
    profiler = cProfile.Profile()
    profilers.append(profiler)
    profiler.enable()  # replaces this hook in the new thread


def _time_gc(phase, info):
    if phase == "start":
        _gc[0] = time.thread_time()
    else:
        _gc[1] += time.thread_time() - _gc[0]
        _gc[2] += 1


def pytest_configure(config):
    gc.callbacks.append(_time_gc)
    threading.setprofile(_start_in_thread)
    profilers[0].enable()


def pytest_unconfigure(config):
    threading.setprofile(None)
    profilers[0].disable()
    for number, profiler in enumerate(profilers):
        profiler.create_stats()
        profiler.dump_stats(f"run-{number}.prof")
    with open("gc-seconds.txt", "w") as out:
        out.write(f"{_gc[1]} {_gc[2]}")
"""

#: Where a function's file lies -> the group its CPU time is counted under (first match wins).
GROUPS = (
    ("botocore/parsers.py", "botocore: parsing replies"),
    ("verification/backends/fast_reply.py", "ours: the fast simulation reader"),
    ("botocore", "botocore: the rest (signing, events, retries)"),
    ("urllib3", "HTTP (urllib3, http.client, socket, ssl)"),
    ("http/client.py", "HTTP (urllib3, http.client, socket, ssl)"),
    ("socket.py", "HTTP (urllib3, http.client, socket, ssl)"),
    ("xml/etree", "XML (ElementTree)"),
    ("allure_pytest", "allure-pytest"),
    ("allure_commons", "allure-pytest"),
    ("_pytest", "pytest and pluggy"),
    ("pluggy", "pytest and pluggy"),
    ("verification/policy", "ours: the engine (double entry)"),
    ("verification/reporting", "ours: reporting and evidence"),
    ("verification/verdicts", "ours: verdicts"),
    ("verification/suite", "ours: the suite's tests"),
    ("verification/plugin", "ours: the plugin"),
    ("verification/backends", "ours: backends (reading answers, prefetch)"),
    ("verification/fleet", "ours: fleet (fetching ahead, pacing, counting calls)"),
    ("verification/requirements", "ours: requirement sets"),
    ("verification", "ours: other"),
    ("json", "json"),
    ("gzip", "compression"),
    ("zlib", "compression"),
    ("threading.py", "threads (waiting, locks)"),
    ("queue.py", "threads (waiting, locks)"),
    ("concurrent/futures", "threads (waiting, locks)"),
)


def ours(folder: Path, url: str, workers: int, *, botocore_parser: bool = False, only: str | None = None) -> Measured:
    """The suite over every seeded role (or the tests ``-k only`` selects), as ``bench_scale.verification`` runs it."""
    bench_scale.write_targets(folder)
    command = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider"]
    command += ["--targets", "targets.json", "--endpoint-url", url, "--alluredir", "allure-results"]
    command += ["-n", str(workers), *(["-k", only] if only else [])]
    env = clean_env()
    if botocore_parser:
        env["VERIFICATION_BOTOCORE_PARSER"] = "1"
    return run(command + basetemp(folder), folder, env)


def spread(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}x" for v in sorted(values))


def measure(args: argparse.Namespace) -> None:
    from verification.requirements import load_requirement_set

    items = args.roles * len(load_requirement_set().requirements)
    with tempfile.TemporaryDirectory() as tmp, Endpoint(args.roles) as endpoint:
        folder = Path(tmp)
        print(f"seeded {args.roles} roles in {len(bench_scale.ACCOUNTS)} accounts in {endpoint.seconds:.1f} s")
        # Not measured: one role verified first, so that Python's bytecode and pytest's rewritten
        # modules are cached (as an installed wheel's are) before the first measured run.
        warm = ours(folder / "warm-up", endpoint.url, 0, only="VeeamWorker0000")
        said = (warm.tail.strip().splitlines() or ["no output"])[-1].strip("= ")
        print(f"warm-up, one role, not measured: {said}")
        kinds = ["fast"] + (["botocore"] if args.compare_parser else [])
        cpu: dict[tuple[int, str], list[float]] = defaultdict(list)
        wall: dict[tuple[int, str], list[float]] = defaultdict(list)
        for rep in range(args.repeat):
            for workers in args.workers:
                runs: dict[str, Measured] = {}
                for kind in kinds:
                    name = f"{kind}-n{workers}-{rep}"
                    before = endpoint.cpu_seconds()
                    runs[kind] = ours(folder / name, endpoint.url, workers, botocore_parser=kind == "botocore")
                    spent = endpoint.cpu_seconds() - before
                    got = items_of(runs[kind])
                    print(
                        f"[{rep}] -n {workers} {kind:8}: {runs[kind].cpu_seconds:6.1f} CPU-s "
                        f"({runs[kind].cpu_seconds / args.roles * 1000:.0f} ms per role), wall "
                        f"{runs[kind].seconds:.1f} s, {got} tests, exit {runs[kind].returncode}; "
                        f"endpoint {spent:.1f} CPU-s",
                        flush=True,
                    )
                    if got != items:
                        print(f"  expected {items} tests; output tail:\n{runs[kind].tail}")
                bare = baseline(folder / f"bare-n{workers}-{rep}", items, workers)
                print(
                    f"[{rep}] -n {workers} bare    : {bare.cpu_seconds:6.1f} CPU-s "
                    f"({bare.cpu_seconds / args.roles * 1000:.0f} ms per role's items), wall {bare.seconds:.1f} s",
                    flush=True,
                )
                for kind, measured in runs.items():
                    cpu[(workers, kind)].append(measured.cpu_seconds / bare.cpu_seconds)
                    wall[(workers, kind)].append(measured.seconds / bare.seconds)
            summary(args.roles, items, rep + 1, cpu, wall)  # after each repeat: a stopped run still says something


def summary(
    roles: int,
    items: int,
    repeats: int,
    cpu: dict[tuple[int, str], list[float]],
    wall: dict[tuple[int, str], list[float]],
) -> None:
    print()
    print(f"roles: {roles}; items: {items}; {repeats} alternating repeat(s)")
    for (workers, kind), ratios in cpu.items():
        reader = "fast reader" if kind == "fast" else "botocore's parser"
        median = statistics.median(ratios)
        print(
            f"-n {workers}, {reader}: runner CPU median {median:.2f}x the bare run ({spread(ratios)}); "
            f"wall median {statistics.median(wall[(workers, kind)]):.2f}x ({spread(wall[(workers, kind)])}); "
            f"target <= 1.5x: {'within' if median <= 1.5 else 'OVER'}"
        )


def profile(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, nullcontext() if args.bare else Endpoint(args.roles) as endpoint:
        folder = Path(tmp) / "profiled"
        (Path(tmp) / "cpu_profiler.py").write_text(PROFILER)
        if args.bare:  # the baseline under the same profiler: what ours adds is the difference
            from verification.requirements import load_requirement_set

            folder.mkdir()
            items = args.roles * len(load_requirement_set().requirements)
            (folder / "pytest.ini").write_text("[pytest]\n")
            (folder / "test_trivial.py").write_text(
                f"import pytest\n\n\n@pytest.mark.parametrize('n', range({items}))\ndef test_trivial(n):\n"
                "    assert n >= 0\n"
            )
            command = [sys.executable, "-m", "pytest", "test_trivial.py", "-q", "-p", "no:cacheprovider"]
            command += ["-p", "no:role_verification", "-p", "cpu_profiler", "--alluredir", "allure-results"]
        else:
            assert endpoint is not None
            bench_scale.write_targets(folder)
            command = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider", "-p", "cpu_profiler"]
            command += ["--targets", "targets.json", "--endpoint-url", endpoint.url, "--alluredir", "allure-results"]
        command += ["-n", "0"]
        env = clean_env()
        env["PYTHONPATH"] = tmp  # where -p finds the profiler
        if args.botocore_parser:
            env["VERIFICATION_BOTOCORE_PARSER"] = "1"
        if args.py_spy:
            at = command.index("cpu_profiler")
            del command[at - 1 : at + 1]  # "-p cpu_profiler": py-spy samples instead
            samples = folder / "py-spy.txt"
            command = [
                str(Path(args.py_spy).resolve()),
                "record",
                "--gil",
                "--format",
                "raw",
                "-r",
                "100",
                "-o",
                str(samples),
                "--",
                *command,
            ]
            measured = run(command + basetemp(folder), folder, env)
            print(f"sampled -n 0 at {args.roles} roles: {measured.cpu_seconds:.1f} CPU-s, exit {measured.returncode}")
            sampled(samples.read_text(), args.roles)
            return
        measured = run(command + basetemp(folder), folder, env)
        print(
            f"profiled -n 0 at {args.roles} roles "
            f"({'the bare baseline' if args.bare else 'botocore reader' if args.botocore_parser else 'fast reader'}): "
            f"{measured.cpu_seconds:.1f} CPU-s under the profiler, exit {measured.returncode}, "
            f"{items_of(measured)} tests"
        )
        files = sorted(folder.glob("run-*.prof"))
        stats = pstats.Stats(str(files[0]))
        for more in files[1:]:
            stats.add(str(more))
        gc_seconds, collections = (folder / "gc-seconds.txt").read_text().split()
        report(stats, args.roles, float(gc_seconds), int(collections), len(files))


#: Groups that are the standard library's: a sample there is counted for the nearest package calling it.
STDLIB = frozenset({"json", "compression", "threads (waiting, locks)", "XML (ElementTree)"})


def sampled(raw: str, roles: int) -> None:
    """py-spy's samples of the thread holding the GIL (so Python's CPU work) per group of the innermost frame.

    A sample in the standard library (json, gzip, ElementTree, ...) or Python's own code is counted
    for the nearest caller that belongs to a package group, and says through what.
    """
    counts: dict[str, int] = defaultdict(int)
    total = 0
    for line in raw.splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        frames = [frame.rpartition("(")[2] for frame in stack.split(";")]
        groups = [group_of(frame) for frame in frames]
        leaf = groups[-1]
        owner = next((g for g in reversed(groups) if g is not None and g not in STDLIB), None)
        if leaf is None or leaf in STDLIB:
            label = f"{owner or 'Python itself'}, through {leaf or 'the standard library'}"
        else:
            label = leaf
        counts[label] += int(number)
        total += int(number)
    print(f"{total} samples at 100 a second ({total / 100 / roles * 1000:.0f} ms per role sampled)")
    for label, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        if count / total >= 0.002:
            print(f"  {label:78} {count / 100 / roles * 1000:6.1f} ms per role  {count / total:6.1%}")


#: C functions whose time is waiting, not work: lock acquisitions, sockets, sleeps.
WAITING = ("acquire", "'get' of '_queue", "poll", "select", "recv", "sleep", "'wait'", "connect", "accept")


def group_of(filename: str) -> str | None:
    return next((group for key, group in GROUPS if key in filename), None)


def report(stats: pstats.Stats, roles: int, gc_seconds: float, collections: int, threads: int) -> None:
    """Own CPU time per group, per role, and the heaviest functions.

    A C function's time (``~``: expat, the json encoder, zlib, file writes) is counted under the
    group of its Python callers, in proportion to what each caller spent in it.
    """
    groups: dict[str, float] = defaultdict(float)
    raw = stats.stats  # type: ignore[attr-defined]
    total = 0.0
    waiting = 0.0
    for (filename, _, _name), (_, _, tottime, _, callers) in raw.items():
        total += tottime
        group = group_of(filename)
        if group is not None:
            groups[group] += tottime
            continue
        if filename != "~":
            groups["other Python (stdlib and the rest)"] += tottime
            continue
        if any(word in _name for word in WAITING):
            waiting += tottime
            continue
        weights = {caller: spent[2] for caller, spent in callers.items()}
        whole = sum(weights.values())
        for caller, weight in weights.items():
            share = tottime * (weight / whole if whole else 1 / len(weights))
            groups[(group_of(caller[0]) or "other Python (stdlib and the rest)") + " (C)"] += share
        if not weights:
            groups["C functions, caller unknown"] += tottime
    total -= waiting
    print(
        f"profiled time in all ({threads} threads), waiting left out ({waiting:.1f} s): {total:.1f} s, "
        f"{total / roles * 1000:.0f} ms per role (the profiler's own overhead included: compare the shares)"
    )
    for group, seconds in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {group:58} {seconds:7.2f} s  {seconds / roles * 1000:6.1f} ms per role  {seconds / total:6.1%}")
    print(
        f"  {'garbage collection (gc.callbacks, main thread, within the above)':58} {gc_seconds:7.2f} s  "
        f"{gc_seconds / roles * 1000:6.1f} ms per role  ({collections} collections)"
    )
    print("heaviest functions by own CPU time:")
    stats.sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="xdist -n values to measure")
    parser.add_argument("--repeat", type=int, default=3, help="alternations of the verification and the bare run")
    parser.add_argument("--compare-parser", action="store_true", help="also run with botocore's own parser")
    parser.add_argument("--profile", action="store_true", help="profile one -n 0 run instead")
    parser.add_argument("--botocore-parser", action="store_true", help="with --profile: botocore's own parser")
    parser.add_argument("--bare", action="store_true", help="with --profile: the bare baseline of as many items")
    parser.add_argument("--py-spy", metavar="PATH", help="with --profile: sample with this py-spy instead of cProfile")
    args = parser.parse_args()
    if args.profile:
        profile(args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
