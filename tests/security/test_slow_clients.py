"""Slowloris: a client that sends its request one byte a second is cut, by ``provider serve`` and
by ``homeport serve`` (real processes on loopback), whether it dawdles over the headers or over
the body; the answer is a 408 and the connection is closed (``web/slowclients.py``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from homeport.testing.live import free_port, start_home, stop_process, wait_ready
from homeport.web.slowclients import BODY_GRACE, HEADER_TIMEOUT

SLACK = 4.0
"""How late past the deadline a cut may come on a loaded machine."""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(
        HOMEPORT_OPERATOR_PASSWORD="operator-password",
        HOMEPORT_ARGON2_TIME_COST="1",
        HOMEPORT_ARGON2_MEMORY_KIB="1024",
    )
    return env


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("slow-provider")
    port = free_port()
    command = [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(tmp / "p")]
    command += ["--port", str(port), "--base-domain", "prov.test", "--workers", "1"]
    log = tmp / "provider.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/_homeport/v1/", [proc], log, 30)
        yield port
    finally:
        stop_process(proc)
    assert "Traceback" not in log.read_text(errors="replace")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("slow-home")
    with start_home(tmp / "home", _env()) as live:
        yield live.port
    assert "Traceback" not in (tmp / "serve.log").read_text(errors="replace")


def trickle(port: int, start: bytes, then: bytes, bound: float) -> tuple[float, bytes]:
    """Send ``start`` at once, then ``then`` one byte a second, until the server answers or
    closes; (seconds until then, what it answered). Fails past ``bound`` seconds."""
    began = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if start:
            sock.sendall(start)
        sock.settimeout(1.0)
        for byte in then:
            elapsed = time.monotonic() - began
            assert elapsed < bound, f"still connected after {elapsed:.0f} s"
            try:
                sock.sendall(bytes([byte]))
                piece = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            answer += piece
            if not piece:
                break
            sock.settimeout(5)  # the rest of the answer, then the close
            try:
                while piece := sock.recv(65536):
                    answer += piece
            except (TimeoutError, ConnectionResetError):
                pass
            break
        else:
            raise AssertionError("the server took every byte without answering")
    return time.monotonic() - began, answer


HEAD = b"POST /_homeport/v1/enroll HTTP/1.1\r\nHost: prov.test\r\nX-Padding: " + b"a" * 100


def body_request(path: bytes, host: bytes) -> bytes:
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    )


def test_the_provider_cuts_slow_headers(provider: int) -> None:
    took, answer = trickle(provider, b"", HEAD, bound=HEADER_TIMEOUT + SLACK + 5)
    assert took < HEADER_TIMEOUT + SLACK
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_the_provider_cuts_a_slow_body(provider: int) -> None:
    start = body_request(b"/_homeport/v1/enroll", b"prov.test")
    took, answer = trickle(provider, start, b" " * 200, bound=BODY_GRACE + SLACK + 5)
    assert took < BODY_GRACE + SLACK
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"error":"timeout"' in answer and b"connection: close" in answer.lower()


def test_the_home_cuts_slow_headers(home: int) -> None:
    slow = b"GET /v1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 100
    took, answer = trickle(home, b"", slow, bound=HEADER_TIMEOUT + SLACK + 5)
    assert took < HEADER_TIMEOUT + SLACK
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_the_home_cuts_a_slow_body(home: int) -> None:
    start = body_request(b"/v1/batch", f"127.0.0.1:{home}".encode())
    took, answer = trickle(home, start, b" " * 200, bound=BODY_GRACE + SLACK + 5)
    assert took < BODY_GRACE + SLACK
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"code":408' in answer and b'"errno":999' in answer


def test_huge_headers_are_refused(provider: int) -> None:
    with socket.create_connection(("127.0.0.1", provider), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: prov.test\r\n")
        try:
            for _ in range(200):
                sock.sendall(b"X-Junk: " + b"j" * 1000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
