"""Snapshot benchmark (issue B): Homeport's snapshots, export and import against restic backup.

Builds a seeded library (records in public and private buckets, photo-sized attachments and a
few large files, one of them half the library) straight through the store API, cached in
bench/.cache/snapshot-library. A working copy (blobs hard-linked) then goes through, in order:
the first ``homeport snapshot``; (a) no change; (b) one record edited; (c) 1 % of the
attachments replaced; (d) 1 MiB appended to the largest file (a new blob: attachments are
content-addressed). After each step the same files (the blobs directory and a JSON Lines dump of
the records) are backed up by ``restic backup`` into a fresh local repository. Then ``homeport
export``, ``homeport verify`` and ``homeport import`` (into an empty data dir, phrase on stdin)
are timed. Every Homeport and restic process is timed from outside (wall clock) and its peak
RSS read with ``os.wait4``; Homeport also reports its in-process snapshot time.

    .venv/bin/python bench/snapshot.py --markdown
    .venv/bin/python bench/snapshot.py --size-mb 50 --records 500     # a few seconds

Needs restic (``apt-get install -y restic``). Nothing leaves the machine: restic writes to a
local repository. Everything but the cached library is removed on exit; the library too
unless ``--keep`` (then the next run with the same seed and sizes reuses it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.store.protocols import RecordStore
from homeport.testing.live import stop_on_sigterm

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CACHE = BENCH / ".cache"
LIBRARY = CACHE / "snapshot-library"
LIBRARY_VERSION = 1  # bump when the generator changes: a cached library is then rebuilt
KiB = 1024
MiB = 1024 * KiB
MB = 1_000_000
TIMEOUT = 1800.0  # seconds any one process may take before it is killed
EVERYONE = "system.Everyone"
OWNER = "account:admin"
# (bucket, collection, public, share of the plain records)
COLLECTIONS = (
    ("site", "articles", True, 0.30),
    ("site", "photos", True, 0.0),
    ("home", "notes", False, 0.70),
    ("home", "photos", False, 0.0),
    ("home", "documents", False, 0.0),
)
WORDS = (
    "harbour",
    "light",
    "morning",
    "river",
    "stone",
    "garden",
    "letter",
    "window",
    "paper",
    "quiet",
    "field",
    "north",
    "summer",
    "winter",
    "bridge",
    "market",
    "station",
    "island",
)

# --------------------------------------------------------------------------- processes


@dataclass
class Run:
    """One finished process: exit code, output, wall seconds, peak RSS in bytes."""

    cmd: list[str]
    rc: int
    out: str
    err: str
    wall: float
    peak_rss: int

    def check(self) -> Run:
        if self.rc != 0:
            raise RuntimeError(f"{' '.join(self.cmd)} exited {self.rc}: {self.err.strip()[-2000:]}")
        return self

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.out.strip().splitlines()[-1]))


def run(
    cmd: list[str], *, stdin: str = "", env: dict[str, str] | None = None, cwd: Path | None = None
) -> Run:
    """Run ``cmd`` to the end (killed after TIMEOUT); ``os.wait4`` gives its peak RSS."""
    with (
        tempfile.TemporaryFile() as inp,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        inp.write(stdin.encode())
        inp.seek(0)
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=inp, stdout=out, stderr=err, env=env, cwd=cwd)
        timer = threading.Timer(TIMEOUT, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            cmd,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            wall,
            usage.ru_maxrss * KiB,
        )


def homeport_cmd() -> list[str]:
    script = Path(sys.executable).parent / "homeport"
    return [str(script)] if script.exists() else [sys.executable, "-m", "homeport"]


def clean_env() -> dict[str, str]:
    """The environment without HOMEPORT_* settings that would redirect the store, and without
    PYTHONDONTWRITEBYTECODE: an installed Homeport starts from cached bytecode, and a command
    timed while compiling its modules every run measures the compiler."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HOMEPORT_") and k != "PYTHONDONTWRITEBYTECODE"
    }


