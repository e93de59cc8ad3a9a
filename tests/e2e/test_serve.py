"""``homeport serve`` as a user runs it: the URL, the first-run password, SIGTERM, restarts."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import ADMIN, FAST_ENV, HomeFactory

PASSWORD_LINE = re.compile(r"password: (\S+)")


def test_serve_prints_the_api_url(home: HomeFactory) -> None:
    h = home({"HOMEPORT_ADMIN_PASSWORD": ADMIN[1]})
    assert f"http://127.0.0.1:{h.port}/v1/" in h.output()


def test_first_run_prints_a_generated_password_that_works(home: HomeFactory) -> None:
    h = home()
    found = PASSWORD_LINE.findall(h.output())
    assert len(found) == 1, h.output()
    with h.client(auth=("admin", found[0])) as client:
        r = client.get("/")
    assert r.json()["user"]["id"] == "account:admin"
    with h.client(auth=("admin", found[0] + "x")) as client:
        assert client.get("/buckets").status_code == 401


def test_second_start_does_not_print_a_password(home: HomeFactory, tmp_path: Path) -> None:
    first = home()
    assert PASSWORD_LINE.search(first.output())
    assert first.stop() == 0
    second = home()
    assert PASSWORD_LINE.search(second.output()) is None
    assert f"http://127.0.0.1:{second.port}/v1/" in second.output()


def test_sigterm_stops_the_server_within_five_seconds_with_code_0(home: HomeFactory) -> None:
    h = home({"HOMEPORT_ADMIN_PASSWORD": ADMIN[1]})
    started = time.monotonic()
    h.proc.send_signal(signal.SIGTERM)
    assert h.proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in h.output()


def test_records_survive_a_restart(home: HomeFactory) -> None:
    env = {"HOMEPORT_ADMIN_PASSWORD": ADMIN[1]}
    first = home(env)
    with first.client() as c:
        assert c.put("/buckets/b").status_code == 201
        assert c.put("/buckets/b/collections/c").status_code == 201
        r = c.put("/buckets/b/collections/c/records/r1", json={"data": {"title": "kept"}})
        assert r.status_code == 201
    written = r.json()["data"]
    assert first.stop() == 0
    second = home(env)
    with second.client() as c:
        r = c.get("/buckets/b/collections/c/records/r1")
    assert r.status_code == 200
    assert r.json()["data"] == written


def test_sqlite_file_is_in_the_data_dir_in_wal_mode(home: HomeFactory) -> None:
    h = home({"HOMEPORT_ADMIN_PASSWORD": ADMIN[1]})
    database = h.data / "homeport.sqlite"
    assert database.is_file()
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_path_outside_v1_redirects_and_v1_answers(home: HomeFactory) -> None:
    h = home({"HOMEPORT_ADMIN_PASSWORD": ADMIN[1]})
    r = httpx.get(f"http://127.0.0.1:{h.port}/", timeout=10)
    assert r.status_code == 307
    assert r.headers["location"] == f"http://127.0.0.1:{h.port}/v1/"


def test_busy_port_is_one_clear_line_and_exit_code_1(home: HomeFactory, tmp_path: Path) -> None:
    first = home({"HOMEPORT_ADMIN_PASSWORD": ADMIN[1]})
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "homeport",
            "serve",
            "--data",
            str(tmp_path / "other"),
            "--host",
            "127.0.0.1",
            "--port",
            str(first.port),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env={**clean, **FAST_ENV, "HOMEPORT_ADMIN_PASSWORD": ADMIN[1]},
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        line for line in proc.stderr.splitlines() if line.startswith("homeport: cannot listen")
    ]
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
