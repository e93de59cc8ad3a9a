"""Pushing the home's head to a provider, sans I/O: ``Push`` decides which requests to make and
what their answers mean, and a driver (``drivers.py``: threads, asyncio, or one call at a time
in-process) sends them. So retries, repairs and the order of things are tested in milliseconds
against a scripted provider, and the same rules run over any transport.

What a push does: find what the provider lacks by walking only the subtrees that differ from
what it has live, upload that in packs (several at once, each retried with backoff), then
publish the commit. A cut or a crash costs nothing on the next try: the provider keeps what
arrived, and ``missing`` no longer lists it.

The protocol between ``Push`` and a driver: ``start()`` gives the first ``Send``\\ s; the driver
performs each (after waiting its ``delay``) and hands back the JSON answer with ``answer`` or
the failure with ``fail``, each of which gives the next ``Send``\\ s; ``done`` says when
``result`` is ready. A failure the push cannot get past is raised by ``fail``. Everything runs
in the driver's one thread of control (the repository is read there, never concurrently).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from homeport.repo import walk
from homeport.repo.bundle import frame
from homeport.repo.repository import Repository, RepositoryError
from homeport.sync import client as wire
from homeport.sync.client import ProviderError, Spec, batches
from homeport.sync.segments import SEGMENT_BYTES

MAX_IDS = 10_000
PACK_BYTES = 8 * 1024 * 1024
PARALLEL = 4
RETRIES = (0.2, 0.5, 1.0, 2.0)
"""The waits before each retry of a request that failed in transit or with a 5xx answer."""

Progress = Callable[[int, int], None]
"""``progress(sent_bytes, total_bytes)``, called as packs arrive."""


@dataclass
class PushResult:
    url: str
    seq: int
    head: str
    up_to_date: bool = False
    objects: int = 0
    bytes: int = 0
    seconds: float = 0.0
    site: str | None = None
    repaired: int = 0
    """Damaged copies at the provider sent again to replace them."""


# --- what the engine asks of a provider ------------------------------------------------------
@dataclass(frozen=True)
class Tenant:
    def spec(self) -> Spec:
        return wire.json_spec("GET", "/tenant")

    def parse(self, url: str, doc: Any) -> dict[str, Any]:
        if not isinstance(doc, dict):
            raise wire.bad_answer(url, "the tenant's state is not an object")
        return doc


@dataclass(frozen=True)
class UpdateIdentity:
    operations: list[dict[str, Any]]

    def spec(self) -> Spec:
        return wire.json_spec("POST", "/identity", {"operations": self.operations})

    def parse(self, url: str, doc: Any) -> Any:
        return doc


@dataclass(frozen=True)
class Missing:
    ids: list[bytes]

    def spec(self) -> Spec:
        return wire.missing_spec(self.ids)

    def parse(self, url: str, doc: Any) -> set[bytes]:
        return wire.parse_missing(url, doc)


@dataclass(frozen=True)
class Upload:
    pack: list[bytes]
    replace: bool = False

    @property
    def size(self) -> int:
        return sum(len(s) for s in self.pack)

    def spec(self) -> Spec:
        return wire.upload_spec(self.pack, self.replace)

    def parse(self, url: str, doc: Any) -> Any:
        return doc


@dataclass(frozen=True)
class Publish:
    commit: bytes
    operations: list[dict[str, Any]]
    site: str | None
    files: dict[str, str]

    def spec(self) -> Spec:
        return wire.publish_spec(self.commit, self.operations, self.site, self.files)

    def parse(self, url: str, doc: Any) -> Any:
        return doc


Call = Tenant | UpdateIdentity | Missing | Upload | Publish


@dataclass(frozen=True)
class Send:
    """Perform ``call`` once ``delay`` seconds have passed (a retry's backoff); ``attempt`` is
    0 for the first try."""

    ticket: int
    call: Call
    delay: float = 0.0
    attempt: int = 0


def retryable(error: ProviderError) -> bool:
    """A transport failure or a 5xx answer may pass; a 4xx is the provider's considered
    refusal."""
    return error.status == 0 or error.status >= 500


# --- the pure parts ----------------------------------------------------------------------------
def packs(
    repo: Repository, ids: list[bytes], limit: int = PACK_BYTES, segment: int = SEGMENT_BYTES
) -> Iterator[list[bytes]]:
    """The objects as packs of about ``limit`` bytes, each a list of segments of whole frames
    of about ``segment`` bytes; read lazily, so only the packs in flight are held."""
    pack: list[bytes] = []
    parts: list[bytes] = []
    part = size = 0
    for oid in ids:
        one = frame(oid, repo.raw(oid))
        if parts and size + len(one) > limit:
            pack.append(b"".join(parts))
            yield pack
            pack, parts, part, size = [], [], 0, 0
        elif parts and part + len(one) > segment:
            pack.append(b"".join(parts))
            parts, part = [], 0
        parts.append(one)
        part += len(one)
        size += len(one)
    if parts:
        pack.append(b"".join(parts))
        yield pack


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def check_room(url: str, state: dict[str, Any], need: int) -> None:
    """Refuse before sending anything when the tenant's quota cannot take ``need`` more bytes
    (the provider would refuse the packs one by one; this says it once, up front)."""
    usage, quota = state.get("usage"), state.get("quota")
    if not isinstance(usage, int) or not isinstance(quota, int) or usage + need <= quota:
        return
    raise ProviderError(
        url,
        507,
        "quota-exceeded",
        f"this publish needs {megabytes(need)} more and the quota there leaves "
        f"{megabytes(max(quota - usage, 0))} (of {megabytes(quota)}): ask its operator for more "
        "room, or leave entries out there with 'homeport providers rules'; nothing was sent",
    )


def site_files(repo: Repository, site: str | None) -> dict[str, str]:
    """The published site's files, ``path → file id``: the provider cannot read the (sealed)
    tree to find them, so the home names them, and the provider checks each is in the tree."""
    if site is None:
        return {}
    prefix = f"site/{site}"
    files = {}
    for key in repo.entries_under(prefix):
        entry = repo.entry(key)
        if entry is not None:
            files[key.removeprefix(prefix + "/")] = entry[0].hex()
    return files


@dataclass
class _Fanout:
    """Calls the flow wants answered, at most ``window`` in flight; their answers come back in
    the calls' order. ``settled`` hears each answer as it arrives."""

    calls: Iterator[Call]
    window: int
    settled: Callable[[Call, Any], None] | None = None
    answers: dict[int, Any] = field(default_factory=dict)
    issued: int = 0
    exhausted: bool = False


Flow = Generator[_Fanout, list[Any], PushResult]


class Push:
    """One push of ``repo``'s head to one provider (see the module's docstring)."""

    def __init__(
        self,
        repo: Repository,
        operations: list[dict[str, Any]],
        site: str | None,
        url: str = "",
        parallel: int = PARALLEL,
        progress: Progress | None = None,
        repair: list[bytes] | None = None,
        pack_bytes: int = PACK_BYTES,
        retries: tuple[float, ...] = RETRIES,
    ) -> None:
        self.repo = repo
        self.retries = retries
        self.pack_bytes = pack_bytes
        self.operations = operations
        self.site = site
        self.url = url
        self.parallel = max(1, parallel)
        self.progress = progress
        self.repair = list(repair or [])
        self.result: PushResult | None = None
        self._flow = self._steps()
        self._fan: _Fanout | None = None
        self._tickets = 0
        self._outstanding: dict[int, tuple[int, Call, int]] = {}
        """ticket → (the call's place in its fan-out, the call, its attempt)"""
        self._sent = 0
        self._total = 0

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def in_flight(self) -> int:
        return len(self._outstanding)

    # --- the driver's side -------------------------------------------------------------------
    def start(self) -> list[Send]:
        return self._advance(None, None)

    def answer(self, ticket: int, doc: Any) -> list[Send]:
        """The provider answered ``ticket`` with ``doc`` (its JSON)."""
        held = self._outstanding.pop(ticket, None)
        if held is None or self._fan is None:
            return []  # a call the push gave up waiting for
        index, call, _ = held
        try:
            value = call.parse(self.url, doc)
        except ProviderError as exc:
            return self._give_up(exc)
        self._fan.answers[index] = value
        if self._fan.settled is not None:
            self._fan.settled(call, value)
        sends = self._fill()
        return self._advance(self._collect(), None) if sends is None else sends

    def fail(self, ticket: int, error: ProviderError) -> list[Send]:
        """``ticket`` failed: retried after a wait when that may help, else the push goes on
        without it if it can (``error`` raised from here when it cannot)."""
        held = self._outstanding.pop(ticket, None)
        if held is None or self._fan is None:
            return []
        index, call, attempt = held
        if retryable(error) and attempt < len(self.retries):
            return [self._issue(index, call, self.retries[attempt], attempt + 1)]
        return self._give_up(error)

    # --- the machine -------------------------------------------------------------------------
    def _issue(self, index: int, call: Call, delay: float = 0.0, attempt: int = 0) -> Send:
        self._tickets += 1
        self._outstanding[self._tickets] = (index, call, attempt)
        return Send(self._tickets, call, delay, attempt)

    def _give_up(self, error: ProviderError) -> list[Send]:
        self._outstanding.clear()  # what is still in flight is no longer waited for
        return self._advance(None, error)

    def _advance(self, answers: list[Any] | None, error: ProviderError | None) -> list[Send]:
        """Run the flow to its next fan-out with calls to make (an empty one is answered at
        once); an error it does not handle is raised from here."""
        while True:
            try:
                if error is not None:
                    self._fan = self._flow.throw(error)
                elif answers is None:
                    self._fan = next(self._flow)
                else:
                    self._fan = self._flow.send(answers)
            except StopIteration as stop:
                self._fan = None
                self.result = stop.value
                return []
            sends = self._fill()
            if sends is not None:
                return sends
            answers, error = self._collect(), None

    def _fill(self) -> list[Send] | None:
        """The fan-out's next calls, up to its window; None once every call is answered."""
        fan = self._fan
        assert fan is not None
        sends = []
        while not fan.exhausted and len(self._outstanding) < fan.window:
            call = next(fan.calls, None)
            if call is None:
                fan.exhausted = True
                break
            sends.append(self._issue(fan.issued, call))
            fan.issued += 1
        if fan.exhausted and not self._outstanding:
            return None
        return sends

    def _collect(self) -> list[Any]:
        fan = self._fan
        assert fan is not None
        return [fan.answers[i] for i in range(fan.issued)]

    def _one(self, call: Call) -> _Fanout:
        return _Fanout(iter((call,)), 1)

    def _uploads(self, ids: list[bytes], replace: bool = False) -> _Fanout:
        return _Fanout(
            (Upload(pack, replace) for pack in packs(self.repo, ids, self.pack_bytes)),
            self.parallel,
            self._uploaded,
        )

    def _uploaded(self, call: Call, _: Any) -> None:
        assert isinstance(call, Upload)
        self._sent += call.size
        if self.progress is not None:
            self.progress(self._sent, self._total)

    def _steps(self) -> Flow:
        """The push, written straight: each ``yield`` hands the driver calls to make and gets
        their answers (or the error none of the retries got past)."""
        repo = self.repo
        head = repo.head()
        if head is None:
            raise RepositoryError("nothing to publish: no snapshot yet (run 'homeport snapshot')")
        try:
            (state,) = yield self._one(Tenant())
        except ProviderError as exc:
            if exc.status != 401:
                raise
            yield self._one(UpdateIdentity(self.operations))  # our key is newer than its log
            (state,) = yield self._one(Tenant())
        theirs = bytes.fromhex(state["head"]) if state.get("head") else None
        result = PushResult(self.url, head.seq, head.id.hex())
        self.repair = list(dict.fromkeys([*self.repair, *self._damaged(state)]))
        result.repaired = len(self.repair)
        if self.repair:
            result.objects += len(self.repair)
            result.bytes += yield from self._send(self.repair, replace=True)
        if theirs == head.id and not self.repair:
            result.up_to_date = True
            return result
        files = site_files(repo, self.site)
        # after a repair the head is published again, so the provider rewrites the site from
        # the mended objects
        ids = [] if theirs == head.id else (yield from self._lacking(theirs, head.id))
        need = sum(repo.stored_size(oid) for oid in ids)
        check_room(self.url, state, need)
        result.objects += len(ids)
        result.bytes += yield from self._send(ids, total=need)
        publish = Publish(head.id, self.operations, self.site, files)
        try:
            (answer,) = yield self._one(publish)
        except ProviderError as exc:
            if exc.code != "missing-objects" or not exc.missing:
                raise
            again = [bytes.fromhex(m) for m in exc.missing]  # e.g. the provider lost some
            result.objects += len(again)
            result.bytes += yield from self._send(again)
            (answer,) = yield self._one(publish)
        result.site = answer.get("site") if isinstance(answer, dict) else None
        return result

    def _damaged(self, state: dict[str, Any]) -> list[bytes]:
        """The objects the provider's census found unreadable there (``damaged``: its packs
        lost or cut short) that this home holds and can send again."""
        found = []
        for raw in state.get("damaged") or []:
            try:
                oid = bytes.fromhex(raw)
            except (TypeError, ValueError):
                continue
            if len(oid) == 32 and self.repo.has(oid):
                found.append(oid)
        return found

    def _lacking(
        self, theirs: bytes | None, head: bytes
    ) -> Generator[_Fanout, list[Any], list[bytes]]:
        """What the provider lacks of ``head``: the objects that differ from its live commit,
        less the ones it already holds (pending from a cut push, or shared with older
        commits)."""
        base = theirs if theirs is not None and self.repo.has(theirs) else None
        candidates = list(walk.changed(self.repo, base, head))
        parts = list(batches(candidates, MAX_IDS))
        gone = yield _Fanout((Missing(part) for part in parts), self.parallel)
        return [oid for part, lost in zip(parts, gone, strict=True) for oid in part if oid in lost]

    def _send(
        self, ids: list[bytes], replace: bool = False, total: int | None = None
    ) -> Generator[_Fanout, list[Any], int]:
        """Upload ``ids`` in packs; the bytes sent."""
        self._total = (
            total if total is not None else sum(self.repo.stored_size(oid) for oid in ids)
        )
        self._sent = 0
        yield self._uploads(ids, replace)
        return self._sent
