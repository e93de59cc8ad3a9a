"""The scripted kill harness: ``kill -9`` of the home, of a provider node and of the SeaweedFS
server under it during publish, garbage collection, repack and restore, and after each kill,
recovery and the checks that nothing acknowledged was lost (``bench/kills.py`` runs hundreds;
``tests/e2e/test_kills.py`` a few).

Everything runs as real processes on loopback (the ``homeport`` CLI, ``homeport provider
serve`` and, when given, ``weed server -s3`` holding the provider's packs), each killed with
SIGKILL at a random moment of its run, so the kill lands in whatever the process was doing: a
snapshot's batches, a pack upload, the publish's import, the sweep's transaction, a repack's
copy, a blob renamed aside, a restore's import or checkout, an S3 PUT or GET. A repack needs
packs mostly garbage: the harness writes one (``_garbage_pack``), and a round names where its
kill landed from what the repository holds afterwards (``_repack_stage``). After each kill:

- publish: the home's ``verify`` is clean; a publish run to the end succeeds; the provider's
  copy audits clean (``verify --provider``); every commit a publish acknowledged is still in
  the home's log and the provider's live commit is the home's head;
- gc: the next command (``gc --dry-run``) opens the home, every blob a record names is there,
  ``verify`` is clean, and a collection run to the end succeeds;
- repack: as gc (the home's) or as publish (the provider's); a ``homeport provider gc``
  killed inside its repack: also the tenant's repository reads whole, acknowledged commits kept;
- SeaweedFS: started again on its data, then as publish (or as restore).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeport.core.objects import ObjectType
from homeport.repo.codec import encode
from homeport.repo.repository import REPO_FILE, Repository, RepositoryError
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.objects_fs import FsObjectStore
from homeport.store.protocols import ObjectStore
from homeport.testing.live import (
    free_port,
    kill_group,
    start_provider_process,
    stop_process,
)
from homeport.testing.seaweed import TempSeaweed

CLI_TIMEOUT = 180.0
START_TIMEOUT = 60.0
BASE = "kills.test"
OPERATOR_PASSWORD = "kills-operator-pw"


@dataclass
class Run:
    code: int
    out: str
    err: str


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(
        {
            "HOMEPORT_ARGON2_TIME_COST": "1",
            "HOMEPORT_ARGON2_MEMORY_KIB": "1024",
            "HOMEPORT_OPERATOR_PASSWORD": OPERATOR_PASSWORD,
            "HOMEPORT_GC_GRACE_SECONDS": "0",
        }
    )
    env.update(extra or {})
    return env


READ_ONLY = frozenset({"verify", "status", "log"})
"""Commands the checks run in this process (``checked``): starting a Python for each cost
1-3 s at load 15, most of a round. What writes (publish, gc, add, restore) runs in its own
process, as a user runs it."""


_IN_PROCESS = threading.Lock()


def checked(*args: str, data: Path, check: bool = True) -> Run:
    """A read-only ``homeport ARGS --data DATA`` run in this process (see READ_ONLY)."""
    from typer.testing import CliRunner

    from homeport.cli.main import build_app

    assert args[0] in READ_ONLY, args
    argv = [*args, "--data", str(data)]
    with _IN_PROCESS:  # the runner swaps sys.stdout and os.environ: one at a time
        result = CliRunner().invoke(build_app(args[0]), argv, env=_env_delta())
    err = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        err += f"\n{type(result.exception).__name__}: {result.exception}"
    run = Run(result.exit_code, result.stdout, err)
    if check and run.code != 0:
        what = " ".join(args)[:80]
        raise HarnessError(f"homeport {what} exited {run.code}: {run.err.strip()[-600:]}")
    return run


def _env_delta() -> dict[str, str | None]:
    """What ``_env`` changes in this process's environment (None: unset)."""
    wanted = _env()
    delta: dict[str, str | None] = {k: None for k in os.environ if k not in wanted}
    delta.update({k: v for k, v in wanted.items() if os.environ.get(k) != v})
    return delta


