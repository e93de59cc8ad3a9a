"""The signed repository through the real CLI, on a home written through the real HTTP API:
snapshot, log, verify, export; wipe and import with the phrase (byte-identical API answers and
attachments, same identity); fast-forward a second home with ``export --since``; and bad input
that must be refused with one clear line, a non-zero exit and nothing written."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from homeport.core.canonical import canonical

from .conftest import ADMIN, spawn
from .repo_support import cli, dump, fill, head, init, ok, tree_state

ENV = {"HOMEPORT_ADMIN_PASSWORD": ADMIN[1]}


@dataclass
class Library:
    data: Path
    did: str
    phrase: str
    full: Path
    first: Path
    since1: Path
    dump1: dict[str, bytes]
    dump2: dict[str, bytes]
    head1: dict[str, object]
    head2: dict[str, object]
    other: Path
    other_phrase: str


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("repo-cli")
    data = root / "home"
    ident = init(data)
    server = spawn(data, ENV)
    try:
        with server.client() as client:
            fill(client)
            dump1 = dump(client)
            snap = json.loads(ok("snapshot", "--json", data=data))  # while the home serves
            assert snap["commit"] and snap["seq"] == 1, snap
            head1 = head(data)
            ok("export", str(root / "first.bundle"), data=data)
            client.put(
                "/buckets/private/collections/notes/records/n000",
                json={"data": {"title": "edited"}},
            ).raise_for_status()
            client.delete("/buckets/public/collections/posts/records/p001").raise_for_status()
            client.put(
                "/buckets/public/collections/posts/records/new", json={"data": {"x": 1}}
            ).raise_for_status()
            dump2 = dump(client)
            assert dump2 != dump1
            ok("snapshot", data=data)
            head2 = head(data)
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.output()
    ok("export", str(root / "since1.bundle"), "--since", "1", data=data)
    ok("export", str(root / "full.bundle"), data=data)
    other = root / "other"
    other_phrase = init(other)["phrase"]
    ok("snapshot", data=other)
    assert head1 and head2
    yield Library(
        data,
        ident["did"],
        ident["phrase"],
        root / "full.bundle",
        root / "first.bundle",
        root / "since1.bundle",
        dump1,
        dump2,
        head1,
        head2,
        other,
        other_phrase,
    )


def test_log_lists_commits_newest_first_and_verify_passes(lib: Library) -> None:
    rows = json.loads(ok("log", "--json", data=lib.data))
    assert [r["seq"] for r in rows] == [2, 1]
    assert rows[0] == lib.head2 and rows[1] == lib.head1
    assert all(r["objects"] > 0 and r["bytes"] > 0 for r in rows)
    text = ok("log", data=lib.data)
    assert str(lib.head2["commit"])[:16] in text.splitlines()[0]
    report = json.loads(ok("verify", "--json", data=lib.data))
    assert report["ok"] and report["commits"] == 2 and report["problems"] == []
    for bundle in (lib.full, lib.first):
        checked = json.loads(ok("verify", str(bundle), "--json", data=lib.data))
        assert checked["ok"] and checked["objects"] > 0
    # without the keys (another home), the private objects are checked for shape only
    assert json.loads(ok("verify", str(lib.full), "--json", data=lib.other))["ok"]
    checked = json.loads(ok("verify", str(lib.since1), "--json", data=lib.data))
    assert checked["ok"] and checked["commits"] == 1


@dataclass
class Restored:
    home: Path
    dump: dict[str, bytes]
    again: bytes


@pytest.fixture(scope="module")
def restored(lib: Library, tmp_path_factory: pytest.TempPathFactory) -> Restored:
    """The home wiped and imported back from its full bundle with the phrase, then served."""
    root = tmp_path_factory.mktemp("restored")
    home = root / "home"
    shutil.copytree(lib.data, home)
    shutil.rmtree(home)  # the device is lost
    out = json.loads(ok("import", str(lib.full), "--json", data=home, stdin=lib.phrase))
    assert out["new_home"] and out["head_seq"] == 2 and out["identity"] == lib.did
    server = spawn(home, ENV)
    try:
        with server.client() as client:
            answers = dump(client)
    finally:
        server.stop()
    ok("export", str(root / "again.bundle"), data=home)
    return Restored(home, answers, (root / "again.bundle").read_bytes())


def as_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return body  # an attachment's bytes


def test_wipe_and_import_gives_back_the_same_home(lib: Library, restored: Restored) -> None:
    home = restored.home
    assert ok("identity", "show", data=home).split()[1] == lib.did
    assert head(home) == lib.head2
    assert json.loads(ok("verify", "--json", data=home))["ok"]
    # nothing is pending: a snapshot right after the import changes nothing
    assert json.loads(ok("snapshot", "--json", data=home))["commit"] is None
    assert sorted(restored.dump) == sorted(lib.dump2)
    for path, body in lib.dump2.items():
        # same values, types, list orders and attachment bytes (object key order: see below)
        assert as_json(restored.dump[path]) == as_json(body), path
        if path.endswith("#file"):
            assert restored.dump[path] == body, path
    photo = "/buckets/public/collections/posts/records/photo#file"
    scan = "/buckets/private/collections/notes/records/scan#file"
    assert len(restored.dump[photo]) == 400 * 1024 and len(restored.dump[scan]) == 150 * 1024
    # the restored home exports the same bundle, byte for byte
    assert restored.again == lib.full.read_bytes()


def test_restored_api_answers_are_byte_identical(lib: Library, restored: Restored) -> None:
    assert restored.dump == lib.dump2


def test_export_since_fast_forwards_a_home_that_imported_the_first_bundle(
    lib: Library, tmp_path: Path
) -> None:
    second = tmp_path / "second"
    ok("import", str(lib.first), data=second, stdin=lib.phrase)
    assert head(second) == lib.head1
    out = json.loads(ok("import", str(lib.since1), "--json", data=second))
    assert not out["new_home"] and out["new_commits"] == 1 and out["head_seq"] == 2
    assert head(second) == lib.head2
    assert json.loads(ok("verify", "--json", data=second))["ok"]
    again = json.loads(ok("import", str(lib.since1), "--json", data=second))
    assert again["new_commits"] == 0
    ok("export", str(tmp_path / "second.bundle"), data=second)
    assert (tmp_path / "second.bundle").read_bytes() == lib.full.read_bytes()
    server = spawn(second, ENV)
    try:
        with server.client() as client:
            answers = dump(client)
    finally:
        server.stop()
    assert sorted(answers) == sorted(lib.dump2)
    for path, body in lib.dump2.items():
        assert as_json(answers[path]) == as_json(body), (path, answers[path][:600], body[:600])


def rewrite_format(bundle: bytes, version: int) -> bytes:
    magic = bundle[:16]
    (length,) = struct.unpack_from(">I", bundle, 16)
    header = json.loads(bundle[20 : 20 + length])
    header["format"] = version
    raw = canonical(header)
    return magic + struct.pack(">I", len(raw)) + raw + bundle[20 + length :]


BAD = {
    "wrong-phrase": ("phrase", "other"),
    "malformed-phrase": ("phrase", "garbage"),
    "another-identity": ("belongs to", None),
    "truncated": ("truncated", "right"),
    "unknown-format": ("format 2", "right"),
    "not-a-bundle": ("not a Homeport bundle", "right"),
    "since-into-empty": ("full bundle", "right"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_with_one_line_and_nothing_written(
    lib: Library, tmp_path: Path, case: str
) -> None:
    expected, phrase_kind = BAD[case]
    bundle = tmp_path / "input.bundle"
    full = lib.full.read_bytes()
    content = {
        "truncated": full[: len(full) * 2 // 3],
        "unknown-format": rewrite_format(full, 2),
        "not-a-bundle": b"just some notes\n" * 100,
    }.get(case, lib.since1.read_bytes() if case == "since-into-empty" else full)
    bundle.write_bytes(content)
    if phrase_kind is None:  # an existing home of another identity
        target = tmp_path / "other"
        shutil.copytree(lib.other, target)
        stdin = None
    else:
        target = tmp_path / "new-home"
        stdin = {"other": lib.other_phrase, "garbage": "not a phrase at all", "right": lib.phrase}[
            phrase_kind
        ]
    before = tree_state(target)
    run = cli("import", str(bundle), data=target, stdin=stdin)
    assert run.code != 0
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("homeport: "), run.err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in run.err + run.out
    assert tree_state(target) == before
    if phrase_kind is not None:
        assert not target.exists(), list(target.rglob("*"))
    # the same file is refused by verify as well (except the valid bundles, imported wrongly)
    if case in ("truncated", "unknown-format", "not-a-bundle"):
        checked = cli("verify", str(bundle), data=lib.data)
        assert checked.code != 0 and checked.err.startswith("homeport: ")
