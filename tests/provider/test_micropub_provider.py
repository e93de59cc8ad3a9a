"""Micropub at the real provider: its routes mounted on a tenant's host, tokens checked by the
real ``Grants`` (a delegation the home signed), requests queued in the real inbox, on both
engines. The home's side is tested in ``tests/interop/test_micropub.py``."""

from __future__ import annotations

import time

from homeport.crypto.delegations import TOKEN, new_token, sign_delegation, token_hash
from homeport.interop.ports import TENANT_PREFIX
from homeport.sync.auth import origin

from .conftest import BASE, Home, World

HOST = f"alice.{BASE}"


def give_token(world: World, home: Home, scope: list[str]) -> str:
    secret = new_token()
    now = int(time.time() * 1000)
    doc = sign_delegation(home.key, home.did, origin(str(world.client.base_url)), TOKEN,
                          {"hash": token_hash(secret), "scope": scope, "client_id": None,
                           "me": None}, issued=now, expires=None)
    body = {"issued": now, "delegations": [doc], "revoked": []}
    answer = home.request(world.client, "POST", "/delegations", body)
    assert answer.status_code == 200, answer.text
    return secret


def test_a_create_is_queued_for_the_sleeping_home(world: World, alice: Home) -> None:
    """No home connected: 202 at once (the item durably queued), not after the 9 s a
    connected home gets to apply it."""
    token = give_token(world, alice, ["create"])
    started = time.monotonic()
    answer = world.client.post(f"{TENANT_PREFIX}/micropub", data={
        "h": "entry", "content": "Hello from a phone", "category": "test"},
        headers={"Host": HOST, "Authorization": f"Bearer {token}"})
    took = time.monotonic() - started
    assert answer.status_code == 202, answer.text
    assert took < 1.0, took
    location = answer.headers["location"]
    assert location.startswith(f"https://{HOST}/notes/hello-from-a-phone-")
    inbox = world.app.server.config.app.state.ports.inbox
    waiting = inbox.waiting("alice", 100, 10**7)
    assert len(waiting) == 1
    item = waiting[0]
    assert item.kind == "micropub.post"
    assert item.meta["action"] == "create" and item.meta["url"] == location


def test_errors_at_the_real_provider(world: World, alice: Home) -> None:
    reader = give_token(world, alice, ["update"])
    url = f"{TENANT_PREFIX}/micropub"
    none = world.client.post(url, data={"h": "entry", "content": "x"}, headers={"Host": HOST})
    unknown = world.client.post(url, data={"h": "entry", "content": "x"},
                                headers={"Host": HOST, "Authorization": "Bearer hpt_nope"})
    scope = world.client.post(url, data={"h": "entry", "content": "x"},
                              headers={"Host": HOST, "Authorization": f"Bearer {reader}"})
    config = world.client.get(url, params={"q": "config"},
                              headers={"Host": HOST, "Authorization": f"Bearer {reader}"})
    elsewhere = world.client.get(url, params={"q": "config"},
                                 headers={"Host": f"nobody.{BASE}",
                                          "Authorization": f"Bearer {reader}"})
    assert none.status_code == 401 and none.json()["error"] == "unauthorized"
    assert unknown.status_code == 401
    assert scope.status_code == 403 and scope.json()["error"] == "insufficient_scope"
    assert config.status_code == 200
    assert config.json()["media-endpoint"] == f"https://{HOST}{TENANT_PREFIX}/media"
    assert elsewhere.status_code == 404
    inbox = world.app.server.config.app.state.ports.inbox
    assert inbox.waiting("alice", 100, 10**7) == []
