"""Other servers' actors, as the provider's inbox needs them: the key that signed a request,
fetched from the web (through the SSRF guard) and remembered.

A signature names its key by URL (``keyId``): usually the actor's own URL with a fragment
(``https://social.example/users/bob#main-key``, Mastodon, Fedify), sometimes a key document of
its own that names its ``owner`` (GoToSocial). Either way the key is trusted only when the actor
document lists it under ``publicKey`` with that id and itself as owner. Keys are kept per
process for ``KEY_TTL``; a signature that fails with a remembered key fetches it once more (the
actor may have rotated it) before the request is refused.

Servers in "authorized fetch" mode (Mastodon's ``AUTHORIZED_FETCH``, GoToSocial by default)
answer 401 to an unsigned GET of an actor or object. So every fetch here may be signed as the
site (``signer``: the key the home delegated to this provider, draft-cavage ``rsa-sha256`` over
``(request-target) host date``, as Mastodon signs its own fetches); the site's actor, which the
other server fetches to check that signature, is a static file anyone may read.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from homeport import jsonio
from homeport.crypto import httpsig
from homeport.web import outbound

ACCEPT = ('application/activity+json, application/ld+json; '
          'profile="https://www.w3.org/ns/activitystreams"')
MAX_DOCUMENT = 256 * 1024
KEY_TTL = 24 * 3600.0
CACHE_SIZE = 10_000
TIMEOUT = 10.0


class RemoteError(Exception):
    """An actor or key that cannot be had or trusted; ``gone`` when its server said 410."""

    def __init__(self, message: str, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


@dataclass(frozen=True)
class RemoteActor:
    id: str
    inbox: str
    shared_inbox: str
    also_known_as: tuple[str, ...]
    keys: Mapping[str, str]
    """Key id → PEM, from ``publicKey``."""


@dataclass(frozen=True)
class RemoteKey:
    id: str
    owner: str
    key: httpsig.PublicKey
    actor: RemoteActor


def signer(key_id: str, key: RSAPrivateKey, clock: Any = time.time) -> outbound.Sign:
    """Headers signing a GET as the site (the key's id is the actor's ``#main-key``)."""

    def sign(method: str, url: str) -> dict[str, str]:
        headers = httpsig.sign(key, key_id, method, url, None, clock())
        headers.pop("Host", None)  # the fetch sets it from the same URL
        return headers

    return sign


def _id(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return ""


def _web(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) <= 2048


def actor_of(doc: Any) -> RemoteActor:
    """An actor document's parts we use; RemoteError when it is not one."""
    if not isinstance(doc, Mapping):
        raise RemoteError("the actor document is not a JSON object")
    actor, inbox = _id(doc.get("id")), _id(doc.get("inbox"))
    if not _web(actor) or not _web(inbox):
        raise RemoteError("the actor document lacks an id or an inbox")
    endpoints = doc.get("endpoints")
    shared = _id(endpoints.get("sharedInbox")) if isinstance(endpoints, Mapping) else ""
    aka = doc.get("alsoKnownAs") or []
    keys: dict[str, str] = {}
    found = doc.get("publicKey")
    for key in found if isinstance(found, list) else [found]:
        if (isinstance(key, Mapping) and isinstance(key.get("publicKeyPem"), str)
                and _id(key.get("owner")) in ("", actor) and isinstance(key.get("id"), str)):
            keys[str(key["id"])] = str(key["publicKeyPem"])
    return RemoteActor(
        actor, inbox, shared if _web(shared) else "",
        tuple(_id(a) for a in (aka if isinstance(aka, list) else [aka]) if _id(a)), keys,
    )


async def fetch_document(url: str, permitted: outbound.Permitted,
                         sign: outbound.Sign | None = None) -> Any:
    """An ActivityPub document (JSON), fetched signed when ``sign`` is given; RemoteError when
    it cannot be had."""
    if not _web(url):
        raise RemoteError(f"{url[:100]!r} is not an http(s) URL")
    try:
        got = await outbound.fetch(url, permitted=permitted, limit=MAX_DOCUMENT,
                                   timeout=TIMEOUT, accept=ACCEPT, sign=sign)
    except outbound.FetchRefused as exc:
        raise RemoteError(str(exc)) from None
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        raise RemoteError(f"{url} could not be fetched: {exc}") from None
    if got.status in (404, 410):
        raise RemoteError(f"{url} is gone ({got.status})", gone=True)
    if got.status != 200:
        raise RemoteError(f"{url} answered {got.status}")
    try:
        return jsonio.loads_untrusted(got.body)
    except ValueError:
        raise RemoteError(f"{url} is not JSON") from None


async def fetch_actor(url: str, permitted: outbound.Permitted,
                      sign: outbound.Sign | None = None) -> RemoteActor:
    actor = actor_of(await fetch_document(url, permitted, sign))
    if actor.id.split("#", 1)[0] != url.split("#", 1)[0]:
        raise RemoteError("the actor document's id is not the URL it was fetched from")
    return actor


class Keys:
    """The keys this process has fetched, by key id (LRU, ``KEY_TTL``)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._keys: OrderedDict[str, tuple[RemoteKey, float]] = OrderedDict()

    def forget(self, key_id: str) -> None:
        self._keys.pop(key_id, None)

    def remembered(self, key_id: str) -> RemoteKey | None:
        found = self._keys.get(key_id)
        if found is None or found[1] < self.clock():
            return None
        self._keys.move_to_end(key_id)
        return found[0]

    async def get(self, key_id: str, permitted: outbound.Permitted,
                  sign: outbound.Sign | None = None) -> RemoteKey:
        """The key, fetched when not remembered. RemoteError when it cannot be trusted."""
        found = self.remembered(key_id)
        if found is not None:
            return found
        doc = await fetch_document(key_id.split("#", 1)[0], permitted, sign)
        if isinstance(doc, Mapping) and "publicKeyPem" in doc and "inbox" not in doc:
            owner = _id(doc.get("owner"))  # a key document of its own: its owner must list it
            actor = await fetch_actor(owner, permitted, sign)
        else:
            actor = actor_of(doc)
            if actor.id != key_id.split("#", 1)[0]:
                raise RemoteError("the actor document's id is not where its key was fetched")
        pem = actor.keys.get(key_id)
        if pem is None:
            raise RemoteError(f"{actor.id} does not list the key {key_id}")
        try:
            key = RemoteKey(key_id, actor.id, httpsig.load_public_key(pem), actor)
        except ValueError as exc:
            raise RemoteError(f"{key_id}: {exc}") from None
        self._keys[key_id] = (key, self.clock() + KEY_TTL)
        while len(self._keys) > CACHE_SIZE:
            self._keys.popitem(last=False)
        return key


__all__ = ["Keys", "RemoteActor", "RemoteError", "RemoteKey", "actor_of", "fetch_actor",
           "fetch_document", "signer"]
