"""A small home for repository tests: an identity in a data dir, an in-memory store, a blob
folder and the repository, with helpers to fill the store and take snapshots."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeport.core.objects import Flags, read_header
from homeport.repo.bundle import export_bundle, import_bundle
from homeport.repo.codec import RepoKeys
from homeport.repo.repository import Repository
from homeport.repo.snapshot import Signer, SnapshotResult, take_snapshot
from homeport.services import identity as ids
from homeport.services.repository import repo_keys, signer
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore

EVERYONE = "system.Everyone"


@dataclass
class RepoHome:
    data: Path
    store: MemoryRecordStore
    blobs: FsBlobStore
    repo: Repository
    signer: Signer
    keys: RepoKeys
    identity: dict[str, Any]

    def run(self, coro: Any) -> Any:
        return asyncio.run(coro)

    def snapshot(self) -> SnapshotResult:
        result: SnapshotResult = asyncio.run(
            take_snapshot(self.store, self.blobs, self.repo, self.signer)
        )
        return result

    def put(self, name: str, parent: str, obj: dict[str, Any]) -> dict[str, Any]:
        oid = obj["id"]

        async def go() -> dict[str, Any]:
            return dict(await self.store.update(name, parent, oid, obj))

        return dict(asyncio.run(go()))

    def delete(self, name: str, parent: str, oid: str) -> None:
        asyncio.run(self.store.delete(name, parent, oid))

    def set_permissions(self, uri: str, perms: dict[str, set[str]]) -> None:
        asyncio.run(self.store.set_permissions(uri, perms))

    def blob(self, payload: bytes) -> str:
        return self.blobs.put_file(io.BytesIO(payload))

    def attach(self, uri_parent: str, rid: str, payload: bytes, **data: Any) -> str:
        digest = self.blob(payload)
        attachment = {"hash": digest, "location": f"{digest}.bin", "size": len(payload)}
        self.put("record", uri_parent, {"id": rid, "attachment": attachment, **data})
        return digest

    def entries(self) -> dict[str, tuple[bytes, bool]]:
        rows = self.repo.db.execute("SELECT key, id, private FROM entries").fetchall()
        return {str(k): (bytes(i), bool(p)) for k, i, p in rows}

    def sealed(self, oid: bytes) -> bool:
        return bool(read_header(self.repo.raw(oid)).flags & Flags.SEALED)

    def object_count(self) -> int:
        return int(self.repo.db.execute("SELECT count(*) FROM objects").fetchone()[0])

    def export(self, since: int = 0) -> bytes:
        out = io.BytesIO()
        export_bundle(self.repo, self.identity, out, since)
        return out.getvalue()

    def close(self) -> None:
        self.repo.close()


def make_home(root: Path) -> RepoHome:
    data = root / "data"
    data.mkdir(parents=True)
    ids.create(data)
    store = MemoryRecordStore()
    asyncio.run(store.initialize())
    keys = repo_keys(data)
    return RepoHome(
        data=data,
        store=store,
        blobs=FsBlobStore(data / "blobs"),
        repo=Repository.open(data, keys),
        signer=signer(data),
        keys=keys,
        identity=ids.document(ids.load(data)),
    )


def import_into(path: Path, bundle: bytes, keys: RepoKeys, did: str) -> Repository:
    """A fresh repository at ``path`` holding ``bundle`` (raises BundleError)."""
    repo = Repository(path, keys)
    import_bundle(repo, io.BytesIO(bundle), keys, None, did)
    return repo
