"""Sealed boxes: only the home's key opens them, bound to their item."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from homeport.crypto.boxes import BoxError, box_key, open_box, public_bytes, seal_box


def test_a_box_opens_only_with_its_key_and_associated_data() -> None:
    key = box_key(b"k" * 32)
    sealed = seal_box(public_bytes(key), b"a reply to you", b"item-1")
    assert b"a reply" not in sealed
    assert open_box(key, sealed, b"item-1") == b"a reply to you"
    assert seal_box(public_bytes(key), b"a reply to you", b"item-1") != sealed  # fresh each time
    with pytest.raises(BoxError):
        open_box(key, sealed, b"item-2")  # moved to another item
    with pytest.raises(BoxError):
        open_box(X25519PrivateKey.generate(), sealed, b"item-1")
    flipped = bytearray(sealed)
    flipped[40] ^= 1
    with pytest.raises(BoxError):
        open_box(key, bytes(flipped), b"item-1")
    with pytest.raises(BoxError):
        open_box(key, sealed[:40], b"item-1")


def test_the_box_key_comes_from_the_data_key() -> None:
    assert public_bytes(box_key(b"a" * 32)) == public_bytes(box_key(b"a" * 32))
    assert public_bytes(box_key(b"a" * 32)) != public_bytes(box_key(b"b" * 32))
    with pytest.raises(ValueError):
        seal_box(b"short", b"x", b"")
