"""The scripted kill harness: ``kill -9`` of the home and of a provider node during publish,
garbage collection and restore, and after each kill, recovery and the checks that nothing
acknowledged was lost (``bench/kills.py`` runs hundreds; ``tests/e2e/test_kills.py`` a few).

Everything runs as real processes on loopback (the ``homeport`` CLI and ``homeport provider
serve``), each killed with SIGKILL at a random moment of its run, so the kill lands in whatever
the process was doing: a snapshot's batches, a pack upload, the publish's import, the sweep's
transaction, a blob renamed aside, a restore's import or checkout. After each kill:

- publish: the home's ``verify`` is clean; a publish run to the end succeeds; the provider's
  copy audits clean (``verify --provider``); every commit a publish acknowledged is still in
  the home's log and the provider's live commit is the home's head;
- gc: the next command (``gc --dry-run``) opens the home, every blob a record names is there,
  ``verify`` is clean, and a collection run to the end succeeds;
- restore: a restore run again into the same directory succeeds and ``verify`` is clean.
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
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from homeport.store.blobs_fs import FsBlobStore
from homeport.testing.live import free_port, log_tail, stop_process

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


def homeport(*args: str, data: Path, stdin: str = "", check: bool = True) -> Run:
    """``homeport ARGS --data DATA`` to its end (bounded by CLI_TIMEOUT)."""
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


def killed_midway(*args: str, data: Path, after: float, stdin: str = "") -> bool:
    """Start ``homeport ARGS``, SIGKILL it ``after`` seconds in; whether it was still running
    (a kill), or had finished first (no kill)."""
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
    try:
        proc.wait(timeout=after)
        return False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return True


class HarnessError(Exception):
    """A check failed after a kill: something acknowledged was lost, or did not recover."""


@dataclass
class ProviderNode:
    """One ``homeport provider serve`` on a free loopback port, killed and restarted."""

    data: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.data.name}.log"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "homeport",
                    "provider",
                    "serve",
                    "--data",
                    str(self.data),
                    "--port",
                    str(self.port),
                    "--base-domain",
                    BASE,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_env({"HOMEPORT_GC_INTERVAL_SECONDS": "1"}),
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise HarnessError(f"provider exited early:\n{log_tail(self.log)}")
            try:
                httpx.get(self.url + "/_homeport/v1/", timeout=2)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise HarnessError(f"provider not up:\n{log_tail(self.log)}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def invite(self) -> str:
        run = homeport("provider", "invite", "--json", data=self.data)
        return str(json.loads(run.out)["code"])


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

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.home = root / "home"
        self.provider = ProviderNode(root / "provider")
        self.phrase = ""
        self.acknowledged: list[int] = []
        self.notes = 0
        self.tally = Tally()
        self.restored_becomes_home = False
        self.photos = True
        """False: notes only (a restored home lacks its photos' blobs: see docs/benchmarks.md)."""

    def __enter__(self) -> Harness:
        self.provider.start()
        try:
            doc = json.loads(homeport("init", "--json", data=self.home).out)
            self.phrase = str(doc["phrase"])
            code = self.provider.invite()
            homeport("providers", "add", self.provider.url, code, "--name", "k", data=self.home)
            for _ in range(3):
                self._add()
            self._publish_to_end()
        except BaseException:
            self.provider.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.provider.stop()

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
    def round_publish_home(self) -> None:
        self._add() if self.rng.random() < 0.7 else self._add_photo()
        if killed_midway("publish", data=self.home, after=self.rng.uniform(0.3, 2.5)):
            self.tally.kills["home during publish"] += 1
        self._check_published("home killed during publish")

    def round_publish_provider(self) -> None:
        self._add_photo() if self.rng.random() < 0.5 else self._add()
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeport", "publish", "--data", str(self.home)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(),
            start_new_session=True,
        )
        time.sleep(self.rng.uniform(0.3, 2.5))
        if proc.poll() is None:
            self.tally.kills["provider during publish"] += 1
        else:
            self.tally.kills["provider during its gc schedule"] += 1  # between publishes
        self.provider.kill()
        try:
            proc.wait(timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        self.provider.start()
        self._check_published("provider killed during publish")

    def round_gc_home(self) -> None:
        self._make_garbage()
        if killed_midway("gc", data=self.home, after=self.rng.uniform(0.2, 1.5)):
            self.tally.kills["home during gc"] += 1
        homeport("gc", "--dry-run", data=self.home)  # the next start puts back what was aside
        self._referenced_blobs_present("home killed during gc")
        homeport("verify", data=self.home)
        homeport("gc", data=self.home)
        self._referenced_blobs_present("gc after a killed gc")

    def _make_garbage(self) -> None:
        """Blobs nothing names (an upload whose record never came), and a photo replaced."""
        blobs = FsBlobStore(self.home / "blobs")
        for _ in range(self.rng.randint(5, 40)):
            blobs.put_file(io.BytesIO(self.rng.randbytes(self.rng.randint(1000, 80_000))))

    def round_restore(self, n: int) -> None:
        target = self.root / f"restored-{n}"
        args = ("restore", "--from", self.provider.url)
        if killed_midway(*args, data=target, after=self.rng.uniform(0.5, 4.0), stdin=self.phrase):
            self.tally.kills["home during restore"] += 1
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


SCENARIOS = ("publish-home", "publish-provider", "gc-home")


def run(
    root: Path,
    kills: int,
    seed: int = 1,
    restores: int = 0,
    progress: bool = False,
    minutes: float | None = None,
    photos: bool = True,
) -> Tally:
    """Rounds until ``kills`` kills have landed (rounds where the process finished before its
    kill count none; a restore round's copy goes on as the home) or ``minutes`` have gone,
    then ``restores`` restore rounds. Failures are recorded, not raised."""
    rng = random.Random(seed)
    started = time.monotonic()
    harness = Harness(root, rng)
    harness.photos = photos
    with harness as h:
        weights = {"publish-home": 4, "publish-provider": 2, "gc-home": 4, "restore": 1}
        h.restored_becomes_home = True
        restored = 0
        attempts = 0
        stop = None if minutes is None else started + minutes * 60
        while h.tally.total < kills and attempts < kills * 4:
            if stop is not None and time.monotonic() > stop:
                break
            attempts += 1
            scenario = rng.choices(list(weights), list(weights.values()))[0]
            h.tally.rounds[scenario] += 1
            try:
                if scenario == "publish-home":
                    h.round_publish_home()
                elif scenario == "publish-provider":
                    h.round_publish_provider()
                elif scenario == "restore":
                    restored += 1
                    h.round_restore(restored)
                else:
                    h.round_gc_home()
            except (HarnessError, subprocess.TimeoutExpired) as exc:
                h.tally.failures.append(f"{scenario}: {exc}")
                if len(h.tally.failures) >= 5:
                    break
            if progress:
                elapsed = time.monotonic() - started
                print(
                    f"{elapsed:7.0f} s  kills {h.tally.total}  {dict(h.tally.kills)}",
                    file=sys.stderr,
                    flush=True,
                )
        h.restored_becomes_home = False
        for n in range(restores):
            h.tally.rounds["restore"] += 1
            try:
                h.round_restore(restored + 1 + n)
            except (HarnessError, subprocess.TimeoutExpired) as exc:
                h.tally.failures.append(f"restore: {exc}")
    h.tally.seconds = time.monotonic() - started
    return h.tally
