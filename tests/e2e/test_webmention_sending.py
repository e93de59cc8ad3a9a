"""Webmention sending from a real ``homeport serve``, on SQLite and PostgreSQL: ``homeport
publish`` run beside it (another process, through the after-publish seam) gets the targets of
the public notes a webmention within 30 s of the publish, a reply's ``in-reply-to`` included;
the private note's target hears nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from homeport.testing.webhost import Answer, WebHost

from .conftest import spawn
from .provider_support import Provider
from .repo_support import cli_env

SITE = "https://alice.example.test/"
"""The address ``provider serve --base-domain example.test`` gives tenant alice."""
WITHIN = 30.0


def _cli(data: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "homeport", *args, "--data", str(data)],
        capture_output=True, timeout=120, env={**cli_env(), **env}, check=False,
    )
    assert done.returncode == 0, f"homeport {' '.join(args)}:\n{done.stderr.decode()}"
    return done.stdout.decode()


def test_a_publish_beside_serve_is_sent_within_30_s(
    tmp_path: Path, backend_env: dict[str, str]
) -> None:
    data = tmp_path / "home"
    env = {**backend_env, "HOMEPORT_FETCH_ALLOW_PRIVATE": "true", "HOMEPORT_AUTO_PUBLISH": "false"}
    provider = Provider(tmp_path / "provider", tmp_path / "provider.log").start()
    with WebHost() as host:
        for name in ("a", "b", "secret"):
            host.page(f"/{name}", f'<link rel="webmention" href="/wm/{name}">')
            host.routes[f"/wm/{name}"] = lambda hit: Answer(202)
        _cli(data, env, "init", "--json")
        _cli(data, env, "add", "note", f"Read [this]({host.url}/a).")
        _cli(data, env, "add", "note", "Agreed.", "--reply-to", f"{host.url}/b")
        _cli(data, env, "add", "note", f"[hidden]({host.url}/secret)", "--private")
        _cli(data, env, "providers", "add", provider.url, provider.invite(), "--name", "alice")
        served = spawn(data, env)
        try:
            time.sleep(1.5)  # the sender is up: nothing was published, nothing is sent
            assert host.hits == []
            _cli(data, env, "publish")
            started = time.monotonic()  # from the publish's end: it is live now
            while len(host.received("/wm/a")) + len(host.received("/wm/b")) < 2:
                assert time.monotonic() - started < WITHIN, served.output()[-2000:]
                time.sleep(0.1)
        finally:
            served.stop()
            provider.stop()
        sources = {h.form["source"] for h in host.received("/wm/a") + host.received("/wm/b")}
        assert all(s.startswith(SITE + "notes/") for s in sources) and len(sources) == 2
        assert host.received("/wm/secret") == [] and host.received("/secret", "GET") == []
        assert "Traceback" not in served.output()
