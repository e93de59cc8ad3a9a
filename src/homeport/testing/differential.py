"""Replay one sequence of requests on Kinto and on Homeport and compare what they answer.

The sequence (built by tests/diff) is *symbolic*: an id the server generated, an ETag or a
timestamp to send back is named (:class:`Gen`, :class:`Etag`, :class:`Ts`) and resolved
against what that server answered before, so both servers get the equivalent request even
though their ids and clocks differ.  Answers are then normalised the same way: a generated
id becomes ``<gen:KIND:N>`` (N-th generated, in order of appearance), and a timestamp
(``last_modified``, ``ETag``, a record's ``schema``, ``_since`` in ``Next-Page``) becomes its
rank among the values of the same clock.  A clock is one list (the records of a collection,
the buckets…), because Kinto keeps one strictly increasing timestamp per list: ranks are
stable, while equality across lists depends on the millisecond and is not compared.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from homeport.testing.targets import Server

Json = Any
USERS = ("admin", "alice", "bob")


@dataclass(frozen=True)
class Gen:
    """The ``k``-th id (modulo their count) the server generated on a ``kind`` list."""

    kind: str
    k: int


@dataclass(frozen=True)
class Etag:
    """The last ETag the server answered for ``path`` (``"1"`` if none yet)."""

    path: tuple[Any, ...]


@dataclass(frozen=True)
class Ts:
    """The ``k``-th newest timestamp seen on the list ``clock`` (1 if none yet), as a number."""

    clock: tuple[Any, ...]
    k: int
    quoted: bool = False


@dataclass(frozen=True)
class Req:
    """One HTTP request of a sequence; ``path`` segments may be :class:`Gen`."""

    method: str
    path: tuple[Any, ...]
    user: str | None = "admin"
    query: tuple[tuple[str, Any], ...] = ()
    headers: tuple[tuple[str, Any], ...] = ()
    body: Json = None
    content_type: str = "application/json"
    # Only part of the answer is compared (e.g. only ``user`` of ``GET /``).
    only: str | None = None

    def __repr__(self) -> str:
        who = self.user or "anon"
        path = "/" + "/".join(str(s) for s in self.path)
        extra = ""
        if self.query:
            extra += f" ?{list(self.query)}"
        if self.headers:
            extra += f" headers={list(self.headers)}"
        if self.body is not None:
            extra += f" body={self.body!r}"
        if self.content_type != "application/json":
            extra += f" [{self.content_type}]"
        return f"{who} {self.method} {path}{extra}"


@dataclass(frozen=True)
class Batch:
    """``POST /batch`` of ``requests`` (all by ``user``)."""

    user: str | None
    requests: tuple[Req, ...]


@dataclass(frozen=True)
class NextPage:
    """GET the ``Next-Page`` URL of the latest list answer that had one, as ``user``."""

    user: str | None = "admin"


Step = Req | Batch | NextPage

# ``GET /v1/`` and headers: only these are compared.
HEADERS = ("etag", "last-modified", "next-page", "total-records", "content-type")


def is_list(path: str) -> bool:
    """``/buckets/b/collections`` is a list (odd number of segments), ``/buckets/b`` an object."""
    return len([s for s in path.split("/") if s]) % 2 == 1


def clock_of(path: str) -> str:
    """The list whose timestamp the object or list at ``path`` carries."""
    path = path.split("?", 1)[0]
    if path.startswith("/v1/"):
        path = path[3:]
    segs = [s for s in path.split("/") if s]
    if len(segs) % 2 == 0:
        segs = segs[:-1]
    return "/" + "/".join(segs)


@dataclass
class Outcome:
    """What one request answered, before normalisation."""

    status: int
    headers: dict[str, str]
    body: Json
    path: str  # resolved path, without /v1
    method: str


@dataclass
class Run:
    """One server's side of a replay: its history, used to resolve and to normalise."""

    server: Server
    gen: dict[str, list[str]] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)
    clocks: dict[str, set[int]] = field(default_factory=dict)
    next_page: tuple[str, str] | None = None  # (url, path of its list)
    log: list[Outcome | list[Outcome] | None] = field(default_factory=list)
    # Server-specific strings and their label, e.g. each user's default bucket id (an HMAC).
    aliases: dict[str, str] = field(default_factory=dict)

    # ---------- resolving symbolic values ----------

    def segment(self, s: Any) -> str:
        if isinstance(s, Gen):
            ids = self.gen.get(s.kind, [])
            return ids[s.k % len(ids)] if ids else "nope"
        return str(s)

    def path(self, segs: tuple[Any, ...]) -> str:
        return "/" + "/".join(self.segment(s) for s in segs)

    def value(self, v: Any) -> Any:
        if isinstance(v, Etag):
            return self.etags.get(self.path(v.path), '"1"')
        if isinstance(v, Ts):
            seen = sorted(self.clocks.get(self.path(v.clock), ()), reverse=True)
            # Not 0 when none was seen: Kinto ignores If-Match "0" (docs/compatibility.md §14).
            ts = str(seen[v.k % len(seen)]) if seen else "1"
            return f'"{ts}"' if v.quoted else ts
        if isinstance(v, Gen):
            return self.segment(v)
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        return v

    # ---------- executing ----------

    def client(self, user: str | None) -> httpx.Client:
        return self.server.client(user)

    def request(self, req: Req) -> Outcome:
        path = self.path(req.path)
        headers = {k: self.value(v) for k, v in req.headers}
        content: bytes | None = None
        if req.body is not None:
            content = json.dumps(self.value(req.body)).encode()
            headers["Content-Type"] = req.content_type
        r = self.client(req.user).request(
            req.method,
            path,
            params=[(k, self.value(v)) for k, v in req.query],
            headers=headers,
            content=content,
        )
        body = _json_or_text(r)
        out = Outcome(r.status_code, _headers(r.headers), body, path, req.method)
        self.observe(out, req)
        return out

    def batch(self, step: Batch) -> list[Outcome]:
        subs = []
        for req in step.requests:
            sub: dict[str, Any] = {"method": req.method, "path": self.path(req.path)}
            query = [(k, self.value(v)) for k, v in req.query]
            if query:
                sub["path"] += "?" + str(httpx.QueryParams(query))
            headers = {k: self.value(v) for k, v in req.headers}
            if req.content_type != "application/json":
                headers["Content-Type"] = req.content_type
            if headers:
                sub["headers"] = headers
            if req.body is not None:
                sub["body"] = self.value(req.body)
            subs.append(sub)
        r = self.client(step.user).post("/batch", json={"requests": subs})
        if r.status_code != 200:
            return [Outcome(r.status_code, _headers(r.headers), _json_or_text(r), "/batch", "POST")]
        outs = []
        for req, resp in zip(step.requests, r.json()["responses"], strict=True):
            path = resp["path"].removeprefix("/v1")
            hdrs = {k.lower(): v for k, v in resp.get("headers", {}).items()}
            out = Outcome(resp["status"], _headers(hdrs), resp.get("body"), path, req.method)
            self.observe(out, req)
            outs.append(out)
        return outs

    def follow(self, step: NextPage) -> Outcome | None:
        if self.next_page is None:
            return None
        url, list_path = self.next_page
        r = self.client(step.user).get(url)
        out = Outcome(r.status_code, _headers(r.headers), _json_or_text(r), list_path, "GET")
        self.observe(out, Req("GET", ()))
        return out

    def play(self, step: Step) -> Outcome | list[Outcome] | None:
        result: Outcome | list[Outcome] | None
        if isinstance(step, Batch):
            result = self.batch(step)
        elif isinstance(step, NextPage):
            result = self.follow(step)
        else:
            result = self.request(step)
        self.log.append(result)
        return result

    # ---------- learning from answers ----------

    def observe(self, out: Outcome, req: Req) -> None:
        """Remember generated ids, ETags, timestamps and the next page."""
        if (
            out.method == "POST"
            and out.status == 201
            and is_list(out.path)
            and isinstance(out.body, dict)
            and isinstance(out.body.get("data"), dict)
            and not (isinstance(req.body, dict) and "id" in (req.body.get("data") or {}))
        ):
            kind = out.path.rsplit("/", 1)[-1]
            self.gen.setdefault(kind, []).append(str(out.body["data"]["id"]))
        etag = out.headers.get("etag")
        if etag and out.status < 300:
            obj = out.path
            if out.method == "POST" and is_list(out.path) and isinstance(out.body, dict):
                data = out.body.get("data")
                if isinstance(data, dict) and "id" in data:
                    obj = f"{out.path}/{data['id']}"
            self.etags[obj] = etag
        nxt = out.headers.get("next-page")
        if nxt:
            self.next_page = (nxt, out.path)

    def remember_timestamps(self, out: Outcome) -> None:
        self.walk(out, self._remember)

    def _remember(self, clock: str, ts: int) -> str:
        self.clocks.setdefault(clock, set()).add(ts)
        return ""

    def walk(self, out: Outcome, on_ts: Callable[[str, int], str]) -> tuple[dict[str, str], Json]:
        """Call ``on_ts`` on every timestamp of an answer; its headers and body with the results."""
        clock = clock_of(out.path)  # for a POST on a list: the list itself
        headers = dict(out.headers)
        etag = headers.get("etag", "")
        if out.path == "/accounts" and etag:
            # Kinto stores each account under its own parent: the list's ETag is the caller's
            # own clock, not the accounts' (docs/compatibility.md §14). Not compared.
            headers["etag"] = "<accounts list>"
        elif etag.strip('"').isdigit():
            headers["etag"] = on_ts(clock, int(etag.strip('"')))
        if "last-modified" in headers:
            headers["last-modified"] = "present"
        if "next-page" in headers:
            headers["next-page"] = self._next_page(headers["next-page"], on_ts)
        schema_clock = _schema_clock(out.path)
        body = _map_timestamps(out.body, clock, schema_clock, on_ts)
        return headers, body

    def _next_page(self, url: str, on_ts: Callable[[str, int], str]) -> str:
        parts = urlsplit(url)
        path = parts.path.removeprefix("/v1")
        clock = clock_of(path)
        query = []
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            if k == "_token":
                v = "<token>"
            elif ("last_modified" in k or k in ("_since", "_before")) and v.strip('"').isdigit():
                v = on_ts(clock, int(v.strip('"')))
            query.append(f"{k}={v}")
        # The order of the parameters is not compared: Kinto puts _token last, Homeport not.
        return path + "?" + "&".join(sorted(query))

    # ---------- normalising ----------

    def normalised(self) -> Iterator[Json]:
        """The log with ids and timestamps replaced by their labels (call after the run)."""
        ranks = {c: {t: i for i, t in enumerate(sorted(ts))} for c, ts in self.clocks.items()}

        def label(clock: str, ts: int) -> str:
            rank = ranks.get(clock, {}).get(ts)
            return f"<ts:{clock}:{rank}>" if rank is not None else f"<ts:{clock}:?>"

        names = dict(self.aliases)
        for kind, generated in self.gen.items():
            for i, gid in enumerate(generated):
                names[gid] = f"<gen:{kind}:{i}>"
        pattern = (
            re.compile("|".join(re.escape(g) for g in sorted(names, key=len, reverse=True)))
            if names
            else None
        )

        def ids(v: Json) -> Json:
            if isinstance(v, str):
                return pattern.sub(lambda m: names[m.group(0)], v) if pattern else v
            if isinstance(v, dict):
                return {ids(k): ids(x) for k, x in v.items()}
            if isinstance(v, list):
                return [ids(x) for x in v]
            return v

        def one(out: Outcome) -> Json:
            headers, body = self.walk(out, label)
            return _canonical(ids({"status": out.status, "headers": headers, "body": body}))

        for entry in self.log:
            if entry is None:
                yield None
            elif isinstance(entry, list):
                yield [one(o) for o in entry]
            else:
                yield one(entry)


