"""Helpers for the end-to-end provider tests: a real ``homeport provider serve`` subprocess on a
free loopback port (started, killed, restarted on the same data), and a home's content made
with the CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from homeport.testing.live import (
    free_port,
    kill_group,
    start_provider_process,
    stop_process,
)

from .repo_support import cli_env, ok

BASE = "example.test"
OPERATOR_PASSWORD = "operator-pw"
STARTUP_TIMEOUT = 60.0  # a loaded 2-CPU machine took 22-28 s to start one (measured)


def provider_env() -> dict[str, str]:
    return {**cli_env(), "HOMEPORT_OPERATOR_PASSWORD": OPERATOR_PASSWORD}


@dataclass
class Provider:
    """One ``homeport provider serve --base-domain example.test`` on 127.0.0.1."""

    data: Path
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for ``provider serve`` (``HOMEPORT_PROVIDER_PUBLIC_URL``…)."""
    args: tuple[str, ...] = ()
    """Extra arguments for ``provider serve`` (``--workers 2``…)."""
    base: str = BASE
    """The base domain (``localhost`` for a browser: Chromium resolves its subdomains)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Provider:
        """Start (or restart, on the same data and port) and wait until it answers."""
        env = {**provider_env(), **self.env}
        self.proc = start_provider_process(
            self.data, self.port, self.base, self.log, env, self.args, STARTUP_TIMEOUT
        )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def kill(self) -> None:
        """SIGKILL to the whole provider (the server and any worker processes it started):
        no chance to clean up."""
        kill_group(self.proc, timeout=10)

    def invite(self, *args: str) -> str:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "homeport",
                "provider",
                "invite",
                "--json",
                "--data",
                str(self.data),
                *args,
            ],
            capture_output=True,
            timeout=60,
            env={**provider_env(), **self.env},  # its database too, on PostgreSQL
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        return str(json.loads(done.stdout)["code"])

    def page(self, name: str, path: str = "/") -> httpx.Response:
        """The tenant ``name``'s site, asked for by Host header as a browser would."""
        return httpx.get(self.url + path, headers={"Host": f"{name}.{self.base}"}, timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def noise_pdf(path: Path, size: int, seed: int) -> Path:
    """A PDF (as far as ``homeport add paper`` checks) of ``size`` incompressible bytes."""
    body = random.Random(seed).randbytes(size)
    path.write_bytes(b"%PDF-1.4\n" + body + b"\n%%EOF\n")
    return path


def add_papers(home: Path, folder: Path, count: int, size: int, title: str = "Noise") -> int:
    """``count`` papers of ``size`` random bytes each, titled ``<title> <n>``, added with the
    CLI; the bytes added."""
    for n in range(count):
        seed = zlib.crc32(f"{title} {n}".encode())
        pdf = noise_pdf(folder / f"{title}-{n}.pdf", size, seed)
        ok(
            "add",
            "paper",
            str(pdf),
            "--title",
            f"{title} {n}",
            "--authors",
            "Ada Lovelace",
            "--year",
            "1843",
            data=home,
        )
    return count * size
