"""A week's backlog drained: inbox items applied per second at the home (target ≥ 500/s).

A real ``homeport provider serve`` (SQLite) and a real ``homeport serve`` on 127.0.0.1. The
home is initialised and enrolled through the CLI; while it is off, 10,000 items of the test
kind ``test.note`` (``homeport.testing.inbox``: each creates one record in the home's store,
create-if-absent, as protocols' handlers do; bodies of about 1 KB, like a Micropub note) are
queued in its inbox at the provider, received a week ago. Then the home starts and its relay
drains them. The rate is measured at the home, from the times its relay logged the first and
the last item applied (``inbox.sqlite``); the time from the home's start to an empty inbox at
the provider (start-up included) is given too. Last, with the home connected, 20 items put one
at a time (by another process than the provider's, as another worker's would be): the time
from each put until its result is back at the provider (applied and acknowledged).

    .venv/bin/python bench/interop.py --only backlog
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from homeport.provider.db import ProviderDB
from homeport.provider.inbox import ProviderInbox
from homeport.store.open import open_record_store
from homeport.testing import inbox as test_inbox
from homeport.testing.live import free_port, stop_process, wait_ready

ITEMS = 10_000
WEEK_MS = 7 * 24 * 3600 * 1000
BODY = 1000
PY = (sys.executable, "-m")
LIVE = 20


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(HOMEPORT_OPERATOR_PASSWORD="bench-operator", HOMEPORT_ADMIN_PASSWORD="bench-admin")
    return env


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        capture_output=True,
        timeout=120,
        env=_env(),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"homeport {' '.join(args)}: {done.stderr.decode()}")
    return done.stdout.decode()


def _start(command: list[str], log: Path, ready: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_env()
        )
    try:
        wait_ready(ready, [proc], log, 60)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def _round_trip(box: ProviderInbox, n: int) -> float:
    """One item put (by this process, not the provider's: found by the provider's re-read)
    while the home is connected, until its result is back at the provider."""
    time.sleep(0.3)
    item_id = f"live-{n}"
    put = time.monotonic()
    box.put("alice", test_inbox.KIND, {}, b'{"title": "live"}', item_id=item_id)
    while box.result("alice", item_id) is None:
        if time.monotonic() - put > 30:
            raise RuntimeError("a live item took more than 30 s")
        time.sleep(0.002)
    return time.monotonic() - put


async def _records(home: Path) -> int:
    store = open_record_store(f"sqlite:///{home / 'homeport.sqlite'}")
    await store.initialize()
    try:
        return await store.count_all("record", test_inbox.PARENT, []) - LIVE
    finally:
        await store.close()


def run() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="homeport-bench-backlog-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        provider_data, home = tmp / "provider", tmp / "home"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        procs.append(
            _start(
                [
                    sys.executable,
                    "-m",
                    "homeport",
                    "provider",
                    "serve",
                    "--data",
                    str(provider_data),
                    "--port",
                    str(port),
                    "--base-domain",
                    "example.test",
                    "--workers",
                    "1",
                ],
                tmp / "provider.log",
                f"{url}/_homeport/v1/",
            )
        )
        _cli("init", "--json", "--data", str(home))
        code = json.loads(_cli("provider", "invite", "--json", "--data", str(provider_data)))
        _cli("providers", "add", url, code["code"], "--name", "alice", "--data", str(home))

        db = ProviderDB(provider_data)
        now = int(time.time() * 1000)
        box = ProviderInbox(db, ITEMS, 1 << 30, clock=lambda: now - WEEK_MS)
        queued = time.monotonic()
        for n in range(ITEMS):
            body = json.dumps({"title": f"Note {n}", "text": "x" * BODY}).encode()
            box.put("alice", test_inbox.KIND, {}, body, item_id=f"backlog-{n:05}")
        queue_seconds = time.monotonic() - queued

        home_port = free_port()
        started = time.monotonic()
        procs.append(
            _start(
                [
                    *PY,
                    "homeport.testing.inbox",
                    "serve",
                    "--data",
                    str(home),
                    "--port",
                    str(home_port),
                ],
                tmp / "home.log",
                f"http://127.0.0.1:{home_port}/v1/__heartbeat__",
            )
        )
        deadline = started + 600
        while box.usage("alice")[0]:
            if time.monotonic() > deadline:
                raise RuntimeError("the backlog was not drained in 10 minutes")
            time.sleep(0.1)
        drained = time.monotonic() - started
        results = sum(box.result("alice", f"backlog-{n:05}") is not None for n in range(ITEMS))
        live = ProviderInbox(db, ITEMS, 1 << 30, clock=lambda: int(time.time() * 1000))
        latencies = [_round_trip(live, n) for n in range(LIVE)]
        db.close()
        with sqlite3.connect(home / "inbox.sqlite") as log:
            count, first, last = log.execute(
                "SELECT count(*), min(applied), max(applied) FROM applied WHERE id LIKE 'backlog-%'"
            ).fetchone()
        stop_process(procs.pop())
        total = asyncio.run(_records(home))  # they really are in the home's store
        seconds = max(last - first, 1) / 1000
        return {
            "items": ITEMS,
            "body bytes": BODY,
            "queued at the provider (s)": round(queue_seconds, 2),
            "applied at the home": count,
            "records in the home's store": total,
            "results at the provider": results,
            "applied per second (home's log, first to last)": round((count - 1) / seconds),
            "home start to empty inbox (s)": round(drained, 2),
            f"connected: put → result at the provider, p50 of {LIVE} (ms)": round(
                statistics.median(latencies) * 1000
            ),
            "connected: put → result, max (ms)": round(max(latencies) * 1000),
        }
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
