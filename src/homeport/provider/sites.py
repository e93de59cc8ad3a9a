"""Materialised sites: each published commit's site as a plain file tree, and the ``live``
symlink that names the one being served.

A publish writes the new tree into a fresh directory (never one being served), hard-linking the
files whose file object is unchanged since the previous tree, then replaces ``live`` with a new
symlink in one ``rename``: a reader that resolved ``live`` keeps reading one whole tree, the next
reader gets the other whole tree. Directory names carry the commit's seq and a random tag
(``sites/12-3fa9c2``) so re-publishing a seq never touches a tree a reader may be in. Each tree
has a manifest beside it (``sites/12-3fa9c2.json``): path → file id and size, and the commit's
time, which serving uses for ETag and Last-Modified without reading the tree.

Each file's bytes are written once per tenant, to ``files/<file id>``, and every tree that holds
the file (under any number of paths) is a hard link to it: what a tenant's sites take on disk is
what ``files/`` holds plus each tree's directories and entries, which is what the quota charges
(``disk_usage``). A file is written only after its chunks' real sizes were added up and found to
be the size it declares, so the charge is known before anything is written.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeport.core.objects import HEADER, Flags, ObjectType
from homeport.provider.tenants import TenantDir
from homeport.repo.codec import inflated_size
from homeport.repo.repository import Repository

MAX_PATH = 1024
MAX_NAME = 255
"""Bytes in one path segment: what a filesystem takes in a name (longer failed with 503)."""
MAX_FILES = 50_000
"""Paths in one site: each is a directory entry in every kept tree."""
BLOCK = 4096
"""Disk is charged in blocks: a 5-byte file takes one."""
ENTRY_COST = 512
"""What one path of one tree is charged beyond its file's bytes: the directory entry and its
line in the manifest."""
FRAME_HEAD = 18
"""The longest zstd frame header: where a compressed chunk says how large it inflates."""


class SiteError(ValueError):
    """A site that cannot be materialised as given; the message names the file."""


@dataclass(frozen=True)
class Manifest:
    name: str
    """The directory's name under ``sites/`` (``<seq>-<tag>``)."""
    seq: int
    commit: str
    created: int
    site: str
    files: dict[str, tuple[str, int]]
    """Path inside the site → (file object id, hex; size in bytes)."""
    cost: int = 0
    """What the tree takes on disk beside the shared ``files/``: directories, entries, copies."""

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "commit": self.commit,
            "created": self.created,
            "site": self.site,
            "files": {p: [i, s] for p, (i, s) in self.files.items()},
            "cost": self.cost,
        }

    @classmethod
    def from_json(cls, name: str, doc: dict[str, Any]) -> Manifest:
        files = {str(p): (str(v[0]), int(v[1])) for p, v in doc["files"].items()}
        if "cost" in doc:
            cost = int(doc["cost"])
        else:  # a tree written before files/: its files are its own
            cost = sum(blocks(s) for _, s in files.values()) + tree_cost(files)
        seq, created = int(doc["seq"]), int(doc["created"])
        return cls(name, seq, doc["commit"], created, doc["site"], files, cost)


