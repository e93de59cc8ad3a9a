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


def _run_wizard(root: str, password: str) -> None:
    """The first-run wizard over HTTP, as the browser sends it."""
    with httpx.Client(base_url=root, timeout=30) as browser:
        form = browser.get("/admin/setup")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf, form.text
        done = browser.post(
            "/admin/setup",
            data={
                "csrf": csrf.group(1),
                "name": "Ada",
                "title": "Mine",
                "theme": "journal",
                "password": password,
                "password2": password,
            },
        )
        assert done.status_code == 303, done.text


def test_first_run_leaves_the_one_password_to_the_wizard(home: HomeFactory) -> None:
    h = home()
    assert PASSWORD_LINE.search(h.output()) is None, h.output()
    assert "set up your home" in h.output()
    with h.client(auth=("admin", "chosen in the wizard")) as client:
        assert client.get("/buckets").status_code == 401  # no owner yet, nobody guessed in
    _run_wizard(h.root, "chosen in the wizard")
    with h.client(auth=("admin", "chosen in the wizard")) as client:
        assert client.get("/").json()["user"]["id"] == "account:admin"
    assert h.stop() == 0
    again = home()
    assert PASSWORD_LINE.search(again.output()) is None
    assert "set up your home" not in again.output()


def test_a_home_set_up_without_the_wizard_prints_a_generated_password(
    home: HomeFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}, **FAST_ENV}
    for argv in (["init", "--json"], ["add", "note", "Hello"]):
        subprocess.run(
            [sys.executable, "-m", "homeport", *argv, "--data", str(data)],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
    first = home()
    found = PASSWORD_LINE.findall(first.output())
    assert len(found) == 1, first.output()
    with first.client(auth=("admin", found[0])) as client:
        assert client.get("/").json()["user"]["id"] == "account:admin"
    with first.client(auth=("admin", found[0] + "x")) as client:
        assert client.get("/buckets").status_code == 401
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
