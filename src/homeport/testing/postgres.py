"""A throwaway PostgreSQL cluster for tests, benchmarks and development (stdlib only).

::

    with TempPostgres() as pg:
        pg.url                          # postgresql://postgres@127.0.0.1:PORT/postgres
        url = pg.create_database("t1")  # postgresql://postgres@127.0.0.1:PORT/t1

**For tests only.** The cluster trades durability for speed: ``initdb --no-sync`` and the server
runs with ``fsync=off`` (``-F``), so a crash may corrupt it. It uses ``trust`` authentication for
the ``postgres`` superuser, listens on 127.0.0.1 only, uses the ``C`` locale and UTF-8, and lives
in a temporary directory that :meth:`TempPostgres.stop` removes.

When running as root (containers, CI) the directory is handed to ``nobody`` and ``initdb`` /
``pg_ctl`` run through ``runuser -u nobody --``, because PostgreSQL refuses to run as root.

Nothing leaks: :meth:`TempPostgres.stop` runs on ``__exit__`` and at interpreter exit (``atexit``),
and a tiny watchdog process (its own session, stdin connected to a pipe from the owner) stops the
cluster and deletes its directory when the owner dies without cleaning up, even by ``SIGKILL``.

Command line: ``python -m homeport.testing.postgres [--port N]`` starts a cluster, prints its URL
on stdout and waits for Ctrl-C or SIGTERM, then stops it.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

__all__ = [
    "START_TIMEOUT",
    "PostgresError",
    "PostgresNotFoundError",
    "TempPostgres",
    "find_pg_bin",
]

START_TIMEOUT = 30
"""Seconds ``pg_ctl start -w`` may take before we give up."""
STOP_TIMEOUT = 30
INITDB_TIMEOUT = 60
QUERY_TIMEOUT = 30
HOST = "127.0.0.1"
SUPERUSER = "postgres"
UNPRIVILEGED_USER = "nobody"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on "
    "PATH; install them, e.g. `apt-get install postgresql` (Debian/Ubuntu) or "
    "`brew install postgresql@15` (macOS)"
)

_DB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
_PORT_IN_USE = ("Address already in use", "could not bind", "another postmaster")

# Runs as `python -I -S -c _WATCHDOG CONFIG`; blocks on stdin until the owner closes it or dies.
_WATCHDOG = """
import json, os, shutil, signal, subprocess, sys
for s in (signal.SIGINT, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
cfg = json.loads(sys.argv[1])
sys.stdin.buffer.read()
if os.path.exists(os.path.join(cfg["data"], "postmaster.pid")):
    for mode in ("fast", "immediate"):
        try:
            rc = subprocess.run(cfg["stop"] + [mode], cwd=cfg["dir"], timeout=cfg["timeout"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL).returncode
        except Exception:
            rc = -1
        if rc == 0:
            break
shutil.rmtree(cfg["dir"], ignore_errors=True)
"""


class PostgresError(RuntimeError):
    """The throwaway cluster could not be created, started, queried or stopped."""


class PostgresNotFoundError(PostgresError):
    """No PostgreSQL server binaries on this machine."""


def _has_server_tools(directory: Path) -> bool:
    return all(os.access(directory / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres"))


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name))


def find_pg_bin() -> Path | None:
    """Return the directory holding ``initdb`` and ``pg_ctl``, or ``None``.

    Looks at ``/usr/lib/postgresql/*/bin`` (Debian/Ubuntu layout, newest version first), then
    at ``initdb`` on ``PATH`` (following symlinks, e.g. Homebrew).
    """
    for candidate in sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True
    ):
        if _has_server_tools(candidate):
            return candidate
    initdb = shutil.which("initdb")
    if initdb is not None:
        for candidate in (Path(initdb).parent, Path(initdb).resolve().parent):
            if _has_server_tools(candidate):
                return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env() -> dict[str, str]:
    """Our environment without libpq/server variables (PGDATA, PGPORT, …) that could interfere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _runuser() -> str:
    for candidate in (shutil.which("runuser"), "/usr/sbin/runuser", "/sbin/runuser"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise PostgresError("running as root but `runuser` (util-linux) is missing")


def _run(argv: list[str], *, cwd: Path, timeout: float, what: str) -> str:
    """Run a command, bounded by ``timeout``; return its output or raise PostgresError."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=_clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        raise PostgresError(f"{what} timed out after {timeout:g} s") from None
    text = out.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        raise PostgresError(f"{what} failed (exit {proc.returncode}): {text}")
    return text


class TempPostgres:
    """A throwaway PostgreSQL cluster in a temporary directory; a context manager.

    ``url`` (the ``postgres`` database as the ``postgres`` superuser) and ``port`` are available
    once started. ``stop()`` is idempotent.
    """

    def __init__(self, port: int | None = None) -> None:
        self._requested_port = port
        self._port: int | None = None
        self._dir: Path | None = None
        self._bin: Path | None = None
        self._prefix: list[str] = []
        self._watchdog: subprocess.Popen[bytes] | None = None

    # -- properties ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresError("TempPostgres is not running (use it as a context manager)")
        return self._port

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres``."""
        return self.url_for(SUPERUSER)

    @property
    def directory(self) -> Path | None:
        """The temporary directory holding ``data/``, ``sock/`` and ``postgres.log``."""
        return self._dir

    def url_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Create and start the cluster; raise PostgresError (after cleaning up) on failure."""
        if self._dir is not None:
            raise PostgresError("TempPostgres already started")
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise PostgresNotFoundError(INSTALL_HINT)
        self._bin = bin_dir
        root = os.geteuid() == 0
        self._prefix = [_runuser(), "-u", UNPRIVILEGED_USER, "--"] if root else []
        # As root, use /tmp: nobody must be able to traverse the parents of the directory.
        self._dir = Path(tempfile.mkdtemp(prefix="homeport-pg-", dir="/tmp" if root else None))
        atexit.register(self.stop)
        try:
            (self._dir / "sock").mkdir()
            if root:
                try:
                    user = pwd.getpwnam(UNPRIVILEGED_USER)
                except KeyError:
                    msg = f"running as root but there is no user {UNPRIVILEGED_USER!r}"
                    raise PostgresError(msg) from None
                for path in (self._dir, self._dir / "sock"):
                    os.chown(path, user.pw_uid, user.pw_gid)
            self._spawn_watchdog()
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``) and remove the directory. Idempotent."""
        directory, self._dir = self._dir, None
        if directory is None:
            return
        self._port = None
        try:
            if (directory / "data" / "postmaster.pid").exists():
                try:
                    self._pg_ctl_stop(directory, "fast")
                except PostgresError:
                    self._pg_ctl_stop(directory, "immediate")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
            self._stop_watchdog()
            atexit.unregister(self.stop)

    # -- operations ---------------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """``CREATE DATABASE name`` (via ``psql``); return its URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"invalid database name {name!r} (letters, digits, _; max 63)")
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def execute(self, sql: str, database: str = SUPERUSER) -> str:
        """Run SQL through ``psql`` as the superuser; return psql's unaligned output."""
        if self._dir is None or self._bin is None:
            raise PostgresError("TempPostgres is not running (use it as a context manager)")
        psql = self._bin / "psql"
        psql_path = str(psql) if os.access(psql, os.X_OK) else shutil.which("psql")
        if psql_path is None:
            raise PostgresError("psql not found (install the PostgreSQL client)")
        argv = [psql_path, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        argv += ["-h", HOST, "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql]
        return _run(argv, cwd=self._dir, timeout=QUERY_TIMEOUT, what=f"psql {sql!r}")

    # -- internals ----------------------------------------------------------------------------

    def _tool(self, name: str) -> str:
        assert self._bin is not None
        return str(self._bin / name)

    def _initdb(self) -> None:
        assert self._dir is not None
        argv = [*self._prefix, self._tool("initdb"), "-D", str(self._dir / "data")]
        argv += ["-A", "trust", "-U", SUPERUSER, "--no-sync", "-E", "UTF8", "--locale=C"]
        _run(argv, cwd=self._dir, timeout=INITDB_TIMEOUT, what="initdb")

    def _start_server(self) -> None:
        assert self._dir is not None
        log = self._dir / "postgres.log"
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(1, attempts + 1):
            port = self._requested_port if self._requested_port is not None else _free_port()
            options = (
                f"-h {HOST} -p {port} -k {shlex.quote(str(self._dir / 'sock'))} -F"
                " -c max_connections=200 -c shared_buffers=128MB"
            )
            argv = [*self._prefix, self._tool("pg_ctl"), "start", "-w", "-t", str(START_TIMEOUT)]
            argv += ["-D", str(self._dir / "data"), "-l", str(log), "-o", options]
            offset = log.stat().st_size if log.exists() else 0
            try:
                _run(argv, cwd=self._dir, timeout=START_TIMEOUT + 5, what="pg_ctl start")
            except PostgresError as exc:
                tail = _read_from(log, offset)
                if attempt < attempts and any(s in tail for s in _PORT_IN_USE):
                    continue
                raise PostgresError(
                    f"PostgreSQL did not start on port {port} within {START_TIMEOUT} s: {exc}\n"
                    f"--- server log ---\n{tail[-4000:]}"
                ) from None
            self._port = port
            return

    def _pg_ctl_stop(self, directory: Path, mode: str) -> None:
        argv = [*self._prefix, self._tool("pg_ctl"), "stop", "-D", str(directory / "data")]
        argv += ["-w", "-t", str(STOP_TIMEOUT), "-m", mode]
        _run(argv, cwd=directory, timeout=STOP_TIMEOUT + 5, what=f"pg_ctl stop -m {mode}")

    def _spawn_watchdog(self) -> None:
        assert self._dir is not None
        stop = [*self._prefix, self._tool("pg_ctl"), "stop", "-D", str(self._dir / "data")]
        stop += ["-w", "-t", str(STOP_TIMEOUT), "-m"]
        config = {
            "dir": str(self._dir),
            "data": str(self._dir / "data"),
            "stop": stop,
            "timeout": STOP_TIMEOUT + 5,
        }
        self._watchdog = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHDOG, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_clean_env(),
            cwd="/",
            start_new_session=True,
        )

    def _stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        # Kill it before closing its stdin: EOF would make it (redundantly) clean up.
        watchdog.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            watchdog.wait(timeout=5)
        if watchdog.stdin is not None:
            with contextlib.suppress(OSError):
                watchdog.stdin.close()


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    """``python -m homeport.testing.postgres``: run a cluster until Ctrl-C / SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m homeport.testing.postgres",
        description="Start a throwaway PostgreSQL cluster (fsync off, for tests only), print its "
        "URL and wait for Ctrl-C or SIGTERM; then stop it and delete its files.",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    args = parser.parse_args(argv)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    pg = TempPostgres(port=args.port)
    try:
        pg.start()
        print(pg.url, flush=True)
        print("PostgreSQL is running; Ctrl-C to stop.", file=sys.stderr, flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        return 0
    except PostgresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
