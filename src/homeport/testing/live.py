"""Live ``python -m homeport serve`` processes for test suites and benchmarks.

Starts a server on a free loopback port, waits until it answers its heartbeat, and stops it
(SIGTERM, then SIGKILL after a grace period). Standard library only, so it can be used from
anywhere Homeport is installed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT = 60.0
STOP_GRACE = 5.0
READY_PATH = "/v1/__heartbeat__"
LOG_TAIL_LINES = 60


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    """Let SIGTERM end a benchmark as Ctrl-C does, through its ``finally`` blocks, so the
    servers it started are stopped too (by default SIGTERM ends the process at once and
    leaves them running)."""
    signal.signal(signal.SIGTERM, _interrupted)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (on the loopback interface by default)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving_in_thread(app: object, port: int, what: str) -> Iterator[None]:
    """``app`` served by uvicorn on loopback ``port`` in a thread of this process, until the
    block ends; RuntimeError naming ``what`` when it does not start within 10 s."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def serve_command(data: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    """The command line of ``python -m homeport serve`` on ``data``, ``host`` and ``port``."""
    return [
        sys.executable,
        "-m",
        "homeport",
        "serve",
        "--data",
        str(data),
        "--host",
        host,
        "--port",
        str(port),
    ]


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``log`` ("" when it cannot be read)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _get_status(url: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def wait_ready(
    url: str,
    procs: Sequence[subprocess.Popen[bytes]],
    log: Path,
    timeout: float = STARTUP_TIMEOUT,
) -> None:
    """Poll ``url`` until it answers 200, for at most ``timeout`` seconds.

    Raises RuntimeError, with the tail of ``log``, when one of ``procs`` exits first or time
    runs out.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url!r}")
    deadline = time.monotonic() + timeout
    last: object = "no answer"
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"server exited early (rc={proc.returncode}) before it was ready:\n"
                    f"{log_tail(log)}"
                )
        try:
            status = _get_status(url, timeout=2.0)
            if status == 200:
                return
            last = f"answered {status}"
        except OSError as exc:  # not listening yet (URLError is an OSError)
            last = exc
        time.sleep(0.05)  # bounded by the deadline
    raise RuntimeError(f"server not ready after {timeout}s ({last}):\n{log_tail(log)}")


def _leads_own_group(proc: subprocess.Popen[bytes]) -> bool:
    """Whether ``proc`` was started in its own session/process group (start_new_session)."""
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return False


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def stop_process(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; idempotent.

    A process started in its own session (``start_new_session=True``) is stopped with its
    whole process group.
    """
    if proc.poll() is not None:
        return
    group = _leads_own_group(proc)
    _signal(proc, signal.SIGTERM, group)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL, group)
        proc.wait(timeout=5.0)


PROVIDER_READY_PATH = "/_homeport/v1/"


def start_provider_process(
    data: Path,
    port: int,
    base_domain: str,
    log: Path,
    env: Mapping[str, str],
    args: Sequence[str] = (),
    timeout: float = STARTUP_TIMEOUT,
) -> subprocess.Popen[bytes]:
    """Start ``python -m homeport provider serve`` on ``data`` (created if needed) with
    ``args``, in its own process group (`kill_group` stops it with its workers), output
    appended to ``log``, and wait until it answers; on a failed start it is stopped and the
    RuntimeError of :func:`wait_ready` propagates. ``env`` is the child's whole environment."""
    data.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data)]
    command += ["--port", str(port), "--base-domain", base_domain, *args]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            start_new_session=True,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}{PROVIDER_READY_PATH}", [proc], log, timeout)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def kill_group(proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    """SIGKILL to a process started in its own group and everything in it (a provider and
    the workers it started): no chance to clean up. Nothing when it has ended."""
    if proc is not None and proc.poll() is None:
        _signal(proc, signal.SIGKILL, group=True)
        proc.wait(timeout=timeout)


@dataclass
class LiveHome:
    """One running ``homeport serve``."""

    proc: subprocess.Popen[bytes]
    port: int
    data: Path
    log: Path
    host: str = "127.0.0.1"
    grace: float = STOP_GRACE

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.root + "/v1"

    def stop(self) -> int:
        """Stop the server (SIGTERM, then SIGKILL after the grace period); its exit code."""
        stop_process(self.proc, self.grace)
        return int(self.proc.returncode)

    def __enter__(self) -> LiveHome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_home(
    data: Path,
    env: Mapping[str, str] | None,
    port: int | None = None,
    log: Path | None = None,
    *,
    cwd: Path | None = None,
    ready_path: str = READY_PATH,
    timeout: float = STARTUP_TIMEOUT,
    grace: float = STOP_GRACE,
    start_new_session: bool = False,
) -> LiveHome:
    """Start ``python -m homeport serve`` on ``data`` and wait until ``ready_path`` answers 200.

    ``env`` is the child's whole environment (None: this process's). ``data`` is created if
    needed; output goes to ``log`` (default ``serve.log`` next to ``data``), appended; the
    working directory is ``cwd`` (default ``data``'s parent). On a failed start the server is
    stopped and the RuntimeError of :func:`wait_ready` propagates.
    """
    port = port or free_port()
    data.mkdir(parents=True, exist_ok=True)
    log = log or data.parent / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            serve_command(data, port),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd or data.parent,
            start_new_session=start_new_session,
        )
    home = LiveHome(proc=proc, port=port, data=data, log=log, grace=grace)
    try:
        wait_ready(home.root + ready_path, [proc], log, timeout)
    except BaseException:
        home.stop()
        raise
    return home
