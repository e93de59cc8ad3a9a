"""Sending on publish: a publish that adds, changes or removes a link in a public entry gets
the target a webmention within 30 s, a 500 is tried again, private entries never send, and the
queue is a file that a later ``serve`` picks up."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from homeport.content import sites
from homeport.interop import sending
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore
from homeport.sync import providers
from homeport.testing.webhost import Answer, Hit, WebHost

SITE = "https://alice.example.net"
DEADLINE = 30.0


@pytest.fixture
def host() -> Iterator[WebHost]:
    with WebHost() as found:
        for name in ("a", "b", "secret"):
            found.page(f"/{name}", f'<link rel="webmention" href="/wm/{name}"><p>{name}</p>')
            found.routes[f"/wm/{name}"] = lambda hit: Answer(202)
        yield found


def _context(data: Path) -> Context:
    settings = Settings(data_dir=data, fetch_allow_private=True)
    data.mkdir(parents=True, exist_ok=True)
    providers.save(data, [{"url": "https://prov.example", "site": f"{SITE}/"}])
    return Context(settings, MemoryRecordStore(), FsBlobStore(data / "blobs"))


def _published(ctx: Context, head: str) -> None:
    """What the after-publish seam calls (``publish/hooks.py``)."""
    sending.after_publish(SimpleNamespace(settings=ctx.settings, head=head))


async def _until(check: Callable[[], bool], deadline: float = DEADLINE) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < deadline, "nothing arrived in time"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def _posts(host: WebHost, name: str) -> list[Hit]:
    return host.received(f"/wm/{name}")


def test_added_changed_and_removed_links_are_sent(tmp_path: Path, host: WebHost) -> None:
    async def scenario() -> None:
        ctx = _context(tmp_path / "home")
        await sites.create_site(ctx, "blog", "Alice", "journal")
        task = asyncio.create_task(sending.run_sender(ctx))
        try:
            note = await sites.add_entry(ctx, "blog", "note", {
                "text": f"Read [this]({host.url}/a)."})
            await sites.add_entry(ctx, "blog", "note", {
                "text": f"[hidden]({host.url}/secret)", "visibility": "private"})
            await sites.add_entry(ctx, "blog", "note", {
                "text": f"[draft]({host.url}/secret)", "draft": True})
            _published(ctx, "c1")
            took = await _until(lambda: len(_posts(host, "a")) == 1)
            assert took < DEADLINE
            form = _posts(host, "a")[0].form
            assert form["target"] == f"{host.url}/a"
            assert form["source"].startswith(f"{SITE}/notes/")
            source = form["source"]

            await sites.update_entry(ctx, "blog", "note", note.id, {
                "text": f"Read [that]({host.url}/b) instead."})
            _published(ctx, "c2")
            await _until(lambda: len(_posts(host, "b")) == 1 and len(_posts(host, "a")) == 2)
            assert _posts(host, "b")[0].form == {"source": source, "target": f"{host.url}/b"}

            _published(ctx, "c3")  # nothing changed: nothing sent
            await asyncio.sleep(1.5)
            assert (len(_posts(host, "a")), len(_posts(host, "b"))) == (2, 1)

            await sites.delete_entry(ctx, "blog", "note", note.id)
            _published(ctx, "c4")
            await _until(lambda: len(_posts(host, "b")) == 2)
            assert _posts(host, "a")[-1].form["source"] == source
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert _posts(host, "secret") == []
        assert host.received("/secret", "GET") == []
        shown = sending.history(ctx.settings)
        assert {(s.target, s.state, s.status) for s in shown} == {
            (f"{host.url}/a", sending.SENT, 202), (f"{host.url}/b", sending.SENT, 202)}
        assert all(s.endpoint and s.attempts == 1 for s in shown)

    asyncio.run(scenario())


def test_a_500_is_tried_again(tmp_path: Path, host: WebHost) -> None:
    answers = iter([Answer(500, b"oops"), Answer(202)])
    host.routes["/wm/a"] = lambda hit: next(answers)

    async def scenario() -> None:
        ctx = _context(tmp_path / "home")
        await sites.create_site(ctx, "blog", "Alice", "journal")
        await sites.add_entry(ctx, "blog", "note", {"text": f"[a]({host.url}/a)"})
        task = asyncio.create_task(sending.run_sender(ctx))
        try:
            _published(ctx, "c1")
            await _until(lambda: len(_posts(host, "a")) == 1)
            await _until(lambda: len(_posts(host, "a")) == 2)
            await _until(lambda: sending.history(ctx.settings)[0].state == sending.SENT)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        [send] = sending.history(ctx.settings)
        assert (send.state, send.status, send.attempts) == (sending.SENT, 202, 2)

    asyncio.run(scenario())


def test_a_publish_while_the_sender_is_down_is_sent_when_it_starts(
    tmp_path: Path, host: WebHost
) -> None:
    """``homeport publish`` without ``serve``, or a crash before sending: the request is in
    the file, and the next sender does the work."""

    async def scenario() -> None:
        ctx = _context(tmp_path / "home")
        await sites.create_site(ctx, "blog", "Alice", "journal")
        await sites.add_entry(ctx, "blog", "note", {"text": f"[a]({host.url}/a)"})
        _published(ctx, "c1")
        await asyncio.sleep(0.3)
        assert _posts(host, "a") == []
        task = asyncio.create_task(sending.run_sender(ctx))
        try:
            await _until(lambda: len(_posts(host, "a")) == 1)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_retries_back_off_and_stop(tmp_path: Path) -> None:
    outbox = sending.Outbox(tmp_path / "sent.sqlite")
    outbox.apply({"https://s.example/1": ("v1", frozenset({"https://t.example/"}))}, 0)
    now = 0
    waits = []
    for _ in range(sending.MAX_ATTEMPTS):
        [send] = outbox.due(now)
        outbox.record(send, sending.Outcome(sending.QUEUED, status=503), now)
        due = outbox.next_due()
        if due is None:
            break
        waits.append((due - now) // 1000)
        now = due
    assert waits == [5, 30, 120, 600, 3600, 21600, 21600, 21600, 21600]
    [send] = outbox.history()
    assert (send.state, send.attempts) == (sending.FAILED, sending.MAX_ATTEMPTS)
    outbox.close()


def test_closing_while_other_threads_use_the_outbox_does_not_crash(tmp_path: Path) -> None:
    """The sender records from worker threads and closes the file when ``serve`` stops;
    before calls were serialised, this crashed the interpreter (SIGSEGV in sqlite3) within a
    few rounds."""
    for round_ in range(20):
        outbox = sending.Outbox(tmp_path / f"sent-{round_}.sqlite")
        links = {f"https://s.example/{i}": ("v", frozenset({f"https://t.example/{j}"
                                                            for j in range(5)}))
                 for i in range(40)}
        outbox.apply(links, 0)
        stop = threading.Event()
        stopped: list[str] = []

        def hammer(outbox: sending.Outbox = outbox, stop: threading.Event = stop,
                   stopped: list[str] = stopped) -> None:
            while not stop.is_set():
                try:
                    for send in outbox.due(0, 10):
                        outbox.record(send, sending.Outcome(sending.QUEUED, status=500), 1)
                    outbox.next_due()
                    outbox.history(50)
                except RuntimeError as exc:
                    stopped.append(str(exc))
                    return

        threads = [threading.Thread(target=hammer) for _ in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(0.02)
        outbox.close()
        stop.set()
        for thread in threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in threads)
        assert all(reason == "the webmention outbox is closed" for reason in stopped)
