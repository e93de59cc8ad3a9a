"""``homeport init`` and ``homeport identity``: identity from a 24-word phrase."""

import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from homeport.cli.main import app

runner = CliRunner()


def init_json(data: Path, *args: str, stdin: str | None = None) -> dict:
    result = runner.invoke(app, ["--data", str(data), "init", "--json", *args], input=stdin)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_init_shows_the_identity_and_the_phrase_once(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--data", str(tmp_path), "init"])
    assert result.exit_code == 0
    assert "Identity: did:key:z6Mk" in result.stdout
    assert "24." in result.stdout
    again = runner.invoke(app, ["--data", str(tmp_path), "init"])
    assert again.exit_code == 1
    assert "already has an identity" in again.stderr


def test_restore_from_the_phrase_gives_the_same_identity(tmp_path: Path) -> None:
    first = init_json(tmp_path / "a")
    restored = init_json(tmp_path / "b", "--restore", stdin=first["phrase"] + "\n")
    assert restored["did"] == first["did"]
    assert restored["signing_key"] != first["signing_key"]
    assert "phrase" not in restored


def test_secrets_are_private_and_the_phrase_is_not_stored(tmp_path: Path) -> None:
    made = init_json(tmp_path)
    for path in [tmp_path / "identity.json", *sorted((tmp_path / "keys").iterdir())]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert made["phrase"].split()[0] + " " + made["phrase"].split()[1] not in path.read_text()
    assert not (tmp_path / "keys" / "root.key").exists()


def test_rotate_with_the_phrase_keeps_the_identity(tmp_path: Path) -> None:
    made = init_json(tmp_path)
    result = runner.invoke(
        app, ["--data", str(tmp_path), "identity", "rotate"], input=made["phrase"]
    )
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["--data", str(tmp_path), "identity", "show"]).stdout
    assert made["did"] in shown
    assert made["signing_key"] not in shown
    assert "Operations:  2" in shown


def test_rotate_with_a_kept_root_key_needs_no_phrase(tmp_path: Path) -> None:
    init_json(tmp_path, "--keep-root-key")
    result = runner.invoke(app, ["--data", str(tmp_path), "identity", "rotate"])
    assert result.exit_code == 0, result.output


def test_a_wrong_phrase_changes_nothing(tmp_path: Path) -> None:
    init_json(tmp_path)
    other = init_json(tmp_path / "other")["phrase"]
    before = (tmp_path / "identity.json").read_bytes()
    result = runner.invoke(app, ["--data", str(tmp_path), "identity", "rotate"], input=other)
    assert result.exit_code == 1
    assert "another identity" in result.stderr
    assert (tmp_path / "identity.json").read_bytes() == before


def test_a_mistyped_phrase_is_one_clear_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["--data", str(tmp_path), "init", "--restore"], input="abandon abandon\n"
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == "homeport: a recovery phrase has 24 words; this one has 2"
    assert not (tmp_path / "identity.json").exists()
