"""Starting and stopping the servers under test, and a tiny stdlib HTTP client.

Every process started here is started in its own session and stopped (SIGTERM, then SIGKILL)
by its process-group id in a ``finally`` block, so a failing or interrupted run leaves nothing
behind.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from homeport.testing import live
from homeport.testing.live import free_port

KINTO_REQUIREMENT = "kinto[postgresql]==26.5"
KINTO_VERSION_PREFIX = "26.5"
ADMIN_USER = "admin"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def basic_auth(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Client:
    """A minimal JSON client for the set-up requests (the load itself comes from wrk)."""

    def __init__(self, base_url: str, auth: str | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.hostname != "127.0.0.1":
            raise ValueError("the benchmark only talks to 127.0.0.1")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.auth = auth
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            hdrs = {"Accept": "application/json"}
            if self.auth:
                hdrs["Authorization"] = self.auth
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            hdrs.update(headers or {})
            conn.request(method, path, body=payload, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            parsed: Any = None
            if raw:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = raw.decode("utf-8", "replace")
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed)
        finally:
            conn.close()


@dataclass
class Running:
    name: str  # "Homeport" or "Kinto"
    backend: str  # "SQLite", "memory", "PostgreSQL"
    base_url: str
    auth: str
    admin_password: str
    process: subprocess.Popen[bytes]
    log_path: Path
    details: dict[str, Any]

    def client(self, *, authenticated: bool = True) -> Client:
        return Client(self.base_url, self.auth if authenticated else None)


def process_group(pgid: int) -> dict[str, Any]:
    """How many processes (and threads in all) the server's process group runs, from /proc."""
    processes = 0
    threads = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # after "pid (comm)": state ppid pgrp session ... num_threads is the 18th field here
        if int(fields[2]) == pgid:
            processes += 1
            threads += int(fields[17])
    return {"processes": processes, "threads": threads}


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) used so far by the live processes of a process group."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def managed_process(
    cmd: list[str], log_path: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        live.stop_process(proc, STOP_TIMEOUT_S)  # the whole group: start_new_session=True


def wait_ready(base_url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    """Poll ``/v1/__heartbeat__`` until it answers 200, bounded by START_TIMEOUT_S."""
    live.wait_ready(base_url + "/v1/__heartbeat__", [proc], log_path, START_TIMEOUT_S)


# --- Kinto ------------------------------------------------------------------------------------


def kinto_version(venv: Path) -> str | None:
    exe = venv / "bin" / "kinto"
    if not exe.exists():
        return None
    proc = subprocess.run(
        [str(exe), "version"], capture_output=True, text=True, timeout=60, check=False
    )
    out = (proc.stdout + proc.stderr).strip().splitlines()
    return out[-1].strip() if proc.returncode == 0 and out else None


def ensure_kinto(venv: Path) -> str:
    """Reuse ``venv`` if it has Kinto 26.5 with psycopg2, else create it and pip install Kinto."""
    version = kinto_version(venv)
    has_pg = (venv / "bin" / "python").exists() and subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import psycopg2"],
        capture_output=True,
        timeout=60,
        check=False,
    ).returncode == 0
    if version and version.startswith(KINTO_VERSION_PREFIX) and has_pg:
        log(f"reusing Kinto {version} from {venv}")
        return version
    log(f"installing {KINTO_REQUIREMENT} into {venv} (PyPI)")
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip_log = venv.parent / f"{venv.name}-pip.log"
    with pip_log.open("wb") as out:
        proc = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", KINTO_REQUIREMENT],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=900,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"pip install {KINTO_REQUIREMENT} failed:\n{tail(pip_log)}")
    version = kinto_version(venv)
    if not version:
        raise RuntimeError(f"Kinto did not install into {venv}")
    return version


