"""Auto-publish against a real ``homeport serve`` and a real provider on loopback, on SQLite and
PostgreSQL: a change from ``/v1``, from the GUI and from another process (``homeport add``) is
live at the provider within 10 s; a burst makes few publishes; ``auto_publish = false``
publishes nothing; a provider that was down is caught up; ``homeport publish`` and the
auto-publisher never run at once (the lock); the after-publish callbacks see each publish's
previous and new commit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from homeport.home import PUBLISH_HOOKS, register_publish_hooks
from homeport.interop import sending
from homeport.publish import hooks, run
from homeport.publish.lock import publish_lock
from homeport.settings import load_settings

from .autopublish_support import LIVE_WITHIN, GuiSession, Rig
from .conftest import ADMIN, BACKENDS, spawn
from .provider_support import Provider
from .repo_support import cli_env


@pytest.fixture(params=BACKENDS)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    """A home with one note, enrolled (never published) with a running provider."""
    env = {"HOMEPORT_ADMIN_PASSWORD": ADMIN[1]}
    if request.param == "postgresql":
        env["HOMEPORT_STORAGE_URL"] = request.getfixturevalue("fresh_postgres_url")
    provider = Provider(tmp_path / "provider", tmp_path / "provider.log").start()
    found = Rig(provider, tmp_path / "home", env)
    try:
        found.cli("init", "--json")
        found.cli("add", "note", "The first note")
        found.cli("providers", "add", provider.url, provider.invite(), "--name", "alice")
        yield found
    finally:
        if found.home is not None:
            found.home.stop()
        provider.stop()


def serve(rig: Rig, **extra: str) -> None:
    rig.home = spawn(rig.data, {**rig.env, **extra})


def test_changes_from_the_api_the_gui_and_another_process_are_live_within_10_s(
    rig: Rig,
) -> None:
    assert not rig.live("The first note")
    serve(rig)
    rig.wait_live("The first note", timeout=30)  # enrolled, never published: caught up
    assert rig.home is not None
    gui = GuiSession(rig.home.root)
    try:
        rig.post_note_by_api("Written through the API", "through-the-api")
        assert rig.wait_live("Written through the API") < LIVE_WITHIN

        gui.post_note("Written in the GUI")
        assert rig.wait_live("Written in the GUI") < LIVE_WITHIN

        started = time.monotonic()  # the other process's start-up counts against the 10 s
        rig.cli("add", "note", "Written by another process")
        assert rig.wait_live("Written by another process", since=started) < LIVE_WITHIN

        state = gui.wait_status(lambda s: s["summary"] == "up-to-date")
        assert state["summary"] == "up-to-date", state
        assert state["enabled"] and not state["paused"] and state["last_error"] is None
        (row,) = state["providers"].values()
        assert row["ok"] and row["at"] and row["site"] == "https://alice.example.test/"
        page = gui.client.get("/admin/providers")
        assert 'data-summary="up-to-date"' in page.text and "Automatic publishing" in page.text
        dashboard = gui.client.get("/admin/")
        assert "Your site is up to date" in dashboard.text
    finally:
        gui.close()
    assert "Traceback" not in rig.home.output()


def test_a_burst_of_50_writes_makes_few_publishes(rig: Rig) -> None:
    serve(rig)
    rig.wait_live("The first note", timeout=30)
    assert rig.home is not None
    gui = GuiSession(rig.home.root)
    try:
        gui.wait_status(lambda s: s["summary"] == "up-to-date")
        before, publishes = rig.commits(), gui.status()["publishes"]
        now = datetime.now(UTC)
        with rig.api() as client:
            for n in range(50):  # the last is the newest, so it is on the home page
                published = (now - timedelta(seconds=50 - n)).strftime("%Y-%m-%dT%H:%M:%SZ")
                r = client.post(
                    "/buckets/site/collections/notes/records",
                    json={"data": {"text": f"Burst {n}", "visibility": "public",
                                   "draft": False, "published": published,
                                   "slug": f"burst-{n}"}},
                )
                assert r.status_code == 201, r.text
        rig.wait_live("Burst 49")
        state = gui.wait_status(lambda s: s["summary"] == "up-to-date")
        time.sleep(2)  # a trailing publish would have started by now
        made = rig.commits() - before
        published = gui.status()["publishes"] - publishes
    finally:
        gui.close()
    assert 1 <= made <= 5, made
    assert 1 <= published <= 5, (published, state)


def test_auto_publish_off_publishes_nothing(rig: Rig) -> None:
    serve(rig, HOMEPORT_AUTO_PUBLISH="false")
    assert rig.home is not None
    rig.post_note_by_api("Not for the web yet", "not-yet")
    gui = GuiSession(rig.home.root)
    try:
        assert gui.status()["summary"] == "off"
        assert 'data-summary="off"' in gui.client.get("/admin/providers").text
    finally:
        gui.close()
    time.sleep(5)  # well past the 0.75 s quiet and 3 s longest wait
    assert not rig.live("The first note") and not rig.live("Not for the web yet")
    assert rig.commits() == 0


def test_paused_from_the_gui_then_resumed(rig: Rig) -> None:
    serve(rig)
    rig.wait_live("The first note", timeout=30)
    assert rig.home is not None
    gui = GuiSession(rig.home.root)
    try:
        page = gui.client.get("/admin/providers")
        r = gui.client.post("/admin/autopublish", data={"csrf": gui.csrf(page.text), "paused": "1"})
        assert r.status_code == 200 and 'data-summary="paused"' in r.text
        rig.post_note_by_api("Held while paused", "held")
        time.sleep(4)
        assert not rig.live("Held while paused")
        assert gui.status()["pending"] is True
        r = gui.client.post("/admin/autopublish", data={"csrf": gui.csrf(r.text), "paused": "0"})
        assert r.status_code == 200
        rig.wait_live("Held while paused")
    finally:
        gui.close()


def test_a_provider_down_is_shown_and_caught_up_when_it_is_back(rig: Rig) -> None:
    serve(rig)
    rig.wait_live("The first note", timeout=30)
    assert rig.home is not None
    gui = GuiSession(rig.home.root)
    try:
        rig.provider.stop()
        rig.post_note_by_api("Written while the provider was down", "while-down")
        state = gui.wait_status(lambda s: s["summary"] == "retrying")
        assert state["summary"] == "retrying", state
        assert "Could not reach" in state["last_error"], state
        (row,) = state["providers"].values()
        assert row["ok"] is False and "Could not reach" in row["error"]
        page = gui.client.get("/admin/providers")
        assert 'id="autopublish-error"' in page.text and "Errno" not in page.text
        rig.provider.start()  # same data, same port
        rig.wait_live("Written while the provider was down", timeout=45)
        state = gui.wait_status(lambda s: s["summary"] == "up-to-date")
        assert state["last_error"] is None, state
    finally:
        gui.close()


def test_homeport_publish_and_the_auto_publisher_never_run_at_once(rig: Rig) -> None:
    """While the lock is held (as by a publish in another process), neither publishes; the CLI
    waits for it and the auto-publisher says it is waiting, then both go through."""
    serve(rig)
    rig.wait_live("The first note", timeout=30)
    assert rig.home is not None
    gui = GuiSession(rig.home.root)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with publish_lock(rig.data, wait=10):
            held.set()
            release.wait(20)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        rig.post_note_by_api("Waiting for the lock", "lock")
        state = gui.wait_status(lambda s: s["waiting_for_other"], timeout=10)
        assert state["waiting_for_other"], state
        cli = subprocess.Popen(
            [sys.executable, "-m", "homeport", "publish", "--json", "--data", str(rig.data)],
            env={**cli_env(), **rig.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(3)
        assert cli.poll() is None  # still waiting for the lock
        assert not rig.live("Waiting for the lock")
        release.set()
        _, err = cli.communicate(timeout=60)
        assert cli.returncode == 0, err.decode()
        rig.wait_live("Waiting for the lock")
        gui.wait_status(lambda s: not s["waiting_for_other"] and s["summary"] == "up-to-date")
    finally:
        release.set()
        holder.join(20)
        gui.close()


def test_after_publish_callbacks_get_the_previous_and_the_new_commit(rig: Rig) -> None:
    """The seam, through the one publish path the CLI uses (no server running)."""
    seen: list[hooks.Published] = []
    hooks.after_publish(seen.append)
    register_publish_hooks()  # what serve and homeport publish do: webmention sending's too
    try:
        settings = load_settings(rig.data, storage_url=rig.env.get("HOMEPORT_STORAGE_URL"))
        first = asyncio.run(run.publish(settings))
        assert first.event is not None and len(seen) == 1
        assert seen[0].previous_head is None and seen[0].previous_seq is None
        (result,) = seen[0].providers
        assert result.previous_seq is None and result.seq == seen[0].seq and not result.error

        # the before-snapshot hooks wrote what the providers need (the fediverse signing
        # delegation, a private record in homeport/grants) into that first commit: nothing new
        assert first.hook_errors == []
        base = seen[-1]
        again = asyncio.run(run.publish(settings))  # nothing new: no call
        assert first.cursor is not None and again.cursor is not None
        moved = {k for k in first.cursor.keys() | again.cursor.keys()
                 if first.cursor.get(k) != again.cursor.get(k)}
        assert moved == set()
        assert again.event is None and seen[-1] is base
        # nothing changed since that full publish: no build and no snapshot at all
        assert again.unchanged and again.snapshot is None

        rig.cli("add", "note", "A second note")
        asyncio.run(run.publish(settings, trigger="gui"))
        second = seen[-1]
        assert second is not base
        assert (second.previous_seq, second.previous_head) == (base.seq, base.head)
        assert second.seq > base.seq and second.trigger == "gui"
        assert second.providers[0].previous_head == base.head
        assert rig.live("A second note")
        outbox = sending.Outbox.of(settings)  # the sender (serve's task) will scan this head
        try:
            assert outbox.scan_wanted() == second.head
        finally:
            outbox.close()
    finally:
        hooks.forget(seen.append)
        for name in PUBLISH_HOOKS:
            hooks.forget(name)
