"""``homeport plugins disable|enable`` run beside a running ``homeport serve`` takes effect in
it without a restart: the attachments plugin's upload route goes away, then comes back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from homeport.testing.live import start_home

PASSWORD = "correct horse battery"
WAIT = 15.0
"""Seconds the running home has to notice (it looks every 2 s)."""


def _cli(data: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "homeport", "plugins", *args,
                           "--data", str(data)], capture_output=True, text=True, timeout=60,
                          env=_env(), check=False)
    assert done.returncode == 0, done.stderr


def _env() -> dict[str, str]:
    env = {**os.environ, "HOMEPORT_ARGON2_MEMORY_KIB": "1024", "HOMEPORT_ARGON2_TIME_COST": "1",
           "HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_NO_BROWSER": "1",
           "HOMEPORT_AUTO_PUBLISH": "false", "HOMEPORT_ADMIN_PASSWORD": PASSWORD}
    env.pop("HOMEPORT_DATA", None)
    return env


def _upload(http: httpx.Client, api: str) -> int:
    answer = http.post(api + "/buckets/b/collections/c/records/r/attachment",
                       files={"attachment": ("a.txt", b"hello", "text/plain")})
    return answer.status_code


def _until(http: httpx.Client, api: str, wanted: tuple[int, ...]) -> None:
    deadline = time.monotonic() + WAIT
    while (status := _upload(http, api)) not in wanted:
        assert time.monotonic() < deadline, f"still {status} after {WAIT} s, not {wanted}"
        time.sleep(0.2)


def test_cli_plugin_changes_reach_a_running_serve(tmp_path: Path) -> None:
    data = tmp_path / "data"
    home = start_home(data, _env())
    try:
        api = home.url
        with httpx.Client(auth=("admin", PASSWORD), timeout=30) as http:
            for path in ("/buckets/b", "/buckets/b/collections/c",
                         "/buckets/b/collections/c/records/r"):
                assert http.put(api + path, json={"data": {}}).status_code in (200, 201)
            assert _upload(http, api) in (200, 201)
            _cli(data, "disable", "attachments")
            _until(http, api, (404,))  # the route is gone: the API's own 404
            _cli(data, "enable", "attachments")
            _until(http, api, (200, 201))
    finally:
        home.stop()
