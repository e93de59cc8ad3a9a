"""Pack files in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, Ceph RGW, Garage…).

Spoken with httpx and AWS Signature Version 4 written here rather than boto3: the seam needs
seven calls (PUT, ranged GET, HEAD, DELETE, ListObjectsV2 and the three multipart calls), httpx
is already a dependency, and boto3 would add ~90 MB and a second of import time to every
provider start for nothing the seam uses.

A pack is written with one PUT when it fits in one part and as a multipart upload otherwise
(parts sent a few at a time while the next is read from the caller's stream), so memory stays
bounded by ``part_size * (concurrency + 1)`` whatever the pack's size. S3 makes a PUT and a
completed multipart upload visible all at once, and a failed upload is aborted: readers never
see half a pack. Every request is retried with exponential backoff on 5xx, 429 and network
faults or timeouts; when the retries run out the error is an ``ObjectStoreError`` with
``transient=True`` (the caller may try again later), and 507 or a "storage full" error code is
``ObjectStoreFull``.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import hmac
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from defusedxml import ElementTree

from homeport.store.objects_base import check_name, check_prefix, check_range
from homeport.store.protocols import ObjectStoreError, ObjectStoreFull

__all__ = ["S3Config", "S3ObjectStore", "from_url"]

MIB = 1024 * 1024
PART_SIZE = 16 * MIB
"""Bytes per multipart part (S3 wants ≥ 5 MiB for all but the last)."""
READ_PIECE = 1 * MIB
"""Most bytes ``stream`` hands out at once."""
BLOCK = 1 * MIB
"""A small read fetches the aligned blocks of this size around it, which stay in memory: a
restore reads a pack's objects one by one, and a GET each cost a request each."""
CACHE_BYTES = 64 * MIB
UPLOAD_CONCURRENCY = 3
RETRIES = 5
BACKOFF = 0.1
BACKOFF_CAP = 2.0
TIMEOUT = 30.0
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FULL_CODES = frozenset(
    {"XMinioStorageFull", "QuotaExceeded", "StorageFull", "InsufficientStorage", "EntityTooLarge"}
)
_UNRESERVED = "-_.~"


@dataclass(frozen=True)
class S3Config:
    """Where the bucket is and how to sign for it (one per store, shared by its scopes)."""

    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    endpoint: str | None = None
    """``http(s)://host[:port]`` of an S3-compatible server (path-style requests); None for AWS
    itself (virtual-hosted requests to ``BUCKET.s3.REGION.amazonaws.com``)."""
    session_token: str | None = None
    part_size: int = PART_SIZE
    concurrency: int = UPLOAD_CONCURRENCY
    retries: int = RETRIES
    backoff: float = BACKOFF
    timeout: float = TIMEOUT
    cache_bytes: int = CACHE_BYTES
    """Blocks of packs kept in memory for small reads (0: none)."""

    @property
    def base(self) -> str:
        """The URL a key's path is appended to (without the trailing slash)."""
        if self.endpoint:
            return self.endpoint.rstrip("/") + "/" + self.bucket
        return f"https://{self.bucket}.s3.{self.region}.amazonaws.com"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _encode(value: str, safe: str = "") -> str:
    """RFC 3986 percent-encoding as SigV4 wants it (only unreserved characters kept)."""
    return quote(value, safe=_UNRESERVED + safe)


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items()))


