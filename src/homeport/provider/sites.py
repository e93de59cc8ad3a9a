"""Materialised sites: each published commit's site as a plain file tree, and the ``live``
symlink that names the one being served.

A publish writes the new tree into a fresh directory (never one being served), hard-linking the
files whose file object is unchanged since the previous tree, then replaces ``live`` with a new
symlink in one ``rename``: a reader that resolved ``live`` keeps reading one whole tree, the next
reader gets the other whole tree. Directory names carry the commit's seq and a random tag
(``sites/12-3fa9c2``) so re-publishing a seq never touches a tree a reader may be in. Each tree
has a manifest beside it (``sites/12-3fa9c2.json``): path → file id and size, and the commit's
time, which serving uses for ETag, Content-Length and Last-Modified without reading the tree.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeport.core.objects import Flags, ObjectType
from homeport.provider.tenants import TenantDir
from homeport.repo.repository import Repository

MAX_PATH = 1024


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

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "commit": self.commit,
            "created": self.created,
            "site": self.site,
            "files": {p: [i, s] for p, (i, s) in self.files.items()},
        }

    @classmethod
    def from_json(cls, name: str, doc: dict[str, Any]) -> Manifest:
        files = {str(p): (str(v[0]), int(v[1])) for p, v in doc["files"].items()}
        return cls(name, int(doc["seq"]), doc["commit"], int(doc["created"]), doc["site"], files)


def safe_path(path: str) -> bool:
    """A relative path that stays inside the site's directory."""
    if not path or len(path) > MAX_PATH or "\0" in path or "\\" in path or path.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def seq_of(name: str) -> int | None:
    head, _, _ = name.partition("-")
    return int(head) if head.isdigit() else None


def file_size(repo: Repository, file_id: bytes, path: str) -> int:
    """A public file object's size, after checking it and its chunks are public and whole."""
    try:
        kind, links, body = repo.read(file_id)
        if kind is not ObjectType.FILE:
            raise SiteError(f"{path}: object {file_id.hex()[:16]} is not a file")
        for chunk in links:
            row = repo.db.execute(
                "SELECT o.type, substr(d.data, 3, 1) FROM objects o JOIN data d ON d.n = o.n"
                " WHERE o.id = ?",
                (chunk,),
            ).fetchone()
            if row is None or row[0] != ObjectType.CHUNK:
                raise SiteError(f"{path}: chunk {chunk.hex()[:16]} is missing or not a chunk")
            if bytes(row[1])[0] & Flags.SEALED:
                raise SiteError(f"{path}: chunk {chunk.hex()[:16]} is private")
        return int(json.loads(body)["size"])
    except SiteError:
        raise
    except Exception as exc:  # ObjectError (sealed or damaged), RepositoryError, bad JSON
        raise SiteError(f"{path}: {exc}") from None


def _write_file(repo: Repository, file_id: bytes, target: Path) -> None:
    _, links, _ = repo.read(file_id)
    with open(target, "xb") as out:
        for chunk in links:
            kind, _, data = repo.read(chunk)
            if kind is not ObjectType.CHUNK:
                raise SiteError(f"object {chunk.hex()[:16]} is not a chunk")
            out.write(data)


def materialise(
    repo: Repository,
    tdir: TenantDir,
    *,
    seq: int,
    commit: str,
    created: int,
    site: str,
    files: dict[str, tuple[bytes, int]],
    previous: Manifest | None,
) -> Manifest:
    """Write ``files`` (path → file id, size) as a new tree under ``sites/``; nothing is served
    from it until ``switch``. A failure leaves no tree behind."""
    tdir.sites.mkdir(parents=True, exist_ok=True)
    name = f"{seq}-{secrets.token_hex(4)}"
    partial = tdir.sites / f".{name}.part"
    linked_from: dict[str, Path] = {}
    if previous is not None:
        old_root = tdir.sites / previous.name
        linked_from = {fid: old_root / p for p, (fid, _) in previous.files.items()}
    try:
        partial.mkdir()
        for path, (file_id, _) in sorted(files.items()):
            target = partial / path
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                source = linked_from.get(file_id.hex())
                if source is not None:
                    try:
                        os.link(source, target)
                        continue
                    except OSError:
                        pass  # gone or another filesystem: write it
                _write_file(repo, file_id, target)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                raise SiteError(
                    f"{path}: a file and a folder of the site have the same name"
                ) from None
        manifest = Manifest(
            name, seq, commit, created, site, {p: (i.hex(), s) for p, (i, s) in files.items()}
        )
        meta = tdir.sites / f".{name}.json.part"
        meta.write_text(json.dumps(manifest.to_json()))
        os.sync()  # the tree and its manifest reach the disk before anything names them
        os.replace(meta, tdir.sites / f"{name}.json")
        os.rename(partial, tdir.sites / name)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        (tdir.sites / f"{name}.json").unlink(missing_ok=True)
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
