"""First publish to a provider whose packs are on SeaweedFS beside one on local disk.

Issue I's target: the first publish with the provider's packs on S3 within 0.7x of the same
publish to a provider on local disk. ``bench/sync.py --seaweed`` measures it in its long run;
this script measures only that, so the provider's upload path can be profiled and changed
quickly: one home (the cached library of ``bench/snapshot.py`` plus a small site), snapshotted
once and copied, each copy enrolled with its own provider (one on its data dir, one with
``--objects s3://`` on a SeaweedFS started here) and published; rounds alternate the order.
Besides wall times it prints what each provider's store holds afterwards (how many packs and
their sizes: each pack is one PUT, or one multipart upload, on S3).

    .venv/bin/python bench/publish_s3.py --size-mb 1000 --records 10000

Every process started is stopped and every temporary directory removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import snapshot as snap
import sync

from homeport.store.objects_fs import FsObjectStore
from homeport.testing.live import free_port
from homeport.testing.relay import Relay
from homeport.testing.seaweed import TempSeaweed


def log(message: str) -> None:
    print(f"[publish_s3] {message}", file=sys.stderr, flush=True)


def packs_of(names: list[tuple[str, int, int]]) -> dict[str, Any]:
    sizes = [size for name, size, _ in names if name.endswith(".pack")]
    return {
        "packs": len(sizes),
        "bytes": sum(sizes),
        "median_mb": round(statistics.median(sizes) / snap.MB, 2) if sizes else 0,
    }


def one_round(
    args: argparse.Namespace, scratch: Path, home: Path, weed: TempSeaweed, n: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    order = ["disk", "s3"] if n % 2 == 0 else ["s3", "disk"]
    for kind in order:
        copy = scratch / f"home-{kind}-{n}"
        snap.working_copy(home, copy)
        with Relay(free_port()) as relay:
            objects = (
                f"s3://{weed.bucket}/round{n}?endpoint={weed.endpoint}" if kind == "s3" else None
            )
            env = weed.env if kind == "s3" else None
            name = f"provider-{kind}-{n}"
            provider, data = sync.start_provider(scratch, args.workers, relay, name, objects, env)
            try:
                sync.enroll(copy, data, relay)
                if hasattr(os, "sync"):
                    os.sync()  # the copy's writeback charged to no one
                result = sync.publish(copy, relay)
            finally:
                provider.stop()
                if args.logs:
                    args.logs.mkdir(parents=True, exist_ok=True)
                    shutil.copy(scratch / f"{name}.log", args.logs / f"{name}.log")
        if kind == "s3":
            with weed.store() as store:
                result["store"] = packs_of(list(store.scoped(f"round{n}").names()))
        else:
            result["store"] = packs_of(
                list(FsObjectStore(data / "tenants" / sync.TENANT / "packs").names())
            )
        out[kind] = result
        log(f"round {n} {kind}: {result['wall']:.2f} s, {result['store']}")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=int, default=200, help="attachment MB (200)")
    p.add_argument("--records", type=int, default=2000, help="records (2000)")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--articles", type=int, default=8)
    p.add_argument("--rounds", type=int, default=1, help="rounds, alternating the order (1)")
    p.add_argument("--workers", type=int, default=1, help="provider worker processes (1)")
    p.add_argument("--logs", type=Path, help="keep the providers' logs in this directory")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    lib = snap.cached_library(args.seed, args.size_mb, args.records)
    began = time.perf_counter()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="publish-s3-", dir=snap.CACHE) as tmp:
        scratch = Path(tmp)
        home = scratch / "home"
        snap.working_copy(snap.LIBRARY, home)
        sync.add_site(home, scratch, args.seed, args.articles)
        snap.homeport("snapshot", "--data", str(home))
        with TempSeaweed(directory=scratch / "seaweed") as weed:
            rounds = [one_round(args, scratch, home, weed, n) for n in range(args.rounds)]
    disk = statistics.median(r["disk"]["wall"] for r in rounds)
    s3 = statistics.median(r["s3"]["wall"] for r in rounds)
    result = {
        "library": {"size_mb": lib.size_mb, "records": lib.records},
        "rounds": rounds,
        "disk_wall": disk,
        "s3_wall": s3,
        "ratio": disk / s3,
        "load": [round(load, 1), round(os.getloadavg()[0], 1)],
        "elapsed": time.perf_counter() - began,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for kind in ("disk", "s3"):
            r = rounds[-1][kind]
            wall = statistics.median(x[kind]["wall"] for x in rounds)
            print(
                f"{kind:5} first publish {wall:7.2f} s"
                f" (in-process {r['seconds']:.2f} s, {r['bytes'] / snap.MB:.0f} MB sent;"
                f" {r['store']['packs']} packs, median {r['store']['median_mb']} MB)"
            )
        print(f"S3 / disk throughput {disk / s3:.2f}x (target >= 0.7x); load {result['load']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