def homeport(*args: str, data: Path, stdin: str = "", check: bool = True) -> Run:
    """``homeport ARGS --data DATA`` to its end (bounded by CLI_TIMEOUT)."""
    if args[0] in READ_ONLY and not stdin:
        return checked(*args, data=data, check=check)
    done = subprocess.run(
        [sys.executable, "-m", "homeport", *args, "--data", str(data)],
        input=stdin.encode(),
        capture_output=True,
        timeout=CLI_TIMEOUT,
        env=_env(),
        check=False,
    )
    run = Run(done.returncode, done.stdout.decode(), done.stderr.decode())
    if check and run.code != 0:
        what = " ".join(args)[:80]
        raise HarnessError(f"homeport {what} exited {run.code}: {run.err.strip()[-600:]}")
    return run


def _started(*args: str, data: Path, stdin: str = "") -> subprocess.Popen[bytes]:
    """``homeport ARGS --data DATA`` in its own process group, ``stdin`` written and closed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "homeport", *args, "--data", str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        start_new_session=True,
    )
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    return proc


def _finished(proc: subprocess.Popen[bytes]) -> None:
    """Let a command whose server was killed under it fail or retry; one stuck is killed."""
    try:
        proc.wait(timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def killed_midway(
    *args: str,
    data: Path,
    after: float,
    stdin: str = "",
    watch: Path | None = None,
) -> bool:
    """Start ``homeport ARGS``, SIGKILL it ``after`` seconds after it first holds a file
    under ``watch`` open (default: ``data``; so a kill lands in the command's work, not in
    Python's start, which takes seconds at load 20); whether it was still running (a kill),
    or had finished first or never opened such a file (no kill)."""
    proc = _started(*args, data=data, stdin=stdin)
    try:
        if not _wait_open(proc, data if watch is None else watch):
            proc.wait(timeout=CLI_TIMEOUT)
            return False
        proc.wait(timeout=after)
        return False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return True


def _wait_open(proc: subprocess.Popen[bytes], under: Path) -> bool:
    """Poll ``proc``'s open files until one is under ``under`` (True) or it exits (False)."""
    fds = Path(f"/proc/{proc.pid}/fd")
    prefix = str(under.resolve()) + "/"
    deadline = time.monotonic() + CLI_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            for fd in os.listdir(fds):
                with contextlib.suppress(OSError):
                    if os.readlink(fds / fd).startswith(prefix):
                        return True
        except OSError:
            return False
        time.sleep(0.002)
    return False


class HarnessError(Exception):
    """A check failed after a kill: something acknowledged was lost, or did not recover."""


@dataclass
class ProviderNode:
    """One ``homeport provider serve`` on a free loopback port, killed and restarted."""

    data: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    seaweed: TempSeaweed | None = None
    """The S3 server holding the node's packs (``--objects``); None: its data directory."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.data.name}.log"

    def start(self) -> None:
        objects = ["--objects", self.seaweed.url] if self.seaweed else []
        env = {"HOMEPORT_GC_INTERVAL_SECONDS": "1", **(self.seaweed.env if self.seaweed else {})}
        try:
            self.proc = start_provider_process(
                self.data, self.port, BASE, self.log, _env(env), objects, START_TIMEOUT
            )
        except RuntimeError as exc:
            raise HarnessError(str(exc)) from None

    def kill(self) -> None:
        kill_group(self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def invite(self) -> str:
        run = homeport("provider", "invite", "--json", data=self.data)
        return str(json.loads(run.out)["code"])

    def tenant(self) -> Path:
        """The directory of the node's one tenant (the harness enrols one home)."""
        (found,) = [p for p in (self.data / "tenants").iterdir() if p.is_dir()]
        return found

    def packs(self) -> ObjectStore:
        """The tenant's packs, where the node keeps them."""
        tenant = self.tenant()
        if self.seaweed is None:
            return FsObjectStore(tenant / "packs")
        return self.seaweed.store().scoped(f"tenants/{tenant.name}/packs")


@dataclass
class Tally:
    kills: Counter[str] = field(default_factory=Counter)
    rounds: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.kills.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "kills": self.total,
            "by_scenario": dict(self.kills),
            "rounds": dict(self.rounds),
            "failures": self.failures,
            "seconds": round(self.seconds, 1),
        }


