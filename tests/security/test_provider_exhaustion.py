"""A tenant (enrolled, signing correctly) attacking the provider's memory, disk and CPU: every
attack is refused with a clear 4xx in the provider's error shape, writes nothing it was not
charged for, and costs at most a fixed bound per request (issue L). On SQLite and PostgreSQL.

Peak memory is the process's high-water mark (``VmHWM``), reset before each attack: the
provider runs in this process, in a thread (``tests/provider/conftest.py``).
"""

from __future__ import annotations

import http.server
import io
import json
import os
import secrets
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core.canonical import canonical
from homeport.core.objects import Flags, ObjectType, pack_header
from homeport.crypto.keys import did_key
from homeport.provider import receive, sites
from homeport.repo import snapshot
from homeport.repo.bundle import frame
from homeport.repo.codec import MAX_BODY, ObjectError, check, encode
from homeport.sync.client import Credentials, ProviderClient, ProviderError
from tests.provider.conftest import BASE, World

MB = 1024 * 1024
BOMB_DECLARES = 256 * MB
"""Four times the 64 MiB limit on an object's body."""
MEMORY_BOUND = 160 * MB
"""What one hostile request may add to the process's peak (the limit, its copy, slack)."""

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="measures memory through /proc"
)


def reset_peak() -> int:
    """Reset this process's peak RSS to its current RSS; that RSS, in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def peak() -> int:
    return _status("VmHWM")


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


_BOMB: list[bytes] = []


def zstd_bomb(declared: int = BOMB_DECLARES) -> bytes:
    """A small zstd frame that declares, and really inflates to, ``declared`` zero bytes."""
    if not _BOMB:
        out = io.BytesIO()
        compressor = zstandard.ZstdCompressor(level=3, write_content_size=True)
        with compressor.stream_writer(out, size=declared, closefd=False) as writer:
            zeros = bytes(MB)
            for _ in range(declared // MB):
                writer.write(zeros)
        _BOMB.append(out.getvalue())
    return _BOMB[0]


def bomb_object() -> tuple[bytes, bytes]:
    """A public chunk whose stored payload is the bomb (under a made-up id)."""
    stored = pack_header(ObjectType.CHUNK, Flags.COMPRESSED, ()) + zstd_bomb()
    return secrets.token_bytes(32), stored


def test_a_zstd_bomb_never_inflates_past_the_limit(world: World) -> None:
    home = world.enrolled("mallory")
    oid, stored = bomb_object()
    assert len(stored) < 64 * 1024
    usage = home.request(world.client, "GET", "/tenant").json()["usage"]
    base = reset_peak()
    answer = home.upload(world.client, frame(oid, stored))
    grown = peak() - base
    assert grown < MEMORY_BOUND, f"the bomb took the provider up {grown // MB} MB"
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad-object"
    assert answer.json()["object"] == oid.hex()
    assert "limit" in answer.json()["message"]
    assert home.request(world.client, "GET", "/tenant").json()["usage"] == usage


def test_a_restoring_home_does_not_inflate_a_bomb_either() -> None:
    """What a hostile provider hands back goes through the same check on import and audit."""
    oid, stored = bomb_object()
    base = reset_peak()
    with pytest.raises(ObjectError) as raised:
        check(oid, stored, None)
    assert peak() - base < MEMORY_BOUND
    assert "limit" in str(raised.value)


# --- sites: what a publish writes ---------------------------------------------------------
def disk_bytes(root: Path, skip: tuple[str, ...] = ("repo.sqlite", "packs")) -> int:
    """What a tenant's directory takes on disk (``du``: blocks, each inode once), without its
    repository (the database and the pack files, charged by the objects' sizes)."""
    seen: set[int] = set()
    total = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(skip)]
        for name in [*dirs, *names]:
            if name.startswith(skip):
                continue
            st = os.lstat(os.path.join(folder, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def lying_file(
    monkeypatch: pytest.MonkeyPatch, name: str, chunk: bytes, times: int, size: int
) -> None:
    """Make the home's next snapshot store ``name`` as a file object listing ``chunk``
    ``times`` times while declaring ``size`` bytes: what a hostile home can send."""
    real = snapshot.store_file

    def store_file(writer: snapshot.ObjectWriter, path: Path, private: bool) -> bytes:
        if path.name != name:
            return real(writer, path, private)
        cid = writer.store(ObjectType.CHUNK, (), chunk, private)
        body = canonical({"size": size})
        return writer.store(ObjectType.FILE, (cid,) * times, body, private)

    monkeypatch.setattr(snapshot, "store_file", store_file)


def test_a_file_must_hold_the_bytes_it_declares(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = world.enrolled("mallory")
    home.write_site({"index.html": "hello", "evil.bin": "x"})
    lying_file(monkeypatch, "evil.bin", bytes(8 * MB), times=8, size=5)
    tdir = world.tenant_dir("mallory")

    answer = home.publish(world.client, home.snapshot())

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad-site"
    assert "evil.bin" in answer.json()["message"] and "5" in answer.json()["message"]
    assert disk_bytes(tdir.root) < MB, "the refused site was written"
    assert sites.kept(tdir) == {}


def test_the_quota_counts_the_site_written_on_disk(world: World) -> None:
    """16 MiB of zeros are a few kB of objects and 16 MiB on disk once materialised."""
    home = world.enrolled("mallory", quota=4 * MB)
    home.write_site({"index.html": "hello", "zeros.bin": bytes(16 * MB)})
    commit = home.snapshot()
    tdir = world.tenant_dir("mallory")

    refused = home.publish(world.client, commit)

    assert refused.status_code == 507, refused.text
    assert refused.json()["error"] == "quota-exceeded"
    assert disk_bytes(tdir.root) < MB
    assert sites.kept(tdir) == {}

    roomy = world.enrolled("alice", quota=10**9)
    roomy.write_site({"index.html": "hello", "zeros.bin": bytes(16 * MB)})
    assert roomy.publish(world.client, roomy.snapshot()).status_code == 200
    usage = roomy.request(world.client, "GET", "/tenant").json()["usage"]
    with world.tenant_dir("alice").opened() as repo:
        objects = repo.stored_bytes()
    written = disk_bytes(world.tenant_dir("alice").root)
    assert written >= 16 * MB
    assert usage - objects >= written, f"{written} bytes written, {usage - objects} charged"


def test_republishing_shares_the_files_and_charges_them_once(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site({"index.html": "v1", "zeros.bin": bytes(16 * MB), "same.bin": bytes(16 * MB)})
    assert home.publish(world.client, home.snapshot()).status_code == 200
    home.write_site({"index.html": "v2", "zeros.bin": bytes(16 * MB), "same.bin": bytes(16 * MB)})
    assert home.publish(world.client, home.snapshot()).status_code == 200
    tdir = world.tenant_dir("alice")
    usage = home.request(world.client, "GET", "/tenant").json()["usage"]
    with tdir.opened() as repo:
        objects = repo.stored_bytes()
    written = disk_bytes(tdir.root)
    assert 16 * MB <= written < 17 * MB  # one copy of the 16 MiB, in two trees, two paths
    assert written <= usage - objects < written + MB


def test_too_many_files_in_a_site_is_413_and_nothing_is_written(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sites, "MAX_FILES", 20)
    home = world.enrolled("mallory")
    home.write_site({f"p{i}.html": f"page {i}" for i in range(25)})

    answer = home.publish(world.client, home.snapshot())

    assert answer.status_code == 413, answer.text
    assert answer.json()["error"] == "too-large" and "20" in answer.json()["message"]
    assert sites.kept(world.tenant_dir("mallory")) == {}


@pytest.mark.parametrize(
    "paths",
    [
        pytest.param({"a": "x.html", "a/b": "y.html"}, id="file-and-folder"),
        pytest.param({"a/b": "x.html", "a": "y.html"}, id="folder-and-file"),
        pytest.param({"n" * 300 + ".html": "x.html"}, id="300-character-name"),
        pytest.param({"d/" + "n" * 256: "x.html"}, id="256-byte-name-in-a-folder"),
    ],
)
def test_a_site_the_filesystem_cannot_hold_is_400_and_nothing_is_written(
    world: World, paths: dict[str, str]
) -> None:
    home = world.enrolled("mallory")
    home.write_site({"x.html": "x", "y.html": "y"})
    commit = home.snapshot()
    home.push(world.client, commit)
    ids = home.files(commit)
    doc = {**home.publish_doc(commit), "files": {p: ids[f] for p, f in paths.items()}}

    answer = home.request(world.client, "POST", "/publish", doc)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad-site"
    tdir = world.tenant_dir("mallory")
    assert sites.kept(tdir) == {}
    assert disk_bytes(tdir.root) < 64 * 1024
    assert home.request(world.client, "GET", "/tenant").json()["head"] is None


# --- serving --------------------------------------------------------------------------------
def test_serving_goes_by_the_size_on_disk_and_streams(world: World) -> None:
    """A manifest whose sizes lie (a tree written before sizes were checked): serving must not
    read a 64 MiB file into memory because its manifest says 5 bytes."""
    home = world.enrolled("alice")
    home.write_site({"index.html": "hello", "big.bin": bytes(64 * MB)})
    assert home.publish(world.client, home.snapshot()).status_code == 200
    tdir = world.tenant_dir("alice")
    live = sites.live_name(tdir)
    manifest = tdir.sites / f"{live}.json"
    doc = json.loads(manifest.read_text())
    doc["files"]["big.bin"][1] = 5
    manifest.write_text(json.dumps(doc))

    base = reset_peak()
    for _ in range(3):
        with world.client.stream("GET", "/big.bin", headers={"Host": f"alice.{BASE}"}) as got:
            assert got.status_code == 200
            assert got.headers["content-length"] == str(64 * MB)
            received = sum(len(piece) for piece in got.iter_raw(MB))
        assert received == 64 * MB
    grown = peak() - base
    assert grown < 48 * MB, f"three GETs took the provider up {grown // MB} MB"


# --- CPU ------------------------------------------------------------------------------------
def cpu_bomb_pack() -> list[bytes]:
    """About 300 KB of frames: one public chunk of 64 MiB of zeros (2 KB stored), valid, sent
    again and again. Before the bound, checking it cost 13.5 s of CPU."""
    body = bytes(MAX_BODY - 1)
    stored = encode(ObjectType.CHUNK, (), body, False, None)
    oid, data = stored
    one = frame(oid, data)
    return [one] * (300_000 // len(one))


@pytest.mark.parametrize("segmented", [False, True], ids=["whole", "segmented"])
def test_a_pack_cannot_make_the_provider_inflate_without_bound(
    world: World, segmented: bool
) -> None:
    home = world.enrolled("mallory")
    frames = cpu_bomb_pack()
    client = ProviderClient(
        str(world.client.base_url), Credentials(home.did, home.key), world.client
    )

    started = time.process_time()
    if segmented:
        with pytest.raises(ProviderError) as raised:
            client.upload([b"".join(frames[i : i + 50]) for i in range(0, len(frames), 50)])
        status, code = raised.value.status, raised.value.code
    else:
        answer = home.upload(world.client, b"".join(frames))
        status, code = answer.status_code, answer.json()["error"]
    spent = time.process_time() - started

    assert (status, code) == (413, "too-large"), str(raised.value) if segmented else answer.text
    assert spent < 3.0, f"the pack cost {spent:.1f} s of CPU"
    assert home.request(world.client, "GET", "/tenant").json()["usage"] > 0  # the first kept


@pytest.mark.parametrize("kind,links", [(ObjectType.CHUNK, 1), (ObjectType.NODE, 65)])
def test_an_object_with_more_links_than_its_kind_has_is_refused(
    world: World, kind: ObjectType, links: int
) -> None:
    home = world.enrolled("mallory")
    oid, stored = encode(kind, (bytes(32),) * links, b"{}", False, None)

    answer = home.upload(world.client, frame(oid, stored))

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad-object" and "links at most" in answer.json()["message"]
    assert home.request(world.client, "GET", "/tenant").json()["usage"] == 0


# --- a hostile provider's answers to a home -------------------------------------------------
def gzip_bomb(size: int = 256 * MB) -> bytes:
    """A gzip body of about 250 KB that inflates to ``size`` zero bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MB)
    return b"".join(packer.compress(zeros) for _ in range(size // MB)) + packer.flush()


@pytest.fixture(scope="module")
def bombing_provider() -> Iterator[str]:
    """A "provider" on loopback that answers everything with a gzip bomb."""
    body = gzip_bomb()

    class Bomb(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bomb)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class Counter(io.RawIOBase):
    def __init__(self) -> None:
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.count += len(data)
        return len(data)


def test_a_home_does_not_inflate_a_hostile_providers_answers(bombing_provider: str) -> None:
    creds = Credentials(*_identity())
    with httpx.Client(timeout=30) as http_client:
        client = ProviderClient(bombing_provider, creds, http_client)
        base = reset_peak()
        with pytest.raises(Exception) as raised:
            client.tenant()
        grown = peak() - base
        assert grown < MEMORY_BOUND, f"the answer took the home up {grown // MB} MB"
        assert isinstance(raised.value, ProviderError) and raised.value.code == "bad-answer"
        assert "gzip" in str(raised.value)
        sink = Counter()
        with pytest.raises(ProviderError):
            client.download_bundle(sink)  # restoring: the bundle goes to a file
        assert sink.count < MB, f"{sink.count // MB} MB written while restoring"


def _identity() -> tuple[str, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    return did_key(key.public_key()), key


# --- work per publish -----------------------------------------------------------------------
def test_a_publish_verifies_a_bounded_number_of_commits(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits are small: a quota of uploads holds millions, and a publish reads and checks
    each one in memory. Past the bound, 413, and nothing is published."""
    monkeypatch.setattr(receive, "MAX_CHAIN", 5)
    home = world.enrolled("mallory")
    commits = []
    for i in range(8):
        home.put_record("blog", f"r{i}", True, title=f"post {i}")
        commits.append(home.snapshot())

    first = home.publish(world.client, commits[-1])

    assert first.status_code == 413, first.text
    assert first.json()["error"] == "too-large" and "5" in first.json()["message"]
    assert home.request(world.client, "GET", "/tenant").json()["head"] is None

    assert home.publish(world.client, commits[2], history=False).status_code == 200
    later = home.publish(world.client, commits[-1])
    assert later.status_code == 200, later.text  # five new commits: within the bound
    for i in range(8, 14):
        home.put_record("blog", f"r{i}", True, title=f"post {i}")
        commits.append(home.snapshot())
    refused = home.publish(world.client, commits[-1])
    assert refused.status_code == 413, refused.text
    assert home.request(world.client, "GET", "/tenant").json()["seq"] == commits[7].seq
