"""Helpers for the repository's end-to-end tests: the ``homeport`` CLI as a subprocess, a home
filled through the real HTTP API, and byte-exact dumps of what the API returns."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .conftest import ADMIN, FAST_ENV

CLI_TIMEOUT = 120


@dataclass
class Run:
    code: int
    out: str
    err: str


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(FAST_ENV)
    return env


def cli(*args: str, data: Path, stdin: str | None = None, env: dict[str, str] | None = None) -> Run:
    """``homeport ARGS --data DATA`` (``env``: the whole environment, default
    :func:`cli_env`); never raises on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-m", "homeport", *args, "--data", str(data)],
        input=(stdin or "").encode(),
        capture_output=True,
        timeout=CLI_TIMEOUT,
        env=env if env is not None else cli_env(),
        check=False,
    )
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


def ok(*args: str, data: Path, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    run = cli(*args, data=data, stdin=stdin, env=env)
    assert run.code == 0, f"homeport {' '.join(args)} exited {run.code}:\n{run.err}"
    return run.out


def init(data: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    doc = json.loads(ok("init", "--json", data=data, env=env))
    assert set(doc) >= {"did", "phrase"}
    return {k: str(v) for k, v in doc.items()}


def head(data: Path) -> dict[str, object] | None:
    rows = json.loads(ok("log", "--json", data=data))
    return rows[0] if rows else None


def did_of(data: Path) -> str:
    out = ok("identity", "show", data=data)
    return out.split("Identity:", 1)[1].split()[0]


def check(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 300, (response.request.url, response.text)
    return response


PHOTO = random.Random(11).randbytes(400 * 1024)
SCAN = random.Random(12).randbytes(150 * 1024)


def fill(client: httpx.Client, records: int = 20) -> None:
    """A private bucket (notes, a group, an attachment), and a public one (posts, a photo)."""
    check(client.put("/buckets/private", json={"data": {"title": "mine"}}))
    check(client.put("/buckets/private/collections/notes", json={"data": {}}))
    check(
        client.put("/buckets/private/groups/friends", json={"data": {"members": ["account:admin"]}})
    )
    for i in range(records):
        check(
            client.put(
                f"/buckets/private/collections/notes/records/n{i:03d}",
                json={"data": {"title": f"note {i}", "body": "é ✓ " * i, "n": i}},
            )
        )
    check(
        client.put(
            "/buckets/public",
            json={"data": {"title": "site"}, "permissions": {"read": ["system.Everyone"]}},
        )
    )
    check(client.put("/buckets/public/collections/posts", json={"data": {}}))
    for i in range(records // 2):
        check(
            client.put(
                f"/buckets/public/collections/posts/records/p{i:03d}",
                json={"data": {"title": f"post {i}", "tags": ["a", "b"][: i % 3]}},
            )
        )
    attach(client, "/buckets/public/collections/posts/records/photo", "photo.png", PHOTO)
    attach(client, "/buckets/private/collections/notes/records/scan", "scan.png", SCAN)


def attach(client: httpx.Client, record: str, name: str, payload: bytes) -> None:
    check(
        client.post(
            f"{record}/attachment",
            files={"attachment": (name, payload, "image/png")},
            data={"data": json.dumps({"title": name})},
        )
    )


def dump(client: httpx.Client) -> dict[str, bytes]:
    """Every listing and object the API returns, as raw bytes, plus attachment files
    (by record)."""
    out: dict[str, bytes] = {}

    def get(path: str) -> list[dict[str, object]]:
        response = check(client.get(path))
        out[path] = response.content
        data = response.json()["data"]
        return data if isinstance(data, list) else [data]

    for bucket in get("/buckets"):
        b = f"/buckets/{bucket['id']}"
        get(b)
        for group in get(f"{b}/groups"):
            get(f"{b}/groups/{group['id']}")
        for collection in get(f"{b}/collections"):
            c = f"{b}/collections/{collection['id']}"
            get(c)
            for record in get(f"{c}/records"):
                r = f"{c}/records/{record['id']}"
                (data,) = get(r)
                attachment = data.get("attachment")
                if isinstance(attachment, dict):
                    path = urlsplit(str(attachment["location"])).path
                    origin = f"{client.base_url.scheme}://{client.base_url.netloc.decode()}"
                    out[f"{r}#file"] = check(client.get(origin + path)).content
    return out


def tree_state(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its SHA-256 (to show that nothing was written)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


__all__ = ["ADMIN", "Run", "cli", "dump", "fill", "head", "init", "ok", "tree_state"]