class Harness:
    """One home published to one provider node, in ``root``; ``rng`` picks the kill times."""

    def __init__(self, root: Path, rng: random.Random, seaweed: bool = False) -> None:
        self.root = root
        self.rng = rng
        self.home = root / "home"
        self.seaweed = TempSeaweed(directory=root / "seaweed") if seaweed else None
        self.provider = ProviderNode(root / "provider", seaweed=self.seaweed)
        self.phrase = ""
        self.acknowledged: list[int] = []
        self.notes = 0
        self.tally = Tally()
        self.chain = 3
        """The most kills of one command in a row (``_chain``)."""
        self.restored_becomes_home = False
        self.photos = True
        """False: notes only (a restored home lacks its photos' blobs: see docs/benchmarks.md)."""

    def __enter__(self) -> Harness:
        try:
            if self.seaweed is not None:
                self.seaweed.start()
            self.provider.start()
            doc = json.loads(homeport("init", "--json", data=self.home).out)
            self.phrase = str(doc["phrase"])
            code = self.provider.invite()
            homeport("providers", "add", self.provider.url, code, "--name", "k", data=self.home)
            for _ in range(3):
                self._add()
            self._publish_to_end()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.provider.stop()
        if self.seaweed is not None:
            self.seaweed.close()

    # --- steps --------------------------------------------------------------------------------
    def _add(self) -> None:
        self.notes += 1
        text = f"note {self.notes} " + self.rng.randbytes(100).hex()
        homeport("add", "note", text, data=self.home)

    def _add_photo(self) -> None:
        if not self.photos:
            self._add()
            return
        self.notes += 1
        photo = self.root / f"photo-{self.notes}.png"
        photo.write_bytes(_png(self.rng.randbytes(60_000)))
        homeport("add", "photo", str(photo), "--alt", "noise", data=self.home)

    def _publish_to_end(self) -> None:
        """A publish run to its end; what it acknowledged (the seq the provider took)."""
        rows = json.loads(homeport("publish", "--json", data=self.home).out)
        if not rows or not all(r["ok"] for r in rows):
            raise HarnessError(f"a publish run to its end failed: {rows}")
        self.acknowledged.append(int(rows[0]["seq"]))

    def _check_published(self, what: str) -> None:
        homeport("verify", data=self.home)
        self._publish_to_end()
        audit = homeport("verify", "--provider", self.provider.url, data=self.home, check=False)
        if audit.code != 0:
            raise HarnessError(f"{what}: the provider's copy does not audit clean: {audit.err}")
        status = json.loads(homeport("status", "--json", data=self.home).out)
        live = [(p.get("remote") or {}).get("seq") for p in status["providers"]]
        if live != [status["head_seq"]] or status["head_seq"] < max(self.acknowledged):
            raise HarnessError(
                f"{what}: the provider's live commit {live}, the home's head "
                f"{status['head_seq']}, acknowledged up to {max(self.acknowledged)}"
            )

    def _referenced_blobs_present(self, what: str) -> None:
        """Every attachment a live record names has its blob (read as a fresh start reads:
        opening the blob store first puts back what a killed collection had set aside)."""
        blobs = FsBlobStore(self.home / "blobs")
        lost = sorted(d for d in _attachment_digests(self.home) if blobs.path(d) is None)
        if lost:
            raise HarnessError(f"{what}: blobs {lost[:3]} that records name are gone")

    # --- rounds -------------------------------------------------------------------------------
    def _chain(self) -> int:
        """How many times a round kills its command in a row (each retry killed again, as a
        user who retries into a crash would see), 1 to 3."""
        return self.rng.randint(1, self.chain)

    def round_publish_home(self) -> None:
        self._add() if self.rng.random() < 0.7 else self._add_photo()
        for _ in range(self._chain()):
            if killed_midway("publish", data=self.home, after=self.rng.uniform(0, 1.5)):
                self.tally.kills["home during publish"] += 1
            homeport("verify", data=self.home)
        self._check_published("home killed during publish")

    def round_publish_provider(self) -> None:
        self._add_photo() if self.rng.random() < 0.5 else self._add()
        proc = _started("publish", data=self.home)
        time.sleep(self.rng.uniform(0.3, 2.5))
        if proc.poll() is None:
            self.tally.kills["provider during publish"] += 1
        else:
            self.tally.kills["provider during its gc schedule"] += 1  # between publishes
        self.provider.kill()
        _finished(proc)
        self.provider.start()
        self._check_published("provider killed during publish")

    def round_gc_home(self) -> None:
        self._make_garbage()
        for _ in range(self._chain()):
            if killed_midway("gc", data=self.home, after=self.rng.uniform(0, 0.8)):
                self.tally.kills["home during gc"] += 1
            self._referenced_blobs_present("home killed during gc")  # as the next start
            homeport("verify", data=self.home)
        homeport("gc", data=self.home)
        self._referenced_blobs_present("gc after a killed gc")

    def _make_garbage(self) -> None:
        """Blobs nothing names (an upload whose record never came), and a photo replaced."""
        blobs = FsBlobStore(self.home / "blobs")
        for _ in range(self.rng.randint(5, 40)):
            blobs.put_file(io.BytesIO(self.rng.randbytes(self.rng.randint(1000, 80_000))))

    def round_repack_home(self) -> None:
        """``homeport gc`` killed while its repack reads the packs it rewrites."""
        with _opened(self.home) as repo:
            mark = _garbage_pack(repo, self.rng, in_flight=True)
        watch = self.home / "packs"
        for _ in range(self._chain()):
            after = self.rng.uniform(0, 0.01)
            if killed_midway("gc", data=self.home, after=after, watch=watch):
                stage = _repack_stage(self.home / REPO_FILE, FsObjectStore(watch), mark)
                self.tally.kills[f"home {stage}"] += 1
            homeport("verify", data=self.home)  # opening the home removes a killed repack's
            self._referenced_blobs_present("home killed during repack")
        homeport("gc", data=self.home)
        self._check_published("home killed during repack")

    def round_repack_provider(self) -> None:
        """The provider node killed while its scheduled collection repacks the tenant's packs
        (a pack mostly of objects no commit reaches, the rest pending uploads)."""
        tenant = self.provider.tenant()
        with _opened(tenant, self.provider.packs()) as repo:
            mark = _garbage_pack(repo, self.rng, in_flight=False)
        time.sleep(self.rng.uniform(0.2, 3.0))  # the collection runs each second
        self.provider.kill()
        packs = self.provider.packs()
        try:
            stage = _repack_stage(tenant / REPO_FILE, packs, mark)
        finally:
            getattr(packs, "close", lambda: None)()
        self.tally.kills[f"provider {stage}"] += 1
        self.provider.start()
        self._check_published("provider killed during repack")

    def round_repack_provider_gc(self) -> None:
        """``homeport provider gc`` (its own process, on the node's data, the node stopped so
        that its schedule does not repack first) killed 0-10 ms after it first opens a pack
        file in the tenant's directory: inside the repack, which the node's one-second
        schedule lands in only by chance (``round_repack_provider``). Packs on disk only."""
        assert self.seaweed is None, "the kill is timed by a pack file opened"
        self.provider.stop()
        tenant = self.provider.tenant()
        watch = tenant / "packs"
        with _opened(tenant) as repo:
            mark = _garbage_pack(repo, self.rng, in_flight=False)
        for _ in range(self._chain()):
            after = self.rng.uniform(0, 0.01)
            if killed_midway("provider", "gc", data=self.provider.data, after=after, watch=watch):
                stage = _repack_stage(tenant / REPO_FILE, FsObjectStore(watch), mark)
                self.tally.kills[f"provider gc {stage}"] += 1
            _tenant_reads_clean(tenant, self.acknowledged)
        homeport("provider", "gc", data=self.provider.data)
        self.provider.start()
        self._check_published("provider gc killed during repack")

    def round_seaweed_publish(self) -> None:
        """SeaweedFS killed while the provider stores a publish's packs, started again on its
        data at once; the publish fails or retries, and the next one is checked."""
        assert self.seaweed is not None
        self._add_photo() if self.rng.random() < 0.6 else self._add()
        proc = _started("publish", data=self.home)
        time.sleep(self.rng.uniform(0.2, 2.0))
        if proc.poll() is None:
            self.tally.kills["seaweedfs during publish"] += 1
        else:
            self.tally.kills["seaweedfs during the provider's gc schedule"] += 1
        self.seaweed.kill()
        self.seaweed.start()
        _finished(proc)
        self._check_published("seaweedfs killed during publish")

    def round_seaweed_restore(self, n: int) -> None:
        """SeaweedFS killed while the provider streams a restore's packs; the restore is run
        again into the same directory."""
        assert self.seaweed is not None
        target = self.root / f"restored-s3-{n}"
        args = ("restore", "--from", self.provider.url)
        proc = _started(*args, data=target, stdin=self.phrase)
        time.sleep(self.rng.uniform(0.3, 3.0))
        if proc.poll() is None:
            self.tally.kills["seaweedfs during restore"] += 1
        self.seaweed.kill()
        self.seaweed.start()
        _finished(proc)
        self._restored(target)

    def round_restore(self, n: int) -> None:
        target = self.root / f"restored-{n}"
        args = ("restore", "--from", self.provider.url)
        for _ in range(self._chain()):
            after = self.rng.uniform(0, 3.0)
            if killed_midway(*args, data=target, after=after, stdin=self.phrase):
                self.tally.kills["home during restore"] += 1
        self._restored(target)

    def _restored(self, target: Path) -> None:
        """A restore into ``target`` (where one was killed) run to its end, and checked."""
        args = ("restore", "--from", self.provider.url)
        homeport(*args, data=target, stdin=self.phrase)
        homeport("verify", data=target)
        rows = json.loads(homeport("log", "--json", data=target).out)
        if not rows or int(rows[0]["seq"]) != self.acknowledged[-1]:
            raise HarnessError("restore: the restored head is not the last published commit")
        if self.restored_becomes_home:  # the restored copy is the primary now: go on from it
            self.home = target
            self._check_published("restored home's first publish")


