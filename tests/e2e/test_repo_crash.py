"""kill -9 ``homeport snapshot`` and ``homeport import`` at seeded random moments covering the
whole run: afterwards the repository verifies, the last complete commit is intact (the old head
or the new one), and a re-run finishes the job with the same content as an uninterrupted run."""

from __future__ import annotations

import asyncio
import io
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.services import identity as ids
from homeport.services import repository as service
from homeport.settings import load_settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store

from .repo_support import cli_env

KILLS = 16
SEED = 20261123
RECORDS = 300
FILES = [4 << 20] * 3 + [1 << 20] * 6 + [256 << 10] * 8  # 20 MiB of attachments
runner = CliRunner()


def run(*args: str, data: Path, stdin: str | None = None) -> Any:
    """The CLI in this process (quick); returns the click Result."""
    return runner.invoke(app, ["--data", str(data), *args], input=stdin)


def ok(*args: str, data: Path, stdin: str | None = None) -> str:
    result = run(*args, data=data, stdin=stdin)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return str(result.stdout)


def head(data: Path) -> dict[str, Any] | None:
    rows = json.loads(ok("log", "--json", data=data))
    return rows[0] if rows else None


async def _fill(data: Path, part: int) -> None:
    """Records and attachments; ``part`` 0 before the first commit, 1 after it."""
    store = open_record_store(f"sqlite:///{data / 'homeport.sqlite'}")
    await store.initialize()
    blobs = FsBlobStore(data / "blobs")
    rng = random.Random(part)
    try:
        if part == 0:
            await store.create("bucket", "", {"id": "lib"})
            await store.create("bucket", "", {"id": "pub"})
            await store.set_permissions("/buckets/pub", {"read": {"system.Everyone"}})
            for bucket in ("lib", "pub"):
                await store.create("collection", f"/buckets/{bucket}", {"id": "items"})
        half = RECORDS // 2
        for i in range(part * half, (part + 1) * half):
            bucket = "pub" if i % 3 == 0 else "lib"
            await store.create(
                "record",
                f"/buckets/{bucket}/collections/items",
                {"id": f"r{i:04d}", "title": f"item {i}", "words": ["w"] * (i % 17)},
            )
        files = FILES[part::2]
        for n, size in enumerate(files):
            digest = blobs.put_file(io.BytesIO(rng.randbytes(size)))
            bucket = "pub" if n % 2 else "lib"
            await store.create(
                "record",
                f"/buckets/{bucket}/collections/items",
                {"id": f"file{part}-{n}", "attachment": {"hash": digest, "size": size}},
            )
    finally:
        await store.close()


async def _content(data: Path) -> dict[str, Any]:
    """Every store object with its permissions, and every blob's bytes digest."""
    store = open_record_store(f"sqlite:///{data / 'homeport.sqlite'}")
    await store.initialize()
    found: dict[str, Any] = {}
    try:
        for (name, parent), _ in sorted((await store.timestamps()).items()):
            for obj in await store.list_all(name, parent):
                uri = f"{parent}/{name}s/{obj['id']}"
                found[uri] = (obj, await store.get_permissions(uri))
    finally:
        await store.close()
    # a kill -9 mid-write leaves the blob store's temporary ".incoming-*" file: not content
    blobs = sorted(
        str(p.relative_to(data))
        for p in (data / "blobs").rglob("*")
        if p.is_file() and not p.name.startswith(".incoming-")
    )
    found["blobs"] = blobs
    return found


def content(data: Path) -> dict[str, Any]:
    return asyncio.run(_content(data))


@dataclass
class Library:
    master: Path
    """Commit 1 made, then more records and attachments: the next snapshot has work to do."""
    phrase: str
    commit1: dict[str, Any]
    commit2: dict[str, Any]
    """The head an uninterrupted snapshot of ``master`` makes (its id depends on the time)."""
    first: Path
    since1: Path
    full: Path
    follower: Path
    """A home that imported ``first``: the target of the fast-forward imports."""
    expected: dict[str, Any]
    snapshot_seconds: float
    import_seconds: float
    """A fast-forward import of ``since1`` into ``follower``."""
    restore_seconds: float
    """An import of ``full`` into an empty directory."""


