"""Setting up the same data on each server, and checking each operation once before loading it."""

from __future__ import annotations

import uuid
from typing import Any

from recbench.servers import Client, Response, Running, log
from recbench.wrk import FILLER, Operation, Target

BUCKET = "bench"
READ = "read"  # pre-populated; only read during the run
WRITE = "write"  # single and batch creates
CONCURRENT = "concurrent"  # the concurrent-writers test
ETAG_SAMPLE = 100  # records whose ETag the conditional GETs cycle through


class SetupError(RuntimeError):
    pass


def _expect(resp: Response, statuses: tuple[int, ...], what: str) -> Response:
    if resp.status not in statuses:
        raise SetupError(f"{what}: expected {statuses}, got {resp.status}: {str(resp.body)[:300]}")
    return resp


def record_data(i: int) -> dict[str, Any]:
    return {"title": f"seed {i}", "n": i, "tags": ["bench", "seed"], "text": FILLER}


def _seed_ids(count: int) -> list[str]:
    # Deterministic UUIDs: the same ids on every server and run.
    return [str(uuid.UUID(int=(0xB0 << 120) | i, version=4)) for i in range(count)]


def _populate(client: Client, ids: list[str], batch_size: int) -> None:
    base = f"/buckets/{BUCKET}/collections/{READ}/records"
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        body = {
            "defaults": {"method": "PUT"},
            "requests": [
                {"path": f"{base}/{rid}", "body": {"data": record_data(start + k)}}
                for k, rid in enumerate(chunk)
            ],
        }
        resp = _expect(client.request("POST", "/v1/batch", body), (200,), "seed batch")
        subs = [r.get("status") for r in resp.body.get("responses", [])]
        if len(subs) != len(chunk) or any(s not in (200, 201) for s in subs):
            raise SetupError(f"seed batch: sub-statuses {subs}")


def prepare(server: Running, records: int, batch_size: int) -> Target:
    """Create bucket, collections and ``records`` seed records; return what wrk needs."""
    client = server.client()
    root = _expect(client.request("GET", "/v1/"), (200,), "GET /v1/")
    user = (root.body or {}).get("user", {}).get("id")
    if not user:
        raise SetupError(f"Basic auth was not accepted by {server.name}: {root.body}")
    _expect(client.request("PUT", f"/v1/buckets/{BUCKET}", {"data": {}}), (200, 201), "bucket")
    for coll in (READ, WRITE, CONCURRENT):
        _expect(
            client.request("PUT", f"/v1/buckets/{BUCKET}/collections/{coll}", {"data": {}}),
            (200, 201),
            f"collection {coll}",
        )
    ids = _seed_ids(records)
    log(f"{server.name}/{server.backend}: seeding {records} records in batches of {batch_size}")
    _populate(client, ids, batch_size)

    read_path = f"/v1/buckets/{BUCKET}/collections/{READ}/records"
    step = max(1, records // ETAG_SAMPLE)
    etags: list[tuple[str, str]] = []
    for rid in ids[::step][:ETAG_SAMPLE]:
        resp = _expect(client.request("GET", f"{read_path}/{rid}"), (200,), "get seed record")
        etag = resp.header("etag")
        if not etag:
            raise SetupError(f"no ETag on GET {read_path}/{rid}")
        etags.append((rid, etag))
    listing = _expect(client.request("GET", f"{read_path}?_limit=1"), (200,), "list")
    etag = listing.header("etag")
    if not etag:
        raise SetupError("no ETag on the records list")
    return Target(
        base_url=server.base_url,
        auth=server.auth,
        bucket=BUCKET,
        read_collection=READ,
        write_collection=WRITE,
        ids=ids,
        etags=etags,
        since=int(etag.strip('"')),
        batch_size=batch_size,
    )


def check_once(client: Client, op: Operation, target: Target) -> str | None:
    """Do ``op`` once and return what is wrong with the answer, or None when it is right."""
    read_path = target.records_path(target.read_collection)
    write_path = target.records_path(target.write_collection)
    data = {"data": record_data(-1)}
    resp: Response
    if op.key in ("create", "concurrent"):
        resp = client.request("POST", write_path, data)
    elif op.key == "batch":
        body = {
            "defaults": {"method": "POST", "path": write_path.removeprefix("/v1")},
            "requests": [{"body": data} for _ in range(target.batch_size)],
        }
        resp = client.request("POST", "/v1/batch", body)
        if resp.status == 200:
            subs = [r.get("status") for r in resp.body.get("responses", [])]
            if subs != [201] * target.batch_size:
                return f"batch sub-statuses {subs}"
    elif op.key == "list":
        resp = client.request("GET", f"{read_path}?_limit=100")
        if resp.status == 200 and len(resp.body.get("data", [])) != 100:
            return f"list page has {len(resp.body.get('data', []))} records, not 100"
    elif op.key == "get":
        resp = client.request("GET", f"{read_path}/{target.ids[0]}")
    elif op.key == "conditional":
        rid, etag = target.etags[0]
        resp = client.request("GET", f"{read_path}/{rid}", headers={"If-None-Match": etag})
    elif op.key == "since":
        resp = client.request("GET", f"{read_path}?_since={target.since}")
        if resp.status == 200 and resp.body.get("data"):
            return f"_since={target.since} returned {len(resp.body['data'])} records, not 0"
    else:  # pragma: no cover
        raise ValueError(op.key)
    if resp.status not in op.expected:
        return f"status {resp.status} (expected {op.expected}): {str(resp.body)[:200]}"
    return None
