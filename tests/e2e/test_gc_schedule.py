"""``serve`` collects garbage on its schedule (``gc_interval_seconds``): a replaced attachment's
old blob and a deleted record's go, the current one stays and is still served; on SQLite and
PostgreSQL."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from .conftest import HomeFactory
from .repo_support import attach, check, init

POLL_SECONDS = 60.0
R = "/buckets/b/collections/c/records"


def _blobs(data: Path) -> set[str]:
    root = data / "blobs"
    return {p.parent.name + p.name for p in root.glob("??/*") if not p.name.startswith(".")}


def test_serve_collects_unreferenced_blobs_on_its_schedule(
    home: HomeFactory, backend_env: dict[str, str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    init(data)
    env = {
        **backend_env,
        "HOMEPORT_GC_INTERVAL_SECONDS": "1",
        "HOMEPORT_GC_GRACE_SECONDS": "2",
        "HOMEPORT_AUTO_PUBLISH": "false",
    }
    server = home(env=env, data=data)
    with server.client() as client:
        check(client.put("/buckets/b", json={"data": {}}))
        check(client.put("/buckets/b/collections/c", json={"data": {}}))
        old, new, gone = (secrets.token_bytes(30_000) for _ in range(3))
        attach(client, f"{R}/photo", "a.png", old)
        attach(client, f"{R}/photo", "a.png", new)  # the first blob is named by nothing now
        attach(client, f"{R}/scan", "s.png", gone)
        check(client.delete(f"{R}/scan"))
        current = check(client.get(f"{R}/photo")).json()["data"]["attachment"]
        deadline = time.monotonic() + POLL_SECONDS
        while _blobs(data) != {current["hash"]} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _blobs(data) == {current["hash"]}, server.output()
        served = client.get(current["location"])
        assert served.status_code == 200 and served.content == new
    assert "Traceback" not in server.output()