def _attachment_digests(home: Path) -> set[str]:
    """The attachment hashes records hold (read from the home's SQLite store)."""
    import sqlite3

    found: set[str] = set()
    db = sqlite3.connect(home / "homeport.sqlite")
    try:
        rows = db.execute("SELECT data FROM objects WHERE resource_name = 'record' AND NOT deleted")
        for (data,) in rows:
            doc = json.loads(data)
            attachment = doc.get("attachment") if isinstance(doc, dict) else None
            if isinstance(attachment, dict) and isinstance(attachment.get("hash"), str):
                found.add(attachment["hash"])
    finally:
        db.close()
    return found


@contextlib.contextmanager
def _opened(where: Path, packs: ObjectStore | None = None) -> Any:
    """The repository in ``where`` (a home's data dir or a provider's tenant directory),
    opened as a second process would, its packs in ``packs`` (default: ``where/packs``)."""
    objects = packs if packs is not None else FsObjectStore(where / "packs")
    repo = Repository(where / REPO_FILE, None, objects=objects)
    try:
        yield repo
    finally:
        repo.close()


@dataclass
class GarbageMark:
    pack: str
    swept: list[bytes]
    kept: list[bytes]


def _garbage_pack(repo: Repository, rng: random.Random, in_flight: bool) -> GarbageMark:
    """One pack that a collection leaves under half live: two thirds of its bytes objects no
    commit reaches (seq of the head: what an import adopted), the rest kept — at the home a
    killed snapshot's batch (seq past the head), at a provider uploads no publish adopted
    yet (seq 0, received now) — so the repack copies those to a new pack, one read each."""
    head = int(repo.db.execute("SELECT coalesce(max(seq), 0) FROM commits").fetchone()[0])
    swept: list[bytes] = []
    kept: list[bytes] = []
    with repo.transaction():
        for n in range(rng.randint(150, 400)):
            body = rng.randbytes(rng.randint(2_000, 12_000))
            oid, stored = encode(ObjectType.CHUNK, (), body, False, None)
            if n % 3 == 2:
                seq, received = (head + 1, 0) if in_flight else (0, int(time.time() * 1000))
                kept.append(oid)
            else:
                seq, received = head, 0
                swept.append(oid)
            repo.put(oid, ObjectType.CHUNK, (), stored, seq, received)
    row = repo.db.execute(
        "SELECT p.name FROM objects o JOIN packs p ON p.n = o.pack WHERE o.id = ?", (kept[0],)
    ).fetchone()
    return GarbageMark(str(row[0]), swept, kept)