def homeport(*args: str, stdin: str = "") -> Run:
    return run([*homeport_cmd(), *args], stdin=stdin, env=clean_env()).check()


# --------------------------------------------------------------------------- content


def keystream(seed: int, name: str, size: int) -> Iterator[bytes]:
    """``size`` incompressible bytes named by (seed, name): AES-256-CTR over zeros."""
    key = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    enc = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    zeros = bytes(MiB)
    left = size
    while left > 0:
        n = min(left, MiB)
        yield enc.update(zeros[:n])
        left -= n


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte strings (what ``put_file`` reads from)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            nxt = next(self._chunks, None)
            if nxt is None:
                return 0
            self._rest = nxt
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


def put_chunks(blobs: FsBlobStore, chunks: Iterator[bytes]) -> str:
    return blobs.put_file(io.BufferedReader(_ChunkReader(chunks), buffer_size=MiB))


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        yield from iter(lambda: f.read(MiB), b"")


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


# --------------------------------------------------------------------------- the library


@dataclass
class Attachment:
    bucket: str
    collection: str
    rid: str
    filename: str
    size: int
    digest: str = ""

    @property
    def parent(self) -> str:
        return f"/buckets/{self.bucket}/collections/{self.collection}"


@dataclass
class Library:
    seed: int
    size_mb: int
    records: int
    phrase: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    plain: list[tuple[str, str]] = field(default_factory=list)  # (parent, id) without files
    version: int = LIBRARY_VERSION

    def params(self) -> tuple[int, int, int, int]:
        return (self.version, self.seed, self.size_mb, self.records)

    def attachment_bytes(self) -> int:
        return sum(a.size for a in self.attachments)

    def save(self, root: Path) -> None:
        (root / "library.json").write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, root: Path) -> Library | None:
        try:
            doc = json.loads((root / "library.json").read_text())
            doc["attachments"] = [Attachment(**a) for a in doc["attachments"]]
            doc["plain"] = [tuple(p) for p in doc["plain"]]
            return cls(**doc)
        except (OSError, ValueError, TypeError, KeyError):
            return None


