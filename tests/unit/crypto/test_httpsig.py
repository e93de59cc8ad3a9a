"""HTTP signatures as the fediverse sends them: draft-cavage (Mastodon) and RFC 9421 (Fedify),
both read, the window, the digest, and what a signature must cover."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver
from http_message_signatures.algorithms import RSA_V1_5_SHA256

from homeport.crypto import httpsig
from homeport.crypto.httpsig import SignatureError

URL = "https://alice.example.test/_homeport/activitypub/inbox"
KEY_ID = "https://bob.example.org/users/bob#main-key"
BODY = b'{"type":"Follow","actor":"https://bob.example.org/users/bob"}'


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def check(headers: dict[str, str], key: object, body: bytes = BODY, url: str = URL,
          now: float | None = None, method: str = "POST") -> httpsig.Verified:
    parsed = httpsig.parse(headers)
    assert parsed.key_id == KEY_ID
    return httpsig.verify(parsed, key, method, url, headers, body,  # type: ignore[arg-type]
                          time.time() if now is None else now)


def test_cavage_round_trip(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = httpsig.sign(rsa_key, KEY_ID, "POST", URL, BODY, time.time())
    assert headers["Host"] == "alice.example.test"
    sha = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert headers["Digest"] == "SHA-256=" + sha
    assert 'headers="(request-target) host date digest content-type"' in headers["Signature"]
    done = check(headers, rsa_key.public_key())
    assert done.scheme == httpsig.CAVAGE and done.key_id == KEY_ID


def test_cavage_as_mastodon_writes_it_by_hand(rsa_key: rsa.RSAPrivateKey) -> None:
    """Built here from the draft's text, not by our signer: the signing string Mastodon's
    ``SignedRequest`` makes, lower-case names, ``: `` separators, newline joined."""
    date = "Fri, 04 Dec 2026 15:00:00 GMT"
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    text = (f"(request-target): post /_homeport/activitypub/inbox\nhost: alice.example.test\n"
            f"date: {date}\ndigest: {digest}\ncontent-type: application/activity+json")
    raw = rsa_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers = {
        "host": "alice.example.test", "date": date, "digest": digest,
        "content-type": "application/activity+json",
        "signature": f'keyId="{KEY_ID}",algorithm="rsa-sha256",headers="(request-target) '
                     f'host date digest content-type",signature="{base64.b64encode(raw).decode()}"',
    }
    now = datetime(2026, 12, 4, 15, 0, 30, tzinfo=UTC).timestamp()
    assert check(headers, rsa_key.public_key(), now=now).signed_at == int(now) - 30


def test_cavage_refusals(rsa_key: rsa.RSAPrivateKey) -> None:
    now = time.time()
    good = httpsig.sign(rsa_key, KEY_ID, "POST", URL, BODY, now)
    with pytest.raises(SignatureError, match="not signed"):
        httpsig.parse({"Host": "x"})
    with pytest.raises(SignatureError, match="malformed"):
        httpsig.parse({"Signature": 'keyId="a",,,signature'})
    with pytest.raises(SignatureError, match="algorithm"):
        httpsig.parse({"Signature": 'keyId="a",algorithm="hmac-sha256",signature="x"'})
    tampered = dict(good)
    with pytest.raises(SignatureError) as body:
        check(tampered, rsa_key.public_key(), body=BODY + b" ")
    assert body.value.status == 400
    with pytest.raises(SignatureError, match="does not match"):
        check(good, rsa_key.public_key(), url=URL.replace("inbox", "shared-inbox"))
    with pytest.raises(SignatureError, match="does not match"):
        check({**good, "Host": "mallory.example.test"}, rsa_key.public_key(),
              url=URL.replace("alice", "mallory"))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SignatureError, match="does not match"):
        check(good, other.public_key())
    with pytest.raises(SignatureError, match="too old"):
        check(good, rsa_key.public_key(), now=now + httpsig.PAST + 5)
    with pytest.raises(SignatureError, match="future"):
        check(good, rsa_key.public_key(), now=now - httpsig.FUTURE - 5)


def test_cavage_must_cover_the_request_and_body(rsa_key: rsa.RSAPrivateKey) -> None:
    date = httpsig.http_date(time.time())
    text = f"host: alice.example.test\ndate: {date}"
    raw = base64.b64encode(rsa_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()))
    headers = {"host": "alice.example.test", "date": date,
               "signature": f'keyId="{KEY_ID}",headers="host date",signature="{raw.decode()}"'}
    with pytest.raises(SignatureError, match="request-target"):
        check(headers, rsa_key.public_key())
    text = (f"(request-target): post /_homeport/activitypub/inbox\n"
            f"host: alice.example.test\ndate: {date}")
    raw = base64.b64encode(rsa_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()))
    headers["signature"] = (f'keyId="{KEY_ID}",headers="(request-target) host date",'
                            f'signature="{raw.decode()}"')
    with pytest.raises(SignatureError, match="Digest"):
        check(headers, rsa_key.public_key())
    assert check(headers, rsa_key.public_key(), body=b"", method="POST").key_id == KEY_ID


def test_keys() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="2048"):
        httpsig.load_public_key(httpsig.public_key_pem(small.public_key()))
    with pytest.raises(ValueError):
        httpsig.load_public_key("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")
    ed = Ed25519PrivateKey.generate().public_key()
    assert httpsig.load_public_key(httpsig.public_key_pem(ed)) == ed


class _Resolver(HTTPSignatureKeyResolver):
    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key

    def resolve_private_key(self, key_id: str) -> rsa.RSAPrivateKey:
        return self.key


class _Message:
    def __init__(self, headers: dict[str, str]) -> None:
        self.method, self.url, self.headers = "POST", URL, headers


def test_rfc9421_signed_by_the_library_itself(rsa_key: rsa.RSAPrivateKey) -> None:
    """Signed with ``http-message-signatures``'s own signer, as Fedify would send it."""
    message = _Message({"Host": "alice.example.test", "Content-Type": "application/activity+json"})
    signer = HTTPMessageSigner(signature_algorithm=RSA_V1_5_SHA256, key_resolver=_Resolver(rsa_key))
    signer.sign(message, key_id=KEY_ID, label="sig1", body=BODY,
                covered_component_ids=("@method", "@target-uri", "content-digest"))
    done = check(message.headers, rsa_key.public_key())
    assert done.scheme == httpsig.RFC9421
    with pytest.raises(SignatureError) as wrong:
        check(message.headers, rsa_key.public_key(), body=BODY + b"!")
    assert wrong.value.status == 400
    with pytest.raises(SignatureError):
        check(message.headers, rsa_key.public_key(), url=URL + "?x=1")


def test_rfc9421_ours_with_both_key_kinds(rsa_key: rsa.RSAPrivateKey) -> None:
    for key in (rsa_key, Ed25519PrivateKey.generate()):
        headers = httpsig.sign_rfc9421(key, KEY_ID, "POST", URL, BODY, time.time())
        assert check(headers, key.public_key()).scheme == httpsig.RFC9421
        old = httpsig.sign_rfc9421(key, KEY_ID, "POST", URL, BODY, time.time() - 7200)
        with pytest.raises(SignatureError, match="too old"):
            check(old, key.public_key())


def test_rfc9421_must_cover_the_request(rsa_key: rsa.RSAPrivateKey) -> None:
    message = _Message({"Host": "alice.example.test"})
    signer = HTTPMessageSigner(signature_algorithm=RSA_V1_5_SHA256, key_resolver=_Resolver(rsa_key))
    signer.sign(message, key_id=KEY_ID, label="sig1", covered_component_ids=("@authority",))
    with pytest.raises(SignatureError, match="@method"):
        check(message.headers, rsa_key.public_key(), body=b"")
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    assert httpsig.load_public_key(pem.decode()) == rsa_key.public_key()
