"""A provider as the home sees it: one method per endpoint of ``docs/protocol.md``, every request
signed, every error turned into a ``ProviderError`` that carries the provider's own message.

The HTTP client is injected, so tests can talk to a provider's ASGI app in-process and the CLI to
a real one over the network.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport import jsonio
from homeport.core.canonical import canonical
from homeport.crypto.keys import did_key
from homeport.crypto.signing import sign
from homeport.repo.bundle import FETCH_END, FETCH_END_HEADER, FRAME, MAX_OBJECT
from homeport.sync import segments
from homeport.sync.auth import PROTOCOL, authorization, origin

API = "/_homeport/v1"
PACK_TYPE = "application/vnd.homeport.pack"
FRAME_HEAD = 1 + FRAME.size
MAX_ANSWER = 1024 * 1024 * 1024
"""An answer read into memory (JSON; a fetch streams, a frame at a time) is at most this."""


FETCH_TRIES = 3


class AnswerCut(Exception):
    """A fetch's answer ended without its end mark: the provider stopped part-way."""


def answer_frames(
    pieces: Iterable[bytes], url: str, ended: bool
) -> Iterator[tuple[bytes, bytes]]:
    """``(id, stored)`` of a fetch's answer as its pieces arrive: an answer is never held
    whole. A damaged frame is the provider's bad answer; with ``ended`` (the provider said it
    marks the end, ``bundle.fetch_end``), an answer without the mark was cut (``AnswerCut``)."""
    buffer = bytearray()
    marked = False
    count = 0
    for piece in pieces:
        if marked:
            raise ProviderError(url, 200, "bad-answer", "fetched objects: bytes after the end")
        buffer += piece
        pos = 0
        while pos < len(buffer):
            if ended and buffer[pos] == ord("E"):
                if len(buffer) - pos < 1 + FETCH_END.size:
                    break
                (told,) = FETCH_END.unpack_from(buffer, pos + 1)
                pos += 1 + FETCH_END.size
                if told != count or pos != len(buffer):
                    raise ProviderError(url, 200, "bad-answer", "fetched objects: a bad end mark")
                marked = True
                break
            if buffer[pos] != ord("O"):
                raise ProviderError(url, 200, "bad-answer", "fetched objects: not a frame")
            if len(buffer) - pos < FRAME_HEAD:
                break
            oid, length = FRAME.unpack_from(buffer, pos + 1)
            if length > MAX_OBJECT:
                raise ProviderError(url, 200, "bad-answer", f"object {oid.hex()[:16]}: too large")
            end = pos + FRAME_HEAD + length + 4
            if len(buffer) < end:
                break
            stored = bytes(buffer[pos + FRAME_HEAD : end - 4])
            if zlib.crc32(stored, zlib.crc32(oid)).to_bytes(4, "big") != buffer[end - 4 : end]:
                raise ProviderError(url, 200, "bad-answer", f"object {oid.hex()[:16]}: damaged")
            count += 1
            yield oid, stored
            pos = end
        del buffer[:pos]
    if ended and not marked:
        raise AnswerCut("the provider's answer was cut short (its end mark never came)")
    if buffer:
        raise ProviderError(url, 200, "bad-answer", "fetched objects: the answer was cut")