def play_both(steps: list[Step], kinto: Run, home: Run) -> None:
    """Play each step on Kinto then on Homeport; their timestamps feed the clocks only where
    both answered the same success, so a (known) difference cannot shift the later ranks."""
    for step in steps:
        k, h = kinto.play(step), home.play(step)
        ks = k if isinstance(k, list) else [k]
        hs = h if isinstance(h, list) else [h]
        for a, b in zip(ks, hs, strict=False):
            if a is not None and b is not None and a.status == b.status and a.status < 400:
                kinto.remember_timestamps(a)
                home.remember_timestamps(b)


def _json_or_text(r: httpx.Response) -> Json:
    if not r.content:
        return None
    try:
        return r.json()
    except ValueError:
        return r.text


def _headers(h: Any) -> dict[str, str]:
    out = {}
    for k in HEADERS:
        v = h.get(k)
        if v is None:
            continue
        if k == "content-type":
            v = v.split(";", 1)[0].strip().lower()
        out[k] = v
    return out


def _schema_clock(path: str) -> str | None:
    """Records carry their collection's timestamp as ``schema``: the collections' clock."""
    segs = [s for s in path.split("/") if s]
    if len(segs) >= 5 and segs[4] == "records":
        return "/" + "/".join(segs[:3])
    return None


