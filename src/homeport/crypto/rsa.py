"""The site's ActivityPub key: RSA 2048, because Mastodon verifies ``rsa-sha256`` signatures.

Only the form of the key lives here (make one, read it back, its public half as PEM); where it
is kept is ``services/fediverse.py``, and signing requests is the provider's (a delegation).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_BITS = 2048
PUBLIC_EXPONENT = 65537


class RSAKeyError(ValueError):
    """Bytes that are not an RSA private key of the size we use."""


def new_private_pem() -> str:
    """A fresh RSA 2048 key as unencrypted PKCS#8 PEM (kept sealed in the repository)."""
    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def load_private(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise RSAKeyError("not a PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < KEY_BITS:
        raise RSAKeyError(f"not an RSA key of at least {KEY_BITS} bits")
    return key


def public_pem(private: str) -> str:
    """The public half as SubjectPublicKeyInfo PEM, the form an actor's ``publicKeyPem`` takes."""
    return load_private(private).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
