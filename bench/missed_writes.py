"""Writes missed by a paginated ``_since`` pull: Homeport against Kinto 26.5, in one run.

Both servers (Homeport on SQLite, optionally PostgreSQL; Kinto 26.5 on its memory backend,
from ``.kinto-venv``) page lists by 20 (``paginate_by``). Each round seeds 360 records, then a
client pulls the collection page by page while a writer thread creates, edits and deletes
records; after every page the client waits for a few more writes to land. The client then
syncs once more with ``_since`` and its copy is compared with the server's: every record that
differs (absent, stale, or deleted on the server but still held) is a missed write.

Two clients are played, as the real ones behave: ``kinto.js`` keeps the ETag of the last page
(kinto-http.js ``listRecords({pages: Infinity})``), ``kinto-http.py`` the first page's
(``get_records`` then ``get_records_timestamp``).

    .venv/bin/python bench/missed_writes.py [--rounds 3] [--postgres]

Every process started here is stopped on exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from homeport.testing.targets import ADMIN, PASSWORDS, ensure_account, start_target

RECORDS = "/buckets/b/collections/c/records"
SEED = 360
PAGE = 20
WRITES_PER_PAGE = 3
MAX_WRITES = 2000
WAIT_S = 2.0
CLIENTS = (("last", "kinto.js (last page)"), ("first", "kinto-http.py (first page)"))
PASSWORD = PASSWORDS[ADMIN]

@contextmanager
def server(workdir: Path, backend: str, pg_url: str | None = None) -> Iterator[str]:
    """Kinto 26.5 or Homeport as the compatibility tests start them, paging by PAGE."""
    started = start_target(workdir, backend, pg_url, {"paginate_by": str(PAGE)})
    try:
        ensure_account(started, ADMIN)
        yield started.url
    finally:
        started.stop()


@dataclass
class Writer:
    """Creates, edits and deletes records until stopped (at most MAX_WRITES)."""

    url: str
    seed: int
    stop: threading.Event = field(default_factory=threading.Event)
    count: int = 0
    errors: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def run(self) -> None:
        rng = random.Random(self.seed)
        alive = [f"r{i:03d}" for i in range(SEED)]
        with httpx.Client(base_url=self.url, auth=("admin", PASSWORD), timeout=30) as c:
            while not self.stop.is_set() and self.count < MAX_WRITES:
                roll = rng.random()
                if roll < 0.4 or len(alive) < 20:
                    rid = f"w{self.seed}-{self.count:05d}"
                    r = c.put(f"{RECORDS}/{rid}", json={"data": {"v": rng.random()}})
                    alive.append(rid)
                elif roll < 0.8:
                    rid = rng.choice(alive)
                    r = c.patch(f"{RECORDS}/{rid}", json={"data": {"v": rng.random()}})
                else:
                    rid = alive.pop(rng.randrange(len(alive)))
                    r = c.delete(f"{RECORDS}/{rid}")
                self.errors += r.status_code not in (200, 201)
                with self.cond:
                    self.count += 1
                    self.cond.notify_all()

    def let_some_land(self) -> None:
        target = self.count + WRITES_PER_PAGE
        with self.cond:
            self.cond.wait_for(lambda: self.count >= target or self.stop.is_set(), WAIT_S)


def pull(
    http: httpx.Client, local: dict[str, Any], since: str | None, keep: str, writer: Writer | None
) -> str:
    """Follow Next-Page to the end; return the ETag the client would keep ("first"/"last")."""
    params = {"_sort": "-last_modified"} | ({"_since": since} if since else {})
    url: str | None = RECORDS
    etags: list[str] = []
    for _ in range(10_000):
        if url is None:
            break
        r = http.get(url, params=params if url == RECORDS else None)
        r.raise_for_status()
        for record in r.json()["data"]:
            if record.get("deleted"):
                local.pop(record["id"], None)
            else:
                local[record["id"]] = record
        etags.append(r.headers["ETag"].strip('"'))
        url = r.headers.get("Next-Page")
        if writer is not None and url is not None:
            writer.let_some_land()
    return etags[0] if keep == "first" else etags[-1]


def one_round(url: str, keep: str, seed: int) -> tuple[int, int, int]:
    """(missed, writes during the pull, pages) for one client behaviour on a fresh collection."""
    with httpx.Client(base_url=url, auth=("admin", PASSWORD), timeout=30) as http:
        http.delete("/buckets/b")
        assert http.put("/buckets/b").status_code == 201
        assert http.put("/buckets/b/collections/c").status_code == 201
        for start in range(0, SEED, 20):
            reqs = [
                {"method": "PUT", "path": f"{RECORDS}/r{i:03d}", "body": {"data": {"v": i}}}
                for i in range(start, min(start + 20, SEED))
            ]
            assert http.post("/batch", json={"requests": reqs}).status_code == 200
        writer = Writer(url, seed)
        thread = threading.Thread(target=writer.run, daemon=True)
        local: dict[str, Any] = {}
        thread.start()
        try:
            etag = pull(http, local, None, keep, writer)
        finally:
            writer.stop.set()
            thread.join(timeout=60)
        pull(http, local, etag, keep, None)
        server: dict[str, Any] = {}
        pull(http, server, None, keep, None)
        missed = sum(local.get(k) != server.get(k) for k in set(local) | set(server))
        if writer.errors:
            print(f"  ({writer.errors} writes refused)", file=sys.stderr)
        return missed, writer.count, (SEED + PAGE - 1) // PAGE


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--postgres", action="store_true", help="also Homeport on PostgreSQL")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="missed-writes-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        servers = {}
        (work / "k").mkdir()
        servers["Kinto 26.5 (memory)"] = stack.enter_context(server(work / "k", "kinto"))
        (work / "h").mkdir()
        servers["Homeport (SQLite)"] = stack.enter_context(server(work / "h", "sqlite"))
        if args.postgres:
            from homeport.testing.postgres import TempPostgres

            pg = stack.enter_context(TempPostgres())
            (work / "hp").mkdir()
            servers["Homeport (PostgreSQL)"] = stack.enter_context(
                server(work / "hp", "postgresql", pg.create_database("bench"))
            )
        print(f"{SEED} records, paginate_by {PAGE}, >= {WRITES_PER_PAGE} writes between pages")
        print("| server | client (ETag kept) | missed per round | writes during the pull |")
        print("| --- | --- | --- | --- |")
        for name, url in servers.items():
            for keep, client in (
                ("last", "kinto.js (last page)"),
                ("first", "kinto-http.py (first page)"),
            ):
                results = [one_round(url, keep, seed) for seed in range(args.rounds)]
                missed = ", ".join(str(m) for m, _, _ in results)
                writes = ", ".join(str(w) for _, w, _ in results)
                print(f"| {name} | {client} | {missed} | {writes} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
