"""Content-defined chunking benchmark: which FastCDC average chunk size should snapshots use?

Builds a seeded library in a temporary directory (photo-sized files plus a few large ones), then
for each average chunk size measures chunking throughput, and the bytes a snapshot would have to
send after a 1 % change: a few photos replaced and 1 MiB appended to the largest file. "New chunk
bytes" are the chunks whose SHA-256 was not in the first run; "chunk lists" are the 32-byte ids of
every chunk of each changed file, which a new snapshot must also store and send; together they are
"bytes to send". The temporary directory is removed on exit.

    .venv/bin/python bench/chunking.py

Options: ``--seed``, ``--rounds`` (throughput is the median of the rounds), ``--photos``,
``--large``. Runs in well under two minutes on two cores.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyfastcdc

from homeport.repo.chunking import ChunkParams, chunk_file

KiB = 1024
MiB = 1024 * KiB
AVERAGES = (16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB)
ID_BYTES = 32  # one SHA-256 id per chunk in a file's chunk list


@dataclass
class Library:
    root: Path
    files: list[Path]

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.files)


@dataclass
class Row:
    avg: int
    params: ChunkParams
    chunks: int
    mbps_chunk: float
    mbps_chunk_sha: float
    new_chunks: int
    new_bytes: int
    list_bytes: int


def build_library(root: Path, rng: random.Random, photos: int, large: int) -> Library:
    files: list[Path] = []
    for i in range(photos):
        path = root / f"photo-{i:04d}.jpg"
        path.write_bytes(rng.randbytes(rng.randint(300 * KiB, 1024 * KiB)))
        files.append(path)
    for i in range(large):
        path = root / f"video-{i:02d}.mp4"
        path.write_bytes(rng.randbytes(rng.randint(20 * MiB, 30 * MiB)))
        files.append(path)
    return Library(root, files)


def change_library(lib: Library, rng: random.Random) -> tuple[list[Path], int]:
    """Replace 1 % of the files (photos) and append 1 MiB to the largest; return what changed."""
    photos = [p for p in lib.files if p.name.startswith("photo-")]
    replaced = rng.sample(photos, max(1, round(len(lib.files) / 100)))
    changed_bytes = 0
    for path in replaced:
        size = path.stat().st_size
        path.write_bytes(rng.randbytes(size))
        changed_bytes += size
    largest = max(lib.files, key=lambda p: p.stat().st_size)
    with largest.open("ab") as f:
        f.write(rng.randbytes(MiB))
    changed_bytes += MiB
    return [*replaced, largest], changed_bytes


def chunk_seconds(lib: Library, params: ChunkParams) -> float:
    start = time.perf_counter()
    for path in lib.files:
        for _ in chunk_file(path, params):
            pass
    return time.perf_counter() - start


def chunk_ids(paths: list[Path], params: ChunkParams) -> tuple[dict[str, int], float, int]:
    """SHA-256 id → size of every chunk of ``paths``, the seconds taken and the chunk count."""
    ids: dict[str, int] = {}
    count = 0
    start = time.perf_counter()
    for path in paths:
        for _, chunk in chunk_file(path, params):
            ids[hashlib.sha256(chunk).hexdigest()] = len(chunk)
            count += 1
    return ids, time.perf_counter() - start, count


def file_chunk_count(path: Path, params: ChunkParams) -> int:
    return sum(1 for _ in chunk_file(path, params))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fmt_size(n: float) -> str:
    return f"{n / KiB:.0f} KiB" if n < MiB else f"{n / MiB:.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--photos", type=int, default=197)
    ap.add_argument("--large", type=int, default=3)
    args = ap.parse_args(argv)
    if not 1 <= args.rounds <= 20:
        ap.error("--rounds must be within [1, 20]")

    began = time.perf_counter()
    rng = random.Random(args.seed)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="homeport-chunking-") as tmp:
        lib = build_library(Path(tmp), rng, args.photos, args.large)
        total = lib.size()
        print(f"library: {len(lib.files)} files, {total / 1e6:.1f} MB", file=sys.stderr)
        before = {avg: chunk_ids(lib.files, ChunkParams.around(avg)) for avg in AVERAGES}
        timings: dict[int, list[float]] = {avg: [] for avg in AVERAGES}
        for _ in range(args.rounds):
            for avg in AVERAGES:
                timings[avg].append(chunk_seconds(lib, ChunkParams.around(avg)))
        changed, changed_bytes = change_library(lib, rng)
        for avg in AVERAGES:
            params = ChunkParams.around(avg)
            old_ids, sha_seconds, count = before[avg]
            new_ids, _, _ = chunk_ids(lib.files, params)
            fresh = {h: n for h, n in new_ids.items() if h not in old_ids}
            lists = sum(file_chunk_count(p, params) for p in changed) * ID_BYTES
            rows.append(
                Row(
                    avg=avg,
                    params=params,
                    chunks=count,
                    mbps_chunk=total / statistics.median(timings[avg]) / 1e6,
                    mbps_chunk_sha=total / sha_seconds / 1e6,
                    new_chunks=len(fresh),
                    new_bytes=sum(fresh.values()),
                    list_bytes=lists,
                )
            )
    elapsed = time.perf_counter() - began

    print(
        f"Command: `.venv/bin/python bench/chunking.py --seed {args.seed} --rounds "
        f"{args.rounds} --photos {args.photos} --large {args.large}`  "
    )
    print(
        f"Machine: {os.cpu_count()} CPUs ({cpu_name()}), Python {platform.python_version()}, "
        f"pyfastcdc {pyfastcdc.__version__}; one core used.  "
    )
    print(
        f"Library: {len(lib.files)} files, {total / 1e6:.1f} MB; change: "
        f"{len(changed) - 1} photos replaced + 1 MiB appended to the largest file = "
        f"{changed_bytes / 1e6:.2f} MB of real change. Run took {elapsed:.0f} s."
    )
    print()
    print(
        "| average (min to max) | chunks | mean chunk | chunk MB/s | chunk + SHA-256 MB/s "
        "| new chunks | new chunk bytes | chunk lists | bytes to send | x change |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        send = r.new_bytes + r.list_bytes
        print(
            f"| {fmt_size(r.avg)} ({fmt_size(r.params.min_size)} to {fmt_size(r.params.max_size)}) "
            f"| {r.chunks:,} | {total / r.chunks / KiB:,.0f} KiB | {r.mbps_chunk:,.0f} "
            f"| {r.mbps_chunk_sha:,.0f} | {r.new_chunks:,} | {r.new_bytes / 1e6:.2f} MB "
            f"| {r.list_bytes / 1e3:.1f} kB | {send / 1e6:.2f} MB | {send / changed_bytes:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
