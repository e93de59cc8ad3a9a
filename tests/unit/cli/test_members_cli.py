"""``homeport tiers`` and ``homeport members`` on both engines: members are records that
survive the process, export in Ghost's columns, import back (all rows or none), and bad input
is one clear line that writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homeport.cli.main import app

pytestmark = pytest.mark.usefixtures("no_homeport_env")
runner = CliRunner()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
         ) -> Path:
    if request.param == "postgresql":
        monkeypatch.setenv("HOMEPORT_STORAGE_URL", request.getfixturevalue("fresh_postgres_url"))
    return tmp_path / "home"


def ok(home: Path, *args: str) -> str:
    result = runner.invoke(app, [*args, "--data", str(home)])
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(home: Path, *args: str) -> str:
    result = runner.invoke(app, [*args, "--data", str(home)])
    assert result.exit_code != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("homeport: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def emails(home: Path) -> list[str]:
    return [m["email"] for m in json.loads(ok(home, "members", "list", "--json"))]


def test_tiers_members_export_import(home: Path, tmp_path: Path) -> None:
    assert "gold" in ok(home, "tiers", "add", "Gold", "--price", "5", "--currency", "EUR",
                        "--interval", "year", "--benefit", "Every article")
    ok(home, "tiers", "add", "Friends")
    tiers = json.loads(ok(home, "tiers", "list", "--json"))
    assert [(t["id"], t["amount"], t["interval"]) for t in tiers] == [
        ("friends", 0, None), ("gold", 500, "year")]
    assert all("key" not in t for t in tiers)  # the content key is never printed
    assert "already" in refused(home, "tiers", "add", "gold")
    assert "currency" in refused(home, "tiers", "add", "Silver", "--price", "3")

    ok(home, "members", "add", "Ann@Example.org", "--tier", "gold", "--comp", "--name", "Ann",
       "--label", "vip")
    ok(home, "members", "add", "bo@example.org")
    assert "already a member" in refused(home, "members", "add", "BO@example.org")
    assert "no tier" in refused(home, "members", "add", "cy@example.org", "--tier", "silver")
    assert "not an email" in refused(home, "members", "add", "nobody")
    assert emails(home) == ["ann@example.org", "bo@example.org"]
    assert "ann@example.org" in ok(home, "members", "list", "--search", "VIP")
    assert "bo@" not in ok(home, "members", "list", "--search", "vip")

    exported = tmp_path / "members.csv"
    ok(home, "members", "export", "--output", str(exported))
    text = exported.read_bytes().decode()
    assert text.startswith("id,email,name,note,subscribed_to_emails,complimentary_plan,"
                           "stripe_customer_id,created_at,deleted_at,labels,tiers\r\n")
    assert ",ann@example.org,Ann,,true,true,," in text and ",vip,Gold\r\n" in text
    assert ok(home, "members", "export").splitlines() == text.splitlines()  # stdout
    as_json = json.loads(ok(home, "members", "export", "--format", "json"))
    assert as_json[0]["tier"] == "gold" and as_json[0]["status"] == "comped"

    ok(home, "members", "remove", "ann@example.org")
    assert "not a member" in refused(home, "members", "remove", "ann@example.org")
    assert emails(home) == ["bo@example.org"]

    # One bad row: nothing of the file is imported.
    bad = tmp_path / "bad.csv"
    bad.write_text(text + ",new@example.org,,,,,,,,,Platinum\r\n")
    assert "line 4" in refused(home, "members", "import", str(bad))
    assert emails(home) == ["bo@example.org"]
    assert "cannot read" in refused(home, "members", "import", str(tmp_path / "missing.csv"))

    assert "Imported 2 members" in ok(home, "members", "import", str(exported))
    after = json.loads(ok(home, "members", "list", "--json"))
    assert [(m["email"], m["tier"], m["status"], m["labels"]) for m in after] == [
        ("ann@example.org", "gold", "comped", ["vip"]), ("bo@example.org", None, "free", [])]

    # Entries for members: a tier that exists, or any member; nothing else.
    essay = tmp_path / "essay.md"
    essay.write_text("---\ntitle: Essay\n---\nFirst.\n\nThe rest.\n")
    assert "Added article" in ok(home, "add", "article", str(essay), "--visibility", "gold")
    assert "Added article" in ok(home, "add", "article", str(essay), "--visibility", "members")
    assert "none of" in refused(home, "add", "article", str(essay), "--visibility", "platinum")
    assert "different" in refused(home, "add", "article", str(essay), "--private",
                                  "--visibility", "gold")
