"""``homeport snapshot | log | export | import | verify``: the signed repository from the shell.

Services are imported inside each command so that ``homeport --help`` stays quick.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from homeport.cli.common import DataOption, JsonOption
from homeport.cli.common import fail as _fail
from homeport.settings import Settings, SettingsError, load_settings


def _settings(ctx: typer.Context, data: Path | None) -> Settings:
    try:
        return load_settings(data or (ctx.obj or {}).get("data"))
    except SettingsError as exc:
        raise _fail(str(exc)) from None


def _expected_errors() -> tuple[type[BaseException], ...]:
    from homeport.core.commits import CommitError
    from homeport.crypto.keys import PhraseError
    from homeport.repo.bundle import BundleError
    from homeport.repo.codec import ObjectError
    from homeport.repo.repository import RepositoryError
    from homeport.services.identity import IdentityStateError
    from homeport.services.repository import RepoStateError
    from homeport.store.protocols import ObjectStoreError

    return (
        BundleError,
        CommitError,
        IdentityStateError,
        ObjectError,
        ObjectStoreError,
        OSError,
        PhraseError,
        RepoStateError,
        RepositoryError,
    )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GiB"


def _emit(as_json: bool, doc: dict[str, Any], text: str) -> None:
    typer.echo(json.dumps(doc) if as_json else text)


def snapshot(ctx: typer.Context, data: DataOption = None, as_json: JsonOption = False) -> None:
    """Record the home's whole state as a new signed commit (nothing, if nothing changed)."""
    from homeport.services import repository

    settings = _settings(ctx, data)
    try:
        result = asyncio.run(repository.snapshot(settings))
    except _expected_errors() as exc:
        raise _fail(str(exc)) from None
    for warning in result.warnings:
        typer.echo(f"homeport: warning: {warning}", err=True)
    commit = result.commit
    doc = {
        "changed": commit is not None,
        "seq": commit.seq if commit else None,
        "commit": commit.id.hex() if commit else None,
        "changed_keys": result.changed_keys,
        "new_objects": result.new_objects,
        "new_bytes": result.new_bytes,
        "seconds": round(result.seconds, 6),
        "warnings": result.warnings,
    }
    if commit:
        text = (
            f"commit {commit.seq} {commit.id.hex()[:16]}: {result.changed_keys} changed, "
            f"{result.new_objects} new objects, {_size(result.new_bytes)}, "
            f"{result.seconds:.3f} s"
        )
    else:
        text = f"nothing changed since the last snapshot ({result.seconds:.3f} s)"
    _emit(as_json, doc, text)


