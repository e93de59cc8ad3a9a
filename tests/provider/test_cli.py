"""``homeport provider …``: invites, the tenant list, suspend/resume/delete, and a live serve
with its operator page."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.cli.provider import parse_size
from homeport.provider.db import ProviderDB
from homeport.testing.live import free_port
from tests.provider.conftest import API, BASE, SITE_V1, World

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("no_homeport_env")


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("text", "size"),
    [("5GB", 5 * 10**9), ("500MB", 500 * 10**6), ("2GiB", 2 * 1024**3), ("1024", 1024)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_invite_prints_a_code_that_enrolls_once(world: World) -> None:
    code, out, _ = run("provider", "invite", *world.cli_args, "--quota", "1GB", "--json")

    assert code == 0
    invite = json.loads(out)
    found = world.db.invite(invite["code"])
    assert found is not None and found.quota == 10**9 and found.used_by is None
    code, out, _ = run(
        *world.cli_args[:2], "provider", "invite", *world.cli_args[2:], "--name", "alice"
    )
    assert code == 0 and len(out.strip()) > 16


def test_invite_refuses_bad_input_with_one_line(world: World) -> None:
    for args in (["--quota", "lots"], ["--name", "Not A Name"]):
        code, _, err = run("provider", "invite", *world.cli_args, *args)
        assert code == 1 and err.startswith("homeport: ") and err.count("\n") == 1


def test_tenants_suspend_resume_delete(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    home.publish(world.client, home.snapshot())

    code, out, _ = run("provider", "tenants", *world.cli_args, "--json")
    listed = json.loads(out)
    assert code == 0 and listed[0]["name"] == "alice" and listed[0]["seq"] == 1
    assert listed[0]["did"] == home.did and listed[0]["usage"] > 0
    assert "alice" in run("provider", "tenants", *world.cli_args)[1]

    assert run("provider", "suspend", "alice", *world.cli_args)[0] == 0
    assert world.get(f"alice.{BASE}", "/").status_code == 503
    assert run("provider", "resume", "alice", *world.cli_args)[0] == 0
    assert world.get(f"alice.{BASE}", "/").status_code == 200
    assert run("provider", "delete", "alice", *world.cli_args)[0] == 0
    assert world.get(f"alice.{BASE}", "/").status_code == 410
    code, _, err = run("provider", "suspend", "nobody", *world.cli_args)
    assert code == 1 and err.startswith("homeport: no tenant")


def test_serve_needs_a_base_domain(tmp_path: Path) -> None:
    code, _, err = run("provider", "serve", "--data", str(tmp_path / "p"))
    assert code == 1 and "--base-domain" in err


@pytest.mark.timeout(300)  # provider serve starts in 15-25 s under load
def test_serve_runs_a_provider_with_an_operator_page(tmp_path: Path) -> None:
    data = tmp_path / "provider"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update({"HOMEPORT_ARGON2_TIME_COST": "1", "HOMEPORT_ARGON2_MEMORY_KIB": "1024"})
    command = [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data)]
    command += ["--port", str(port), "--base-domain", BASE]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # its start takes 15-25 s under load
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{url}{API}/tls-allowed?domain=x").status_code == 404:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "provider serve did not answer"
            time.sleep(0.05)
        assert httpx.get(f"{url}/_homeport/admin/").status_code == 401
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    password = next(line for line in output.splitlines() if "password:" in line).split()[1]
    assert "Traceback" not in output
    db = ProviderDB(data)
    try:
        assert (
            db.meta(
                "operator_password",
            )
            is not None
        )
    finally:
        db.close()
    assert password


def test_the_operator_page_lists_tenants_behind_the_password(world: World) -> None:
    from homeport.provider.admin import set_password

    set_password(world.db, world.settings, "s3cret-operator")
    world.enrolled("alice")
    good = base64.b64encode(b"operator:s3cret-operator").decode()
    bad = base64.b64encode(b"operator:wrong").decode()

    page = world.client.get("/_homeport/admin/", headers={"Authorization": f"Basic {good}"})
    refused = world.client.get("/_homeport/admin/", headers={"Authorization": f"Basic {bad}"})

    assert page.status_code == 200 and "alice" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert refused.status_code == 401
    for _ in range(12):
        world.client.get("/_homeport/admin/", headers={"Authorization": f"Basic {bad}"})
    limited = world.client.get("/_homeport/admin/", headers={"Authorization": f"Basic {good}"})
    assert limited.status_code == 429


def test_a_damaged_database_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "provider"
    data.mkdir()
    (data / "provider.sqlite").write_bytes(b"this is not a database" * 100)

    for args in (["tenants"], ["invite"], ["suspend", "x"]):
        code, _, err = run("provider", *args, "--data", str(data))
        assert code == 1 and err.startswith("homeport: cannot open") and err.count("\n") == 1


def test_a_database_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    data = str(tmp_path / "provider")
    nowhere = f"postgresql://nobody@127.0.0.1:{free_port()}/provider"
    for url, said in (
        (nowhere, "cannot reach PostgreSQL at 127.0.0.1"),
        ("mysql://x", "--database"),
    ):
        for args in (["tenants"], ["invite"], ["suspend", "x"]):
            code, _, err = run("provider", *args, "--data", data, "--database", url)
            assert code == 1 and err.startswith("homeport: ") and err.count("\n") == 1
            assert said in err and "Traceback" not in err
