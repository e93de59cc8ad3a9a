"""The delegation format as a third party checks it (docs/format.md, "Delegations"): a good
one passes; tampered, mis-addressed, expired, ill-shaped, or signed by a key the identity log
no longer has in force (after a rotation) is refused, saying why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core.identity import current_key
from homeport.crypto.delegations import (
    DelegationError,
    check_delegation,
    new_token,
    sign_delegation,
    token_hash,
)
from homeport.crypto.signing import verify
from homeport.services import identity as ids

AUD = "https://provider.example:443"
NOW = 1_800_000_000_000


def device_key(data: Path) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(ids.secret(data, "signing.key"))


def keys_in_force(data: Path) -> set[str]:
    found = ids.load(data)
    return {found.did, current_key(found.did, found.operations, verify)}


def token_doc(data: Path, **kw: Any) -> dict[str, Any]:
    params = {"hash": token_hash(new_token()), "scope": ["create"], "client_id": None, "me": None}
    args: dict[str, Any] = {"issued": NOW, "expires": NOW + 1000, **kw}
    return sign_delegation(device_key(data), ids.load(data).did, AUD, "token", params, **args)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    ids.create(tmp_path, keep_root_key=True)
    return tmp_path


def test_a_good_delegation_passes(home: Path) -> None:
    doc = token_doc(home)
    checked = check_delegation(doc, keys_in_force(home), ids.load(home).did, {AUD}, NOW)
    assert checked.id == doc["id"] and checked.power == "token"
    assert checked.params["scope"] == ["create"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d["params"].update(scope=["create", "delete"]), "bad signature"),
        (lambda d: d.update(expires=d["expires"] + 1), "bad signature"),
        (lambda d: d.update(audience="https://other.example:443"), "bad signature"),
        (lambda d: d.update(issuer="did:key:z6MkOther"), "another identity"),
        (lambda d: d.update(extra=1), "unknown fields"),
        (lambda d: d.update(v=2), "version"),
        (lambda d: d.update(id="x"), "id"),
        (lambda d: d.update(audience="https://provider.example/path"), "origin"),
        (lambda d: d.update(sig="!!!"), "signature"),
        (lambda d: d.pop("sig"), "not signed"),
    ],
)
def test_tampered_or_misaddressed_is_refused(home: Path, change: Any, why: str) -> None:
    doc = token_doc(home)
    change(doc)
    with pytest.raises(DelegationError, match=why):
        check_delegation(doc, keys_in_force(home), ids.load(home).did, {AUD}, NOW)


def test_signed_for_another_provider_is_refused(home: Path) -> None:
    doc = token_doc(home)
    with pytest.raises(DelegationError, match="not this provider"):
        check_delegation(doc, keys_in_force(home), ids.load(home).did,
                         {"https://other.example:443"}, NOW)


def test_expired_is_refused(home: Path) -> None:
    doc = token_doc(home)
    with pytest.raises(DelegationError, match="expired"):
        check_delegation(doc, keys_in_force(home), ids.load(home).did, {AUD}, NOW + 1000)


def test_only_tokens_may_have_no_expiry(home: Path) -> None:
    assert token_doc(home, expires=None)["expires"] is None
    with pytest.raises(DelegationError, match="expiry"):
        sign_delegation(device_key(home), ids.load(home).did, AUD, "indieauth-tokens",
                        {"scopes": ["create"]}, issued=NOW, expires=None)


def test_a_rotated_out_key_no_longer_signs(home: Path) -> None:
    before = token_doc(home)
    ids.rotate(home)
    did = ids.load(home).did
    with pytest.raises(DelegationError, match="not in force"):
        check_delegation(before, keys_in_force(home), did, {AUD}, NOW)
    after = token_doc(home)  # the home signs again with its new key
    assert check_delegation(after, keys_in_force(home), did, {AUD}, NOW).id == after["id"]
