"""The servers a Kinto-compatibility test runs against, started the same way by every suite.

``HOMEPORT_API_TARGET=kinto`` selects a real Kinto 26.5 (with kinto-attachment), started from
``$KINTO_BIN`` (default ``.kinto-venv/bin/kinto``, made by ``scripts/install``) with a generated
ini: memory backends, accounts, flush, attachments. Kinto does not serve attachment files itself,
so a static file server is started on the attachments folder and used as
``attachment.base_url``. Otherwise Homeport runs, on the ``sqlite`` or ``postgresql`` backend.
Both get the same accounts and principals, so one test body checks both (tests/api,
tests/clients); Kinto is the reference that checks the tests themselves.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from homeport.testing.live import STARTUP_TIMEOUT, free_port, start_home, stop_process, wait_ready

TARGET = os.environ.get("HOMEPORT_API_TARGET", "homeport").strip().lower()
IS_KINTO = TARGET == "kinto"
REPO_ROOT = Path(__file__).resolve().parents[3]
KINTO_BIN = os.environ.get("KINTO_BIN", str(REPO_ROOT / ".kinto-venv" / "bin" / "kinto"))
ADMIN = "admin"
# Passwords of the test accounts (fixed so failures are reproducible).
PASSWORDS = {"admin": "admin-s3cret-pw", "alice": "alice-s3cret-pw", "bob": "bob-s3cret-pw"}


@dataclass
class Server:
    """A running server under test."""

    url: str  # e.g. http://127.0.0.1:PORT/v1
    root: str  # e.g. http://127.0.0.1:PORT
    backend: str  # "kinto", "sqlite" or "postgresql"
    admin: tuple[str, str] = (ADMIN, PASSWORDS[ADMIN])
    log_path: Path | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # Homeport only: its data folder and environment, to restart it on the same port.
    data: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    _clients: dict[str | None, httpx.Client] = field(default_factory=dict)

    @property
    def is_kinto(self) -> bool:
        return self.backend == "kinto"

    @property
    def port(self) -> int:
        return int(self.root.rsplit(":", 1)[1])

    def client(self, user: str | None = None) -> httpx.Client:
        """A client for ``user`` (None: anonymous), shared for the whole session.

        Creating an httpx.Client costs ~40 ms (SSL context), so they are cached.
        """
        if user not in self._clients:
            auth = (user, PASSWORDS[user]) if user else None
            self._clients[user] = httpx.Client(base_url=self.url, auth=auth, timeout=10.0)
        return self._clients[user]

    def credentials(self, user: str) -> tuple[str, str]:
        """Basic-auth credentials of one of the test users (admin, alice, bob)."""
        return (user, PASSWORDS[user])

    def close_clients(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()

    def absolute(self, location: str) -> str:
        """Resolve an attachment ``location`` (absolute or relative to the server root)."""
        if location.startswith(("http://", "https://")):
            return location
        return self.root + "/" + location.lstrip("/")

    def log_tail(self, n: int = 60) -> str:
        if self.log_path and self.log_path.exists():
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""

    def stop(self) -> None:
        self.close_clients()
        for p in self.procs:
            stop_process(p)
        self.procs.clear()

    def restart_home(self, settings: Mapping[str, str] | None = None) -> None:
        """Stop Homeport and start it again on the same data, port and backend.

        ``settings`` (by TOML key) are changed for the new process, e.g. one that acts at
        start-up such as ``tombstone_retention_seconds``; they stay for later restarts.
        """
        assert self.data is not None, "only a Homeport server can be restarted"
        self.stop()
        self.env.update({f"HOMEPORT_{k.upper()}": v for k, v in (settings or {}).items()})
        env = self.env
        home = start_home(
            self.data, env, port=self.port, log=self.log_path, timeout=STARTUP_TIMEOUT
        )
        self.procs.append(home.proc)


KINTO_INI = """\
[app:main]
use = egg:kinto
kinto.includes = kinto.plugins.accounts
                 kinto.plugins.flush
                 kinto.plugins.default_bucket
                 kinto_attachment
kinto.storage_backend = kinto.core.storage.memory
kinto.storage_url =
kinto.cache_backend = kinto.core.cache.memory
kinto.cache_url =
kinto.permission_backend = kinto.core.permission.memory
kinto.permission_url =
kinto.userid_hmac_secret = {secret}
multiauth.policies = account
multiauth.policy.account.use = kinto.plugins.accounts.AccountsPolicy
kinto.account_create_principals = system.Everyone
kinto.account_write_principals = account:admin
kinto.bucket_create_principals = system.Authenticated
kinto.experimental_permissions_endpoint = true
kinto.flush_endpoint_enabled = true
kinto.experimental_collection_schema_validation = true
kinto.attachment.base_path = {attachments}
kinto.attachment.base_url = {files_url}/
{settings}

[server:main]
use = egg:waitress#main
host = 127.0.0.1
port = {port}

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = plain

[logger_root]
level = WARNING
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = plain

[formatter_plain]
format = %(levelname)s %(name)s %(message)s
"""


# Kinto hashes account passwords with bcrypt at cost 12 (~0.35 s per hash and per
# first check).  Since every test flushes and re-creates ``admin``, that alone would
# cost ~1 s per test, so by default Kinto runs with cost 4: identical HTTP
# behaviour, only the "$2b$04$" prefix of the (never clear-text) hash differs.
# Set KINTO_FAST_BCRYPT=0 to run Kinto unmodified.
KINTO_LAUNCHER = """\
import sys

