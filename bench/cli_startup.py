"""Wall time of minting a simulated tap from the command line, start-up included: ``aftertap-tap
SERIAL`` against its 0.5 s target, and ``flask --app wsgi tags tap SERIAL`` (the same URL, after
building the whole app) beside it.

    .venv/bin/python bench/cli_startup.py [--serial BAG-0001] [--runs 10] [--target 0.5]

Each call is a fresh process, timed from spawn to exit, as a person or a script calling the
command sees it. Needs an instance with the demo seeded (``make run``, or its first four steps).
Bytecode is cached as in a deployed install: the environment may say
``PYTHONDONTWRITEBYTECODE``, so the calls write theirs to a temporary directory
(``PYTHONPYCACHEPREFIX``, nothing is written to the tree) and one untimed call fills it first;
``--no-bytecode-cache`` times the compile-every-time case instead. The floor line times
``import flask, sqlalchemy.orm`` alone, to read the figures against the machine's load; CPU
seconds (user + system, of the process) move less with the load than wall time.
The last line times a web worker's start-up (``import wsgi``, built to serve), for information.
Exit status 1 when ``aftertap-tap``'s median misses the target.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLASK = Path(sys.executable).with_name("flask")
# `make install` installs it (pyproject.toml, [project.scripts]).
QUICK = Path(sys.executable).with_name("aftertap-tap")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: Sequence[str], env: Mapping[str, str]) -> tuple[float, float, str]:
    """Return the wall and CPU seconds of one call of ``argv`` in the project root, and its
    output.

    Raises:
        SystemExit: the call failed (its error is printed).
    """
    cpu, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=dict(env), capture_output=True, text=True,
                          check=False)
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}")
    return elapsed, cpu, done.stdout


def series(argv: Sequence[str], env: Mapping[str, str], runs: int) -> tuple[list[float],
                                                                            list[float]]:
    """Return the wall and the CPU seconds of ``runs`` calls, after an untimed one."""
    timed(argv, env)  # untimed: fills the bytecode cache
    calls = [timed(argv, env) for _ in range(runs)]
    return [wall for wall, _, _ in calls], [cpu for _, cpu, _ in calls]


def line(name: str, wall: list[float], cpu: list[float]) -> str:
    return (f"{name}: wall median {statistics.median(wall):.3f} s, max {max(wall):.3f} s; "
            f"CPU median {statistics.median(cpu):.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serial", default="BAG-0001", help="a tagged item's serial")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.5, help="seconds, median")
    parser.add_argument("--no-bytecode-cache", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="aftertap-pyc-") as pycache:
        env = dict(os.environ)
        if args.no_bytecode_cache:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = pycache
        quick_command = [str(QUICK), args.serial]
        command = [str(FLASK), "--app", "wsgi", "tags", "tap", args.serial]
        for argv in (quick_command, command):
            _, _, url = timed(argv, env)
            if not url.startswith("http"):
                raise SystemExit(f"unexpected output: {url!r}")
        floor_argv = [sys.executable, "-c", "import flask, sqlalchemy.orm"]
        floor, floor_cpu = series(floor_argv, env, args.runs)
        quick, quick_cpu = series(quick_command, env, args.runs)
        calls, calls_cpu = series(command, env, args.runs)
        # What a gunicorn worker does before its first request (wsgi:app, no --preload): the
        # app built to serve, which does at start-up the work commands leave to first use.
        served, served_cpu = series([sys.executable, "-c", "import wsgi"], env, args.runs)

    median = statistics.median(quick)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPU(s); "
          f"bytecode {'compiled every call' if args.no_bytecode_cache else 'cached'}")
    print(line("floor (python, flask, sqlalchemy)", floor, floor_cpu))
    print(line(f"aftertap-tap x{args.runs}", quick, quick_cpu)
          + f" (target {args.target:.2f} s wall: {'met' if median <= args.target else 'MISSED'})")
    print(line(f"flask tags tap x{args.runs} (the app built)", calls, calls_cpu))
    print(line("web worker start-up (import wsgi)", served, served_cpu))
    return 0 if median <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
