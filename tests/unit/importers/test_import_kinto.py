"""``homeport import-from kinto`` against the suite's real Kinto 26.5: buckets, groups,
collections (with their schema) and records come over the API with their permissions, through
paginated listings and ``/batch``; a re-run writes nothing and a later run brings what
changed; a dry run writes nothing; a bad password, a server that is not Kinto or an address
that is not one is refused in one line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.testing.targets import PASSWORDS, Server, start_kinto

pytestmark = pytest.mark.usefixtures("no_homeport_env")
runner = CliRunner()
ADMIN = f"admin:{PASSWORDS['admin']}"
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}


@pytest.fixture(scope="module")
def kinto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Kinto with 3 objects a page (so every listing pages) and a small app's data: a bucket
    alice may read, a group, a collection with a schema and 7 records, one of them public."""
    server = start_kinto(tmp_path_factory.mktemp("kinto"), {"paginate_by": "3"})
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as anonymous:
            for user in ("admin", "alice"):
                anonymous.put(f"/accounts/{user}", json={"data": {"password": PASSWORDS[user]}}
                              ).raise_for_status()
        admin = server.client("admin")
        for path, body in [
            ("/buckets/tasks", {"permissions": {"read": ["account:alice"]}}),
            ("/buckets/tasks/groups/editors", {"data": {"members": ["account:alice"]}}),
            ("/buckets/tasks/collections/todo", {"data": {"schema": SCHEMA}}),
            ("/buckets/tasks/collections/shared", {
                "data": {"colour": "teal"},
                "permissions": {"record:create": ["/buckets/tasks/groups/editors"]}}),
            ("/buckets/homeport", {}),
            *[(f"/buckets/tasks/collections/todo/records/task-{n}",
               {"data": {"title": f"Task {n}", "done": n % 2 == 0}}) for n in range(7)],
        ]:
            admin.put(path, json=body).raise_for_status()
        admin.patch("/buckets/tasks/collections/todo/records/task-3",
                    json={"permissions": {"read": ["system.Everyone"]}}).raise_for_status()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
         ) -> Path:
    if request.param == "postgresql":
        monkeypatch.setenv("HOMEPORT_STORAGE_URL", request.getfixturevalue("fresh_postgres_url"))
    return tmp_path / "home"


def run(home: Path, *args: str) -> list[dict[str, str]]:
    result = runner.invoke(app, ["import-from", "kinto", *args, "--json", "--data", str(home)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def refused(home: Path, *args: str) -> str:
    result = runner.invoke(app, ["import-from", "kinto", *args, "--data", str(home)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("homeport: "), result.stderr
    return lines[0]


def stored(home: Path, resource: str, parent: str, object_id: str
           ) -> tuple[dict[str, Any], dict[str, set[str]]] | None:
    """The object and its permissions as the home keeps them (None: absent)."""
    from homeport.cli.build import _with_context
    from homeport.core.errors import ObjectNotFound
    from homeport.settings import load_settings

    async def work(context: Any) -> tuple[dict[str, Any], dict[str, set[str]]] | None:
        try:
            obj = await context.store.get(resource, parent, object_id)
        except ObjectNotFound:
            return None
        uri = f"{parent}/{resource}s/{object_id}"
        return obj, await context.store.get_permissions(uri)

    return asyncio.run(_with_context(load_settings(home), work))


def test_a_kinto_server_imports_with_permissions_and_reruns_as_a_no_op(
        kinto: Server, home: Path) -> None:
    dry = run(home, kinto.url, "--option", f"auth={ADMIN}", "--dry-run")
    assert {i["action"] for i in dry} == {"created", "skipped"} and len(dry) == 12
    assert stored(home, "bucket", "", "tasks") is None

    first = {i["source_id"]: i for i in run(home, kinto.url, "--option", f"auth={ADMIN}")}
    assert first["/buckets/homeport"]["action"] == "skipped"
    assert {i["action"] for u, i in first.items() if u != "/buckets/homeport"} == {"created"}
    assert len(first) == 12  # 2 buckets, 1 group, 2 collections, 7 records over 3 pages
    _, perms = stored(home, "bucket", "", "tasks") or ({}, {})
    assert perms["read"] == {"account:alice"} and "account:admin" in perms["write"]
    group, _ = stored(home, "group", "/buckets/tasks", "editors") or ({}, {})
    assert group["members"] == ["account:alice"]
    todo, _ = stored(home, "collection", "/buckets/tasks", "todo") or ({}, {})
    assert todo["schema"] == SCHEMA
    _, shared = stored(home, "collection", "/buckets/tasks", "shared") or ({}, {})
    assert shared["record:create"] == {"/buckets/tasks/groups/editors"}
    task, task_perms = stored(home, "record", "/buckets/tasks/collections/todo",
                              "task-3") or ({}, {})
    assert (task["title"], task["done"]) == ("Task 3", False)
    assert task_perms["read"] == {"system.Everyone"}

    rerun = run(home, kinto.url, "--option", f"auth={ADMIN}")
    assert {i["action"] for i in rerun} == {
        "unchanged", "skipped"}
    admin = kinto.client("admin")
    admin.patch("/buckets/tasks/collections/todo/records/task-5",
                json={"data": {"title": f"Task 5 seen by {home.parent.name}"}}
                ).raise_for_status()
    again = run(home, kinto.url + "/buckets/tasks", "--option", f"auth={ADMIN}")
    assert [i["source_id"] for i in again if i["action"] != "unchanged"] == [
        "/buckets/tasks/collections/todo/records/task-5"]
    task, _ = stored(home, "record", "/buckets/tasks/collections/todo", "task-5") or ({}, {})
    assert task["title"] == f"Task 5 seen by {home.parent.name}"


def test_a_wrong_password_or_a_server_that_is_not_kinto_is_refused_in_one_line(
        kinto: Server, home: Path, tmp_path: Path) -> None:
    assert "answered 401" in refused(home, kinto.url, "--option", "auth=admin:wrong")
    files = kinto.root.rsplit(":", 1)[0]  # nothing listens on port 9 of loopback
    assert "cannot be read" in refused(home, f"{files}:9/v1")
    assert "not a Kinto server's address" in refused(home, "ftp://example.org/v1")
    assert "must be USER:PASSWORD" in refused(home, kinto.url, "--option", "auth=admin")
    assert stored(home, "bucket", "", "tasks") is None