def blocks(size: int) -> int:
    """``size`` bytes rounded up to whole blocks."""
    return -(-size // BLOCK) * BLOCK


def tree_cost(paths: Iterable[str]) -> int:
    """A tree's directories and entries: what it takes beside its files' bytes."""
    count, folders = 0, set()
    for path in paths:
        count += 1
        head, _, _ = path.rpartition("/")
        while head and head not in folders:
            folders.add(head)
            head, _, _ = head.rpartition("/")
    return count * ENTRY_COST + (len(folders) + 1) * BLOCK


def safe_path(path: str) -> bool:
    """A relative path that stays inside the site's directory, each name short enough for a
    filesystem."""
    if not path or len(path) > MAX_PATH or "\0" in path or "\\" in path or path.startswith("/"):
        return False
    return all(
        part not in ("", ".", "..") and len(part.encode()) <= MAX_NAME for part in path.split("/")
    )


def check_layout(paths: Iterable[str]) -> None:
    """No path is also a folder of another (``a`` and ``a/b``): refused before writing."""
    files = set(paths)
    for path in files:
        head, _, _ = path.rpartition("/")
        while head:
            if head in files:
                raise SiteError(f"{head}: a file and a folder of the site have the same name")
            head, _, _ = head.rpartition("/")


def seq_of(name: str) -> int | None:
    head, _, _ = name.partition("-")
    return int(head) if head.isdigit() else None


def file_size(
    repo: Repository, file_id: bytes, path: str, chunks: dict[bytes, int] | None = None
) -> int:
    """A public file object's size, after checking it and its chunks are public and whole and
    that the chunks add up to the size it declares (a file claiming 5 bytes while listing a
    64 MiB chunk 8 times wrote 512 MiB). ``chunks`` remembers chunk sizes across files."""
    sizes = {} if chunks is None else chunks
    try:
        kind, links, body = repo.read(file_id)
        if kind is not ObjectType.FILE:
            raise SiteError(f"{path}: object {file_id.hex()[:16]} is not a file")
        total = 0
        for chunk in links:
            size = sizes.get(chunk)
            if size is None:
                size = sizes[chunk] = _chunk_size(repo, chunk, path)
            total += size
        declared = json.loads(body)["size"]
        if not isinstance(declared, int) or declared != total:
            raise SiteError(
                f"{path}: the file declares {declared!r} bytes and its chunks hold {total}"
            )
        return total
    except SiteError:
        raise
    except Exception as exc:  # ObjectError (sealed or damaged), RepositoryError, bad JSON
        raise SiteError(f"{path}: {exc}") from None


def _chunk_size(repo: Repository, chunk: bytes, path: str) -> int:
    """A public chunk's body size, from its stored size or its zstd frame's header (both were
    checked when it arrived), without reading its bytes."""
    row = repo.peek(chunk, HEADER.size + FRAME_HEAD)
    name = chunk.hex()[:16]
    if row is None or row[0] != ObjectType.CHUNK:
        raise SiteError(f"{path}: chunk {name} is missing or not a chunk")
    _, stored, start = row
    flags, links = start[2], int.from_bytes(start[4:8], "big")
    if flags & Flags.SEALED:
        raise SiteError(f"{path}: chunk {name} is private")
    if links:
        raise SiteError(f"{path}: chunk {name} has links")
    if not flags & Flags.COMPRESSED:
        return stored - HEADER.size
    size = inflated_size(start[HEADER.size :])
    if size < 0:  # a frame that does not say: inflate it (bounded by the codec)
        size = len(repo.read(chunk)[2])
    return size


def _write_file(repo: Repository, file_id: bytes, size: int, target: Path) -> None:
    """The file's chunks into ``target`` (a new name), never more than ``size`` bytes."""
    _, links, _ = repo.read(file_id)
    written = 0
    with open(target, "xb") as out:
        for chunk in links:
            kind, _, data = repo.read(chunk)
            if kind is not ObjectType.CHUNK:
                raise SiteError(f"object {chunk.hex()[:16]} is not a chunk")
            written += len(data)
            if written > size:
                raise SiteError(f"file {file_id.hex()[:16]} holds more than its {size} bytes")
            out.write(data)


def new_bytes(tdir: TenantDir, files: dict[str, tuple[bytes, int]]) -> int:
    """What writing ``files`` as a new tree adds on disk: the files not in ``files/`` yet and
    the tree's directories and entries."""
    fresh = {fid: size for fid, size in files.values() if not (tdir.files / fid.hex()).exists()}
    return sum(blocks(s) for s in fresh.values()) + tree_cost(files)


def disk_usage(tdir: TenantDir) -> int:
    """What the tenant's sites take: ``files/``, and each tree's cost and manifest."""
    total = 0
    for folder in (tdir.files, tdir.sites):
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        total += BLOCK  # the folder itself
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                continue  # a tree: counted through its manifest's cost
            total += blocks(entry.stat(follow_symlinks=False).st_size)
            if folder == tdir.sites and entry.name.endswith(".json"):
                total += _cost(entry.path)
    return total


_COSTS: dict[str, int] = {}


def _cost(manifest: str) -> int:
    """A tree's cost from its manifest, remembered (a manifest never changes)."""
    found = _COSTS.get(manifest)
    if found is None:
        try:
            with open(manifest, "rb") as f:
                doc = json.load(f)
            found = Manifest.from_json("", doc).cost
        except (OSError, ValueError, KeyError, TypeError):
            return 0
        if len(_COSTS) > 100_000:
            _COSTS.clear()
        _COSTS[manifest] = found
    return found


def materialise(
    repo: Repository,
    tdir: TenantDir,
    *,
    seq: int,
    commit: str,
    created: int,
    site: str,
    files: dict[str, tuple[bytes, int]],
) -> Manifest:
    """Write ``files`` (path → file id, checked size) as a new tree under ``sites/``, each
    file's bytes once in ``files/``; nothing is served from it until ``switch``. A failure
    leaves no tree behind, and no file that nothing links."""
    tdir.sites.mkdir(parents=True, exist_ok=True)
    tdir.files.mkdir(exist_ok=True)
    name = f"{seq}-{secrets.token_hex(4)}"
    partial = tdir.sites / f".{name}.part"
    created_files: list[Path] = []
    copies = 0
    try:
        partial.mkdir()
        for path, (file_id, size) in sorted(files.items()):
            target = partial / path
            source = tdir.files / file_id.hex()
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if not source.exists():
                    writing = tdir.files / f".{file_id.hex()}.{secrets.token_hex(4)}"
                    created_files.append(writing)
                    _write_file(repo, file_id, size, writing)
                    os.rename(writing, source)
                    created_files[-1] = source
                try:
                    os.link(source, target)
                except OSError:  # too many links to one file: a copy, charged to this tree
                    shutil.copyfile(source, target)
                    copies += blocks(size)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                raise SiteError(
                    f"{path}: a file and a folder of the site have the same name"
                ) from None
        manifest = Manifest(
            name,
            seq,
            commit,
            created,
            site,
            {p: (i.hex(), s) for p, (i, s) in files.items()},
            tree_cost(files) + copies,
        )
        meta = tdir.sites / f".{name}.json.part"
        meta.write_text(json.dumps(manifest.to_json()))
        os.sync()  # the tree and its manifest reach the disk before anything names them
        os.replace(meta, tdir.sites / f"{name}.json")
        os.rename(partial, tdir.sites / name)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        (tdir.sites / f"{name}.json").unlink(missing_ok=True)
        for leftover in created_files:
            leftover.unlink(missing_ok=True)
        raise
    return manifest


def switch(tdir: TenantDir, name: str) -> None:
    """Point ``live`` at ``sites/<name>`` in one rename."""
    temporary = tdir.root / f".live-{secrets.token_hex(4)}"
    os.symlink(f"sites/{name}", temporary)
    os.replace(temporary, tdir.live)


def live_name(tdir: TenantDir) -> str | None:
    try:
        return os.readlink(os.path.join(tdir.root, "live")).removeprefix("sites/")
    except OSError:
        return None


def kept(tdir: TenantDir) -> dict[int, str]:
    """seq → the directory of its newest materialised tree (the live one for its seq)."""
    live = live_name(tdir)
    found: dict[int, tuple[bool, float, str]] = {}
    try:
        entries = list(os.scandir(tdir.sites))
    except FileNotFoundError:
        return {}
    for entry in entries:
        if not entry.name.endswith(".json") or entry.name.startswith("."):
            continue
        name = entry.name.removesuffix(".json")
        seq = seq_of(name)
        if seq is None:
            continue
        rank = (name == live, entry.stat().st_mtime, name)
        if seq not in found or rank > found[seq]:
            found[seq] = rank
    return {seq: rank[2] for seq, rank in sorted(found.items())}


def remove(tdir: TenantDir, name: str) -> None:
    """Drop one tree that nothing names (a publish that failed after writing it)."""
    (tdir.sites / f"{name}.json").unlink(missing_ok=True)
    shutil.rmtree(tdir.sites / name, ignore_errors=True)


def prune(tdir: TenantDir, keep: int) -> None:
    """Remove trees beyond the newest ``keep`` seqs (never the live one), and leftovers."""
    live = live_name(tdir)
    trees = kept(tdir)
    wanted = {trees[s] for s in sorted(trees)[-max(keep, 1) :]}
    if live:
        wanted.add(live)
    for entry in list(os.scandir(tdir.sites)):
        name = entry.name.removesuffix(".json")
        if name.startswith("."):
            continue  # a publish in progress owns it
        if name not in wanted:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                Path(entry.path).unlink(missing_ok=True)
    collect(tdir)


def collect(tdir: TenantDir) -> None:
    """Drop the files of ``files/`` that no tree links any more (a link count of one), and
    leftovers of writes that were cut."""
    try:
        entries = list(os.scandir(tdir.files))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.stat(follow_symlinks=False).st_nlink <= 1:
            Path(entry.path).unlink(missing_ok=True)


class ManifestCache:
    """Manifests by tree: immutable once written, so they can be kept as long as wanted."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[tuple[Path, str], Manifest] = OrderedDict()
        self._size = size

    def get(self, tdir: TenantDir, name: str) -> Manifest | None:
        key = (tdir.root, name)
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        try:
            doc = json.loads((tdir.sites / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None
        manifest = Manifest.from_json(name, doc)
        self._items[key] = manifest
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return manifest
