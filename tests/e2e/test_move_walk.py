"""Issue J's "Measured", the moving half: in Chromium, a new device takes over a home that lives
at a provider in at most three steps (each page opened, each button or link pressed): open the
device's ``/admin/``, **I already have a home at a provider**, **Restore my home**. Everything
comes back, the device is the primary, and the copy it moved from is refused at the provider."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.testing.live import LiveHome, free_port, start_home

from .provider_support import Provider
from .repo_support import cli, cli_env, init, ok

MAX_STEPS = 3
NOTE = "Written before the move"


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    found = Provider(tmp_path / "provider", tmp_path / "provider.log", args=("--workers", "1"))
    found.start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def device(tmp_path: Path) -> Iterator[LiveHome]:
    env = {**cli_env(), "HOMEPORT_LOG_LEVEL": "warning"}
    found = start_home(tmp_path / "device", env, free_port(), tmp_path / "device.log")
    try:
        yield found
    finally:
        found.stop()


@pytest.mark.timeout(300)
def test_a_device_takes_the_home_over_in_three_steps(
    tmp_path: Path, provider: Provider, device: LiveHome, browser: Any
) -> None:
    first = tmp_path / "first"
    phrase = init(first)["phrase"]
    ok("add", "note", NOTE, data=first)
    ok("providers", "add", provider.url, provider.invite(), "--name", "ada", data=first)
    ok("publish", data=first)

    context = browser.new_context(base_url=device.root, viewport={"width": 1000, "height": 800})
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    steps: list[str] = []
    started = time.monotonic()
    try:
        steps.append("open /admin/")
        page.goto("/admin/")
        steps.append("press I already have a home at a provider")
        page.get_by_role("link", name="I already have a home at a provider").click()
        page.get_by_label("Address of one of your providers").fill(provider.url)
        page.get_by_label("Your 24-word recovery phrase").fill(phrase)
        page.get_by_label("Choose a password for this device").fill("a new password")
        steps.append("press Restore my home")
        page.get_by_role("button", name="Restore my home").click()
        page.wait_for_selector("text=lives here now")
        seconds = time.monotonic() - started
        page.goto("/admin/notes")  # the result, not a step
        assert NOTE in page.content()
    finally:
        context.close()
    print(f"move home to a device: {len(steps)} steps, {seconds:.1f} s: {steps}")
    assert len(steps) <= MAX_STEPS, steps
    assert errors == []

    # the device is the primary now: the first copy is refused, and keeps why
    lost = cli("publish", data=first)
    assert lost.code != 0 and "standby" in lost.err
    assert json.loads((first / "handoff.json").read_text())["epoch"] == 1