class ProviderError(Exception):
    """A provider refused or failed a request; ``code`` is its error code (or a transport one)."""

    def __init__(self, url: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.status = status
        self.code = code
        self.missing: list[str] = []
        self.handoff: dict[str, Any] | None = None
        """With ``not-primary`` and ``stale-handoff``: the handoff record the provider holds."""


@dataclass(frozen=True)
class Credentials:
    did: str
    key: Ed25519PrivateKey


def normalise_url(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url}: not a provider address (expected https://host[:port])")
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class Spec:
    """One request to a provider, before it is signed and sent: what the push engine asks for
    (``engine.py``) and what each driver sends, over threads, asyncio or an in-process app."""

    method: str
    path: str
    body: bytes = b""
    content_type: str = "application/json"
    signed: bool = True
    extra: tuple[tuple[str, str], ...] = ()
    digest: str | None = None


def json_spec(method: str, path: str, doc: Any = None, signed: bool = True) -> Spec:
    return Spec(method, path, jsonio.dumps(doc) if doc is not None else b"", signed=signed)


def missing_spec(ids: list[bytes]) -> Spec:
    return json_spec("POST", "/objects/missing", {"ids": [i.hex() for i in ids]})


def parse_missing(url: str, doc: Any) -> set[bytes]:
    try:
        return {bytes.fromhex(m) for m in doc["missing"]}
    except (KeyError, TypeError, ValueError):
        raise bad_answer(url, "its list of missing objects is malformed") from None


def fetch_spec(ids: list[bytes]) -> Spec:
    return json_spec("POST", "/objects/fetch", {"ids": [i.hex() for i in ids], "end": True})


def upload_spec(pack: list[bytes], replace: bool = False) -> Spec:
    """A pack, given as segments of whole frames (``segments.py``: a cut costs only the
    segment in flight); ``replace`` overwrites copies the provider holds (a repair after an
    audit found them damaged)."""
    declared = segments.describe(pack)
    return Spec(
        "POST",
        "/objects?replace=1" if replace else "/objects",
        b"".join(pack),
        content_type=PACK_TYPE,
        extra=((segments.HEADER, declared),),
        digest=segments.digest(declared),
    )


def publish_spec(
    commit: bytes, operations: list[dict[str, Any]], site: str | None, files: dict[str, str]
) -> Spec:
    doc = {"commit": commit.hex(), "operations": operations, "site": site, "files": files}
    return json_spec("POST", "/publish", doc)


def bad_answer(url: str, what: str, status: int = 200) -> ProviderError:
    return ProviderError(url, status, "bad-answer", f"the provider's answer is wrong: {what}")


class ProviderClient:
    def __init__(self, url: str, credentials: Credentials, http: httpx.Client) -> None:
        self.url = normalise_url(url)
        self.audience = origin(self.url)
        self.credentials = credentials
        self.http = http

    # --- plumbing ------------------------------------------------------------------------
    def build(
        self, spec: Spec, http: httpx.Client | httpx.AsyncClient | None = None
    ) -> httpx.Request:
        """The request ``spec`` names, signed for this provider."""
        target = f"{API}{spec.path}"
        headers = {"Content-Type": spec.content_type} if spec.body else {}
        headers["Accept-Encoding"] = "identity"  # see _refused
        headers.update(spec.extra)
        if spec.signed:
            headers["Authorization"] = authorization(
                self.credentials.key,
                self.credentials.did,
                spec.method,
                target,
                spec.body,
                audience=self.audience,
                digest=spec.digest,
            )
        return (http or self.http).build_request(
            spec.method, self.url + target, content=spec.body or None, headers=headers
        )

    def send(self, spec: Spec, stream: bool = False) -> httpx.Response:
        """Send ``spec`` and give the answer (read whole unless ``stream``); an error answer
        or a transport failure is a ``ProviderError``."""
        try:
            response = self._checked(self.http.send(self.build(spec), stream=True), stream)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            raise self._error(response)
        return response

    def call(self, spec: Spec) -> Any:
        """Send ``spec`` and give its JSON answer."""
        return self.send(spec).json()

    async def call_async(self, http: httpx.AsyncClient, spec: Spec) -> Any:
        """``call`` over an asyncio client (a remote provider, or its app in-process through
        ``httpx.ASGITransport``), under the same rules for the answer."""
        try:
            response = await http.send(self.build(spec, http), stream=True)
            try:
                self._refused(response)
                body = bytearray()
                async for piece in response.aiter_raw(1 << 20):
                    body += piece
                    self._capped(response, len(body))
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        whole = httpx.Response(
            response.status_code, headers=response.headers, content=bytes(body),
            request=response.request,
        )
        if whole.status_code >= 400:
            raise self._error(whole)
        return whole.json()

    def _unreachable(self, exc: Exception) -> ProviderError:
        return ProviderError(self.url, 0, "unreachable", f"cannot reach the provider ({exc})")

    def _request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        content_type: str = "application/json",
        signed: bool = True,
        stream: bool = False,
    ) -> httpx.Response:
        return self.send(Spec(method, path, body, content_type, signed), stream)

    def _refused(self, response: httpx.Response) -> None:
        """A provider may be hostile, and a compressed answer (``Content-Encoding``, which
        this home never asks for) would be inflated by httpx without bound (a 250 KB gzip body
        is 256 MiB in memory, or on disk while restoring): refused unread."""
        coding = response.headers.get("content-encoding", "").strip().lower()
        if coding not in ("", "identity"):
            raise ProviderError(
                self.url,
                response.status_code,
                "bad-answer",
                f"the provider sent a {coding}-encoded answer, which this home does not ask "
                "for: refused unread",
            )

    def _capped(self, response: httpx.Response, size: int) -> None:
        """A body that is read whole (not streamed) is at most ``MAX_ANSWER`` bytes."""
        if size > MAX_ANSWER:
            raise ProviderError(
                self.url,
                response.status_code,
                "bad-answer",
                f"the provider's answer is over {MAX_ANSWER} bytes: refused",
            )

    def _checked(self, response: httpx.Response, stream: bool) -> httpx.Response:
        """The answer, read only as sent (``_refused``, ``_capped``)."""
        try:
            self._refused(response)
        except ProviderError:
            response.close()
            raise
        if stream and response.status_code < 400:
            return response
        body = bytearray()
        try:
            for piece in response.iter_raw(1 << 20):
                body += piece
                self._capped(response, len(body))
        finally:
            response.close()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=bytes(body),
            request=response.request,
        )

    def _error(self, response: httpx.Response) -> ProviderError:
        try:
            doc = response.json()
            code = str(doc.get("error", "error"))
            message = str(doc.get("message", response.reason_phrase))
        except (ValueError, AttributeError):
            code, message, doc = "error", f"HTTP {response.status_code}", {}
        error = ProviderError(self.url, response.status_code, code, message)
        if isinstance(doc, dict) and isinstance(doc.get("missing"), list):
            error.missing = [str(m) for m in doc["missing"]]
        if isinstance(doc, dict) and isinstance(doc.get("handoff"), dict):
            error.handoff = doc["handoff"]
        return error

    def _json(self, method: str, path: str, doc: Any = None, signed: bool = True) -> Any:
        return self.call(json_spec(method, path, doc, signed))

    # --- endpoints -----------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/", signed=False)
        return result

    def enroll(self, code: str, operations: list[dict[str, Any]], name: str | None) -> Any:
        try:
            about = self.info()
        except ValueError:
            about = {}
        spoken = about.get("protocol") if isinstance(about, dict) else None
        if not isinstance(spoken, int) or spoken < PROTOCOL:
            raise ProviderError(
                self.url,
                0,
                "old-protocol",
                f"this provider speaks protocol {spoken}, this home {PROTOCOL} (signatures that "
                "name their provider): the provider's operator must upgrade it",
            )
        challenge = self._json("POST", "/challenge", {}, signed=False)["challenge"]
        key = self.credentials.key
        proof = {
            "audience": self.audience,
            "challenge": challenge,
            "code": code,
            "did": self.credentials.did,
            "purpose": "enroll",
        }
        doc = {
            "audience": self.audience,
            "code": code,
            "challenge": challenge,
            "name": name,
            "identity": {"did": self.credentials.did, "operations": operations},
            "key": did_key(key.public_key()),
            "sig": sign(key, canonical(proof)),
        }
        return self._json("POST", "/enroll", doc, signed=False)

    def update_identity(self, operations: list[dict[str, Any]]) -> Any:
        """Hand the provider a longer identity log (a new device key, after a rotation or a
        restore); the request is signed by the key that log puts in force."""
        return self._json("POST", "/identity", {"operations": operations})

    def handoff(self, record: dict[str, Any], operations: list[dict[str, Any]]) -> Any:
        """Make the key ``record`` names the primary here (``core/handoff.py``), with the
        identity log that puts it in force; 409 ``stale-handoff`` when another copy won."""
        return self._json("POST", "/handoff", {"handoff": record, "operations": operations})

    def set_mirror(self, on: bool) -> Any:
        """Whether mirrors the operator trusts may keep a backup copy of this home here."""
        return self._json("POST", "/mirror", {"mirror": on})

    def tenant(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/tenant")
        return result

    def missing(self, ids: list[bytes]) -> set[bytes]:
        return parse_missing(self.url, self.call(missing_spec(ids)))

    def upload(self, pack: list[bytes], replace: bool = False) -> Any:
        """Send a pack (``upload_spec``)."""
        return self.call(upload_spec(pack, replace))

    def publish(
        self,
        commit: bytes,
        operations: list[dict[str, Any]],
        site: str | None,
        files: dict[str, str],
    ) -> Any:
        return self.call(publish_spec(commit, operations, site, files))

    def rollback(self, seq: int) -> Any:
        return self._json("POST", "/rollback", {"seq": seq})

    def fetch(self, ids: list[bytes]) -> dict[bytes, bytes]:
        """Those of ``ids`` the provider holds, as stored (``fetched``)."""
        return dict(self.fetched(ids))

    def fetched(self, ids: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
        """``(id, stored)`` of those of ``ids`` the provider holds, as the answer streams in.
        An answer cut short (a read that failed at the provider once it had begun) is asked
        again for the ids not yet seen, ``FETCH_TRIES`` times in all; then it is an error,
        never a silent gap that would read as objects the provider lacks."""
        asked, seen = set(ids), set[bytes]()
        for attempt in range(1, FETCH_TRIES + 1):
            rest = [i for i in ids if i not in seen]
            response = self.send(fetch_spec(rest), stream=True)
            try:
                ended = response.headers.get(FETCH_END_HEADER) == "1"
                answer = answer_frames(response.iter_raw(1 << 20), self.url, ended)
                for oid, stored in answer:
                    if oid not in asked:
                        raise ProviderError(self.url, 200, "bad-answer", "an object not asked for")
                    if oid not in seen:
                        seen.add(oid)
                        yield oid, stored
                return
            except (AnswerCut, httpx.HTTPError) as exc:
                if attempt < FETCH_TRIES:
                    continue
                if isinstance(exc, httpx.HTTPError):
                    raise self._unreachable(exc) from None
                raise ProviderError(self.url, 200, "bad-answer", str(exc)) from None
            finally:
                response.close()

    def download_bundle(self, out: BinaryIO) -> int:
        """Stream the tenant's bundle into ``out``; the number of bytes."""
        response = self._request("GET", "/bundle", stream=True)
        total = 0
        try:
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
                total += len(chunk)
        finally:
            response.close()
        return total

    def delete(self) -> Any:
        return self._json("DELETE", "/tenant")

    def put_delegations(self, doc: dict[str, Any]) -> Any:
        """Hand the provider the whole list of what this home grants it (``sync/grants.py``)."""
        return self._json("POST", "/delegations", doc)

    def newsletter(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Have this provider queue one entry's mail for up to 500 recipients
        (``provider/newsletter.py``: ``entry``, ``subject``, ``text``, ``html``, ``to``, and
        ``site``, the site's address there, for the links)."""
        result: dict[str, Any] = self._json("POST", "/newsletter", batch)
        return result

    def followers(self) -> dict[str, Any]:
        """How many ActivityPub followers the provider holds for this site (accepted, pending)."""
        result: dict[str, Any] = self._json("GET", "/activitypub/followers")
        return result

    def activitypub(self, doc: dict[str, Any]) -> dict[str, Any]:
        """What the owner decided or sends (``POST /activitypub``: ``decide``, ``blocks``,
        ``activity`` with ``to``); the provider says what it did."""
        result: dict[str, Any] = self._json("POST", "/activitypub", doc)
        return result

    def put_followers(self, followers: list[dict[str, Any]]) -> dict[str, Any]:
        """Hand the provider the home's follower list; it adds those it lacks
        (``provider/fedmove.py``)."""
        result: dict[str, Any] = self._json(
            "PUT", "/activitypub/followers", {"followers": followers})
        return result


def batches(items: list[bytes], size: int) -> Iterator[list[bytes]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
