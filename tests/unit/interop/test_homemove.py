"""The home asks the old provider for a Move only by Mastodon's rules
(``interop/activitypub/homemove.py``): a move refused now asks no provider and stays pending
(tried after a later publish), one already sent to the same target is not sent again. The Move
that does go out is tested end to end in ``tests/e2e/test_fediverse_address.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from homeport.interop import fedmove
from homeport.interop.activitypub import homemove
from homeport.settings import Settings
from homeport.sync import addresses
from homeport.sync.providers import save, variant_name

A = {"url": "https://provider-a.test", "site": "https://ada.provider-a.test/"}
C = {"url": "https://provider-c.test", "site": "https://ada.provider-c.test/"}
OLD, NEW = addresses.actor_of(A["site"]), addresses.actor_of(C["site"])
NOW = 1_800_000_000_000


def no_request() -> httpx.Client:
    raise AssertionError("no provider is asked for a Move the rules refuse")


def _home(tmp_path: Path, aka: list[str], sent: dict[str, Any]) -> Settings:
    save(tmp_path, [C, A])
    built = tmp_path / "sites" / variant_name("ada", C["url"]) / "activitypub"
    built.mkdir(parents=True)
    (built / "actor.as2").write_text(json.dumps({"id": NEW, "alsoKnownAs": aka}))
    addresses.write(tmp_path, {"ada": {"address": C["site"], "sent": sent,
                                       "moves": {A["site"]: {"to": C["site"], "sent": None}}}})
    return Settings(data_dir=tmp_path)


def test_within_30_days_of_the_last_move_nothing_is_sent(tmp_path: Path) -> None:
    last = {A["site"]: {"to": "https://ada.provider-b.test/activitypub/actor",
                        "at": NOW - fedmove.SEND_COOLDOWN_MS + 1, "count": 1}}
    settings = _home(tmp_path, [OLD], last)
    (sent,) = homemove.announce(settings, "ada", {A["url"], C["url"]}, NOW, http=no_request)
    assert sent.error == "cooldown"
    assert addresses.read(tmp_path)["ada"]["moves"][A["site"]]["sent"] is None  # still pending


def test_a_target_that_does_not_name_the_old_actor_gets_no_move(tmp_path: Path) -> None:
    settings = _home(tmp_path, [], {})
    (sent,) = homemove.announce(settings, "ada", {A["url"], C["url"]}, NOW, http=no_request)
    assert sent.error == "missing-also-known-as"
    assert addresses.read(tmp_path)["ada"]["moves"][A["site"]]["sent"] is None


def test_a_move_already_sent_to_the_same_target_is_not_sent_again(tmp_path: Path) -> None:
    settings = _home(tmp_path, [OLD], {A["site"]: {"to": NEW, "at": NOW - 5, "count": 1}})
    (sent,) = homemove.announce(settings, "ada", {A["url"], C["url"]}, NOW, http=no_request)
    assert sent.error == "already-moved"
    assert addresses.read(tmp_path)["ada"]["moves"][A["site"]]["sent"] == NOW - 5
    assert homemove.announce(settings, "ada", {A["url"], C["url"]}, NOW,
                             http=no_request) == []


def test_an_old_provider_that_did_not_take_the_publish_is_not_asked(tmp_path: Path) -> None:
    settings = _home(tmp_path, [OLD], {})
    (sent,) = homemove.announce(settings, "ada", {C["url"]}, NOW, http=no_request)
    assert sent.error == "not-published"
