"""``provider serve --workers N`` when only its parent process is killed: the workers must not
outlive it holding the port (an orphaned worker keeps serving a provider nobody supervises, and
a restart cannot bind the port)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homeport.testing.live import free_port
from tests.provider.test_workers import _answers, workers_of

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc")

BOUND_SECONDS = 10.0


def port_free(port: int) -> bool:
    """Whether the port can be bound again (no process holds a listening socket on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_killing_the_parent_only_frees_the_port(tmp_path: Path) -> None:
    data, port = tmp_path / "provider", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(HOMEPORT_OPERATOR_PASSWORD="operator-password", HOMEPORT_ARGON2_TIME_COST="1")
    env["HOMEPORT_ARGON2_MEMORY_KIB"] = "1024"
    command = [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data)]
    command += ["--port", str(port), "--base-domain", "prov.test", "--workers", "2"]
    log_path = tmp_path / "provider.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while len(workers_of(proc.pid)) < 2 or not _answers(url):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "provider serve --workers 2 did not start"
            time.sleep(0.1)
        workers = workers_of(proc.pid)

        os.kill(proc.pid, signal.SIGKILL)  # the parent only: no chance to stop its workers
        proc.wait(10)
        started = time.monotonic()
        while not port_free(port) or any(Path(f"/proc/{pid}").exists() for pid in workers):
            waited = time.monotonic() - started
            assert waited < BOUND_SECONDS, f"workers {workers} still hold port {port}"
            time.sleep(0.1)
        print(f"port free {time.monotonic() - started:.2f} s after the parent was killed")
        assert not _answers(url)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its process group
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
