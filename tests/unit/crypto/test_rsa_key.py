"""The site's ActivityPub key: RSA 2048 PEM, read back strictly."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa as crsa

from homeport.crypto import rsa


def test_a_new_key_is_rsa_2048_and_its_public_half_matches() -> None:
    private = rsa.new_private_pem()
    key = rsa.load_private(private)
    assert key.key_size == 2048
    public = serialization.load_pem_public_key(rsa.public_pem(private).encode())
    assert isinstance(public, crsa.RSAPublicKey)
    assert public.public_numbers() == key.public_key().public_numbers()


def _pem(key: crsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize("bad", [
    "", "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "é",
])
def test_garbage_is_refused(bad: str) -> None:
    with pytest.raises(rsa.RSAKeyError):
        rsa.load_private(bad)


def test_other_keys_and_short_rsa_keys_are_refused() -> None:
    with pytest.raises(rsa.RSAKeyError):
        rsa.load_private(_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(rsa.RSAKeyError):
        rsa.load_private(_pem(crsa.generate_private_key(65537, 1024)))
