"""The ``homeport`` command line: version, help, where ``--data`` goes, and one-line errors.

Every error a user can cause (a broken ``homeport.toml``, an unknown setting, a storage URL no
backend reads, an environment value of the wrong type) ends the command with a non-zero exit code
and exactly one line on stderr starting with ``homeport:``, never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import homeport
from homeport.cli.main import app

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("no_homeport_env")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    directory = tmp_path / "home"
    directory.mkdir()
    return directory


def assert_one_line_error(exit_code: int, stderr: str, stdout: str = "") -> str:
    assert exit_code != 0
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("homeport: "), lines[0]
    assert "Traceback" not in stderr + stdout
    return lines[0]


# -- version and help --------------------------------------------------------------------------


def test_version_prints_name_and_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"homeport {homeport.__version__}\n"


def test_root_help_lists_serve_and_data() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.stdout
    assert "--data" in result.stdout
    assert "--version" in result.stdout


def test_serve_help_mentions_data_host_and_port() -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for flag in ("--data", "--host", "--port"):
        assert flag in result.stdout


def test_help_says_what_no_command_does() -> None:
    # ``homeport`` alone serves (tests/e2e/test_desktop.py); its help says so
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "With no command: start the home" in " ".join(result.output.split())
    assert "install-service" in result.output


def test_version_of_the_installed_command_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "homeport", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"homeport {homeport.__version__}\n"


# -- --data before or after the subcommand -----------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["--data", "{d}", "serve"], ["serve", "--data", "{d}"]],
    ids=["before-serve", "after-serve"],
)
def test_data_is_read_before_or_after_the_subcommand(data: Path, args: list[str]) -> None:
    (data / "homeport.toml").write_text("no_such_setting = 1\n")
    result = runner.invoke(app, [a.format(d=data) for a in args])
    line = assert_one_line_error(result.exit_code, result.stderr, result.stdout)
    assert line == f"homeport: {data / 'homeport.toml'}: unknown setting 'no_such_setting'"


def test_data_after_the_subcommand_wins_over_data_before(data: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (data / "homeport.toml").write_text("no_such_setting = 1\n")
    result = runner.invoke(app, ["--data", str(other), "serve", "--data", str(data)])
    line = assert_one_line_error(result.exit_code, result.stderr, result.stdout)
    assert str(data / "homeport.toml") in line


# -- one clear line for every user error -------------------------------------------------------


def test_malformed_config_file_is_one_line_naming_the_file(data: Path) -> None:
    (data / "homeport.toml").write_text('port = "8750\n')
    result = runner.invoke(app, ["serve", "--data", str(data)])
    line = assert_one_line_error(result.exit_code, result.stderr, result.stdout)
    assert str(data / "homeport.toml") in line
    assert "not valid TOML" in line


def test_unknown_config_key_is_one_line_naming_the_key(data: Path) -> None:
    (data / "homeport.toml").write_text("prot = 8750\n")
    result = runner.invoke(app, ["serve", "--data", str(data)])
    line = assert_one_line_error(result.exit_code, result.stderr, result.stdout)
    assert "'prot'" in line


def test_config_value_of_the_wrong_type_is_one_line_naming_the_key(data: Path) -> None:
    (data / "homeport.toml").write_text('port = "eighty"\n')
    result = runner.invoke(app, ["serve", "--data", str(data)])
    line = assert_one_line_error(result.exit_code, result.stderr, result.stdout)
    assert "'port'" in line


def test_config_file_that_is_not_utf8_is_one_line(data: Path) -> None:
    (data / "homeport.toml").write_bytes(b"host = '\xff\xfe'\n")
    result = runner.invoke(app, ["serve", "--data", str(data)])
    assert_one_line_error(result.exit_code, result.stderr, result.stdout)


def test_unknown_storage_url_scheme_is_one_line(data: Path) -> None:
    result = runner.invoke(
        app, ["serve", "--data", str(data)], env={"HOMEPORT_STORAGE_URL": "nosuch://x"}
    )
    line = assert_one_line_error(result.exit_code, result.stderr, result.stdout)
    assert "nosuch" in line


def test_sqlite_url_without_a_path_is_one_line(data: Path) -> None:
    result = runner.invoke(
        app, ["serve", "--data", str(data)], env={"HOMEPORT_STORAGE_URL": "sqlite://"}
    )
    assert_one_line_error(result.exit_code, result.stderr, result.stdout)


def test_invalid_port_in_the_environment_is_one_line(data: Path) -> None:
    result = runner.invoke(app, ["serve", "--data", str(data)], env={"HOMEPORT_PORT": "abc"})
    line = assert_one_line_error(result.exit_code, result.stderr, result.stdout)
    assert "'port'" in line
    assert "'abc'" in line


def test_invalid_boolean_in_the_environment_is_one_line(data: Path) -> None:
    result = runner.invoke(
        app, ["serve", "--data", str(data)], env={"HOMEPORT_FLUSH_ENDPOINT": "maybe"}
    )
    line = assert_one_line_error(result.exit_code, result.stderr, result.stdout)
    assert "'flush_endpoint'" in line


def test_negative_number_in_the_environment_is_one_line(data: Path) -> None:
    result = runner.invoke(
        app, ["serve", "--data", str(data)], env={"HOMEPORT_MAX_JSON_BYTES": "-1"}
    )
    line = assert_one_line_error(result.exit_code, result.stderr, result.stdout)
    assert "'max_json_bytes'" in line


@pytest.mark.parametrize(
    ("config", "env"),
    [
        ('port = "8750\n', {}),
        ("prot = 8750\n", {}),
        (None, {"HOMEPORT_STORAGE_URL": "nosuch://x"}),
        (None, {"HOMEPORT_PORT": "abc"}),
    ],
    ids=["malformed-toml", "unknown-key", "bad-storage-url", "bad-env-port"],
)
def test_the_real_process_prints_one_line_and_exits_non_zero(
    data: Path, config: str | None, env: dict[str, str]
) -> None:
    if config is not None:
        (data / "homeport.toml").write_text(config)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    proc = subprocess.run(
        [sys.executable, "-m", "homeport", "serve", "--data", str(data), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean, **env},
        cwd=data,
    )
    assert_one_line_error(proc.returncode, proc.stderr, proc.stdout)
    assert proc.stdout == ""


def test_a_full_disk_during_a_snapshot_is_one_line_and_the_next_one_works(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from homeport.store import objects_fs

    assert runner.invoke(app, ["init", "--data", str(data), "--json"]).exit_code == 0
    added = runner.invoke(app, ["add", "note", "Hello, disk", "--data", str(data)])
    assert added.exit_code == 0, added.output

    def no_room(fd: int) -> None:  # where a full disk shows for delayed allocation
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patched:
        patched.setattr(objects_fs.os, "fsync", no_room)
        full = runner.invoke(app, ["snapshot", "--data", str(data)])
    line = assert_one_line_error(full.exit_code, full.stderr, full.stdout)
    assert "no room" in line
    assert not [p for p in (data / "packs").iterdir() if p.name.endswith(".pack")]
    again = runner.invoke(app, ["snapshot", "--data", str(data), "--json"])
    assert again.exit_code == 0, again.output
    assert '"changed": true' in again.stdout
