"""One home, two providers, all over loopback through the real CLI and HTTP: enroll, publish,
read the site from both by Host header, publish an edit (bytes about the size of the change),
audit and repair a damaged copy, restore a new home from the second provider with the phrase
alone (its export equals the home's, byte for byte), leave the first provider (410)."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mf2py
import pytest

from .provider_support import BASE, Provider


def homeport(*args: str, data: Path, stdin: str | None = None, check: bool = True) -> str:
    env = {**os.environ, "HOMEPORT_OPERATOR_PASSWORD": "operator-pw"}
    done = subprocess.run(
        [sys.executable, "-m", "homeport", *args, "--data", str(data)],
        input=stdin.encode() if stdin is not None else None,
        capture_output=True,
        timeout=120,
        env=env,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"homeport {' '.join(args)} failed:\n{done.stderr.decode()}")
    return done.stdout.decode() if check else done.stderr.decode()


@pytest.fixture
def providers(tmp_path: Path) -> Iterator[list[Provider]]:
    started: list[Provider] = []
    try:
        for n in (1, 2):
            started.append(Provider(tmp_path / f"provider{n}", tmp_path / f"provider{n}.log"))
            started[-1].start()
        yield started
    finally:
        for provider in started:
            provider.stop()


def export_bytes(data: Path, target: Path) -> bytes:
    homeport("export", str(target), data=data)
    return target.read_bytes()


def flip_one_object(provider_data: Path) -> str:
    """Damage one public chunk of the tenant's copy at the provider; its id."""
    (repo,) = list(provider_data.rglob("repo.sqlite"))
    db = sqlite3.connect(repo)
    try:
        oid, pack, pos, size = db.execute(
            "SELECT o.id, p.name, o.pos, o.size FROM objects o JOIN packs p ON p.n = o.pack"
            " WHERE o.type = 1 ORDER BY o.size DESC LIMIT 1"
        ).fetchone()
    finally:
        db.close()
    with open(repo.parent / "packs" / pack, "r+b") as f:
        f.seek(pos + size - 1)
        last = f.read(1)
        f.seek(pos + size - 1)
        f.write(bytes([last[0] ^ 0xFF]))
    return bytes(oid).hex()[:16]


@pytest.mark.timeout(300)  # two providers, a home, a restore: about 121 s at load 10
def test_publish_to_two_providers_restore_and_leave(
    tmp_path: Path, providers: list[Provider]
) -> None:
    home = tmp_path / "home"
    phrase = json.loads(homeport("init", "--json", data=home))["phrase"]
    article = tmp_path / "hello.md"
    article.write_text("---\ntitle: Hello from home\ntags: [intro]\n---\n\nFirst post.\n")
    homeport("add", "article", str(article), data=home)
    homeport("add", "note", "A note only I can see", "--private", data=home)
    photo = tmp_path / "photo.jpg"
    from PIL import Image

    noise = Image.frombytes("RGB", (800, 600), random.Random(7).randbytes(800 * 600 * 3))
    noise.save(photo, "JPEG", quality=90)  # incompressible: the first publish is mostly this
    homeport(
        "add", "note", "A photo note", "--photo", str(photo), "--alt", "Coloured noise", data=home
    )

    local = tmp_path / "local.md"
    local.write_text("---\ntitle: Only for the second provider\ntags: [local]\n---\n\nHi.\n")
    homeport("add", "article", str(local), data=home)

    for provider in providers:
        homeport("providers", "add", provider.url, provider.invite(), "--name", "alice", data=home)
    homeport("providers", "rules", providers[0].url, "--exclude-tag", "local", data=home)
    first = json.loads(homeport("publish", "--json", data=home))
    assert [row["ok"] for row in first] == [True, True]

    host = f"alice.{BASE}"
    for provider in providers:
        page = provider.page("alice")
        assert page.status_code == 200
        parsed = mf2py.parse(doc=page.text, url=f"http://{host}/")
        names = json.dumps(parsed)
        assert "Hello from home" in names
        assert "A note only I can see" not in page.text
        assert provider.page("nobody").status_code == 404
    assert "Only for the second provider" not in providers[0].page("alice").text
    assert "Only for the second provider" in providers[1].page("alice").text

    # an edit costs about its own size
    homeport("add", "note", "Second thoughts", data=home)
    second = json.loads(homeport("publish", "--json", data=home))
    assert all(row["ok"] for row in second)
    first_bytes = min(row["bytes"] for row in first)
    for row in second:
        assert 0 < row["bytes"] < first_bytes / 2
    assert "Second thoughts" in providers[1].page("alice").text

    # nothing changed: nothing sent
    third = json.loads(homeport("publish", "--json", data=home))
    assert all(row["up_to_date"] for row in third)

    # a damaged copy is named by the audit
    damaged = flip_one_object(providers[0].data)
    problems = homeport("verify", "--provider", providers[0].url, data=home, check=False)
    assert damaged in problems
    repaired = json.loads(homeport("publish", "--json", data=home))
    assert all(row["ok"] for row in repaired)
    assert "ok" in homeport("verify", "--provider", providers[0].url, data=home)

    # a new home from the second provider, with the phrase alone
    restored = tmp_path / "restored"
    homeport("restore", "--from", providers[1].url, data=restored, stdin=phrase)
    assert export_bytes(restored, tmp_path / "restored.bundle") == export_bytes(
        home, tmp_path / "home.bundle"
    )
    shown = homeport("identity", "show", data=restored)
    assert json.loads(homeport("init", "--json", data=tmp_path / "other"))["did"] not in shown

    # the restore moved the home to the new copy at both providers (the list rides in the
    # repository): the old copy is a standby and only the new one may leave a provider
    refused = homeport("providers", "remove", providers[0].url, data=home, check=False)
    assert "standby" in refused

    # leaving a provider: its copy is deleted and the site is gone
    homeport("providers", "remove", providers[0].url, data=restored)
    assert providers[0].page("alice").status_code == 410
    assert providers[1].page("alice").status_code == 200
