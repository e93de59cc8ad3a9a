"""The home's side of a sign-in approved on its admin page: the inbox item is listed once,
expired ones are dropped, malformed ones rejected for good (a HomeportError)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from homeport.core.errors import HomeportError
from homeport.interop.indieauth import SIGNIN_KIND, home_handlers
from homeport.interop.indieauth import home as signins
from homeport.interop.ports import InboxItem

NOW = 1_800_000_000_000


def ctx(tmp_path: Path) -> Any:
    return SimpleNamespace(settings=SimpleNamespace(data_dir=tmp_path), clock=lambda: NOW)


def item(nonce: str = "n1", **meta: Any) -> InboxItem:
    base = {
        "nonce": nonce,
        "client_id": "https://app.example/",
        "redirect_uri": "https://app.example/cb",
        "scope": ["create"],
        "expires": NOW + 60_000,
    }
    return InboxItem(f"indieauth-{nonce}", SIGNIN_KIND, {**base, **meta}, b"", NOW)


def test_listed_once_then_taken(tmp_path: Path) -> None:
    handler = home_handlers()[SIGNIN_KIND]
    assert handler(ctx(tmp_path), item()) == {"listed": True}
    assert handler(ctx(tmp_path), item()) == {"listed": True}  # redelivered
    (found,) = signins.pending(tmp_path, NOW)
    assert found["client_id"] == "https://app.example/" and found["scope"] == ["create"]
    assert signins.take(tmp_path, "n1", NOW) is not None
    assert signins.take(tmp_path, "n1", NOW) is None
    assert signins.pending(tmp_path, NOW) == []


def test_expired_requests_are_not_listed(tmp_path: Path) -> None:
    handler = home_handlers()[SIGNIN_KIND]
    assert handler(ctx(tmp_path), item(expires=NOW - 1)) == {"listed": False}
    handler(ctx(tmp_path), item("n2"))
    assert signins.pending(tmp_path, NOW + 120_000) == []


@pytest.mark.parametrize(
    "meta",
    [{"nonce": ""}, {"client_id": 3}, {"scope": "create"}, {"expires": "soon"}],
)
def test_malformed_items_are_rejected(tmp_path: Path, meta: dict[str, Any]) -> None:
    with pytest.raises(HomeportError):
        home_handlers()[SIGNIN_KIND](ctx(tmp_path), item(**meta))
    assert signins.pending(tmp_path, NOW) == []