import bcrypt

_gensalt = bcrypt.gensalt


def _fast_gensalt(rounds=4, prefix=b"2b"):
    return _gensalt(rounds=4, prefix=prefix)


bcrypt.gensalt = _fast_gensalt

from kinto.__main__ import main

sys.exit(main(sys.argv[1:]))
"""


def _kinto_command(tmp: Path, ini: Path) -> list[str]:
    if os.environ.get("KINTO_FAST_BCRYPT", "1") == "0":
        return [KINTO_BIN, "start", "--ini", str(ini)]
    launcher = tmp / "kinto_launcher.py"
    launcher.write_text(KINTO_LAUNCHER)
    python = str(Path(KINTO_BIN).with_name("python"))
    return [python, str(launcher), "start", "--ini", str(ini)]


def start_kinto(tmp: Path, settings: Mapping[str, str] | None = None) -> Server:
    """Start Kinto 26.5 and its attachment file server in the empty folder ``tmp``.

    ``settings`` are more Kinto settings, without the ``kinto.`` prefix (``paginate_by``).
    """
    port, files_port = free_port(), free_port()
    attachments = tmp / "attachments"
    attachments.mkdir()
    files_url = f"http://127.0.0.1:{files_port}"
    ini = tmp / "kinto.ini"
    ini.write_text(
        KINTO_INI.format(
            secret=secrets.token_hex(32),
            attachments=attachments,
            files_url=files_url,
            port=port,
            settings="\n".join(f"kinto.{k} = {v}" for k, v in (settings or {}).items()),
        )
    )
    log = tmp / "server.log"
    with log.open("wb") as logf:  # the children keep their own descriptors
        procs = [
            subprocess.Popen(
                _kinto_command(tmp, ini), stdout=logf, stderr=subprocess.STDOUT, cwd=tmp
            ),
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "http.server",
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                    str(attachments),
                    str(files_port),
                ],
                stdout=logf,
                stderr=subprocess.STDOUT,
                cwd=tmp,
            ),
        ]
    root = f"http://127.0.0.1:{port}"
    server = Server(url=root + "/v1", root=root, backend="kinto", log_path=log, procs=procs)
    try:
        wait_ready(root + "/v1/__heartbeat__", procs, log, STARTUP_TIMEOUT)
    except BaseException:
        server.stop()
        raise
    return server


def start_homeport(
    tmp: Path,
    backend: str,
    postgres_url: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> Server:
    """Start ``homeport serve`` in the empty folder ``tmp``, configured as Kinto is above.

    ``settings`` are more Homeport settings by TOML key (``paginate_by``), set through their
    ``HOMEPORT_<KEY>`` variables.
    """
    env = dict(os.environ)
    env.update(
        HOMEPORT_FLUSH_ENDPOINT="true",
        HOMEPORT_ADMIN_PASSWORD=PASSWORDS[ADMIN],
        # The same principals as the Kinto ini above (see docs/compatibility.md).
        HOMEPORT_ACCOUNT_CREATE_PRINCIPALS="system.Everyone",
        HOMEPORT_ACCOUNT_WRITE_PRINCIPALS="account:admin",
        HOMEPORT_BUCKET_CREATE_PRINCIPALS="system.Authenticated",
        # Cheap argon2 so hundreds of sign-ups stay fast; the hashing itself is unchanged.
        HOMEPORT_ARGON2_TIME_COST="1",
        HOMEPORT_ARGON2_MEMORY_KIB="1024",
    )
    env.pop("HOMEPORT_PAGINATE_BY", None)
    if backend == "postgresql":
        assert postgres_url, "the postgresql backend needs a database URL"
        env["HOMEPORT_STORAGE_URL"] = postgres_url
    else:
        env.pop("HOMEPORT_STORAGE_URL", None)
    env.update({f"HOMEPORT_{k.upper()}": v for k, v in (settings or {}).items()})
    data = tmp / "data"
    home = start_home(data, env, log=tmp / "server.log", timeout=STARTUP_TIMEOUT)
    return Server(
        url=home.url,
        root=home.root,
        backend=backend,
        log_path=home.log,
        procs=[home.proc],
        data=data,
        env=env,
    )


def start_target(
    tmp: Path,
    backend: str,
    postgres_url: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> Server:
    """Start the server named by ``backend`` ("kinto", "sqlite" or "postgresql") in ``tmp``.

    ``settings`` are settings both servers share a name for (``paginate_by``).
    """
    if backend == "kinto":
        return start_kinto(tmp, settings)
    return start_homeport(tmp, backend, postgres_url, settings)


def ensure_account(server: Server, user: str) -> None:
    """Create the account ``user`` (one of PASSWORDS) unless it already authenticates."""
    r = server.client(user).get("/")
    r.raise_for_status()
    if r.json().get("user", {}).get("id") == f"account:{user}":
        return
    r = server.client().put(f"/accounts/{user}", json={"data": {"password": PASSWORDS[user]}})
    if r.status_code != 201:
        raise RuntimeError(f"creating account {user}: {r.status_code} {r.text}")


def flush(server: Server) -> None:
    """Empty the server (``POST /v1/__flush__``) and re-create the ``admin`` account."""
    r = server.client().post("/__flush__")
    if r.status_code != 202:
        raise RuntimeError(f"flush: {r.status_code} {r.text}")
    ensure_account(server, ADMIN)
