"""A restore's download, side by side in one run (issue I, Deliver 1): the provider's copy
fetched in parallel batches (``sync/fetching.py``, what ``homeport restore`` does now) against
the single ``GET /bundle`` stream it used before (which the provider first exports whole to a
temporary file), from the same ``homeport provider serve`` on 127.0.0.1; then the whole
``homeport restore --from`` with its wall time.

B's seeded library (``bench/snapshot.py``'s builder: records in a public and a private bucket,
photo-sized and large incompressible attachments), built in a scratch dir (never the shared
cache), published once. Each download goes to a file in the scratch dir, three runs, median.

    .venv/bin/python bench/restore.py                 # 200 MB
    .venv/bin/python bench/restore.py --size-mb 50 --records 500

Every process started is stopped and the scratch dir removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import snapshot as snap

from homeport.repo.codec import RepoKeys
from homeport.services.repository import repo_keys
from homeport.sync import fetching
from homeport.sync.client import ProviderClient
from homeport.sync.providers import credentials
from homeport.testing.live import free_port, stop_process

homeport = snap.homeport


def start_provider(scratch: Path) -> tuple[subprocess.Popen[bytes], Path, int]:
    """``homeport provider serve`` on a free loopback port, once it accepts connections."""
    data, port = scratch / "provider", free_port()
    env = {**snap.clean_env(), "HOMEPORT_OPERATOR_PASSWORD": "bench-operator"}
    cmd = [*snap.homeport_cmd(), "provider", "serve", "--data", str(data), "--host",
           "127.0.0.1", "--port", str(port), "--base-domain", "example.test"]
    with (scratch / "provider.log").open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, data, port
        except OSError:
            time.sleep(0.05)
    stop_process(proc)
    raise RuntimeError("the provider did not start: " + (scratch / "provider.log").read_text())


def log(message: str) -> None:
    print(f"[restore] {message}", file=sys.stderr, flush=True)


def timed(runs: int, action: Callable[[], int]) -> tuple[float, int]:
    """The median wall time of ``runs`` runs, and the bytes the last one wrote."""
    walls, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        size = action()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="homeport-bench-restore-"))
    provider = None
    try:
        lib = snap.build_library(scratch / "home", args.seed, args.size_mb, args.records)
        home = scratch / "home"
        provider, provider_data, port = start_provider(scratch)
        url = f"http://127.0.0.1:{port}"
        code = json.loads(homeport("provider", "invite", "--json", "--data",
                                   str(provider_data)).out)["code"]
        homeport("providers", "add", url, code, "--name", "alice", "--data", str(home))
        published = homeport("publish", "--json", "--data", str(home))
        log(f"published in {published.wall:.1f} s")
        keys = repo_keys(home)
        out = scratch / "download.bundle"
        results: dict[str, tuple[float, int]] = {}
        with httpx.Client(timeout=600) as http:
            client = ProviderClient(url, credentials(home), http)
            tenant = client.tenant()

            def stream() -> int:
                with open(out, "wb") as f:
                    return client.download_bundle(f)

            def parallel(n: int, phrase_keys: RepoKeys = keys) -> Callable[[], int]:
                def run() -> int:
                    with open(out, "wb") as f:
                        fetching.fetch_bundle(client, tenant, phrase_keys, f, parallel=n)
                    return out.stat().st_size

                return run

            results["GET /bundle (before)"] = timed(args.runs, stream)
            for n in (1, 4, 8):
                results[f"fetch, {n} in flight"] = timed(args.runs, parallel(n))
        restored = scratch / "restored"
        done = homeport("restore", "--from", url, "--data", str(restored), "--json",
                        stdin=lib.phrase)
        snap.check_restored(restored, lib)
        base = results["GET /bundle (before)"][0]
        print(f"\nlibrary {args.size_mb} MB, {args.records} records; load "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
        print("| download | wall (s) | MB/s | vs GET /bundle |")
        print("| --- | ---: | ---: | ---: |")
        for name, (wall, size) in results.items():
            print(f"| {name} | {wall:.2f} | {size / wall / 1e6:.0f} | {base / wall:.2f}x |")
        print(f"\nwhole `homeport restore --from`: {done.wall:.1f} s "
              f"({results['fetch, 4 in flight'][1] / done.wall / 1e6:.0f} MB/s of bundle)")
    finally:
        if provider is not None:
            stop_process(provider)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