def sqlalchemy_url(url: str) -> str:
    """Kinto's PostgreSQL backends use SQLAlchemy with psycopg2: drop any ``+driver``."""
    parts = urlsplit(url)
    scheme = re.sub(r"\+.*$", "", parts.scheme)
    if scheme == "postgres":
        scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def write_kinto_ini(venv: Path, ini: Path, pg_url: str | None) -> None:
    """Kinto's own ``kinto init`` template, with the PostgreSQL URL filled in when needed.

    Storage and permissions use the backend under test; the cache (which also holds the
    accounts plugin's verified-password cache) stays in memory in both configurations, so the
    comparison is about the storage backend, not about a network cache.
    """
    backend = "postgresql" if pg_url else "memory"
    subprocess.run(
        [
            str(venv / "bin" / "kinto"),
            "init",
            "--ini",
            str(ini),
            "--backend",
            backend,
            "--cache-backend",
            "memory",
            "--host",
            "127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    if pg_url:
        url = sqlalchemy_url(pg_url)
        text = ini.read_text()
        text = re.sub(r"(?m)^kinto\.storage_url = .*$", f"kinto.storage_url = {url}", text)
        text = re.sub(r"(?m)^kinto\.permission_url = .*$", f"kinto.permission_url = {url}", text)
        ini.write_text(text)


def waitress_threads(venv: Path) -> int | None:
    """The thread count waitress (``kinto start``'s server) uses when the ini sets none."""
    proc = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from waitress.adjustments import Adjustments; print(Adjustments.threads)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return int(proc.stdout.strip()) if proc.returncode == 0 else None


@contextmanager
def kinto_server(venv: Path, workdir: Path, pg_url: str | None) -> Iterator[Running]:
    workdir.mkdir(parents=True, exist_ok=True)
    ini = workdir / "kinto.ini"
    write_kinto_ini(venv, ini, pg_url)
    log_path = workdir / "kinto.log"
    if pg_url:
        log("kinto migrate (fresh database)")
        with log_path.open("ab") as out:
            subprocess.run(
                [str(venv / "bin" / "kinto"), "migrate", "--ini", str(ini)],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=180,
            )
    port = free_port()
    cmd = [str(venv / "bin" / "kinto"), "start", "--ini", str(ini), "--port", str(port)]
    base_url = f"http://127.0.0.1:{port}"
    with managed_process(cmd, log_path, cwd=workdir) as proc:
        wait_ready(base_url, proc, log_path)
        password = os.urandom(12).hex()
        # The accounts plugin lets anyone create an account; "admin" may create buckets.
        resp = Client(base_url).request(
            "PUT", f"/v1/accounts/{ADMIN_USER}", {"data": {"password": password}}
        )
        if resp.status not in (200, 201):
            raise RuntimeError(f"Kinto refused the account: {resp.status} {resp.body}")
        yield Running(
            name="Kinto",
            backend="PostgreSQL" if pg_url else "memory",
            base_url=base_url,
            auth=basic_auth(ADMIN_USER, password),
            admin_password=password,
            process=proc,
            log_path=log_path,
            details={
                "server": "kinto start (pserve + waitress)",
                "waitress_threads": waitress_threads(venv),
                **process_group(proc.pid),
                "storage": "postgresql" if pg_url else "memory",
                "cache": "memory",
            },
        )


# --- Homeport ---------------------------------------------------------------------------------


@contextmanager
def homeport_server(repo: Path, workdir: Path, pg_url: str | None) -> Iterator[Running]:
    password = os.urandom(12).hex()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env["HOMEPORT_ADMIN_PASSWORD"] = password
    if pg_url:
        env["HOMEPORT_STORAGE_URL"] = pg_url
    home = live.start_home(
        workdir / "data",
        env,
        log=workdir / "homeport.log",
        cwd=repo,
        timeout=START_TIMEOUT_S,
        grace=STOP_TIMEOUT_S,
        start_new_session=True,
    )
    with home:
        yield Running(
            name="Homeport",
            backend="PostgreSQL" if pg_url else "SQLite",
            base_url=home.root,
            auth=basic_auth(ADMIN_USER, password),
            admin_password=password,
            process=home.proc,
            log_path=home.log,
            details={"server": "python -m homeport serve", **process_group(home.proc.pid)},
        )