def plan_attachments(rng: random.Random, size_mb: int) -> list[Attachment]:
    """Photos (1 to 6 MB each) for 45 % of the bytes; one file of half the library and two of
    2.5 % each. Photos go to a public and a private collection, the large files are private
    except one."""
    total = size_mb * MB
    out: list[Attachment] = []
    photo_bytes = 0
    while photo_bytes < total * 0.45:
        size = rng.randint(1 * MB, 6 * MB)
        public = rng.random() < 0.4
        bucket, coll = ("site", "photos") if public else ("home", "photos")
        out.append(Attachment(bucket, coll, "", f"IMG_{len(out):04d}.jpg", size))
        photo_bytes += size
    out.append(Attachment("home", "documents", "", "holiday.mp4", total // 2))
    out.append(Attachment("home", "documents", "", "scan.pdf", total // 40))
    out.append(Attachment("site", "photos", "", "talk.mp4", total // 40))
    return out


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def record_body(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "title": text(rng, rng.randint(3, 8)),
        "content": text(rng, rng.randint(20, 80)),
        "tags": rng.sample(WORDS, 3),
        "n": n,
    }


def attachment_field(att: Attachment, token: str) -> dict[str, Any]:
    return {
        "filename": att.filename,
        "location": f"http://127.0.0.1:8750/attachments/{att.bucket}/{att.collection}/"
        f"{att.rid}/{token}{Path(att.filename).suffix}",
        "hash": att.digest,
        "mimetype": "video/mp4" if att.filename.endswith(".mp4") else "image/jpeg",
        "size": att.size,
    }


async def create_containers(store: RecordStore) -> None:
    for bucket, public in (("site", True), ("home", False)):
        await store.create("bucket", "", {"id": bucket})
        perms: dict[str, set[str]] = {"write": {OWNER}}
        if public:
            perms["read"] = {EVERYONE}
        await store.set_permissions(f"/buckets/{bucket}", perms)
    for bucket, coll, _, _ in COLLECTIONS:
        await store.create("collection", f"/buckets/{bucket}", {"id": coll})


async def fill_store(root: Path, lib: Library, rng: random.Random) -> None:
    store = open_record_store(f"sqlite:///{root / 'homeport.sqlite'}")
    await store.initialize()
    blobs = FsBlobStore(root / "blobs")
    try:
        async with store.transaction():
            await create_containers(store)
        for i, att in enumerate(lib.attachments):
            att.rid = new_id(rng)
            att.digest = put_chunks(blobs, keystream(lib.seed, att.filename, att.size))
            obj = {"id": att.rid, **record_body(rng, i), "attachment": attachment_field(att, "t0")}
            await store.create("record", att.parent, obj)
        weights = [share for *_, share in COLLECTIONS]
        for start in range(len(lib.attachments), lib.records, 500):
            async with store.transaction():
                for n in range(start, min(start + 500, lib.records)):
                    bucket, coll, _, _ = rng.choices(COLLECTIONS, weights)[0]
                    parent, rid = f"/buckets/{bucket}/collections/{coll}", new_id(rng)
                    await store.create("record", parent, {"id": rid, **record_body(rng, n)})
                    lib.plain.append((parent, rid))
    finally:
        await store.close()


def build_library(root: Path, seed: int, size_mb: int, records: int) -> Library:
    started = time.perf_counter()
    rng = random.Random(seed)
    lib = Library(seed, size_mb, records)
    lib.attachments = plan_attachments(rng, size_mb)
    if records < len(lib.attachments) + 1:
        raise SystemExit(f"--records must be above {len(lib.attachments)} at this --size-mb")
    root.mkdir(parents=True)
    lib.phrase = homeport("init", "--data", str(root), "--json").json()["phrase"]
    asyncio.run(fill_store(root, lib, rng))
    lib.save(root)
    log(f"library built in {time.perf_counter() - started:.0f} s: {root}")
    return lib


def cached_library(seed: int, size_mb: int, records: int) -> Library:
    lib = Library.load(LIBRARY)
    if lib is not None and lib.params() == (LIBRARY_VERSION, seed, size_mb, records):
        log(f"reusing the cached library {LIBRARY}")
        return lib
    shutil.rmtree(LIBRARY, ignore_errors=True)
    return build_library(LIBRARY, seed, size_mb, records)


def working_copy(source: Path, target: Path) -> None:
    """The library's data dir, its blobs hard-linked (blobs are never rewritten in place)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("blobs"))
    shutil.copytree(source / "blobs", target / "blobs", copy_function=os.link)


# --------------------------------------------------------------------------- the changes


async def open_store(root: Path) -> RecordStore:
    store = open_record_store(f"sqlite:///{root / 'homeport.sqlite'}")
    await store.initialize()
    return store


def record_size(obj: dict[str, Any]) -> int:
    return len(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())


async def edit_record(root: Path, lib: Library, rng: random.Random) -> int:
    """(b): one plain record gets a longer text; returns its new size in bytes."""
    parent, rid = rng.choice(lib.plain)
    store = await open_store(root)
    try:
        obj = await store.get("record", parent, rid)
        obj = {k: v for k, v in obj.items() if k != "last_modified"}
        obj["content"] += " " + text(rng, 12)
        return record_size(await store.update("record", parent, rid, obj))
    finally:
        await store.close()


async def repoint(store: RecordStore, att: Attachment, token: str) -> int:
    obj = await store.get("record", att.parent, att.rid)
    obj = {k: v for k, v in obj.items() if k != "last_modified"}
    obj["attachment"] = attachment_field(att, token)
    return record_size(await store.update("record", att.parent, att.rid, obj))


async def replace_photos(root: Path, lib: Library, rng: random.Random, count: int) -> int:
    """(c): ``count`` photos get new content of the same size."""
    photos = [a for a in lib.attachments if a.filename.startswith("IMG_")]
    chosen = rng.sample(photos, count)
    blobs = FsBlobStore(root / "blobs")
    store = await open_store(root)
    changed = 0
    try:
        for att in chosen:
            att.digest = put_chunks(blobs, keystream(lib.seed, att.filename + "/v2", att.size))
            changed += att.size + await repoint(store, att, "t1")
    finally:
        await store.close()
    return changed


async def append_mib(root: Path, lib: Library) -> int:
    """(d): the largest attachment becomes a new blob of its old bytes + 1 MiB."""
    att = max(lib.attachments, key=lambda a: a.size)
    blobs = FsBlobStore(root / "blobs")
    old = blobs.path(att.digest)
    assert old is not None, "the largest blob is missing"

    def chunks() -> Iterator[bytes]:
        yield from file_chunks(Path(old))
        yield from keystream(lib.seed, att.filename + "/tail", MiB)

    att.digest = put_chunks(blobs, chunks())
    att.size += MiB
    store = await open_store(root)
    try:
        return MiB + await repoint(store, att, "t2")
    finally:
        await store.close()


async def dump_records(root: Path, target: Path) -> None:
    """Every bucket, collection (with permissions) and record as sorted JSON Lines; the file
    is rewritten only when its content changed, as a careful dump tool would."""
    store = await open_store(root)
    lines: list[str] = []
    try:
        for bucket in ("site", "home"):
            perms = await store.get_permissions(f"/buckets/{bucket}")
            doc = {"bucket": bucket, "permissions": {k: sorted(v) for k, v in perms.items()}}
            lines.append(json.dumps(doc, sort_keys=True))
        for bucket, coll, _, _ in COLLECTIONS:
            parent = f"/buckets/{bucket}/collections/{coll}"
            rows = await store.list_all("record", parent)
            for row in sorted(rows, key=lambda r: str(r["id"])):
                lines.append(json.dumps({"parent": parent, "data": row}, sort_keys=True))
    finally:
        await store.close()
    content = ("\n".join(lines) + "\n").encode()
    if not target.exists() or target.read_bytes() != content:
        target.write_bytes(content)


# --------------------------------------------------------------------------- measuring


def disk_bytes(*paths: Path) -> int:
    """Bytes of the files at ``paths`` (directories walked); missing ones count 0."""
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total


def repo_files(data: Path) -> list[Path]:
    """The repository: its index (SQLite, with its WAL) and its pack files."""
    return [data / f"repo.sqlite{suffix}" for suffix in ("", "-wal", "-shm")] + [data / "packs"]


@dataclass
class Restic:
    repo: Path
    cache: Path
    workdir: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RESTIC_REPOSITORY": str(self.repo),
            "RESTIC_PASSWORD": "homeport-bench",
            "RESTIC_CACHE_DIR": str(self.cache),
        }

    def init(self) -> None:
        run(["restic", "init"], env=self.env()).check()

    def backup(self) -> dict[str, Any]:
        before = disk_bytes(self.repo)
        cmd = ["restic", "backup", "--json", "--host", "homeport-bench", "blobs", "records.jsonl"]
        done = run(cmd, env=self.env(), cwd=self.workdir).check()
        summary: dict[str, Any] = {}
        for line in done.out.splitlines():
            if line.startswith("{") and '"summary"' in line:
                summary = json.loads(line)
        return {
            "wall": done.wall,
            "seconds": float(summary.get("total_duration", float("nan"))),
            "added": int(summary.get("data_added", 0)),
            "growth": disk_bytes(self.repo) - before,
            "peak_rss": done.peak_rss,
        }


def snapshot(data: Path) -> dict[str, Any]:
    before = disk_bytes(*repo_files(data))
    done = homeport("snapshot", "--data", str(data), "--json")
    doc = done.json()
    return {
        "wall": done.wall,
        "seconds": float(doc["seconds"]),
        "new_bytes": int(doc["new_bytes"]),
        "new_objects": int(doc["new_objects"]),
        "growth": disk_bytes(*repo_files(data)) - before,
        "peak_rss": done.peak_rss,
        "changed": bool(doc["changed"]),
    }


def startup_seconds() -> float:
    """Median wall time of ``homeport --help``: the CLI's start-up without any work."""
    times = [run([*homeport_cmd(), "--help"], env=clean_env()).check().wall for _ in range(3)]
    return statistics.median(times)


@dataclass
class Case:
    key: str
    title: str
    changed: int
    homeport: dict[str, Any]
    restic: dict[str, Any]
    time_target: float | None = None

    def bytes_limit(self) -> int | None:
        return None if self.key in ("first", "a") else 2 * self.changed + 64 * KiB


def measure_case(
    key: str,
    title: str,
    change: Callable[[], int],
    ctx: tuple[Path, Restic],
    time_target: float | None = None,
    repeat: int = 1,
) -> Case:
    """Apply ``change`` (it returns the real changed bytes), snapshot with Homeport, back up the
    same files with restic; ``repeat`` times, reporting the run of median in-process time."""
    data, restic = ctx
    samples = []
    for _ in range(repeat):
        changed = change()
        asyncio.run(dump_records(data, restic.workdir / "records.jsonl"))
        samples.append((changed, snapshot(data), restic.backup()))
    samples.sort(key=lambda s: float(s[1]["seconds"]))
    changed, home, backup = samples[len(samples) // 2]
    home["runs"] = [s[1]["seconds"] for s in samples]
    log(
        f"{title}: Homeport {home['wall']:.3f} s CLI / {home['seconds']:.3f} s in-process "
        f"(runs {home['runs']}), {home['new_bytes']:,} new bytes; restic {backup['wall']:.2f} s, "
        f"{backup['added']:,} bytes added"
    )
    return Case(key, title, changed, home, backup, time_target)


def first_change(data: Path, lib: Library) -> int:
    """The whole library: every attachment plus the store's SQLite file (records, permissions)."""
    return lib.attachment_bytes() + disk_bytes(data / "homeport.sqlite")


def measure_snapshots(data: Path, lib: Library, restic: Restic) -> list[Case]:
    rng = random.Random(lib.seed + 1)
    ctx = (data, restic)
    replaced = math.ceil(len(lib.attachments) / 100)
    return [
        measure_case("first", "first snapshot", lambda: first_change(data, lib), ctx),
        measure_case("a", "(a) no change", lambda: 0, ctx, 0.050, repeat=3),
        measure_case(
            "b",
            "(b) one record edited",
            lambda: asyncio.run(edit_record(data, lib, rng)),
            ctx,
            0.100,
            repeat=3,
        ),
        measure_case(
            "c",
            f"(c) {replaced} of {len(lib.attachments)} attachments replaced",
            lambda: asyncio.run(replace_photos(data, lib, rng, replaced)),
            ctx,
        ),
        measure_case(
            "d",
            "(d) 1 MiB appended to the largest file",
            lambda: asyncio.run(append_mib(data, lib)),
            ctx,
        ),
    ]


def measure_bundle(data: Path, lib: Library, scratch: Path) -> dict[str, dict[str, Any]]:
    bundle = scratch / "home.bundle"
    target = scratch / "imported"
    exported = homeport("export", str(bundle), "--data", str(data), "--json")
    size = bundle.stat().st_size
    verified = homeport("verify", str(bundle), "--data", str(data), "--json")
    imported = homeport("import", str(bundle), "--data", str(target), "--json", stdin=lib.phrase)
    check_restored(target, lib)
    out = {}
    for name, done in (("export", exported), ("verify", verified), ("import", imported)):
        out[name] = {
            "bytes": size,
            "wall": done.wall,
            "seconds": done.json().get("seconds"),  # verify does not report it
            "peak_rss": done.peak_rss,
        }
        log(f"{name}: {size / MB:,.0f} MB in {done.wall:.2f} s = {size / MB / done.wall:.0f} MB/s")
    shutil.rmtree(target)
    bundle.unlink()
    return out


def check_restored(target: Path, lib: Library) -> None:
    """Every current attachment is back in the imported home's blobs, at its size."""
    blobs = FsBlobStore(target / "blobs")
    for att in lib.attachments:
        if not blobs.exists(att.digest) or blobs.size(att.digest) != att.size:
            raise RuntimeError(f"import did not restore {att.filename} ({att.digest})")


# --------------------------------------------------------------------------- report


def mb(n: float) -> str:
    return f"{n / MB:,.1f} MB" if abs(n) >= 100_000 else f"{n / 1000:,.1f} kB"


def secs(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "—"


def verdict(case: Case) -> str:
    parts = []
    if case.time_target is not None:
        ok = case.homeport["seconds"] <= case.time_target
        parts.append(f"time ≤ {case.time_target * 1000:.0f} ms {'met' if ok else 'missed'}")
    limit = case.bytes_limit()
    if limit is not None:
        ok = case.homeport["new_bytes"] <= limit
        parts.append(f"bytes ≤ {mb(limit)} {'met' if ok else 'missed'}")
    return "; ".join(parts) or "—"


SNAPSHOT_HEAD = (
    "case",
    "real change",
    "Homeport CLI wall",
    "in-process",
    "new bytes (JSON)",
    "repo.sqlite growth",
    "new objects",
    "peak RSS",
    "restic wall",
    "restic added",
    "restic repo growth",
    "wall H/R",
    "bytes H/R",
    "target",
)


def snapshot_rows(cases: Sequence[Case]) -> list[list[str]]:
    rows = []
    for c in cases:
        h, r = c.homeport, c.restic
        rows.append(
            [
                c.title,
                mb(c.changed),
                secs(h["wall"]),
                secs(h["seconds"]),
                mb(h["new_bytes"]),
                mb(h["growth"]),
                f"{h['new_objects']:,}",
                mb(h["peak_rss"]),
                secs(r["wall"]),
                mb(r["added"]),
                mb(r["growth"]),
                ratio(h["wall"], r["wall"]),
                ratio(h["new_bytes"], r["added"]),
                verdict(c),
            ]
        )
    return rows


BUNDLE_HEAD = ("operation", "bundle", "wall", "in-process", "MB/s (wall)", "peak RSS", "target")


def bundle_rows(bundle: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for name, m in bundle.items():
        rate = m["bytes"] / MB / m["wall"]
        target = "—" if name == "verify" else f"≥ 200 MB/s {'met' if rate >= 200 else 'missed'}"
        rows.append(
            [
                f"homeport {name}",
                mb(m["bytes"]),
                secs(m["wall"]),
                "—" if m["seconds"] is None else secs(float(m["seconds"])),
                f"{rate:,.0f}",
                mb(m["peak_rss"]),
                target,
            ]
        )
    return rows


def table(head: Sequence[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r) for r in [list(head), *rows])


def peak_of(cases: Sequence[Case], bundle: dict[str, dict[str, Any]]) -> int:
    rss = [int(c.homeport["peak_rss"]) for c in cases]
    return max(rss + [int(m["peak_rss"]) for m in bundle.values()])


def render(result: dict[str, Any], cases: Sequence[Case], markdown: bool) -> str:
    bundle = result["bundle"]
    peak = peak_of(cases, bundle)
    lines = [
        f"Command: `{result['command']}`",
        "",
        f"Machine: {result['machine']}; restic {result['restic']}.",
        "",
        f"Library: {result['library']}.",
        "",
        table(SNAPSHOT_HEAD, snapshot_rows(cases), markdown),
        "",
        "Cases (a) and (b) ran 3 times each (each (b) run edits another record); the row is the "
        "run of median in-process time. In-process times: "
        + "; ".join(
            f"{c.key} " + ", ".join(secs(t) for t in c.homeport["runs"])
            for c in cases
            if len(c.homeport["runs"]) > 1
        )
        + ".",
        "",
        table(BUNDLE_HEAD, bundle_rows(bundle), markdown),
        "",
        f"`homeport --help` start-up (median of 3): {secs(result['startup'])}; it is part of "
        "every CLI wall time above. Peak RSS of any Homeport process: "
        f"{mb(peak)} (target ≤ 200 MB: {'met' if peak <= 200 * MB else 'missed'}).",
        f"Run took {result['elapsed']:.0f} s ({result['started']}); load average "
        f"{result['load_after']} at the end.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def log(message: str) -> None:
    print(f"[snapshot] {message}", file=sys.stderr, flush=True)


def restic_version() -> str:
    if shutil.which("restic") is None:
        raise SystemExit(
            "restic is not installed: apt-get install -y restic (Debian's package), then re-run"
        )
    out = run(["restic", "version"]).check().out.split()
    return out[1] if len(out) > 1 else "?"


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.strip()
    if dirty:
        commit += " + uncommitted changes in src/"
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.1f} GiB RAM, Python "
        f"{platform.python_version()}, load average {load} at the start, Homeport at {commit}"
    )


def describe(lib: Library) -> str:
    photos = [a for a in lib.attachments if a.filename.startswith("IMG_")]
    large = [a for a in lib.attachments if a not in photos]
    public = sum(1 for a in lib.attachments if a.bucket == "site")
    return (
        f"seed {lib.seed}, {lib.records:,} records in 2 buckets / 5 collections (bucket `site` "
        f"readable by {EVERYONE}, bucket `home` private), {len(lib.attachments)} of them with an "
        f"attachment ({public} public): {len(photos)} photos of 1 to 6 MB "
        f"({sum(a.size for a in photos) / MB:,.0f} MB) and {len(large)} large files "
        f"({', '.join(f'{a.size / MB:,.0f} MB' for a in large)}), "
        f"{lib.attachment_bytes() / MB:,.0f} MB of random (incompressible) bytes in all"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=int, default=1000, help="attachment MB (1000)")
    p.add_argument("--records", type=int, default=10000, help="records (10000)")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    p.add_argument("--keep", action="store_true", help="keep the library for the next run")
    p.add_argument("--json", type=Path, help="results file (bench/results/snapshot-<time>.json)")
    args = p.parse_args(argv)
    if not 10 <= args.size_mb <= 100_000:
        p.error("--size-mb must be within [10, 100000]")
    if not 10 <= args.records <= 10_000_000:
        p.error("--records must be within [10, 10000000]")
    return args


def measure(args: argparse.Namespace, scratch: Path) -> tuple[dict[str, Any], list[Case]]:
    lib = cached_library(args.seed, args.size_mb, args.records)
    data = scratch / "data"
    working_copy(LIBRARY, data)
    restic = Restic(scratch / "restic-repo", scratch / "restic-cache", data)
    restic.init()
    cases = measure_snapshots(data, lib, restic)
    bundle = measure_bundle(data, lib, scratch)
    result = {"library": describe(lib), "bundle": bundle, "cases": [asdict(c) for c in cases]}
    return result, cases



def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    version = restic_version()
    began = time.perf_counter()
    started = datetime.now(UTC)
    info = machine()
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="snapshot-run-", dir=CACHE) as tmp:
            result, cases = measure(args, Path(tmp))
    finally:
        if not args.keep:
            shutil.rmtree(LIBRARY, ignore_errors=True)
    result.update(
        command=" ".join([".venv/bin/python bench/snapshot.py", *sys.argv[1:]]),
        machine=info,
        restic=version,
        startup=startup_seconds(),
        elapsed=time.perf_counter() - began,
        load_after=" ".join(f"{x:.2f}" for x in os.getloadavg()),
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
    )
    out = args.json or BENCH / "results" / f"snapshot-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"results written to {out}")
    print(render(result, cases, args.markdown))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; temporary files removed")
        sys.exit(130)