def log(ctx: typer.Context, data: DataOption = None, as_json: JsonOption = False) -> None:
    """List the commits, newest first, with what each added."""
    from homeport.services import repository

    settings = _settings(ctx, data)
    try:
        commits = repository.log(settings)
    except _expected_errors() as exc:
        raise _fail(str(exc)) from None
    if as_json:
        rows = [
            {
                "seq": c.seq,
                "commit": c.id.hex(),
                "root": c.root.hex(),
                "created": c.created,
                "key": c.key,
                "objects": c.objects,
                "bytes": c.size,
            }
            for c in commits
        ]
        typer.echo(json.dumps(rows))
        return
    if not commits:
        typer.echo("no snapshot yet (homeport snapshot)")
    for c in commits:
        when = datetime.fromtimestamp(c.created / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(
            f"{c.seq:>5}  {c.id.hex()[:16]}  {when} UTC  +{c.objects} objects  +{_size(c.size)}"
        )


def export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The bundle file to write.")],
    data: DataOption = None,
    since: Annotated[
        int, typer.Option("--since", help="Only what the commits after SEQ brought.", min=0)
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Write the repository (or what it gained since a commit) to one bundle file."""
    from homeport.services import repository

    settings = _settings(ctx, data)
    started = time.perf_counter()
    try:
        result = repository.export(settings, file, since)
    except _expected_errors() as exc:
        raise _fail(str(exc)) from None
    seconds = time.perf_counter() - started
    doc = {
        "file": str(file),
        "objects": result.objects,
        "bytes": result.bytes,
        "head_seq": result.head_seq,
        "seconds": round(seconds, 6),
    }
    text = (
        f"wrote {file}: {result.objects} objects, {_size(result.bytes)}, "
        f"up to commit {result.head_seq} ({seconds:.2f} s)"
    )
    _emit(as_json, doc, text)


def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The bundle file to read.")],
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Verify a bundle, then restore it into an empty home (the phrase is read from stdin) or
    move this home forward to it."""
    from homeport.cli.identity import read_phrase
    from homeport.services import identity as ids
    from homeport.services import repository

    settings = _settings(ctx, data)
    started = time.perf_counter()
    if not file.is_file():
        raise _fail(f"{file}: no such bundle file")
    try:
        phrase = None if ids.exists(settings.data_dir) else read_phrase("Recovery phrase")
        outcome = asyncio.run(repository.import_bundle(settings, file, phrase))
    except _expected_errors() as exc:
        raise _fail(str(exc)) from None
    seconds = time.perf_counter() - started
    result = outcome.result
    head = result.new_commits[-1] if result.new_commits else None
    doc = {
        "identity": outcome.did,
        "new_home": outcome.new_home,
        "new_commits": len(result.new_commits),
        "head_seq": head.seq if head else None,
        "objects": result.objects,
        "new_objects": result.new_objects,
        "bytes": result.bytes,
        "seconds": round(seconds, 6),
    }
    if head:
        text = (
            f"imported {len(result.new_commits)} commits (now at {head.seq}), "
            f"{result.new_objects} new objects, {_size(result.bytes)} read ({seconds:.2f} s)"
        )
    else:
        text = "already up to date: nothing imported"
    _emit(as_json, doc, text)


def _report_problems(problems: list[str], as_json: bool, doc: dict[str, Any]) -> typer.Exit:
    if as_json:
        typer.echo(json.dumps({**doc, "ok": False, "problems": problems}))
    for line in problems:
        typer.echo(f"homeport: {line}", err=True)
    return typer.Exit(1)


def verify(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="A bundle to check (else the home).")] = None,
    data: DataOption = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Audit this provider's copy instead.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check every hash, signature and link of a bundle, of the home's repository, or of a
    provider's copy; name each problem and exit non-zero if there is one."""
    from homeport.repo.bundle import BundleError
    from homeport.services import repository

    if provider is not None:
        from homeport.cli.sync import audit

        audit(data, provider, as_json, ctx)
        return

    given = data or (ctx.obj or {}).get("data")
    if file is not None and not file.is_file():
        raise _fail(f"{file}: no such bundle file")
    try:
        if file is not None:
            settings = _settings(ctx, data) if given else None
            with tempfile.TemporaryDirectory(prefix="homeport-verify-") as scratch:
                result = repository.verify_file(settings, file, Path(scratch))
            found = {
                "ok": True,
                "objects": result.objects,
                "bytes": result.bytes,
                "commits": len(result.new_commits),
                "external_links": result.external_links,
            }
            text = (
                f"{file}: ok, {result.objects} objects, {len(result.new_commits)} commits, "
                f"{_size(result.bytes)}"
            )
            _emit(as_json, found, text)
            return
        settings = _settings(ctx, data)
        report = repository.verify_home(settings)
        from homeport.sync import repair

        repair.record(settings.data_dir, report.damaged, merge=False)  # the next publish mends
    except BundleError as exc:
        raise _report_problems(str(exc).splitlines(), as_json, {"file": str(file)}) from None
    except _expected_errors() as exc:
        raise _fail(str(exc)) from None
    doc: dict[str, Any] = {
        "ok": not report.problems,
        "objects": report.objects,
        "bytes": report.bytes,
        "commits": report.commits,
        "problems": report.problems,
    }
    if report.problems:
        raise _report_problems(report.problems, as_json, doc)
    text = (
        f"repository ok: {report.objects} objects, {report.commits} commits, "
        f"{_size(report.bytes)}"
    )
    _emit(as_json, doc, text)


def register(app: typer.Typer) -> None:
    app.command("snapshot")(snapshot)
    app.command("log")(log)
    app.command("export")(export)
    app.command("import")(import_)
    app.command("verify")(verify)
    from homeport.cli import gc

    gc.register(app)
