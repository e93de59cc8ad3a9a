"""Pack files (issue I): the repository's writes and streams against rsync on the same bytes.

One run on the seeded library of ``bench/snapshot.py`` (records in a public and a private
bucket, photo-sized and large incompressible attachments; cached in bench/.cache). A working
copy of its data dir then goes through, each step a separate CLI process timed from outside:

- the first ``homeport snapshot`` (every object written once, to packs);
- ``homeport export`` of the whole repository to a bundle, and ``homeport import`` of it into
  an empty data dir (phrase on stdin): the issue's target is ≥ 300 MB/s each;
- ``rsync`` and ``rsync --fsync`` of the same bytes on the same disk, side by side: the
  ``blobs`` directory (what the snapshot reads), then the bundle file (what export writes and
  import reads);
- in-process: half of the objects forgotten at random (as a garbage collection would), then
  ``Repository.repack`` (the live half copied to new packs, the old ones deleted).

    .venv/bin/python bench/packs.py --markdown
    .venv/bin/python bench/packs.py --size-mb 100 --records 1000      # about a minute

Needs rsync. Everything but the cached library is removed on exit (the library too unless
``--keep``).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import snapshot as snap

from homeport.repo.repository import Repository
from homeport.testing.live import stop_on_sigterm

MB = snap.MB


def log(message: str) -> None:
    print(f"[packs] {message}", file=sys.stderr, flush=True)


def rsync(source: Path, target: Path, fsync: bool) -> float:
    """Wall seconds of a local rsync of ``source`` into a new ``target``."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)  # an empty directory each time: rsync never skips a file
    flags = ["-a", "--whole-file"] + (["--fsync"] if fsync else [])
    done = snap.run(["rsync", *flags, str(source), f"{target}/"]).check()
    shutil.rmtree(target)
    return done.wall


def measure(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    lib = snap.cached_library(args.seed, args.size_mb, args.records)
    data = scratch / "data"
    snap.working_copy(snap.LIBRARY, data)
    rows: dict[str, Any] = {}

    first = snap.homeport("snapshot", "--data", str(data), "--json")
    doc = first.json()
    packed = snap.disk_bytes(data / "packs")
    rows["snapshot"] = {
        "bytes": int(doc["new_bytes"]),
        "wall": first.wall,
        "seconds": float(doc["seconds"]),
        "peak_rss": first.peak_rss,
        "packs": len(list((data / "packs").iterdir())),
        "pack_bytes": packed,
        "index_bytes": snap.disk_bytes(*snap.repo_files(data)) - packed,
    }
    log(f"snapshot: {packed / MB:,.0f} MB of packs in {first.wall:.2f} s")
    blobs = snap.disk_bytes(data / "blobs")
    rows["rsync blobs"] = {"bytes": blobs, "wall": rsync(data / "blobs", scratch / "r", False)}
    rows["rsync --fsync blobs"] = {
        "bytes": blobs,
        "wall": rsync(data / "blobs", scratch / "r", True),
    }

    bundle = scratch / "home.bundle"
    exported = snap.homeport("export", str(bundle), "--data", str(data), "--json")
    size = bundle.stat().st_size
    rows["export"] = {
        "bytes": size,
        "wall": exported.wall,
        "seconds": exported.json().get("seconds"),
        "peak_rss": exported.peak_rss,
    }
    target = scratch / "imported"
    imported = snap.homeport(
        "import", str(bundle), "--data", str(target), "--json", stdin=lib.phrase
    )
    snap.check_restored(target, lib)
    rows["import"] = {
        "bytes": size,
        "wall": imported.wall,
        "seconds": imported.json().get("seconds"),
        "peak_rss": imported.peak_rss,
    }
    shutil.rmtree(target)
    rows["rsync bundle"] = {"bytes": size, "wall": rsync(bundle, scratch / "r", False)}
    rows["rsync --fsync bundle"] = {"bytes": size, "wall": rsync(bundle, scratch / "r", True)}
    bundle.unlink()
    for name in ("export", "import"):
        log(f"{name}: {size / MB:,.0f} MB in {rows[name]['wall']:.2f} s")

    repo = Repository.open(data, None)
    try:
        ids = [bytes(r[0]) for r in repo.db.execute("SELECT id FROM objects").fetchall()]
        doomed = random.Random(args.seed).sample(ids, len(ids) // 2)
        with repo.transaction():
            repo.forget(doomed)
        started = time.perf_counter()
        done = repo.repack(max_bytes=1 << 40)
        wall = time.perf_counter() - started
    finally:
        repo.close()
    rows["repack"] = {
        "bytes": done.moved_bytes,
        "wall": wall,
        "packs": done.rewritten,
        "freed": done.freed_bytes,
    }
    log(f"repack: {done.moved_bytes / MB:,.0f} MB moved in {wall:.2f} s")
    return rows


def render(rows: dict[str, Any], markdown: bool) -> str:
    head = ["step", "bytes", "wall", "MB/s (wall)", "in-process", "peak RSS", "notes"]
    body = []
    for name, row in rows.items():
        notes = ""
        if name == "snapshot":
            notes = (
                f"{row['packs']} packs, {snap.mb(row['pack_bytes'])};"
                f" index {snap.mb(row['index_bytes'])}"
            )
        elif name == "repack":
            notes = f"{row['packs']} packs rewritten, {snap.mb(row['freed'])} freed"
        elif name in ("export", "import"):
            notes = "target ≥ 300 MB/s " + (
                "met" if row["bytes"] / MB / row["wall"] >= 300 else "missed"
            )
        seconds = row.get("seconds")
        body.append(
            [
                name,
                snap.mb(row["bytes"]),
                snap.secs(row["wall"]),
                f"{row['bytes'] / MB / row['wall']:,.0f}",
                snap.secs(float(seconds)) if seconds else "—",
                snap.mb(row["peak_rss"]) if row.get("peak_rss") else "—",
                notes,
            ]
        )
    return snap.table(head, body, markdown)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=int, default=1000, help="attachment MB (1000)")
    p.add_argument("--records", type=int, default=10000, help="records (10000)")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--keep", action="store_true", help="keep the library for the next run")
    args = p.parse_args(argv)
    if not 10 <= args.size_mb <= 100_000:
        p.error("--size-mb must be within [10, 100000]")
    return args



def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("rsync") is None:
        raise SystemExit("rsync is not installed: apt-get install -y rsync, then re-run")
    stop_on_sigterm()
    info = snap.machine()
    started = datetime.now(UTC)
    began = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="homeport-packs-", dir=snap.CACHE.parent))
    try:
        rows = measure(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(snap.LIBRARY, ignore_errors=True)
    print(f"Machine: {info}.\n")
    print(render(rows, args.markdown))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\nRun took {time.perf_counter() - began:.0f} s ({started:%Y-%m-%d %H:%M} UTC);"
        f" load average {load} at the end; the page cache was warm for every row."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