def _repack_stage(db_path: Path, packs: ObjectStore, mark: GarbageMark) -> str:
    """Where a kill landed, read from what the repository holds after it: before the sweep
    committed, between the sweep and the repack's commit, after that commit but before the
    old pack's delete, or after the repack. Raises HarnessError if a kept object is gone."""
    import sqlite3

    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:

        def count(ids: list[bytes], where: str = "") -> int:
            total = 0
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                marks = ",".join("?" * len(part))
                total += db.execute(
                    "SELECT count(*) FROM objects o LEFT JOIN packs p ON p.n = o.pack"
                    f" WHERE o.id IN ({marks}){where}",
                    [*part, *([mark.pack] if where else [])],
                ).fetchone()[0]
            return int(total)

        swept_left = count(mark.swept)
        kept_left = count(mark.kept)
        kept_in_old = count(mark.kept, " AND p.name = ?")
    finally:
        db.close()
    if kept_left != len(mark.kept):
        raise HarnessError(f"repack: {len(mark.kept) - kept_left} kept objects lost their rows")
    if swept_left:
        return "during gc (before its sweep)"
    if kept_in_old:
        return "during repack (swept, not repacked)"
    if packs.size(mark.pack) is not None:
        return "during repack (repacked, old pack not deleted)"
    return "after a repack"