def _map_timestamps(
    body: Json, clock: str, schema_clock: str | None, on_ts: Callable[[str, int], str]
) -> Json:
    def obj(d: dict[str, Any]) -> dict[str, Any]:
        d = dict(d)
        if isinstance(d.get("last_modified"), int) and not isinstance(d["last_modified"], bool):
            d["last_modified"] = on_ts(clock, d["last_modified"])
        if schema_clock and isinstance(d.get("schema"), int):
            d["schema"] = on_ts(schema_clock, d["schema"])
        return d

    if not isinstance(body, dict):
        return body
    body = dict(body)
    data = body.get("data")
    if isinstance(data, dict):
        body["data"] = obj(data)
    elif isinstance(data, list):
        body["data"] = [obj(x) if isinstance(x, dict) else x for x in data]
    details = body.get("details")
    if isinstance(details, dict) and isinstance(details.get("existing"), dict):
        body["details"] = {**details, "existing": obj(details["existing"])}
    return body


def _canonical(v: Json, key: str | None = None) -> Json:
    """Orders what Kinto leaves unordered (principals, the permissions list) and hides hashes."""
    if isinstance(v, dict):
        out = {k: _canonical(x, k) for k, x in v.items()}
        if isinstance(out.get("password"), str) and out["password"].startswith("$"):
            out["password"] = "<hash>"  # bcrypt in Kinto, argon2 in Homeport
        return out
    if isinstance(v, list):
        items = [_canonical(x) for x in v]
        if key in _UNORDERED or _all_uris(items):
            return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
        return items
    return v