def timed(args: list[str], data: Path, stdin: str | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "homeport", *args, "--data", str(data)],
        input=(stdin or "").encode(),
        capture_output=True,
        timeout=120,
        env=cli_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("crash")
    master = root / "master"
    _, phrase = ids.create(master)
    asyncio.run(_fill(master, 0))
    asyncio.run(service.snapshot(load_settings(master)))
    commit1 = head(master)
    assert commit1 is not None
    ok("export", str(root / "first.bundle"), data=master)
    asyncio.run(_fill(master, 1))
    reference = root / "reference"
    shutil.copytree(master, reference)
    snapshot_seconds = timed(["snapshot"], reference)
    commit2 = head(reference)
    assert commit2 is not None and commit2["seq"] == 2
    ok("export", str(root / "since1.bundle"), "--since", "1", data=reference)
    ok("export", str(root / "full.bundle"), data=reference)
    follower = root / "follower"
    ok("import", str(root / "first.bundle"), data=follower, stdin=phrase)
    probe = root / "probe"
    shutil.copytree(follower, probe)
    import_seconds = timed(["import", str(root / "since1.bundle")], probe)
    expected = content(reference)
    assert content(probe) == expected
    restore_seconds = timed(["import", str(root / "full.bundle")], root / "fresh", phrase)
    assert content(root / "fresh") == expected
    yield Library(
        master,
        phrase,
        commit1,
        commit2,
        root / "first.bundle",
        root / "since1.bundle",
        root / "full.bundle",
        follower,
        expected,
        snapshot_seconds,
        import_seconds,
        restore_seconds,
    )


def kill_after(args: list[str], data: Path, delay: float, stdin: str | None = None) -> bool:
    """Start the command, kill -9 it after ``delay`` seconds; whether it was killed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "homeport", *args, "--data", str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env(),
    )
    try:
        if stdin is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.kill()
        return proc.wait(timeout=30) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def delays(seconds: float, salt: int, count: int = KILLS) -> list[float]:
    """Seeded moments spread over the whole run (a little past its end, too), shuffled."""
    rng = random.Random(SEED + salt)
    moments = [seconds * 1.05 * (i + rng.random()) / count for i in range(count)]
    rng.shuffle(moments)
    return moments


def test_killed_snapshots_leave_a_verified_repository_and_a_rerun_finishes(
    lib: Library, tmp_path: Path
) -> None:
    killed = 0
    for i, delay in enumerate(delays(lib.snapshot_seconds, 1)):
        work = tmp_path / f"snap{i}"
        shutil.copytree(lib.master, work)
        killed += kill_after(["snapshot"], work, delay)
        ok("verify", data=work)
        after = head(work)
        assert after is not None
        if after["seq"] == 1:
            assert after == lib.commit1
        else:
            assert after["seq"] == 2 and after["root"] == lib.commit2["root"]
        ok("snapshot", data=work)
        done = head(work)
        assert done is not None and done["seq"] == 2 and done["root"] == lib.commit2["root"]
        shutil.rmtree(work)
    assert killed >= KILLS // 2, f"only {killed} of {KILLS} runs were killed before they ended"


def test_killed_imports_leave_a_verified_home_and_a_rerun_finishes(
    lib: Library, tmp_path: Path
) -> None:
    killed = 0
    runs = [(False, d) for d in delays(lib.import_seconds, 2, KILLS // 2)]
    runs += [(True, d) for d in delays(lib.restore_seconds, 3, KILLS - KILLS // 2)]
    for i, (fresh, delay) in enumerate(runs):
        work = tmp_path / f"import{i}"
        if fresh:
            bundle, stdin = lib.full, lib.phrase
        else:
            shutil.copytree(lib.follower, work)
            bundle, stdin = lib.since1, None
        killed += kill_after(["import", str(bundle)], work, delay, stdin)
        if ids.exists(work):
            ok("verify", data=work)
            after = head(work)
            assert after is not None
            assert after["commit"] in (lib.commit1["commit"], lib.commit2["commit"])
            assert after == (lib.commit1 if after["seq"] == 1 else lib.commit2)
            again = run("import", str(bundle), data=work)
        else:  # killed before the home existed: only the repository file may be left (with
            # the rollback journal of its switch to WAL, which SQLite replays on the next open),
            # and the start of the identity's write, which the next import clears; and the
            # attachments put into the blob store before the import's commit
            leftovers = {"repo.sqlite", "repo.sqlite-wal", "repo.sqlite-shm", "repo.sqlite-journal"}
            leftovers |= {"keys", ".identity.json.tmp", "packs", "blobs"}
            assert not work.exists() or {p.name for p in work.iterdir()} <= leftovers
            again = run("import", str(bundle), data=work, stdin=lib.phrase)
        assert again.exit_code == 0, (i, delay, again.output)
        assert head(work) == lib.commit2
        assert content(work) == lib.expected, (i, delay)
        shutil.rmtree(work)
    assert killed >= KILLS // 2, f"only {killed} of {KILLS} runs were killed before they ended"


def test_an_import_killed_between_the_store_and_the_index_is_finished_by_a_rerun(
    lib: Library, tmp_path: Path
) -> None:
    """The narrowest window, made on purpose: the checkout's store transaction committed, the
    repository's (index, cursor, end of checkout) did not."""
    work = tmp_path / "window"
    shutil.copytree(lib.follower, work)
    ok("import", str(lib.since1), data=work)
    db = sqlite3.connect(work / "repo.sqlite")
    try:
        db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('checkout_from', ?)", (lib.commit1["commit"],)
        )
        db.execute("DELETE FROM cursor")
        db.commit()
    finally:
        db.close()
    ok("import", str(lib.since1), data=work)
    assert head(work) == lib.commit2
    assert content(work) == lib.expected
    assert json.loads(ok("snapshot", "--json", data=work))["commit"] is None


