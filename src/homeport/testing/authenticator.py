"""A software WebAuthn authenticator (ES256, no attestation) for tests that need many passkey
assertions without a browser. It builds exactly what a browser sends (clientDataJSON,
authenticatorData, an ECDSA signature over both); the browser tests use Chromium's virtual
authenticator instead."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    origin: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    count: int = 0

    @property
    def rp_id(self) -> str:
        return urlsplit(self.origin).hostname or ""

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})

    def params(self) -> dict[str, Any]:
        """What a ``passkey`` delegation names for this credential."""
        return {
            "credential_id": b64(self.credential_id),
            "public_key": b64(self.cose_key()),
            "rp_id": self.rp_id,
        }

    def register(self, challenge: bytes, origin: str | None = None) -> dict[str, Any]:
        """The ``PublicKeyCredential`` (JSON form) a browser sends for ``create()`` with no
        attestation (``fmt: none``)."""
        client_data = json.dumps(
            {"type": "webauthn.create", "challenge": b64(challenge),
             "origin": origin or self.origin, "crossOrigin": False}
        ).encode()
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([0x45])
            + struct.pack(">I", self.count)
            + bytes(16)
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self.cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": {"clientDataJSON": b64(client_data),
                         "attestationObject": b64(attestation)},
            "clientExtensionResults": {},
        }

    def assert_(self, challenge: bytes, origin: str | None = None) -> dict[str, Any]:
        """The ``PublicKeyCredential`` (JSON form) a browser would send for ``challenge``."""
        client_data = json.dumps(
            {
                "type": "webauthn.get",
                "challenge": b64(challenge),
                "origin": origin or self.origin,
                "crossOrigin": False,
            }
        ).encode()
        self.count += 1
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([0x05])
            + struct.pack(">I", self.count)
        )
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
        }
