"""CPU and round trips per request of the records API, in process, on PostgreSQL or SQLite.

`bench/records.py` measures throughput over HTTP beside Kinto, which on a shared machine moves
with whatever else runs. This script measures what does not: the home app is called directly
as an ASGI application (no sockets, no uvicorn: the HTTP parsing and the TCP stack are left
out, the rest of the request path is all in), one request at a time, and for each operation of
`bench/records.py` it prints the process CPU time per request and the statements sent to the
database per request (PostgreSQL round trips). ``--profile OP`` adds a cProfile of that
operation (the 30 costliest functions, cumulative and own time).

    .venv/bin/python bench/records_cpu.py                # PostgreSQL (a throwaway cluster)
    .venv/bin/python bench/records_cpu.py --engine sqlite
    .venv/bin/python bench/records_cpu.py --profile create
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from recbench.prepare import record_data

from homeport import jsonio

BUCKET = "bench"
Call = Callable[[], Awaitable[tuple[int, bytes]]]


class Counter:
    """Statements sent to PostgreSQL (each one round trip), counted in psycopg's async cursor."""

    def __init__(self) -> None:
        self.count = 0
        self.sent: list[str] = []

    def install(self) -> None:
        from psycopg import AsyncConnection

        counter = self
        execute = AsyncConnection.execute

        async def conn_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            counter.sent.append(str(args[0])[:160])
            return await execute(self, *args, **kwargs)

        AsyncConnection.execute = conn_execute  # type: ignore[method-assign]


