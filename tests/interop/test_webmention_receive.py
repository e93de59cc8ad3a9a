"""Receiving webmentions at the provider, over real HTTP on loopback: the endpoint's checks,
asynchronous verification against a live source site, updates and removals, bad sources,
rate limits, and the queue's durability across processes — on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from homeport import jsonio
from homeport.testing.webmention import MemoryInbox, SourceServer, ThreadedApp
from tests.interop.webmention_harness import ALICE, BOB, ENDPOINT, LIMITS, Receiver, make_receiver

TARGET = f"http://{ALICE}/notes/hello/"


def reply_page(target: str = TARGET, text: str = "Great post!") -> str:
    return (f'<!doctype html><article class="h-entry">'
            f'<span class="p-author h-card"><a class="u-url p-name" href="/">Bob</a></span>'
            f'<a class="u-in-reply-to" href="{target}">in reply to</a>'
            f'<div class="e-content">{text}</div></article>')


def accepted(receiver: Receiver, source: str, target: str = TARGET) -> dict[str, object]:
    answer = receiver.send(source, target)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert "location" not in answer.headers  # the spec: a 202 has no Location
    assert body["status_url"].endswith(f"{ENDPOINT}/status/{body['id']}")
    return receiver.settle(body["id"])


def bodies(receiver: Receiver) -> list[dict[str, object]]:
    return [jsonio.loads(i.body) for i in receiver.inbox.of("alice")]


def test_a_reply_is_verified_and_queued_for_the_home(receiver: Receiver,
                                                     source: SourceServer) -> None:
    url = source.page("/reply", reply_page())
    status = accepted(receiver, url)
    assert status["status"] == "accepted", status
    assert status["source"] == url and status["target"] == TARGET
    [item] = receiver.inbox.of("alice")
    assert item.kind == "webmention.received"
    assert item.meta == {"action": "upsert", "source": url, "target": TARGET}
    body = jsonio.loads(item.body)
    assert body["type"] == "reply"
    assert body["author"]["name"] == "Bob"
    assert body["author"]["url"] == source.url("/")
    assert body["content"]["text"] == "Great post!"
    assert status["home"] is None  # not applied by the home yet
    receiver.inbox.results[("alice", item.id)] = {"id": "wm1", "status": "pending"}
    assert receiver.status(str(status["id"])).json()["home"] == {"id": "wm1",
                                                                  "status": "pending"}


def test_a_relative_link_and_a_link_in_an_image_verify(receiver: Receiver,
                                                       source: SourceServer) -> None:
    relative = source.page("/rel", '<a href="hello/">x</a>'
                           '<base href="http://alice.test/notes/">')
    assert accepted(receiver, relative)["status"] == "rejected"  # <base> after the link
    relative = source.page("/rel2", '<head><base href="http://alice.test/notes/"></head>'
                           '<a href="hello/">x</a>')
    assert accepted(receiver, relative)["status"] == "accepted"
    image = source.page("/img", f'<p><img src="{TARGET}" alt="a picture of it"></p>')
    assert accepted(receiver, image)["status"] == "accepted"
    assert [b["type"] for b in bodies(receiver)] == ["mention", "mention"]


def test_a_source_in_another_charset_is_read_in_it(receiver: Receiver,
                                                    source: SourceServer) -> None:
    page = reply_page(text="Très bien, merci").replace("Bob", "Zoë").encode("iso-8859-1")
    url = source.page("/latin1", page, content_type="text/html; charset=ISO-8859-1")
    assert accepted(receiver, url)["status"] == "accepted"
    [body] = bodies(receiver)
    assert body["author"]["name"] == "Zoë"  # type: ignore[index]
    assert body["content"]["text"] == "Très bien, merci"  # type: ignore[index]


def test_a_link_only_in_text_or_a_comment_is_rejected(receiver: Receiver,
                                                      source: SourceServer) -> None:
    text = source.page("/text", f"<p>See {TARGET}</p><!-- <a href='{TARGET}'>x</a> -->")
    status = accepted(receiver, text)
    assert status["status"] == "rejected"
    assert "does not link to the target" in str(status["detail"])
    assert receiver.inbox.of("alice") == []


def test_an_updated_source_updates_the_mention_and_an_unchanged_one_does_nothing(
    receiver: Receiver, source: SourceServer
) -> None:
    url = source.page("/post", reply_page(text="First version"))
    assert accepted(receiver, url)["status"] == "accepted"
    source.page("/post", reply_page(text="Second version"))
    assert accepted(receiver, url)["status"] == "accepted"
    assert accepted(receiver, url)["status"] == "unchanged"
    texts = [b["content"]["text"] for b in bodies(receiver)]  # type: ignore[index]
    assert texts == ["First version", "Second version"]


def test_a_source_answering_410_removes_the_mention(receiver: Receiver,
                                                    source: SourceServer) -> None:
    url = source.page("/gone", reply_page())
    assert accepted(receiver, url)["status"] == "accepted"
    source.page("/gone", "<p>deleted</p>", status=410)
    status = accepted(receiver, url)
    assert status["status"] == "removed"
    assert "410" in str(status["detail"])
    last = receiver.inbox.of("alice")[-1]
    assert last.meta == {"action": "delete", "source": url, "target": TARGET}
    # once removed, a second 410 has nothing to remove
    assert accepted(receiver, url)["status"] == "rejected"
    assert len(receiver.inbox.of("alice")) == 2


def test_a_source_that_no_longer_links_removes_the_mention(receiver: Receiver,
                                                          source: SourceServer) -> None:
    url = source.page("/edited", reply_page())
    assert accepted(receiver, url)["status"] == "accepted"
    source.page("/edited", "<p>I took the link out.</p>")
    assert accepted(receiver, url)["status"] == "removed"
    assert [b["action"] for b in bodies(receiver)] == ["upsert", "delete"]


def test_a_410_for_a_mention_never_received_is_rejected(receiver: Receiver,
                                                        source: SourceServer) -> None:
    url = source.page("/never", "gone", status=410)
    status = accepted(receiver, url)
    assert status["status"] == "rejected"
    assert receiver.inbox.of("alice") == []


# --- bad requests: 4xx, nothing written ------------------------------------------------------
def test_bad_requests_are_refused_with_clear_messages_and_write_nothing(
    receiver: Receiver, source: SourceServer
) -> None:
    url = source.page("/ok", reply_page())
    client = receiver.client()
    cases = [
        ({"target": TARGET}, 400, "source is missing"),
        ({"source": url}, 400, "target is missing"),
        ({"source": "ftp://x.example/a", "target": TARGET}, 400, "http or https"),
        ({"source": url, "target": "not a url"}, 400, "target"),
        ({"source": TARGET, "target": TARGET + "#frag"}, 400, "the same URL"),
        ({"source": url, "target": f"http://{BOB}/x/"}, 400, "not on this site"),
        ({"source": url, "target": "http://elsewhere.example/notes/hello/"}, 400,
         "not on this site"),
        ({"source": url, "target": f"http://{ALICE}/no/such/page/"}, 400, "not a page"),
    ]
    for form, code, message in cases:
        answer = client.post(ENDPOINT, data=form)
        assert answer.status_code == code, (form, answer.text)
        body = answer.json()
        assert body["code"] == code and message in body["message"], (form, body)
        assert {"errno", "error"} <= set(body)
    answer = client.post(ENDPOINT, json={"source": url, "target": TARGET})
    assert answer.status_code == 415
    answer = client.post(ENDPOINT, data={"source": url, "target": TARGET, "x": "y" * 9000})
    assert answer.status_code == 413
    answer = client.get(ENDPOINT)
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    answer = receiver.client("nobody.test").post(ENDPOINT, data={"source": url,
                                                                 "target": TARGET})
    assert answer.status_code == 404
    assert receiver.rows() == 0
    assert source.hits == {}


def test_the_fragment_of_the_target_is_ignored_when_checking_the_page(
    receiver: Receiver, source: SourceServer
) -> None:
    url = source.page("/frag", f'<a href="{TARGET}#comments">x</a>')
    assert accepted(receiver, url, TARGET + "#comments")["status"] == "accepted"


def test_a_status_page_is_only_on_its_own_tenant(receiver: Receiver,
                                                source: SourceServer) -> None:
    url = source.page("/s", reply_page())
    job = receiver.send(url, TARGET).json()["id"]
    assert receiver.status(job).status_code == 200
    assert receiver.status(job, host=BOB).status_code == 404
    assert receiver.status("0" * 32).status_code == 404
    assert receiver.status("x" * 200).status_code == 404


# --- bad sources -----------------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bad_sources_are_rejected_with_the_reason(receiver: Receiver,
                                                 source: SourceServer) -> None:
    huge = source.page("/huge", reply_page() + "x" * (LIMITS.size + 10))
    slow = source.page("/slow", reply_page(), delay=0.5, chunks=10)
    loop = source.page("/loop", "", status=302, location="/loop2")
    source.page("/loop2", "", status=302, location="/loop")
    missing = source.url("/missing")
    unreachable = f"http://127.0.0.1:{closed_port()}/post"
    expected = {
        huge: "larger than",
        slow: "did not answer within",
        loop: "redirects more than",
        missing: "answered 404",
        unreachable: "could not be fetched",
    }
    jobs = {url: receiver.send(url, TARGET).json()["id"] for url in expected}
    for url, reason in expected.items():
        status = receiver.settle(jobs[url])
        assert status["status"] == "rejected", (url, status)
        assert reason in status["detail"], (url, status)
    assert receiver.inbox.of("alice") == []
    assert source.hits["/loop"] == 2 and source.hits["/loop2"] == 2  # 3 redirects, then no


def test_a_redirect_is_followed(receiver: Receiver, source: SourceServer) -> None:
    source.page("/final", reply_page())
    moved = source.page("/moved", "", status=301, location="/final")
    assert accepted(receiver, moved)["status"] == "accepted"


def test_a_private_source_is_never_fetched_without_fetch_allow_private(
    provider_db: object, source: SourceServer
) -> None:
    from homeport.provider.db import ProviderDB

    assert isinstance(provider_db, ProviderDB)
    made, live = make_receiver(provider_db, MemoryInbox(), allow_private=False)
    url = source.page("/private", reply_page())
    with live:
        status = accepted(made, url)
        redirect = f"http://localhost:{source.port}/private"
        status_named = accepted(made, redirect)
    made.close()
    assert status["status"] == "rejected"
    assert "not a public address" in str(status["detail"])
    assert "not a public address" in str(status_named["detail"])
    assert source.hits == {}


def test_a_source_domain_is_rate_limited(provider_db: object, source: SourceServer) -> None:
    from homeport.provider.db import ProviderDB

    assert isinstance(provider_db, ProviderDB)
    made, live = make_receiver(provider_db, MemoryInbox(), per_minute=3)
    url = source.page("/r", reply_page())
    with live:
        answers = [made.send(url, TARGET) for _ in range(4)]
        other = made.send(f"http://localhost:{source.port}/r", TARGET)
    made.close()
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    refused = answers[-1]
    assert int(refused.headers["retry-after"]) >= 1
    assert "127.0.0.1" in refused.json()["message"]
    assert other.status_code == 202  # another source host has its own allowance


def test_a_full_inbox_leaves_the_mention_queued_for_later(provider_db: object,
                                                          source: SourceServer) -> None:
    from homeport.provider.db import ProviderDB

    assert isinstance(provider_db, ProviderDB)
    inbox = MemoryInbox(limit=0)
    made, live = make_receiver(provider_db, inbox)
    url = source.page("/full", reply_page())
    with live:
        job = made.send(url, TARGET).json()["id"]
        deadline = time.monotonic() + 10
        while "inbox is full" not in made.status(job).json()["detail"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert made.status(job).json()["status"] == "queued"
    made.close()


# --- durability ------------------------------------------------------------------------------
def test_a_job_left_by_a_dead_worker_is_verified_by_another(receiver: Receiver,
                                                           source: SourceServer) -> None:
    url = source.page("/orphan", reply_page())
    now = int(time.time() * 1000)
    orphan = receiver.mentions.submit("alice", url, TARGET, "127.0.0.1", now)
    taken = receiver.mentions.claim(now - 10 * LIMITS.lease, LIMITS.lease, 10, orphan.id)
    assert [j.id for j in taken] == [orphan.id]  # a worker took it … and died: lease ran out
    assert receiver.settle(orphan.id)["status"] == "accepted"
    assert len(receiver.inbox.of("alice")) == 1


def test_two_workers_on_one_database_verify_each_job_once(provider_db: object,
                                                          source: SourceServer) -> None:
    from homeport.provider.db import ProviderDB

    assert isinstance(provider_db, ProviderDB)
    inbox = MemoryInbox()
    one, live_one = make_receiver(provider_db, inbox)
    two, live_two = make_receiver(provider_db, inbox)
    urls = [source.page(f"/p{i}", reply_page(text=f"reply {i}")) for i in range(20)]
    with live_one, live_two:
        jobs = [(one if i % 2 else two).send(u, TARGET).json()["id"] for i, u in enumerate(urls)]
        states = [(two if i % 2 else one).settle(j)["status"] for i, j in enumerate(jobs)]
    one.close()
    two.close()
    assert states == ["accepted"] * 20
    assert sorted(i.id for i in inbox.items) == sorted(f"webmention-{j}" for j in jobs)
    assert all(source.hits[f"/p{i}"] == 1 for i in range(20))


def test_a_rate_limit_of_zero_takes_everything(provider_db: object) -> None:
    from homeport.provider.db import ProviderDB
    from homeport.provider.mentions import ProviderMentions

    assert isinstance(provider_db, ProviderDB)
    unlimited = ProviderMentions(provider_db, 0)
    now = int(time.time() * 1000)
    jobs = [unlimited.submit("alice", f"http://a.example/{n}", TARGET, "a.example", now)
            for n in range(50)]
    assert len({j.id for j in jobs}) == 50


def test_a_provider_process_takes_rows_left_queued_as_it_starts(
    provider_db: object, source: SourceServer, tmp_path: Path
) -> None:
    """A restart: the row is in the database, no request comes; the real provider app's
    lifespan starts the verifier, which takes it."""
    from homeport.provider.app import create_provider_app
    from homeport.provider.db import ProviderDB
    from homeport.provider.mentions import ProviderMentions
    from homeport.settings import Settings

    assert isinstance(provider_db, ProviderDB)
    url = source.page("/left", "<p>no link here</p>")
    queue = ProviderMentions(provider_db, 30)
    job = queue.submit("alice", url, "http://alice.prov.test/", "127.0.0.1",
                       int(time.time() * 1000))
    settings = Settings(data_dir=tmp_path / "provider", base_domain="prov.test",
                        fetch_allow_private=True)
    with ThreadedApp(create_provider_app(settings, db=provider_db), lifespan="on"):
        deadline = time.monotonic() + 20
        while (found := queue.get("alice", job.id)) is not None and found.state in (
                "queued", "verifying"):
            assert time.monotonic() < deadline, found
            time.sleep(0.05)
    assert found is not None and found.state == "rejected"
    assert "does not link" in found.detail
    assert source.hits["/left"] == 1


def test_old_rows_no_answer_needs_are_pruned(provider_db: object) -> None:
    from homeport.provider.db import ProviderDB
    from homeport.provider.mentions import ProviderMentions

    assert isinstance(provider_db, ProviderDB)
    queue = ProviderMentions(provider_db, 0)

    def row(source: str, state: str, at: int, digest: str = "") -> str:
        job = queue.submit("alice", source, TARGET, "a.example", at)
        queue.finish(job.id, state, "", digest, at)
        return job.id

    row("http://a.example/1", "accepted", 1000, "d1")
    kept_latest = row("http://a.example/1", "unchanged", 2000, "d1")
    row("http://a.example/2", "rejected", 1000)
    kept_recent = row("http://a.example/2", "rejected", 9000)
    kept_only = row("http://a.example/3", "accepted", 1000, "d3")
    assert queue.prune(5000) == 2
    assert queue.last_digest("alice", "http://a.example/1", TARGET) == "d1"
    assert queue.last_digest("alice", "http://a.example/3", TARGET) == "d3"
    with provider_db.transaction() as conn:
        left = {r[0] for r in conn.execute("SELECT id FROM webmentions").fetchall()}
    assert left == {kept_latest, kept_recent, kept_only}
