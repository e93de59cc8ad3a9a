"""The provider's WebSub hub: intent verification with a challenge, leases within bounds,
unsubscribing, content distribution signed with the subscriber's secret when a publish changes a
feed (and only then), retries, and bad requests refused with 4xx, on SQLite and PostgreSQL.
Subscribers are loopback web hosts, so these run with ``fetch_allow_private`` on, except where
the guard itself is tested."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from homeport.interop import websub
from homeport.provider.websub import ProviderSubscriptions
from homeport.testing.webhost import Answer, Hit, WebHost
from tests.provider.conftest import BASE, SITE_V1, Home, World

HOST = f"alice.{BASE}"
TOPIC = f"http://{HOST}/feed.atom"
HUB = "/_homeport/websub"
DEADLINE = 20.0


def feed(version: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{version}</title></feed>")


@pytest.fixture
def hub_world(
    monkeypatch: pytest.MonkeyPatch, engine: str, request: pytest.FixtureRequest
) -> World:
    monkeypatch.setenv("HOMEPORT_FETCH_ALLOW_PRIVATE", "true")
    found: World = request.getfixturevalue("world")
    assert found.settings.fetch_allow_private
    return found


@pytest.fixture
def site(hub_world: World) -> Home:
    home = hub_world.enrolled("alice")
    publish(hub_world, home, "v1")
    return home


def publish(world: World, home: Home, version: str, **more: str) -> None:
    home.write_site({**SITE_V1, "feed.atom": feed(version), "tags/x/feed.json": "{}", **more})
    assert home.publish(world.client, home.snapshot()).status_code == 200


class Subscriber(WebHost):
    """Confirms what it is told to (``agree``), answers deliveries with ``answers``."""

    def __init__(self) -> None:
        super().__init__()
        self.agree = True
        self.answers: list[int] = []
        self.routes["/cb"] = self._callback

    def _callback(self, hit: Hit) -> Answer:
        if hit.method == "GET":
            challenge = hit.query.get("hub.challenge", "")
            return Answer(200, challenge.encode() if self.agree else b"no", [],
                          "text/plain")
        return Answer(self.answers.pop(0) if self.answers else 204)

    @property
    def callback(self) -> str:
        return f"{self.url}/cb?list=7"

    def checks(self) -> list[Hit]:
        return self.received("/cb", "GET")

    def deliveries(self) -> list[Hit]:
        return self.received("/cb", "POST")


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with Subscriber() as found:
        yield found


def ask(world: World, **form: str) -> httpx.Response:
    data = {"hub.mode": "subscribe", "hub.topic": TOPIC, **form}
    return world.client.post(HUB, headers={"Host": HOST}, data=data)


def until(check: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    started = time.monotonic()
    while not (found := check()):
        assert time.monotonic() - started < deadline, "not in time"
        time.sleep(0.05)
    return found


def subscriptions(world: World) -> list[Any]:
    store = ProviderSubscriptions(world.db)
    return store.for_paths("alice", ["/feed.atom", "/tags/x/feed.json"], int(time.time() * 1000))


def test_subscribe_verify_and_receive_signed_content(
    hub_world: World, site: Home, subscriber: Subscriber
) -> None:
    answer = ask(hub_world, **{"hub.callback": subscriber.callback, "hub.secret": "s3cret",
                               "hub.lease_seconds": "86400"})
    assert answer.status_code == 202
    [check] = until(subscriber.checks)
    assert check.query["hub.mode"] == "subscribe"
    assert check.query["hub.topic"] == TOPIC
    assert check.query["hub.lease_seconds"] == "86400"
    assert check.query["list"] == "7"  # the callback's own query is kept
    [sub] = until(lambda: subscriptions(hub_world))
    assert (sub.topic, sub.path, sub.callback) == (TOPIC, "/feed.atom", subscriber.callback)

    publish(hub_world, site, "v1", **{"other.html": "<p>no feed changed</p>"})
    time.sleep(1)
    assert subscriber.deliveries() == []  # a publish that left the feed alone sends nothing

    publish(hub_world, site, "v2")
    [post] = until(subscriber.deliveries)
    assert post.body == feed("v2").encode()
    assert post.headers["Content-Type"] == "application/atom+xml"
    expected = hmac.new(b"s3cret", post.body, hashlib.sha256).hexdigest()
    assert post.headers["X-Hub-Signature"] == f"sha256={expected}"
    links = httpx.Response(200, headers={"link": post.headers["Link"]}).links
    assert links["hub"]["url"] == f"http://{HOST}{HUB}"
    assert links["self"]["url"] == TOPIC


def test_a_subscriber_that_does_not_confirm_is_not_subscribed(
    hub_world: World, site: Home, subscriber: Subscriber
) -> None:
    subscriber.agree = False
    assert ask(hub_world, **{"hub.callback": subscriber.callback}).status_code == 202
    until(subscriber.checks)
    time.sleep(0.5)
    assert subscriptions(hub_world) == []
    publish(hub_world, site, "v2")
    time.sleep(1)
    assert subscriber.deliveries() == []


def test_unsubscribe_is_verified_too(hub_world: World, site: Home, subscriber: Subscriber) -> None:
    ask(hub_world, **{"hub.callback": subscriber.callback})
    until(lambda: subscriptions(hub_world))
    gone = ask(hub_world, **{"hub.mode": "unsubscribe", "hub.callback": subscriber.callback})
    assert gone.status_code == 202
    until(lambda: len(subscriber.checks()) == 2)
    assert subscriber.checks()[1].query["hub.mode"] == "unsubscribe"
    assert "hub.lease_seconds" not in subscriber.checks()[1].query
    until(lambda: subscriptions(hub_world) == [])
    publish(hub_world, site, "v2")
    time.sleep(1)
    assert subscriber.deliveries() == []


@pytest.mark.parametrize(("asked", "granted"), [
    ("10", websub.MIN_LEASE), (str(10**15), websub.MAX_LEASE), ("", websub.DEFAULT_LEASE)])
def test_leases_are_kept_within_bounds(
    hub_world: World, site: Home, subscriber: Subscriber, asked: str, granted: int
) -> None:
    form = {"hub.callback": subscriber.callback}
    if asked:
        form["hub.lease_seconds"] = asked
    assert ask(hub_world, **form).status_code == 202
    [check] = until(subscriber.checks)
    assert check.query["hub.lease_seconds"] == str(granted)
    [sub] = until(lambda: subscriptions(hub_world))
    assert abs(sub.expires - (time.time() + granted) * 1000) < 60_000


def test_a_rollback_that_changes_a_feed_notifies_too(
    hub_world: World, site: Home, subscriber: Subscriber
) -> None:
    ask(hub_world, **{"hub.callback": subscriber.callback})
    until(lambda: subscriptions(hub_world))
    publish(hub_world, site, "v2")
    until(lambda: len(subscriber.deliveries()) == 1)
    back = site.request(hub_world.client, "POST", "/rollback", {"seq": 1})
    assert back.status_code == 200
    until(lambda: len(subscriber.deliveries()) == 2)
    assert subscriber.deliveries()[1].body == feed("v1").encode()


def test_a_failed_delivery_is_tried_again(
    hub_world: World, site: Home, subscriber: Subscriber
) -> None:
    ask(hub_world, **{"hub.callback": subscriber.callback})
    until(lambda: subscriptions(hub_world))
    subscriber.answers = [500]
    publish(hub_world, site, "v2")
    until(lambda: len(subscriber.deliveries()) == 2)
    assert [h.body for h in subscriber.deliveries()] == [feed("v2").encode()] * 2


def test_a_410_ends_the_subscription(hub_world: World, site: Home, subscriber: Subscriber) -> None:
    ask(hub_world, **{"hub.callback": subscriber.callback})
    until(lambda: subscriptions(hub_world))
    subscriber.answers = [410]
    publish(hub_world, site, "v2")
    until(lambda: subscriptions(hub_world) == [])


@pytest.mark.parametrize(("form", "why"), [
    ({"hub.mode": "publish"}, "hub.mode"),
    ({"hub.callback": "not a url"}, "hub.callback"),
    ({"hub.callback": "ftp://example.com/cb"}, "hub.callback"),
    ({"hub.callback": "http://example.com/cb#frag"}, "fragment"),
    ({"hub.callback": "http://example.com:99999/cb"}, "hub.callback"),
    ({"hub.topic": f"http://bob.{BASE}/feed.atom"}, "hub.topic"),
    ({"hub.topic": "http://elsewhere.example/feed.atom"}, "hub.topic"),
    ({"hub.topic": f"http://{HOST}/posts/hello/"}, "hub.topic"),
    ({"hub.topic": f"http://{HOST}/nothing/feed.atom"}, "hub.topic"),
    ({"hub.secret": "x" * 200}, "hub.secret"),
    ({"hub.lease_seconds": "-5"}, "hub.lease_seconds"),
    ({"hub.lease_seconds": "soon"}, "hub.lease_seconds"),
])
def test_bad_requests_are_refused(
    hub_world: World, site: Home, subscriber: Subscriber, form: dict[str, str], why: str
) -> None:
    answer = ask(hub_world, **{"hub.callback": subscriber.callback, **form})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request" and why in answer.json()["message"]
    time.sleep(0.2)
    assert subscriber.hits == []


def test_other_shapes_are_refused(hub_world: World, site: Home) -> None:
    as_json = hub_world.client.post(HUB, headers={"Host": HOST}, json={"hub.mode": "subscribe"})
    assert as_json.status_code == 415
    huge = hub_world.client.post(HUB, headers={"Host": HOST}, data={"hub.topic": "x" * 9000})
    assert huge.status_code == 413
    nobody = hub_world.client.post(HUB, headers={"Host": f"nobody.{BASE}"}, data={})
    assert nobody.status_code == 404
    assert hub_world.client.get(HUB, headers={"Host": HOST}).status_code == 405


def test_private_callbacks_are_refused_without_the_setting(
    world: World, subscriber: Subscriber
) -> None:
    """The default: a callback on loopback is never contacted, given as an address (400)
    or as a name that resolves there (accepted, then refused when resolved)."""
    home = world.enrolled("alice")
    publish(world, home, "v1")
    literal = ask(world, **{"hub.callback": subscriber.callback})
    assert literal.status_code == 400 and "not a public address" in literal.json()["message"]
    named = ask(world, **{"hub.callback": f"http://localhost:{subscriber.port}/cb"})
    assert named.status_code == 202
    time.sleep(1)
    assert subscriber.hits == []
    assert subscriptions(world) == []
