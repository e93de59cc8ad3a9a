"""Keeping a backup copy of a provider's tenants that opted in (``provider/mirror.py``).

``homeport provider mirror URL --token …`` asks the provider which tenants opted in, and for
each whose head moved since the last run fetches its bundle, checks it (every frame, the
identity log, the chain of commits, every public object's hash; private ones by shape, since a
mirror has no tenant's keys) and only then replaces the copy it had, so a cut or a bad answer
never costs the copy kept before. ``<dir>/<name>.bundle`` is then what the tenant restores from
with the phrase (``homeport import``), and ``<dir>/mirror.json`` says what is held.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from homeport.repo.bundle import BundleError
from homeport.repo.codec import ObjectError
from homeport.repo.repository import RepositoryError
from homeport.services import repository as repo_service
from homeport.sync.client import API, normalise_url
from homeport.sync.providers import HttpFactory, ProvidersError, default_http

STATE_FILE = "mirror.json"


@dataclass
class Mirrored:
    name: str
    did: str
    seq: int | None
    fetched: bool
    error: str | None = None


def _get(client: httpx.Client, url: str, token: str) -> httpx.Response:
    try:
        answer = client.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise ProvidersError(f"cannot reach {url} ({exc})") from None
    if answer.status_code >= 400:
        try:
            message = str(answer.json().get("message"))
        except ValueError:
            message = f"HTTP {answer.status_code}"
        raise ProvidersError(f"{url}: {message}")
    return answer


def run(url: str, token: str, into: Path, http: HttpFactory = default_http) -> list[Mirrored]:
    """Bring ``into`` up to date with every tenant that opted in at ``url``."""
    base = normalise_url(url) + API
    into.mkdir(parents=True, exist_ok=True)
    state_path = into / STATE_FILE
    state: dict[str, Any] = json.loads(state_path.read_text("utf-8")) if state_path.exists() else {}
    done: list[Mirrored] = []
    with http() as client:
        listed = _get(client, f"{base}/mirror/tenants", token).json().get("tenants", [])
        for row in listed:
            name, did, head = str(row["name"]), str(row["did"]), row.get("head")
            held = state.get(name, {})
            if head is None or (held.get("head") == head and (into / f"{name}.bundle").exists()):
                done.append(Mirrored(name, did, held.get("seq"), False))
                continue
            try:
                _fetch(client, f"{base}/mirror/tenants/{name}/bundle", token, into, name)
            except (ProvidersError, BundleError, ObjectError, RepositoryError, OSError) as exc:
                done.append(Mirrored(name, did, held.get("seq"), False, str(exc)))
                continue
            state[name] = {
                "did": did,
                "head": head,
                "seq": row.get("seq"),
                "fetched": int(time.time() * 1000),
            }
            done.append(Mirrored(name, did, row.get("seq"), True))
    tmp = state_path.with_name(f".{STATE_FILE}.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", "utf-8")
    os.replace(tmp, state_path)
    return done


def _fetch(client: httpx.Client, url: str, token: str, into: Path, name: str) -> None:
    """Download one bundle beside the kept copy, check it, then put it in its place."""
    fd, part = tempfile.mkstemp(dir=into, prefix=f".{name}.", suffix=".part")
    path = Path(part)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            client.stream(
                "GET",
                url,
                headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"},
            ) as answer,
        ):
            if answer.status_code >= 400:
                raise ProvidersError(f"{url}: HTTP {answer.status_code}")
            if answer.headers.get("content-encoding", "identity") != "identity":
                raise ProvidersError(f"{url}: a compressed answer, refused unread")
            for chunk in answer.iter_raw(1 << 20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        with tempfile.TemporaryDirectory(dir=into, prefix=".check-") as scratch:
            repo_service.verify_file(None, path, Path(scratch))
        os.replace(path, into / f"{name}.bundle")
    except httpx.HTTPError as exc:
        raise ProvidersError(f"cannot fetch {url} ({exc})") from None
    finally:
        path.unlink(missing_ok=True)
