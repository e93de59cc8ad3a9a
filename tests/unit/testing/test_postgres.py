"""TempPostgres: a real cluster starts, answers queries, and leaves nothing behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from homeport.testing.postgres import PostgresError, TempPostgres

pytestmark = pytest.mark.postgres


def _select_one(url: str) -> object:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT 1").fetchone()
    assert row is not None
    return row[0]


def _refuses_connections(url: str, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            psycopg.connect(url, connect_timeout=2).close()
        except psycopg.OperationalError:
            return True
        time.sleep(0.1)
    return False


def test_start_query_create_database_stop(postgres_bin: Path) -> None:
    pg = TempPostgres()
    with pg:
        assert pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        assert _select_one(pg.url) == 1
        with psycopg.connect(pg.url) as conn:
            settings = conn.execute(
                "SELECT current_setting('fsync'), current_setting('max_connections'),"
                " current_setting('server_encoding'), current_setting('listen_addresses')"
            ).fetchone()
        assert settings == ("off", "200", "UTF8", "127.0.0.1")

        url = pg.create_database("demo_db")
        assert url == f"postgresql://postgres@127.0.0.1:{pg.port}/demo_db"
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("demo_db",)

        directory = pg.directory
        assert directory is not None and directory.is_dir()

    assert not directory.exists()
    assert _refuses_connections(url)
    pg.stop()  # idempotent
    with pytest.raises(PostgresError):
        _ = pg.url


def test_port_in_use_fails_clearly_and_cleans_up(postgres_bin: Path) -> None:
    with TempPostgres() as first:
        second = TempPostgres(port=first.port)
        with pytest.raises(PostgresError, match=f"did not start on port {first.port}"):
            second.start()
        assert second.directory is None
        assert _select_one(first.url) == 1  # the first one is unharmed


def test_create_database_rejects_unsafe_names() -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        TempPostgres().create_database('x"; DROP DATABASE postgres; --')


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_command_line_cluster_is_cleaned_up_when_killed(
    postgres_bin: Path, sig: signal.Signals
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "homeport.testing.postgres"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("postgresql://postgres@127.0.0.1:")
        assert _select_one(url) == 1
        proc.send_signal(sig)
        returncode = proc.wait(timeout=30)
        assert returncode == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
        assert _refuses_connections(url)  # SIGKILL: the watchdog stopped it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_fixtures_give_isolated_databases(postgres_url: str, fresh_postgres_url: str) -> None:
    assert fresh_postgres_url != postgres_url
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT to_regclass('only_here') IS NULL").fetchone()
    assert row == (True,)
