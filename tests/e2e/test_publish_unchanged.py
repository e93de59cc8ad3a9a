"""``homeport publish`` with nothing changed since the last full publish: no site rebuild and no
snapshot, but the provider is still asked for its head; a new record makes the next publish a
full one again, and a publish that failed leaves nothing that lets the next one skip. Real CLI
processes, a real provider on loopback, on SQLite and PostgreSQL. (Each other input of the
digest, one by one, in ``tests/unit/publish/test_unchanged.py``.)"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.publish.unchanged import STATE_FILE

from .autopublish_support import Rig
from .conftest import ADMIN, BACKENDS
from .provider_support import Provider
from .repo_support import cli_env

NOT_LOADED = (
    "jsonschema",
    "homeport.services.schemas",
    "mnemonic",
    "cryptography.hazmat.primitives.serialization",
    "homeport.services.repository",
    "homeport.repo.snapshot",
    "homeport.repo.checkout",
)
"""What a publish with nothing new must not import: it checks the provider's head and hands
over the grants, nothing more (each of these cost tens of milliseconds of its start-up)."""
NOT_LOADED_BUILDING = (
    "homeport.interop.registry",
    "homeport.plugins.connectors.oidc",
    "homeport.api.endpoints",
)
"""What a publish that builds must not import either: the built-in plugins' server parts (every
live-web protocol, the sign-in connectors, the API's endpoints), which only a server asks for."""


@pytest.fixture(params=BACKENDS)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    """A home with one note, enrolled with a running provider, never published."""
    env = {"HOMEPORT_ADMIN_PASSWORD": ADMIN[1]}
    if request.param == "postgresql":
        env["HOMEPORT_STORAGE_URL"] = request.getfixturevalue("fresh_postgres_url")
    provider = Provider(tmp_path / "provider", tmp_path / "provider.log").start()
    found = Rig(provider, tmp_path / "home", env)
    try:
        found.cli("init", "--json")
        found.cli("add", "note", "The first note")
        found.cli("providers", "add", provider.url, provider.invite(), "--name", "alice")
        yield found
    finally:
        provider.stop()


def publish(rig: Rig) -> dict[str, Any]:
    (row,) = json.loads(rig.cli("publish", "--json").strip().splitlines()[-1])
    assert row["ok"], row
    return dict(row)


def publish_importing(rig: Rig) -> tuple[dict[str, Any], set[str]]:
    """``publish`` as ``publish`` does, and every module the process imported on its way
    (``-X importtime`` names each on stderr)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "homeport", "publish", "--json", "--data",
         str(rig.data)],
        capture_output=True,
        timeout=120,
        env={**cli_env(), **rig.env},
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    (row,) = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert row["ok"], row
    lines = done.stderr.decode().splitlines()
    names = {ln.rpartition("|")[2].strip() for ln in lines if ln.startswith("import time:")}
    return dict(row), names


def builds(rig: Rig) -> dict[str, tuple[int, int]]:
    """Each build manifest's (inode, mtime): every build of a site rewrites its manifest."""
    folder = rig.data / "cache" / "build"
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


@pytest.mark.timeout(300)  # seven CLI processes and a provider restart on a loaded machine
def test_a_publish_with_nothing_new_skips_the_build_and_the_snapshot(rig: Rig) -> None:
    first, loaded = publish_importing(rig)
    assert not first["up_to_date"] and rig.live("The first note")
    assert "homeport.render.variants" in loaded  # it built
    assert not loaded & set(NOT_LOADED_BUILDING), sorted(loaded & set(NOT_LOADED_BUILDING))
    state = json.loads((rig.data / STATE_FILE).read_text())
    assert state["head"] and state["grants"] is True
    built = builds(rig)

    again, loaded = publish_importing(rig)  # nothing changed: the provider is asked, no build
    assert again["up_to_date"] and again["seq"] == first["seq"]
    assert "homeport.publish.run" in loaded  # the probe sees the modules it imports
    assert not loaded & set(NOT_LOADED), sorted(loaded & set(NOT_LOADED))
    assert builds(rig) == built, "the site was built again with nothing changed"

    # a record, written while the provider is down: the failed publish leaves no digest
    rig.provider.stop()
    rig.cli("add", "note", "Written while the provider is down")
    (row,) = json.loads(rig.cli("publish", "--json", check=False).strip().splitlines()[-1])
    assert not row["ok"]
    assert not (rig.data / STATE_FILE).exists()
    rig.provider.start()  # back on the same data and port: the next publish is a full one
    second = publish(rig)
    assert not second["up_to_date"] and second["seq"] == first["seq"] + 1
    assert rig.live("Written while the provider is down")
    assert builds(rig) != built
    assert json.loads((rig.data / STATE_FILE).read_text())["head"] != state["head"]
