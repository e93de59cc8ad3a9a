"""Records benchmark: Homeport against Kinto 26.5, side by side, in one run.

For each pairing (Homeport SQLite vs Kinto's memory backend, Homeport PostgreSQL vs Kinto's
PostgreSQL backend) the script starts both servers on 127.0.0.1, seeds the same data through
Basic auth (an ``admin`` account on each), and measures with wrk, operation by operation and
server after server: single creates, batch creates, list pages of 100, get by id, conditional
GET (304) and ``_since`` polling, then N concurrent writers on one collection. It prints a
table per pairing (``--markdown`` for docs/benchmarks.md) and writes every figure as JSON.

    .venv/bin/python bench/records.py --markdown

Needs wrk (``apt-get install -y wrk``). Kinto is pip-installed into a cached venv
(bench/.cache/kinto-venv, or ``--kinto-venv``). PostgreSQL comes from
``homeport.testing.postgres.TempPostgres``. Every process started here is stopped on exit,
error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recbench import report
from recbench.prepare import CONCURRENT, check_once, prepare
from recbench.servers import (
    Running,
    ensure_kinto,
    group_cpu_seconds,
    homeport_server,
    kinto_server,
    log,
    tail,
)
from recbench.wrk import (
    CONCURRENCY,
    OPERATIONS,
    Operation,
    Target,
    build_script,
    parse_result,
    run_wrk,
    wrk_binary,
    wrk_version,
)

from homeport.testing.live import stop_on_sigterm

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PAIRINGS = {
    "sqlite": "Homeport SQLite vs Kinto memory backend",
    "postgres": "Homeport PostgreSQL vs Kinto PostgreSQL backend",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=sorted(PAIRINGS), help="run one pairing only")
    p.add_argument("--duration", type=int, default=5, help="seconds per operation (5)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up seconds per operation (1)")
    p.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument(
        "--rounds", type=int, default=1, help="repeat everything; report the median round (1)"
    )
    p.add_argument("--writers", type=int, default=8, help="concurrent writers test (8)")
    p.add_argument("--records", type=int, default=1000, help="seed records (1000)")
    p.add_argument("--batch-size", type=int, default=25, help="creates per batch (25)")
    p.add_argument("--timeout", type=float, default=10.0, help="wrk per-request timeout (10 s)")
    p.add_argument(
        "--kinto-venv",
        type=Path,
        default=BENCH / ".cache" / "kinto-venv",
        help="venv with (or to install) kinto[postgresql]==26.5 (bench/.cache/kinto-venv)",
    )
    p.add_argument("--json", type=Path, help="results file (bench/results/records-<time>.json)")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    p.add_argument(
        "--max-minutes", type=float, default=12.0, help="skip what is left after this (12)"
    )
    args = p.parse_args(argv)
    if args.warmup < 0:
        p.error("--warmup must not be negative")
    positive = ("duration", "rounds", "connections", "threads", "writers", "records", "batch_size")
    for name in positive:
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.records < 100:
        p.error("--records must be at least 100 (list pages of 100)")
    return args


def _git(*args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=30, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else ""


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    commit = _git("rev-parse", "--short", "HEAD")
    if commit and _git("status", "--porcelain", "--", "src"):
        commit += " + uncommitted changes in src/"
    try:
        import homeport

        homeport_version: str | None = getattr(homeport, "__version__", None)
    except ImportError:
        homeport_version = None
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": mem_gib,
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": wrk_version(),
        "homeport": homeport_version,
        "git_commit": commit or None,
    }


class Deadline:
    def __init__(self, minutes: float) -> None:
        self.end = time.monotonic() + minutes * 60

    def left(self) -> float:
        return self.end - time.monotonic()


def start_and_prepare(
    stack: ExitStack,
    start: Callable[[], AbstractContextManager[Running]],
    args: argparse.Namespace,
    entry: dict[str, Any],
) -> tuple[Running, Target] | None:
    """Start one server (stopped when ``stack`` closes) and seed it; None if that failed."""
    try:
        with ExitStack() as own:
            server = own.enter_context(start())
            entry["details"] = server.details
            target = prepare(server, args.records, args.batch_size)
            stack.push(own.pop_all())
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as exc:
        entry["error"] = f"{type(exc).__name__}: {exc}"
        log(f"{entry['name']}/{entry['backend']}: {entry['error']}")
        return None
    except (KeyError, TypeError, AttributeError) as exc:  # an answer of an unexpected shape
        entry["error"] = f"unexpected answer while seeding: {type(exc).__name__}: {exc}"
        entry["error"] = f"{type(exc).__name__}: {exc}"
        log(f"{entry['name']}/{entry['backend']}: {entry['error']}")
        return None
    entry["measured"] = True
    return server, target


def measure_pairing(
    starters: Mapping[str, Callable[[], AbstractContextManager[Running]]],
    pairing: dict[str, Any],
    args: argparse.Namespace,
    workdir: Path,
    deadline: Deadline,
) -> None:
    """Start both servers, then run each operation on one and right after on the other.

    Interleaving keeps the two figures of a row seconds apart, so a busy neighbour on a shared
    machine skews both sides alike rather than one of them.
    """
    with ExitStack() as stack:
        live: dict[str, tuple[Running, Target]] = {}
        for key, start in starters.items():
            started = start_and_prepare(stack, start, args, pairing["servers"][key])
            if started:
                live[key] = started
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {k: {} for k in live}
        for round_no in range(1, args.rounds + 1):
            if args.rounds > 1:
                log(f"{pairing['title']}: round {round_no} of {args.rounds}")
            for op in (*OPERATIONS, CONCURRENCY):
                for key, (server, target) in live.items():
                    entry = pairing["servers"][key]
                    if deadline.left() < args.duration + args.warmup + 15:
                        result = {"error": "skipped: --max-minutes reached"}
                    elif server.process.poll() is not None:
                        result = {
                            "error": f"server exited with {server.process.returncode}: "
                            + tail(server.log_path, 5)
                        }
                    else:
                        result = run_operation(op, server, target, args, workdir)
                    runs[key].setdefault(op.key, []).append(result)
                    entry["ops"][op.key] = combine(runs[key][op.key])


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One figure per operation: the median round by req/s; counts summed over all rounds."""
    good = [r for r in results if "rps" in r]
    if not good:
        return results[-1]
    good.sort(key=lambda r: r["rps"])
    best = dict(good[(len(good) - 1) // 2])
    if len(results) > 1:
        for field in ("requests", "errors", "socket_errors", "non_2xx_3xx", "unexpected"):
            best[field] = sum(r.get(field, 0) for r in good)
        for field in ("statuses", "substatuses"):
            total: dict[str, int] = {}
            for r in good:
                for k, v in r[field].items():
                    total[k] = total.get(k, 0) + v
            best[field] = dict(sorted(total.items()))
        best["samples"] = {k: v for r in reversed(good) for k, v in r["samples"].items()}
        best["rounds"] = [r["rps"] for r in results if "rps" in r]
        best["failed_rounds"] = len(results) - len(good)
    return best


def run_operation(
    op: Operation, server: Running, target: Target, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    label = f"{server.name}/{server.backend} {op.title}"
    connections = args.writers if op is CONCURRENCY else args.connections
    write = CONCURRENT if op is CONCURRENCY else None
    script = build_script(op, target, write_collection=write)
    name = f"{server.name}-{server.backend}-{op.key}".lower()
    try:
        problem = check_once(server.client(), op, target)
    except (OSError, ValueError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        log(f"{label}: check failed: {problem}")
    common = {"connections": connections, "threads": args.threads, "timeout": args.timeout}
    try:
        if args.warmup > 0 and op is not CONCURRENCY:
            run_wrk(script, server.base_url, workdir, name, duration=args.warmup, **common)
        cpu_before = group_cpu_seconds(server.process.pid)
        run = run_wrk(script, server.base_url, workdir, name, duration=args.duration, **common)
        server_cpu = group_cpu_seconds(server.process.pid) - cpu_before
        result = parse_result(run.output, op).as_dict()
    except (RuntimeError, subprocess.SubprocessError, ValueError) as exc:
        log(f"{label}: {exc}")
        return {"error": str(exc), "check": problem}
    result.update(
        {
            "connections": connections,
            "check": problem,
            "wrk_cpu_pct": run.cpu_pct,
            "server_cpu_pct": round(100 * server_cpu / args.duration, 1),
        }
    )
    log(
        f"{label}: {result['rps']:.0f} req/s, p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, errors {result['errors']}, statuses {result['statuses']}, "
        f"CPU server {result['server_cpu_pct']:.0f} % wrk {result['wrk_cpu_pct']:.0f} %"
        + (f" sub {result['substatuses']}" if result["substatuses"] else "")
    )
    return result


def _server_entry(name: str, backend: str) -> dict[str, Any]:
    return {"name": name, "backend": backend, "measured": False, "error": None, "ops": {}}


@contextmanager
def temp_postgres(machine: dict[str, Any]) -> Iterator[Any]:
    try:
        from homeport.testing.postgres import TempPostgres, find_pg_bin
    except ImportError as exc:
        raise RuntimeError(f"TempPostgres is not available yet: {exc}") from exc
    with TempPostgres() as pg:
        bin_dir = find_pg_bin()
        if bin_dir is not None:
            version = subprocess.run(
                [str(bin_dir / "postgres"), "--version"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            ).stdout.strip()
            found = re.search(r"\d+\.\d+", version)
            machine["postgresql"] = found.group(0) if found else None
        yield pg


def run_pairing(
    key: str, args: argparse.Namespace, machine: dict[str, Any], deadline: Deadline, tmp: Path
) -> dict[str, Any]:
    pg_needed = key == "postgres"
    pairing: dict[str, Any] = {
        "key": key,
        "title": PAIRINGS[key],
        "batch_size": args.batch_size,
        "error": None,
        "servers": {
            "homeport": _server_entry("Homeport", "PostgreSQL" if pg_needed else "SQLite"),
            "kinto": _server_entry("Kinto", "PostgreSQL" if pg_needed else "memory"),
        },
    }
    venv = args.kinto_venv.resolve()
    workdir = tmp / key
    workdir.mkdir()
    if not pg_needed:
        starters = {
            "homeport": lambda: homeport_server(REPO, workdir / "homeport", None),
            "kinto": lambda: kinto_server(venv, workdir / "kinto", None),
        }
        measure_pairing(starters, pairing, args, workdir, deadline)
        return pairing
    try:
        with temp_postgres(machine) as pg:
            home_url = pg.create_database("homeport_bench")
            kinto_url = pg.create_database("kinto_bench")
            starters = {
                "homeport": lambda: homeport_server(REPO, workdir / "homeport", home_url),
                "kinto": lambda: kinto_server(venv, workdir / "kinto", kinto_url),
            }
            measure_pairing(starters, pairing, args, workdir, deadline)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pairing["error"] = f"{type(exc).__name__}: {exc}"
        log(f"{key}: {pairing['error']}")
    return pairing



def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk_binary()  # exits with the install hint when wrk is missing
    stop_on_sigterm()
    deadline = Deadline(args.max_minutes)
    started = datetime.now(UTC)
    command = " ".join(
        [".venv/bin/python", "bench/records.py", *(shlex.quote(a) for a in sys.argv[1:])]
    )
    machine = machine_info()
    machine["kinto"] = ensure_kinto(args.kinto_venv.resolve())
    keys = [args.only] if args.only else list(PAIRINGS)
    pairings = []
    with tempfile.TemporaryDirectory(prefix="homeport-bench-") as tmp:
        for key in keys:
            pairings.append(run_pairing(key, args, machine, deadline, Path(tmp)))
        kinto_threads = next(
            (
                p["servers"]["kinto"]["details"].get("waitress_threads")
                for p in pairings
                if p["servers"]["kinto"].get("details")
            ),
            None,
        )
    machine["loadavg_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results = {
        "run": {
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": command,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "writers": args.writers,
            "rounds": args.rounds,
            "records": args.records,
            "batch_size": args.batch_size,
            "kinto_waitress_threads": kinto_threads,
        },
        "machine": machine,
        "pairings": pairings,
    }
    out = args.json or BENCH / "results" / f"records-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"results written to {out}")
    print(report.render(results, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; servers stopped")
        sys.exit(130)