@dataclass
class Signer:
    """AWS Signature Version 4 for the ``s3`` service (header-based, payload hash signed)."""

    access_key: str
    secret_key: str
    region: str
    session_token: str | None = None
    _keys: dict[str, bytes] = field(default_factory=dict)

    def _signing_key(self, day: str) -> bytes:
        key = self._keys.get(day)
        if key is None:
            key = _hmac(("AWS4" + self.secret_key).encode(), day)
            for part in (self.region, "s3", "aws4_request"):
                key = _hmac(key, part)
            self._keys = {day: key}
        return key

    def headers(
        self,
        method: str,
        url: str,
        payload_sha256: str,
        now: float | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The headers that sign a request to ``url`` (path and query already encoded), the
        ``extra`` headers (lower-case names) signed with them."""
        parts = urlsplit(url)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        day = stamp[:8]
        signed = {
            **(extra or {}),
            "host": parts.netloc,
            "x-amz-content-sha256": payload_sha256,
            "x-amz-date": stamp,
        }
        if self.session_token:
            signed["x-amz-security-token"] = self.session_token
        names = ";".join(sorted(signed))
        canonical = "\n".join(
            [
                method,
                parts.path or "/",
                parts.query,
                "".join(f"{k}:{signed[k]}\n" for k in sorted(signed)),
                names,
                payload_sha256,
            ]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, _sha256(canonical.encode())])
        signature = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        out = {k: v for k, v in signed.items() if k != "host"}
        out["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature}"
        )
        return out


def _xml_text(root: Any, path: str) -> str | None:
    node = root.find(path)
    return None if node is None or node.text is None else str(node.text)


def _error_code(body: bytes) -> str:
    try:
        root = ElementTree.fromstring(body)
    except Exception:  # not XML (a proxy's HTML page, an empty body)
        return ""
    if root.tag.rsplit("}", 1)[-1] != "Error":
        return ""
    return _xml_text(root, "Code") or ""


def _iso_ms(value: str) -> int:
    """Milliseconds since the epoch of S3's ``2026-12-04T21:43:55.000Z``."""
    main, _, frac = value.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1000 + int((frac + "000")[:3])


class _Blocks:
    """The blocks of packs read lately, least recently used dropped first. A pack never
    changes once written (a new version has a new name), so a block stays true until this
    process puts or deletes that name again, which drops it."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.size = 0
        self._blocks: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, index: int) -> bytes | None:
        with self._lock:
            found = self._blocks.get((key, index))
            if found is not None:
                self._blocks.move_to_end((key, index))
            return found

    def add(self, key: str, index: int, data: bytes) -> None:
        with self._lock:
            old = self._blocks.pop((key, index), None)
            self.size += len(data) - (len(old) if old is not None else 0)
            self._blocks[(key, index)] = data
            while self.size > self.capacity and self._blocks:
                _, dropped = self._blocks.popitem(last=False)
                self.size -= len(dropped)

    def drop(self, key: str) -> None:
        with self._lock:
            for found in [k for k in self._blocks if k[0] == key]:
                self.size -= len(self._blocks.pop(found))


class _Shared:
    """What a store and all its scopes share: the config, the signer, one HTTP client and the
    upload threads."""

    def __init__(self, config: S3Config, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.signer = Signer(
            config.access_key, config.secret_key, config.region, config.session_token
        )
        self.client = httpx.Client(
            timeout=httpx.Timeout(config.timeout, connect=min(config.timeout, 10.0)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            transport=transport,
        )
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.sleep: Callable[[float], None] = time.sleep
        self.blocks = _Blocks(config.cache_bytes)
        self.slots = threading.BoundedSemaphore(2 * max(1, config.concurrency))
        """Parts queued or sending, over every upload of the process: many tenants publishing
        at once wait their turn instead of each holding ``concurrency`` parts in memory."""

    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=max(1, self.config.concurrency), thread_name_prefix="s3-upload"
                )
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self.client.close()


def _pieces(head: bytearray, rest: Iterator[bytes], size: int) -> Iterator[bytes]:
    """The stream cut into pieces of ``size`` bytes (the last one shorter)."""
    buffer = head
    for chunk in rest:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    while len(buffer) >= size:
        yield bytes(buffer[:size])
        del buffer[:size]
    if buffer:
        yield bytes(buffer)


class _Parts:
    """The parts of one multipart upload, sent ``concurrency`` at a time by the shared pool."""

    def __init__(self, store: S3ObjectStore, key: str, upload: str) -> None:
        self.store, self.key, self.upload = store, key, upload
        self.pending: list[Future[str]] = []
        self.etags: list[str] = []
        self.total = 0

    def _send(self, number: int, data: bytes) -> str:
        params = {"partNumber": str(number), "uploadId": self.upload}
        response = self.store._request("PUT", self.key, params, body=data)
        return str(response.headers.get("etag", ""))

    def submit(self, data: bytes) -> None:
        """Queue a part; waits for the oldest when ``concurrency`` are in flight."""
        self.total += len(data)
        number = len(self.etags) + len(self.pending) + 1
        shared = self.store._shared
        shared.slots.acquire()
        try:
            future = shared.pool().submit(self._send, number, data)
        except BaseException:
            shared.slots.release()
            raise
        future.add_done_callback(lambda _done: shared.slots.release())  # sent, failed or cancelled
        self.pending.append(future)
        while len(self.pending) >= max(1, self.store.config.concurrency):
            self.etags.append(self.pending.pop(0).result())

    def finish(self) -> list[str]:
        """Every part's ETag, in order, once all are stored."""
        while self.pending:
            self.etags.append(self.pending.pop(0).result())
        return self.etags

    def cancel(self) -> None:
        for future in self.pending:
            future.cancel()
        for future in self.pending:
            if not future.cancelled():
                future.exception()  # wait: nothing of ours may still be sending


class S3ObjectStore:
    """An :class:`ObjectStore` over one bucket, optionally under a key prefix."""

    def __init__(
        self,
        config: S3Config,
        prefix: str = "",
        *,
        transport: httpx.BaseTransport | None = None,
        _shared: _Shared | None = None,
    ) -> None:
        self._owner = _shared is None
        self._shared = _shared or _Shared(config, transport)
        self.config = config
        self.prefix = prefix

    # --- plumbing ----------------------------------------------------------------------------
    def _url(self, key: str, params: Mapping[str, str] | None = None) -> str:
        """The request URL: the bucket's own when ``key`` is empty, else the object's."""
        url = self.config.base + "/" + _encode(key, safe="/")
        if params:
            url += "?" + canonical_query(params)
        return url

    def _key(self, name: str) -> str:
        return self.prefix + check_name(name)

    def _request(
        self,
        method: str,
        key: str,
        params: Mapping[str, str] | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        accept: tuple[int, ...] = (),
        streamed: bool = False,
    ) -> httpx.Response:
        """Send one signed request, retrying transient failures; the response (2xx, or one of
        the ``accept`` statuses) or the mapped error. ``streamed``: the body of a 2xx answer
        is left unread (the caller iterates and closes it)."""
        url = self._url(key, params)
        what = f"S3 {method} {key or self.config.bucket}"
        digest = _sha256(body) if body else EMPTY_SHA256
        cfg = self.config
        last = ""
        for attempt in range(cfg.retries + 1):
            if attempt:
                delay = min(BACKOFF_CAP, cfg.backoff * 2 ** (attempt - 1))
                self._shared.sleep(delay * (0.5 + random.random() / 2))
            sent = dict(headers or {})
            sent.update(self._shared.signer.headers(method, url, digest, extra=headers))
            client = self._shared.client
            try:
                request = client.build_request(method, url, content=body, headers=sent)
                response = client.send(request, stream=streamed)
                status = response.status_code
                if streamed and not (200 <= status < 300 or status in accept):
                    response.read()
                    response.close()
            except httpx.TimeoutException as exc:
                last = f"timed out ({type(exc).__name__})"
                continue
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            status = response.status_code
            if 200 <= status < 300 or status in accept:
                return response
            code = _error_code(response.content)
            if status == 507 or code in FULL_CODES:
                raise ObjectStoreFull(f"{what}: no room ({status} {code})".strip())
            if status in RETRY_STATUSES or code in ("SlowDown", "InternalError"):
                last = f"{status} {code}".strip()
                continue
            if status == 404:
                raise FileNotFoundError(f"{what}: not found ({code or 404})")
            raise ObjectStoreError(f"{what}: {status} {code}".strip())
        raise ObjectStoreError(
            f"{what}: failed after {cfg.retries + 1} tries ({last})", transient=True
        )

    # --- the ObjectStore protocol ------------------------------------------------------------
    def put(self, name: str, chunks: Iterable[bytes]) -> int:
        key = self._key(name)
        self._shared.blocks.drop(key)  # a pack put again is a new pack: and again after
        try:
            return self._put(key, chunks)
        finally:
            self._shared.blocks.drop(key)

    def _put(self, key: str, chunks: Iterable[bytes]) -> int:
        part_size = self.config.part_size
        buffer = bytearray()
        source = iter(chunks)
        for chunk in source:
            buffer += chunk
            if len(buffer) > part_size:
                return self._put_multipart(key, buffer, source)
        self._request("PUT", key, body=bytes(buffer))
        return len(buffer)

    def _put_multipart(self, key: str, head: bytearray, rest: Iterator[bytes]) -> int:
        answer = self._request("POST", key, {"uploads": ""})
        upload = _xml_text(ElementTree.fromstring(answer.content), "{*}UploadId")
        if not upload:
            raise ObjectStoreError(f"S3 POST {key}?uploads: no UploadId in the answer")
        parts = _Parts(self, key, upload)
        try:
            for piece in _pieces(head, rest, self.config.part_size):
                parts.submit(piece)
            etags = parts.finish()
            return self._complete(key, upload, etags, parts.total)
        except BaseException:
            parts.cancel()
            with contextlib.suppress(ObjectStoreError, FileNotFoundError):
                # what is left is never visible as a pack; a lifecycle rule clears it
                self._request("DELETE", key, {"uploadId": upload}, accept=(404,))
            raise

    def _complete(self, key: str, upload: str, etags: list[str], total: int) -> int:
        body = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
            for n, etag in enumerate(etags, 1)
        )
        done = self._request(
            "POST",
            key,
            {"uploadId": upload},
            body=f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode(),
            accept=(404,),
        )
        code = _error_code(done.content)  # a 200 that carries an <Error> failed after all
        if done.status_code == 404 and self.size(key[len(self.prefix) :]) == total:
            return total  # a retried completion whose first try had done the work
        if code or done.status_code == 404:
            raise ObjectStoreError(
                f"S3 complete {key}: {code}", transient=code in ("InternalError", "SlowDown")
            )
        return total

    def read(self, name: str, offset: int, length: int) -> bytes:
        check_range(offset, length)
        key = self._key(name)
        if length == 0:
            size = self.size(name)
            if size is None:
                raise FileNotFoundError(f"S3 pack {key} not found")
            if size < offset:
                raise ObjectStoreError(f"S3 pack {key} ends at {size}, before {offset}")
            return b""
        if length <= 2 * BLOCK and self.config.cache_bytes >= 4 * BLOCK:
            data = self._read_blocks(key, offset, length)
        else:
            data = self._get_range(key, offset, length)
        if len(data) != length:
            raise ObjectStoreError(
                f"S3 pack {key}: {len(data)} bytes at {offset}, wanted {length} (it ends early)"
            )
        return data

    def _get_range(self, key: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` in one GET (fewer where the pack ends)."""
        response = self._request(
            "GET", key, headers={"range": f"bytes={offset}-{offset + length - 1}"}, accept=(416,)
        )
        if response.status_code == 416:
            raise ObjectStoreError(f"S3 pack {key} ends before {offset + length}")
        if response.status_code == 200:  # the range was ignored: the whole pack came back
            return response.content[offset : offset + length]
        return response.content

    def _read_blocks(self, key: str, offset: int, length: int) -> bytes:
        """The range from the blocks around it, fetching those missing in one GET."""
        blocks = self._shared.blocks
        first, last = offset // BLOCK, (offset + length - 1) // BLOCK
        have = {i: blocks.get(key, i) for i in range(first, last + 1)}
        missing = [i for i, data in have.items() if data is None]
        if missing:
            start = missing[0] * BLOCK
            got = self._get_range(key, start, (missing[-1] + 1) * BLOCK - start)
            for i in range(missing[0], missing[-1] + 1):
                piece = got[(i - missing[0]) * BLOCK : (i - missing[0] + 1) * BLOCK]
                have[i] = piece
                blocks.add(key, i, piece)
        joined = b"".join(have[i] or b"" for i in range(first, last + 1))
        return joined[offset - first * BLOCK : offset - first * BLOCK + length]

    def stream(self, name: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        check_range(offset, length)
        self._key(name)
        if length is None:
            size = self.size(name)
            if size is None:
                raise FileNotFoundError(f"S3 pack {self._key(name)} not found")
            if size < offset:
                raise ObjectStoreError(f"S3 pack {self._key(name)} ends before {offset}")
            length = size - offset
        return self._windows(name, offset, length)

    def _windows(self, name: str, offset: int, length: int) -> Iterator[bytes]:
        """One streamed GET of the range, handed out in pieces of at most READ_PIECE bytes;
        a connection cut mid-way resumes from the last byte received (the retries bound it)."""
        key = self._key(name)
        end = offset + length
        cuts = 0
        while offset < end:
            response = self._request(
                "GET",
                key,
                headers={"range": f"bytes={offset}-{end - 1}"},
                accept=(416,),
                streamed=True,
            )
            try:
                if response.status_code == 416:
                    raise ObjectStoreError(f"S3 pack {key} ends before {end}")
                skip = offset if response.status_code == 200 else 0  # the range was ignored
                for raw in response.iter_raw(READ_PIECE):
                    piece = raw[skip:] if skip else raw
                    skip = max(0, skip - len(raw))
                    piece = piece[: end - offset]
                    if piece:
                        offset += len(piece)
                        yield piece
                    if offset >= end:
                        break
            except httpx.TransportError as exc:
                cuts += 1
                if cuts > self.config.retries:
                    raise ObjectStoreError(
                        f"S3 GET {key}: cut {cuts} times while streaming ({exc})", transient=True
                    ) from None
                continue
            finally:
                response.close()
            if offset < end:
                raise ObjectStoreError(f"S3 pack {key} ends at {offset}, before {end}")

    def size(self, name: str) -> int | None:
        response = self._request("HEAD", self._key(name), accept=(404,))
        if response.status_code == 404:
            return None
        return int(response.headers.get("content-length", "0"))

    def names(self, prefix: str = "") -> Iterator[tuple[str, int, int]]:
        token: str | None = None
        for _ in range(1_000_000):  # a bound: a billion packs under one prefix
            params = {"list-type": "2", "prefix": self.prefix + check_prefix(prefix)}
            if token:
                params["continuation-token"] = token
            root = ElementTree.fromstring(self._request("GET", "", params).content)
            for item in root.findall("{*}Contents"):
                key = _xml_text(item, "{*}Key") or ""
                if not key.startswith(self.prefix) or key.endswith("/"):
                    continue
                size = int(_xml_text(item, "{*}Size") or "0")
                modified = _iso_ms(_xml_text(item, "{*}LastModified") or "1970-01-01T00:00:00Z")
                yield key[len(self.prefix) :], size, modified
            token = _xml_text(root, "{*}NextContinuationToken")
            if _xml_text(root, "{*}IsTruncated") != "true" or not token:
                return

    def delete(self, name: str) -> None:
        key = self._key(name)
        self._shared.blocks.drop(key)
        self._request("DELETE", key, accept=(404,))
        self._shared.blocks.drop(key)

    def scoped(self, prefix: str) -> S3ObjectStore:
        return S3ObjectStore(
            self.config, self.prefix + check_name(prefix) + "/", _shared=self._shared
        )

    # --- not in the protocol -----------------------------------------------------------------
    def create_bucket(self) -> None:
        """Make the bucket (tests and first runs); one that exists already is fine."""
        response = self._request("PUT", "", accept=(409,))
        if response.status_code == 409 and _error_code(response.content) not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise ObjectStoreError(f"S3 create bucket {self.config.bucket}: {response.text[:200]}")

    def close(self) -> None:
        """Close the HTTP connections and upload threads, shared by every scope of this store:
        only the store that made them closes them (closing a scope does nothing)."""
        if self._owner:
            self._shared.close()

    def __enter__(self) -> S3ObjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.config.endpoint or f"AWS {self.config.region}"
        return f"s3://{self.config.bucket}/{self.prefix} at {where}"


def from_url(url: str, env: Mapping[str, str] | None = None) -> S3ObjectStore:
    """The store of ``s3://BUCKET[/PREFIX]?endpoint=URL&region=R``; credentials from
    ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``) in ``env``
    (default: this process's environment), the region from the URL, else ``AWS_REGION``, else
    ``AWS_DEFAULT_REGION``, else ``us-east-1``. Query options ``part_size`` (MiB),
    ``concurrency``, ``retries``, ``timeout`` (seconds) and ``cache_mb`` (blocks kept for
    small reads) tune the client."""
    env = os.environ if env is None else env
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"an S3 store URL looks like s3://BUCKET?endpoint=URL, got {url!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    known = {"endpoint", "region", "part_size", "concurrency", "retries", "timeout", "cache_mb"}
    unknown = set(query) - known
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))} in {url!r}")
    access = env.get("AWS_ACCESS_KEY_ID", "")
    secret = env.get("AWS_SECRET_ACCESS_KEY", "")
    if not access or not secret:
        raise ValueError(
            f"{url!r} needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    endpoint = query.get("endpoint") or env.get("AWS_ENDPOINT_URL_S3") or None
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ValueError(f"the endpoint must be an http(s) URL, got {endpoint!r}")
    try:
        config = S3Config(
            bucket=parts.netloc,
            access_key=access,
            secret_key=secret,
            region=query.get("region")
            or env.get("AWS_REGION")
            or env.get("AWS_DEFAULT_REGION")
            or "us-east-1",
            endpoint=endpoint,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            part_size=max(5, int(query.get("part_size", PART_SIZE // MIB))) * MIB,
            concurrency=max(1, int(query.get("concurrency", UPLOAD_CONCURRENCY))),
            retries=max(0, int(query.get("retries", RETRIES))),
            timeout=float(query.get("timeout", TIMEOUT)),
            cache_bytes=max(0, int(query.get("cache_mb", CACHE_BYTES // MIB))) * MIB,
        )
    except ValueError as exc:
        raise ValueError(f"bad option in {url!r}: {exc}") from None
    prefix = parts.path.strip("/")
    return S3ObjectStore(config, check_name(prefix) + "/" if prefix else "")