class App:
    def __init__(self, app: Any, auth: str) -> None:
        self.app = app
        self.headers = [
            (b"host", b"127.0.0.1:8888"),
            (b"authorization", auth.encode()),
            (b"accept", b"application/json"),
        ]

    async def request(
        self,
        method: str,
        path: str,
        query: str = "",
        body: Any = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> tuple[int, bytes]:
        raw = jsonio.dumps(body) if body is not None else b""
        hdrs = list(self.headers) + (headers or [])
        if raw:
            hdrs += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": hdrs,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8888),
            "state": {},
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        status = 0
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def operations(
    app: App, records: list[str], etags: list[tuple[str, str]], since: str
) -> dict[str, tuple[Call, int]]:
    base = f"/v1/buckets/{BUCKET}/collections"
    seq = iter(range(10**9))

    def create() -> Awaitable[tuple[int, bytes]]:
        n = next(seq)
        return app.request("POST", f"{base}/write/records", body={"data": record_data(n)})

    def batch() -> Awaitable[tuple[int, bytes]]:
        reqs = [
            {
                "method": "POST",
                "path": f"/buckets/{BUCKET}/collections/write/records",
                "body": {"data": record_data(next(seq))},
            }
            for _ in range(25)
        ]
        return app.request("POST", "/v1/batch", body={"requests": reqs})

    def list_page() -> Awaitable[tuple[int, bytes]]:
        return app.request("GET", f"{base}/read/records", "_limit=100")

    ids = iter(range(10**9))

    def get() -> Awaitable[tuple[int, bytes]]:
        rid = records[next(ids) % len(records)]
        return app.request("GET", f"{base}/read/records/{rid}")

    def conditional() -> Awaitable[tuple[int, bytes]]:
        rid, etag = etags[next(ids) % len(etags)]
        return app.request(
            "GET", f"{base}/read/records/{rid}", headers=[(b"if-none-match", etag.encode())]
        )

    def poll() -> Awaitable[tuple[int, bytes]]:
        return app.request("GET", f"{base}/read/records", f"_since={since}")

    return {
        "create": (create, 201),
        "batch": (batch, 200),
        "list": (list_page, 200),
        "get": (get, 200),
        "conditional": (conditional, 304),
        "since": (poll, 200),
    }


async def seed(app: App, count: int) -> tuple[list[str], list[tuple[str, str]], str]:
    status, _ = await app.request("PUT", f"/v1/buckets/{BUCKET}", body={"data": {}})
    assert status in (200, 201), status
    for coll in ("read", "write"):
        status, _ = await app.request(
            "PUT", f"/v1/buckets/{BUCKET}/collections/{coll}", body={"data": {}}
        )
        assert status in (200, 201), status
    ids = [str(uuid.UUID(int=(0xB0 << 120) | i, version=4)) for i in range(count)]
    base = f"/buckets/{BUCKET}/collections/read/records"
    for start in range(0, count, 25):
        reqs = [
            {"method": "PUT", "path": f"{base}/{rid}", "body": {"data": record_data(start + k)}}
            for k, rid in enumerate(ids[start : start + 25])
        ]
        status, _ = await app.request("POST", "/v1/batch", body={"requests": reqs})
        assert status == 200, status
    etags = []
    for rid in ids[:: max(1, count // 100)][:100]:
        status, body = await app.request("GET", f"/v1{base}/{rid}")
        assert status == 200
        etags.append((rid, f'"{jsonio.loads(body)["data"]["last_modified"]}"'))
    status, body = await app.request("GET", f"/v1{base}", "_limit=1")
    since = str(jsonio.loads(body)["data"][0]["last_modified"])
    return ids, etags, since


async def measure(
    args: argparse.Namespace, storage_url: str | None, data_dir: Path
) -> list[dict[str, Any]]:
    from homeport.home import create_home_app
    from homeport.settings import load_settings

    password = os.urandom(8).hex()
    flags: dict[str, Any] = {"admin_password": password}
    if storage_url:
        flags["storage_url"] = storage_url
    settings = load_settings(data_dir, **flags)
    starlette = create_home_app(settings)
    counter = Counter()
    if storage_url:
        counter.install()
    auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
    app = App(starlette, auth)
    rows = []
    async with starlette.router.lifespan_context(starlette):
        ids, etags, since = await seed(app, args.records)
        ops = operations(app, ids, etags, since)
        for name in args.only or list(ops):
            call, expected = ops[name]
            n = args.batches if name == "batch" else args.requests
            for _ in range(min(20, n)):  # warm-up
                status, body = await call()
                assert status == expected, (name, status, body[:300])
            if args.statements:
                counter.sent = []
                await call()
                print(f"{name}:", *counter.sent, sep="\n  ", file=sys.stderr)
            profiler = cProfile.Profile(time.process_time) if args.profile == name else None
            statements = counter.count
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            for _ in range(n):
                status, body = await call()
                if status != expected:
                    raise SystemExit(f"{name}: {status} {body[:300]!r}")
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            rows.append(
                {
                    "operation": name,
                    "requests": n,
                    "cpu_ms": 1000 * cpu / n,
                    "wall_ms": 1000 * wall / n,
                    "statements": (counter.count - statements) / n if storage_url else None,
                }
            )
            if profiler:
                for key in ("cumulative", "tottime"):
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(30)
                    print(out.getvalue(), file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--requests", type=int, default=2000, help="requests per operation (2000)")
    p.add_argument("--batches", type=int, default=100, help="batches of 25 (100)")
    p.add_argument("--records", type=int, default=1000, help="seed records (1000)")
    p.add_argument("--only", action="append", help="an operation (repeatable)")
    p.add_argument("--profile", help="cProfile this operation")
    p.add_argument("--statements", action="store_true", help="print one request's statements")
    p.add_argument("--storage-url", help="an existing PostgreSQL database (else a throwaway one)")
    args = p.parse_args(argv)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hp-reccpu-")))
        url = args.storage_url
        if args.engine == "postgresql" and url is None:
            from homeport.testing.postgres import TempPostgres

            pg = stack.enter_context(TempPostgres())
            url = pg.create_database("reccpu")
        rows = asyncio.run(measure(args, url if args.engine == "postgresql" else None, tmp))
    print(f"engine {args.engine}, load average {os.getloadavg()[0]:.2f}")
    head = ("operation", "requests", "CPU ms/req", "wall ms/req", "stmts/req")
    print(f"{head[0]:<12} {head[1]:>8} {head[2]:>10} {head[3]:>11} {head[4]:>9}")
    for r in rows:
        stmts = "-" if r["statements"] is None else f"{r['statements']:.2f}"
        print(
            f"{r['operation']:<12} {r['requests']:>8} {r['cpu_ms']:>10.3f}"
            f" {r['wall_ms']:>11.3f} {stmts:>9}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