_UNORDERED = (
    "principals",
    "read",
    "write",
    "collection:create",
    "group:create",
    "record:create",
    "permissions",
)


def _all_uris(items: list[Json]) -> bool:
    return bool(items) and all(isinstance(x, dict) and "uri" in x for x in items)


@dataclass(frozen=True)
class Known:
    """A difference from Kinto that is understood: pending someone's fix, or deliberate.

    ``applies`` says whether the answers to ``req`` may show it; ``hide`` removes it from
    one normalised answer (applied to both sides before comparing again).
    """

    name: str
    reason: str
    applies: Callable[[Req, Json], bool]
    hide: Callable[[Json], Json]


@dataclass
class Difference:
    index: int
    step: Step
    kinto: Json
    homeport: Json

    def __str__(self) -> str:
        def lines(v: Json) -> list[str]:
            return json.dumps(v, indent=1, sort_keys=True, default=str).splitlines()

        diff = difflib.unified_diff(
            lines(self.kinto), lines(self.homeport), "kinto", "homeport", lineterm="", n=12
        )
        return f"step {self.index}: {self.step!r}\n" + "\n".join(diff)


def _project(req: Req, answer: Json) -> Json:
    if req.only and isinstance(answer, dict) and isinstance(answer.get("body"), dict):
        return {**answer, "body": {req.only: answer["body"].get(req.only)}}
    return answer


def compare(
    steps: list[Step], kinto: Run, home: Run, known: tuple[Known, ...] = ()
) -> tuple[list[Difference], set[str]]:
    """The differences between the two normalised logs, and the known ones that were hidden."""
    diffs: list[Difference] = []
    hits: set[str] = set()

    def same(req: Req, k: Json, h: Json) -> bool:
        k, h = _project(req, k), _project(req, h)
        if k == h:
            return True
        applicable = [kd for kd in known if kd.applies(req, k) or kd.applies(req, h)]
        for kd in applicable:  # one alone, then all of them together
            if kd.hide(k) == kd.hide(h):
                hits.add(kd.name)
                return True
        for kd in applicable:
            k, h = kd.hide(k), kd.hide(h)
        if applicable and k == h:
            hits.update(kd.name for kd in applicable)
            return True
        return False

    for i, (step, k, h) in enumerate(
        zip(steps, kinto.normalised(), home.normalised(), strict=True)
    ):
        if isinstance(step, Batch) and isinstance(k, list) and isinstance(h, list):
            ok = len(k) == len(h) and all(
                same(r, a, b) for r, a, b in zip(step.requests, k, h, strict=False)
            )
        elif isinstance(step, Req):
            ok = same(step, k, h)
        else:
            ok = same(Req("GET", ()), k, h)
        if not ok:
            if isinstance(step, Req):
                k, h = _project(step, k), _project(step, h)
            diffs.append(Difference(i, step, k, h))
    return diffs, hits
