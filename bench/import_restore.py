"""``homeport import`` and ``homeport restore --from`` on the 1 GB library, beside
``rsync --fsync`` of the same attachments on the same disk, with what each command cost the
machine: wall, user and system CPU, bytes written to the filesystem (``os.wait4``'s rusage).
The CPU and the bytes do not depend on what the other sessions of a shared machine do; the wall
times do, so the rsync run beside each is the disk's speed at that moment.

    .venv/bin/python bench/import_restore.py --size-mb 1000 --records 10000 --runs 2

Reuses ``bench/sync.py``'s cached library (``bench/.cache/sync-library``); the snapshot, the
export and the first publish to a ``homeport provider serve`` on loopback are set-up, not
measured. Before each timed command every dirty page is written back (``os.sync``), so no
command pays for the previous one's writes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import snapshot as snap
import sync

from homeport.testing.relay import Relay

MB = 1_000_000


@dataclass
class Cost:
    wall: float
    user: float
    system: float
    written: int
    """Bytes the command wrote to the filesystem (rusage's output blocks, 512 bytes each)."""
    out: str


def timed(cmd: list[str], stdin: str = "", env: dict[str, str] | None = None) -> Cost:
    os.sync()
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out:
        inp.write(stdin.encode())
        inp.seek(0)
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=inp, stdout=out, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.decode()[-2000:]}")
    return Cost(wall, usage.ru_utime, usage.ru_stime, usage.ru_oublock * 512, text)


def homeport(*args: str, stdin: str = "") -> Cost:
    return timed([*snap.homeport_cmd(), *args], stdin, snap.clean_env())


def rsync_fsync(source: Path, target: Path) -> Cost:
    shutil.rmtree(target, ignore_errors=True)
    return timed(["rsync", "-a", "--fsync", f"{source}/", f"{target}/"])


def row(name: str, cost: Cost, nbytes: int) -> str:
    return (
        f"| {name} | {cost.wall:.2f} | {nbytes / MB / cost.wall:.0f} | {cost.user:.2f} |"
        f" {cost.system:.2f} | {cost.written / MB:,.0f} |"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=int, default=1000)
    p.add_argument("--records", type=int, default=10000)
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--only", choices=("import", "restore"))
    args = p.parse_args()
    if not shutil.which("rsync"):
        p.error("needs rsync (apt-get install -y rsync)")
    args.library = sync.CACHE / "sync-library"
    lib = sync.library(args)
    sync.CACHE.mkdir(parents=True, exist_ok=True)
    rows: list[str] = []
    results: dict[str, list[Cost]] = {}
    with tempfile.TemporaryDirectory(prefix="import-restore-", dir=sync.CACHE) as tmp:
        scratch = Path(tmp)
        home = scratch / "home"
        snap.working_copy(args.library, home)
        homeport("snapshot", "--data", str(home), "--json")
        bundle = scratch / "home.bundle"
        homeport("export", str(bundle), "--data", str(home), "--json")
        size = bundle.stat().st_size
        with Relay(sync.free_port()) as relay:
            provider = None
            if args.only != "import":
                provider, data = sync.start_provider(scratch, None, relay)
                sync.enroll(home, data, relay)
                sync.publish(home, relay)
            target = scratch / "target"
            try:
                for n in range(args.runs):
                    phases: list[tuple[str, Any]] = [
                        ("rsync --fsync", lambda: rsync_fsync(home / "blobs", target))
                    ]
                    if args.only != "restore":
                        phases.append(("homeport import", lambda: homeport(
                            "import", str(bundle), "--data", str(target), "--json",
                            stdin=lib.phrase)))
                    if args.only != "import":
                        phases.append(("homeport restore --from", lambda: homeport(
                            "restore", "--from", relay.url, "--data", str(target), "--json",
                            stdin=lib.phrase)))
                    for name, run in phases:
                        shutil.rmtree(target, ignore_errors=True)
                        load = os.getloadavg()[0]
                        cost = run()
                        results.setdefault(name, []).append(cost)
                        rows.append(row(f"{name} (run {n + 1}, load {load:.1f})", cost, size))
                        print(rows[-1], file=sys.stderr, flush=True)
                    shutil.rmtree(target, ignore_errors=True)
            finally:
                if provider is not None:
                    provider.stop()
    print(f"bundle {size / MB:,.0f} MB; {len(lib.attachments)} attachments, {lib.records} records")
    print("| command | wall (s) | MB/s | user CPU (s) | system CPU (s) | MB written |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    for name, costs in results.items():
        med = statistics.median(c.wall for c in costs)
        print(f"{name}: median wall {med:.2f} s, {size / MB / med:.0f} MB/s")
    json.dump({k: [c.__dict__ for c in v] for k, v in results.items()}, sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
