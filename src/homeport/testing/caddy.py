"""Caddy (Debian's ``caddy``) as the front proxy of several provider nodes, on a free loopback
port, for tests and benchmarks: the deployment ``docs/operators.md`` shows, without TLS.

``lb_policy first`` sends everything to the first node while it answers, and to the next once
it cannot be reached (a killed node), so a test knows which node took which request;
``round_robin`` spreads the load (the benchmark). Each answer names the node that gave it
(``X-Homeport-Upstream: 127.0.0.1:<port>``), so a benchmark counts requests per node. Caddy's
admin API is off and its state lives in a temporary directory; ``stop`` ends the process.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from homeport.testing.live import free_port, log_tail, stop_process

START_TIMEOUT = 30.0


def caddy_binary() -> str | None:
    return shutil.which("caddy")


def caddyfile(port: int, upstreams: list[int], policy: str = "first") -> str:
    targets = " ".join(f"127.0.0.1:{p}" for p in upstreams)
    return f"""{{
    admin off
    auto_https off
}}
http://:{port} {{
    bind 127.0.0.1
    reverse_proxy {targets} {{
        lb_policy {policy}
        lb_try_duration 10s
        lb_try_interval 100ms
        fail_duration 30s
        flush_interval -1
        header_down X-Homeport-Upstream {{http.reverse_proxy.upstream.hostport}}
    }}
}}
"""


class Front:
    """``caddy run`` in front of the nodes on ``upstreams`` (ports on 127.0.0.1)."""

    def __init__(self, upstreams: list[int], policy: str = "first") -> None:
        binary = caddy_binary()
        if binary is None:
            raise RuntimeError("caddy is not installed (apt-get install caddy)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="homeport-caddy-"))
        self.log = self.dir / "caddy.log"
        config = self.dir / "Caddyfile"
        config.write_text(caddyfile(self.port, upstreams, policy))
        env = {
            **os.environ,
            "HOME": str(self.dir),
            "XDG_DATA_HOME": str(self.dir / "data"),
            "XDG_CONFIG_HOME": str(self.dir / "config"),
        }
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [binary, "run", "--config", str(config), "--adapter", "caddyfile"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self._wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"caddy exited early:\n{log_tail(self.log)}")
            try:  # the port takes connections (a request would wait for the nodes)
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"caddy not up in time:\n{log_tail(self.log)}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Front:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["Front", "caddy_binary", "caddyfile"]