CRASH_POINTS = ["data.key", "object-id.key", "signing.key", "identity.json"]


def killed_at(
    point: str, args: list[str], data: Path, stdin: str
) -> subprocess.CompletedProcess[bytes]:
    """Run the command with the test hook that SIGKILLs it just before ``point`` is renamed
    into place (``services.identity.CRASH_AT``): the identity's write, every time."""
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args, "--data", str(data)],
        input=stdin.encode(),
        capture_output=True,
        timeout=120,
        env={**cli_env(), ids.CRASH_AT: f"write:{point}"},
        check=False,
    )


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_an_import_killed_while_writing_the_identity_is_finished_by_a_rerun(
    lib: Library, tmp_path: Path, point: str
) -> None:
    work = tmp_path / "fresh"
    done = killed_at(point, ["import", str(lib.full)], work, lib.phrase)
    assert done.returncode == -9, done.stderr.decode()
    assert not ids.exists(work)
    assert (work / "keys").exists() or (work / ".identity.json.tmp").exists()

    again = run("import", str(lib.full), data=work, stdin=lib.phrase)

    assert again.exit_code == 0, again.output
    assert head(work) == lib.commit2
    assert content(work) == lib.expected
    ok("verify", data=work)
    assert not [p.name for p in work.rglob(".*.tmp")]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_init_restore_killed_while_writing_the_identity_is_finished_by_a_rerun(
    lib: Library, tmp_path: Path, point: str
) -> None:
    work = tmp_path / "restored"
    done = killed_at(point, ["init", "--restore"], work, lib.phrase)
    assert done.returncode == -9, done.stderr.decode()
    assert not ids.exists(work)

    again = run("init", "--restore", data=work, stdin=lib.phrase)

    assert again.exit_code == 0, again.output
    assert ids.load(work).did == ids.load(lib.master).did
    assert ids.secret(work, "data.key") == ids.secret(lib.master, "data.key")
    assert not [p.name for p in work.rglob(".*.tmp")]
