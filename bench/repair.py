"""What finding damage costs a publish, against reading everything (``verify``).

Builds a repository of ``--objects`` objects of ``--size`` bytes in packs of a transaction each
(``--packs``), then times, each the median of ``--runs``: the pack census (``unreadable``: one
listing, a seek per pack), choosing the spot check's slice (``spot_slice``), checking that slice
(reading and hashing SPOT_BYTES), and a full ``verify_repository`` (every object read and
hashed). Prints the ratios. Runs on SQLite in a temporary directory; nothing else is needed.

    .venv/bin/python bench/repair.py --objects 100000 --size 10000
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from homeport.core.objects import ObjectType
from homeport.repo.codec import encode, object_id
from homeport.repo.repository import Repository
from homeport.repo.verify import unreadable, verify_repository
from homeport.sync import repair


def timed(runs: int, work: Callable[[], object]) -> float:
    found = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        found.append(time.perf_counter() - start)
    return statistics.median(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--packs", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="homeport-bench-repair-") as scratch:
        repo = Repository.open(Path(scratch), None)
        per_pack = max(1, args.objects // args.packs)
        filler = secrets.token_bytes(args.size)
        for start in range(0, args.objects, per_pack):
            with repo.transaction():
                for n in range(start, min(start + per_pack, args.objects)):
                    body = n.to_bytes(8, "big") + filler[8:]
                    oid = object_id(ObjectType.CHUNK, (), body, False, None)
                    stored = encode(ObjectType.CHUNK, (), body, False, None, oid)[1]
                    repo.put(oid, ObjectType.CHUNK, (), stored, 1)
        total = repo.stored_bytes()
        packs = len(repo.pack_usage())
        census = timed(args.runs, lambda: unreadable(repo))
        slice_ = timed(args.runs, lambda: repair.spot_slice(repo, b""))
        ids = repair.spot_slice(repo, b"")

        def check_slice() -> None:
            for oid in ids:
                repair.good(oid, repo.raw(oid), None)

        checked = timed(args.runs, check_slice)
        full = timed(1, lambda: verify_repository(repo, "did:example:bench", []))
        repo.close()
    each = census + slice_ + checked
    print(f"{args.objects:,} objects, {total / 1e6:,.0f} MB in {packs} packs (SQLite)")
    print(f"census (lost or cut packs)   {census * 1000:8.2f} ms")
    print(f"spot slice chosen            {slice_ * 1000:8.2f} ms ({len(ids)} objects)")
    print(f"spot slice read and checked  {checked * 1000:8.2f} ms (here, without the HTTP fetch)")
    print(f"full verify (reads it all)   {full * 1000:8.2f} ms")
    print(f"a publish's share: {each * 1000:.2f} ms, {full / each:,.0f}x less than reading it all")


if __name__ == "__main__":
    main()