def _tenant_reads_clean(tenant: Path, acknowledged: list[int]) -> None:
    """A provider's tenant repository after a kill, opened as the node's next start opens it:
    every object's bytes are where its row says and read back whole, and every acknowledged
    commit is there (the full audit, keys and all, is ``verify --provider`` afterwards)."""
    from homeport.repo.codec import ObjectError, check
    from homeport.repo.verify import unreadable

    broken: list[str] = []
    with _opened(tenant) as repo:
        gone = unreadable(repo)
        for where, stored in repo.scan():
            try:
                if isinstance(stored, Exception):
                    raise stored
                check(where.id, stored, None)
            except (ObjectError, RepositoryError) as exc:
                broken.append(str(exc))
        seqs = {int(r[0]) for r in repo.db.execute("SELECT seq FROM commits")}
    if gone or broken:
        raise HarnessError(
            f"provider gc killed in its repack: {len(gone)} objects' packs gone, "
            f"unreadable: {broken[:3]}"
        )
    lost = sorted(set(acknowledged) - seqs)
    if lost:
        raise HarnessError(f"provider gc killed in its repack: acknowledged commits {lost} gone")


def _png(noise: bytes) -> bytes:
    """A valid PNG carrying ``noise`` (so each photo differs and does not compress)."""
    import struct
    import zlib

    width = 64
    rows = max(1, len(noise) // (width * 3))
    raw = b"".join(
        b"\x00" + noise[r * width * 3 : (r + 1) * width * 3].ljust(width * 3, b"\0")
        for r in range(rows)
    )

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, rows, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


SCENARIOS = {
    "publish-home": 4,
    "publish-provider": 2,
    "gc-home": 3,
    "repack-home": 3,
    "repack-provider": 2,
    "repack-provider-gc": 2,
    "restore": 1,
    "publish-seaweedfs": 2,
    "restore-seaweedfs": 1,
}
"""Each round's scenario and its weight; the SeaweedFS ones run only with ``seaweed``."""

DISK_ONLY = frozenset({"repack-provider-gc"})
"""Scenarios timed by a pack file the process opens: they run only without ``seaweed``."""


def run(
    root: Path,
    kills: int,
    seed: int = 1,
    restores: int = 0,
    progress: bool = False,
    minutes: float | None = None,
    photos: bool = True,
    seaweed: bool = False,
    scenarios: dict[str, int] | None = None,
    chain: int = 3,
    lanes: int = 1,
) -> Tally:
    """Rounds until ``kills`` kills have landed (rounds where the process finished before its
    kill count none; a restore round's copy goes on as the home) or ``minutes`` have gone,
    then ``restores`` restore rounds. With ``seaweed``, the provider's packs are on a
    SeaweedFS server, killed too; ``chain``: the most kills of one command in a row;
    ``lanes``: that many homes, each with its own provider node (and SeaweedFS), run side by
    side in threads (the processes they wait for are most of a round). Failures are
    recorded, not raised."""
    started = time.monotonic()
    stop = None if minutes is None else started + minutes * 60
    tallies = [Tally() for _ in range(lanes)]

    def enough() -> bool:
        return sum(t.total for t in tallies) >= kills or (
            stop is not None and time.monotonic() > stop
        )

    def lane(n: int) -> None:
        share = restores // lanes + (1 if n < restores % lanes else 0)
        where = root if lanes == 1 else root / f"lane-{n}"
        where.mkdir(parents=True, exist_ok=True)
        try:
            _lane(
                where,
                tallies[n],
                seed + n,
                share,
                enough,
                photos,
                seaweed,
                scenarios,
                chain,
                (lambda: _progress(started, tallies)) if progress else None,
                kills * 4,
            )
        except Exception as exc:  # a lane that breaks is a failure, the others go on
            tallies[n].failures.append(f"lane {n}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=lane, args=(n,), name=f"kills-{n}") for n in range(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Tally(seconds=time.monotonic() - started)
    for tally in tallies:
        total.kills.update(tally.kills)
        total.rounds.update(tally.rounds)
        total.failures.extend(tally.failures)
    return total


def _progress(started: float, tallies: list[Tally]) -> None:
    kills: Counter[str] = Counter()
    for tally in tallies:
        kills.update(tally.kills)
    elapsed = time.monotonic() - started
    print(
        f"{elapsed:7.0f} s  kills {sum(kills.values())}  {dict(kills)}", file=sys.stderr, flush=True
    )


def _lane(
    root: Path,
    tally: Tally,
    seed: int,
    restores: int,
    enough: Callable[[], bool],
    photos: bool,
    seaweed: bool,
    scenarios: dict[str, int] | None,
    chain: int,
    progress: Callable[[], None] | None,
    most_rounds: int,
) -> None:
    """One home's rounds (see ``run``), counted into ``tally``."""
    rng = random.Random(seed)
    harness = Harness(root, rng, seaweed)
    harness.tally = tally
    harness.photos = photos
    harness.chain = chain
    weights = dict(scenarios or SCENARIOS)
    if not seaweed:
        weights = {k: v for k, v in weights.items() if not k.endswith("-seaweedfs")}
    else:
        weights = {k: v for k, v in weights.items() if k not in DISK_ONLY}
    if not weights:
        raise HarnessError(f"no scenario of {sorted(scenarios or SCENARIOS)} runs here")
    with harness as h:
        h.restored_becomes_home = True
        restored = 0
        attempts = 0
        while not enough() and attempts < most_rounds:
            attempts += 1
            scenario = rng.choices(list(weights), list(weights.values()))[0]
            h.tally.rounds[scenario] += 1
            try:
                if scenario in ("restore", "restore-seaweedfs"):
                    restored += 1
                    if scenario == "restore":
                        h.round_restore(restored)
                    else:
                        h.round_seaweed_restore(restored)
                else:
                    getattr(h, ROUNDS[scenario])()
            except (HarnessError, subprocess.TimeoutExpired) as exc:
                h.tally.failures.append(f"{scenario}: {exc}")
                if len(h.tally.failures) >= 5:
                    break
            if progress is not None:
                progress()
        h.restored_becomes_home = False
        for n in range(restores):
            h.tally.rounds["restore"] += 1
            try:
                h.round_restore(restored + 1 + n)
            except (HarnessError, subprocess.TimeoutExpired) as exc:
                h.tally.failures.append(f"restore: {exc}")


ROUNDS = {
    "publish-home": "round_publish_home",
    "publish-provider": "round_publish_provider",
    "gc-home": "round_gc_home",
    "repack-home": "round_repack_home",
    "repack-provider": "round_repack_provider",
    "repack-provider-gc": "round_repack_provider_gc",
    "publish-seaweedfs": "round_seaweed_publish",
}
