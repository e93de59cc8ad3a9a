"""The Providers page against a real provider on loopback: enroll from the GUI, publish with
live progress over server-sent events, see the site at the provider, refuse a bad code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport.testing.live import free_port, stop_process

BASE = "example.test"


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "provider"
    port = free_port()
    log = tmp_path / "provider.log"
    env = {**os.environ, "HOMEPORT_OPERATOR_PASSWORD": "operator-pw"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data),
             "--port", str(port), "--base-domain", BASE],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/", timeout=2)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log.read_text()) from None
                time.sleep(0.05)
        yield url, data
    finally:
        stop_process(proc)


def invite(data: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "homeport", "provider", "invite", "--json", "--data", str(data)],
        capture_output=True, timeout=60, check=True,
        env={**os.environ, "HOMEPORT_OPERATOR_PASSWORD": "operator-pw"},
    )
    return str(json.loads(done.stdout)["code"])


def events(client: Any) -> list[dict[str, Any]]:
    """Read the progress stream until the publish ends (the stream closes itself)."""
    seen = []
    with client.stream("GET", "/admin/providers/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
    return seen


def test_enroll_publish_and_see_the_site(client: Any, gui: Any, provider: tuple[str, Path]) -> None:
    url, data = provider
    gui.wizard(client, "Ada's corner")
    page = client.get("/admin/providers")
    assert page.status_code == 200 and "No provider yet" in page.text
    bad = client.post("/admin/providers/add", data={
        "csrf": gui.csrf_of(page.text), "url": url, "code": "not-a-code", "name": "ada"})
    assert bad.status_code == 400 and 'role="alert"' in bad.text
    assert "No provider yet" in bad.text

    added = client.post("/admin/providers/add", data={
        "csrf": gui.csrf_of(page.text), "url": url, "code": invite(data), "name": "ada"})
    assert added.status_code == 200, added.text
    assert f"https://ada.{BASE}/" in added.text

    started = client.post("/admin/providers/publish", data={"csrf": gui.csrf_of(added.text)})
    assert started.status_code == 200
    progress = events(client)
    assert progress and progress[-1]["state"] == "done", progress
    row = progress[-1]["providers"][url]
    assert row["done"] and row["seq"] >= 1 and row["bytes"] > 0

    site = httpx.get(url + "/", headers={"Host": f"ada.{BASE}"}, timeout=10)
    assert site.status_code == 200
    assert "Ada&#39;s corner" in site.text or "Ada's corner" in site.text
    listed = client.get("/admin/providers")
    assert str(row["seq"]) in listed.text


def test_publish_without_a_csrf_token_is_refused(client: Any, gui: Any) -> None:
    gui.wizard(client)
    refused = client.post("/admin/providers/publish", data={})
    assert refused.status_code == 403
