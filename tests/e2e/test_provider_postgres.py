"""``homeport provider serve --database postgresql://…`` as a real process (two worker processes
on one database): a home enrolls and publishes through the CLI, the site is served, the operator
commands given the same ``--database`` see and change the same state, a new home is restored
from the provider's copy, and nothing of it is kept in SQLite files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from homeport.testing.live import free_port, log_tail, stop_process

from .repo_support import cli, cli_env, init, ok

pytestmark = pytest.mark.postgres

BASE = "example.test"


def provider(*args: str, data: Path, database: str) -> str:
    """An operator command on the provider's data and database."""
    command = [sys.executable, "-m", "homeport", "provider", *args]
    done = subprocess.run(
        [*command, "--data", str(data), "--database", database],
        capture_output=True,
        timeout=120,
        env=cli_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@pytest.fixture
def served(tmp_path: Path, fresh_postgres_url: str) -> Iterator[tuple[str, Path, str]]:
    """The provider's URL, data dir and database, served by two worker processes."""
    data, port, log = tmp_path / "provider", free_port(), tmp_path / "provider.log"
    command = [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data)]
    command += ["--port", str(port), "--base-domain", BASE, "--workers", "2"]
    command += ["--database", fresh_postgres_url]
    env = {**cli_env(), "HOMEPORT_OPERATOR_PASSWORD": "operator-pw"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log_tail(log)
            try:
                if httpx.get(f"{url}/_homeport/v1/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"provider not up:\n{log_tail(log)}"
            time.sleep(0.05)
        yield url, data, fresh_postgres_url
    finally:
        stop_process(proc)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output, log_tail(log)
    assert "state and repositories in PostgreSQL at 127.0.0.1:" in output


def tables(database: str, schema: str) -> dict[str, int]:
    """Rows per table in one schema of the database."""
    with psycopg.connect(database) as conn:
        names = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
        counted = {}
        for (name,) in names:
            row = conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()
            counted[name] = int(row[0]) if row else 0
        return counted


@pytest.mark.timeout(300)  # a provider, two homes, a publish and a restore: 153 s at load 15
def test_a_provider_on_postgresql_takes_a_publish_serves_it_and_restores(
    tmp_path: Path, served: tuple[str, Path, str]
) -> None:
    url, data, database = served
    home = tmp_path / "home"
    phrase = init(home)["phrase"]
    article = tmp_path / "hello.md"
    article.write_text("---\ntitle: Hello from PostgreSQL\n---\n\nFirst post.\n")
    ok("add", "article", str(article), data=home)
    ok("add", "note", "A note only I can see", "--private", data=home)
    code = json.loads(provider("invite", "--json", data=data, database=database))["code"]

    ok("providers", "add", url, code, "--name", "alice", data=home)
    published = json.loads(ok("publish", "--json", data=home))

    assert [row["ok"] for row in published] == [True]
    page = httpx.get(url, headers={"Host": f"alice.{BASE}"}, timeout=10)
    assert page.status_code == 200 and "Hello from PostgreSQL" in page.text
    assert "A note only I can see" not in page.text
    listed = json.loads(provider("tenants", "--json", data=data, database=database))
    assert [(t["name"], t["seq"]) for t in listed] == [("alice", 1)]
    assert listed[0]["usage"] > 0
    held = tables(database, "tenant_alice")
    assert held["objects"] > 0 and held["packs"] >= 1 and held["commits"] == 1
    assert "data" not in held  # the bytes are in pack files, indexed here
    assert list((data / "tenants").rglob("*")) and any(
        p.is_file() and p.parent.name == "packs" for p in data.rglob("*")
    )
    assert tables(database, "provider")["tenants"] == 1
    assert not list(data.rglob("*.sqlite"))  # the state is in PostgreSQL, the sites in files

    restored = tmp_path / "restored"
    ok("restore", "--from", url, data=restored, stdin=phrase)
    ok("export", str(tmp_path / "home.bundle"), data=home)
    ok("export", str(tmp_path / "restored.bundle"), data=restored)
    assert (tmp_path / "restored.bundle").read_bytes() == (tmp_path / "home.bundle").read_bytes()

    # the restore made the new device the primary (a root-signed handoff with its own key):
    # from now on it is the one that publishes, and the old device is refused with a line
    # that says why, and keeps what it learnt (a standby: its own writes are refused too)
    lost = cli("publish", data=home)
    assert lost.code != 0 and "standby" in lost.err
    assert json.loads((home / "handoff.json").read_text())["epoch"] == 1
    standby = cli("add", "note", "Written on the old device", data=home)
    assert standby.code != 0 and "standby" in standby.err

    provider("suspend", "alice", data=data, database=database)
    assert httpx.get(url, headers={"Host": f"alice.{BASE}"}, timeout=10).status_code == 503
    assert cli("publish", data=restored).code != 0
    provider("resume", "alice", data=data, database=database)
    ok("add", "note", "Back again", data=restored)
    assert all(row["ok"] for row in json.loads(ok("publish", "--json", data=restored)))

    provider("delete", "alice", data=data, database=database)
    assert httpx.get(url, headers={"Host": f"alice.{BASE}"}, timeout=10).status_code == 410
    assert tables(database, "tenant_alice") == {}  # the schema went with the tenant
