"""Fixtures for the JavaScript-client suite: a live server and a way to run a node scenario.

The server is Homeport on SQLite and PostgreSQL, or with ``HOMEPORT_API_TARGET=kinto`` the
reference Kinto 26.5 (see :mod:`homeport.testing.targets`), with ``paginate_by`` 100 so that
every sync of more than 100 records spans pages. The npm packages are pinned in
``package-lock.json`` and installed by ``scripts/install`` (``npm ci``).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from homeport.testing.targets import IS_KINTO, Server, flush, start_target

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios.mjs"
PAGINATE_BY = 100
SETTINGS = {"paginate_by": str(PAGINATE_BY)}
BUCKET, COLLECTION = "b", "c"
RECORDS = f"/buckets/{BUCKET}/collections/{COLLECTION}/records"
NODE_TIMEOUT = 90.0

_BACKENDS = (
    ["kinto"] if IS_KINTO else ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with the pinned npm packages installed next to the scenarios."""
    binary = shutil.which("node")
    missing = []
    if not binary:
        missing.append("node (>= 20) on PATH")
    if not (HERE / "node_modules" / "kinto").is_dir():
        missing.append("tests/clients/node_modules (run scripts/install, which runs npm ci)")
    if missing:
        message = "the JS client tests need " + " and ".join(missing)
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    assert binary
    return binary


@pytest.fixture(scope="session", params=_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest, backend: str) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix=f"homeport-clients-{backend}-") as tmpdir:
        pg = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
        srv = start_target(Path(tmpdir), backend, pg, SETTINGS)
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture
def collection(server: Server) -> Server:
    """An empty server with bucket ``b`` and collection ``c`` owned by admin."""
    flush(server)
    admin = server.client("admin")
    assert admin.put(f"/buckets/{BUCKET}").status_code == 201
    assert admin.put(f"/buckets/{BUCKET}/collections/{COLLECTION}").status_code == 201
    return server


def run_scenario(
    node: str,
    server: Server,
    name: str,
    *,
    env: dict[str, str] | None = None,
    on_pause: Callable[[str], None] | None = None,
    timeout: float = NODE_TIMEOUT,
) -> dict[str, Any]:
    """Run ``node scenarios.mjs <name>`` as admin against ``server``; its ``result`` JSON.

    A ``{"pause": …}`` line calls ``on_pause`` and then lets the script go on. The whole run is
    bounded by ``timeout`` seconds; on failure the script's stderr is in the assertion.
    """
    child_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "KINTO_URL": server.url,
        "KINTO_USER": "admin",
        "KINTO_PASSWORD": server.admin[1],
        "KINTO_BUCKET": BUCKET,
        "KINTO_COLLECTION": COLLECTION,
        **(env or {}),
    }
    # stderr goes to a file: a pipe nobody reads could fill up and stall the script.
    errors_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen(
        [node, str(SCENARIOS), name],
        cwd=HERE,
        env=child_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors_file,
        text=True,
    )
    assert proc.stdin and proc.stdout
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    try:
        for line in _lines(proc.stdout, deadline, name):
            lines.append(line)
            message = json.loads(line) if line.startswith("{") else {}
            if "pause" in message:
                assert on_pause, f"scenario {name} paused but the test has no on_pause"
                on_pause(message["pause"])
                proc.stdin.write("go\n")
                proc.stdin.flush()
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdin.close()
        proc.stdout.close()
        errors_file.seek(0)
        errors = errors_file.read().decode(errors="replace")
        errors_file.close()
    assert proc.returncode == 0, f"scenario {name} failed ({proc.returncode}):\n{errors[-4000:]}"
    last = json.loads(lines[-1])
    return dict(last["result"])


def _lines(stream: IO[str], deadline: float, name: str) -> Iterator[str]:
    """The lines of ``stream`` until it ends, failing at ``deadline``."""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not sel.select(timeout=left):
                continue
            line = stream.readline()
            if not line:
                return
            yield line
    raise AssertionError(f"scenario {name} still running at its deadline")


def server_records(server: Server, *, tombstones: bool = False) -> dict[str, dict[str, Any]]:
    """Every record of ``b/c`` on the server (all pages), by id; with its tombstones if asked."""
    admin = server.client("admin")
    records: dict[str, dict[str, Any]] = {}
    url: str | None = RECORDS + ("?_since=0" if tombstones else "")
    for _ in range(10_000):
        if url is None:
            break
        r = admin.get(url)
        assert r.status_code == 200, r.text
        records.update({rec["id"]: rec for rec in r.json()["data"]})
        url = r.headers.get("Next-Page")
    else:
        raise AssertionError("pagination did not end")
    return records


def without_status(local: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A device's local records with kinto.js's local ``_status`` field removed."""
    return {k: {f: v for f, v in rec.items() if f != "_status"} for k, rec in local.items()}
