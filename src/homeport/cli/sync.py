"""``homeport providers add|list|remove``, ``publish``, ``status``, ``restore``, ``rollback``:
the home's side of its providers."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from homeport.cli.common import DataOption, JsonOption
from homeport.cli.common import fail as _fail
from homeport.cli.repo import _settings, _size

providers_app = typer.Typer(help="The providers this home publishes through.", no_args_is_help=True)


def _errors() -> tuple[type[BaseException], ...]:
    from homeport.cli.repo import _expected_errors
    from homeport.publish.lock import PublishBusy
    from homeport.sync.client import ProviderError
    from homeport.sync.providers import ProvidersError

    return (*_expected_errors(), ProviderError, ProvidersError, PublishBusy, ValueError)


@providers_app.command("add")
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The provider's address, e.g. https://site.eu")],
    code: Annotated[str, typer.Argument(help="The enrollment code its operator gave you.")],
    name: Annotated[str | None, typer.Option(help="The name to ask for (your subdomain).")] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Enroll with a provider: prove this home's identity and get a site address there."""
    from homeport.sync import providers

    settings = _settings(ctx, data)
    try:
        entry = providers.add(settings, url, code, name)
    except _errors() as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(entry))
    else:
        typer.echo(f"enrolled with {entry['url']} as {entry['tenant']}: {entry['site']}")


@providers_app.command("list")
def list_(ctx: typer.Context, data: DataOption = None, as_json: JsonOption = False) -> None:
    """The providers this home is enrolled with."""
    from homeport.sync import providers

    settings = _settings(ctx, data)
    try:
        entries = providers.load(settings.data_dir)
    except _errors() as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(entries))
        return
    if not entries:
        typer.echo("no provider yet (homeport providers add URL CODE)")
    for entry in entries:
        typer.echo(f"{entry['url']}  {entry.get('tenant') or ''}  {entry.get('site') or ''}")


@providers_app.command("remove")
def remove(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The provider to leave.")],
    forget: Annotated[
        bool, typer.Option("--forget", help="Only forget it here (it is unreachable).")
    ] = False,
    data: DataOption = None,
) -> None:
    """Leave a provider: it deletes this home's data and its site answers 410 Gone."""
    from homeport.sync import providers

    settings = _settings(ctx, data)
    try:
        providers.remove(settings, url, forget_only=forget)
    except _errors() as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"left {url}")


@providers_app.command("first")
def first(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="One of this home's providers.")],
    data: DataOption = None,
) -> None:
    """Make this provider's address the site's address. When it is a new address and the old
    one is still served, the next publish moves the site there: the old provider tells the
    site's fediverse followers (Move) and sends readers on (docs/fediverse.md)."""
    from homeport.sync import providers

    settings = _settings(ctx, data)
    try:
        entry = providers.make_first(settings, url)
    except _errors() as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"{entry['url']} is first: the site's address is {entry.get('site') or '-'}")


@providers_app.command("mirror")
def mirror(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="One of this home's providers.")],
    off: Annotated[bool, typer.Option("--off", help="Stop being mirrored there.")] = False,
    data: DataOption = None,
) -> None:
    """Let mirrors that provider's operator trusts keep a backup copy of this home (its
    public objects readable, private ones sealed as at the provider), or stop it."""
    from homeport.sync import providers

    settings = _settings(ctx, data)
    try:
        where = providers.set_mirror(settings, url, not off)
    except _errors() as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"{where}: {'not mirrored' if off else 'mirrored'} from now on")


@providers_app.command("rules")
def rules(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The provider these rules are for.")],
    exclude_tag: Annotated[
        list[str] | None, typer.Option("--exclude-tag", help="Keep entries with this tag off it.")
    ] = None,
    exclude_type: Annotated[
        list[str] | None,
        typer.Option("--exclude-type", help="Keep entries of this type (note, photo…) off it."),
    ] = None,
    members_content: Annotated[
        str | None,
        typer.Option(
            "--members-content",
            help="on: it may serve members-only entries to "
            "members (the default); off: it gets no tier keys and shows teasers only.",
        ),
    ] = None,
    data: DataOption = None,
) -> None:
    """Choose what is not published at one provider (no option: publish everything there)."""
    from homeport.sync import providers

    if members_content not in (None, "on", "off"):
        raise _fail("--members-content is on or off")
    content = None if members_content is None else members_content == "on"
    only_content = content is not None and exclude_tag is None and exclude_type is None
    settings = _settings(ctx, data)
    try:
        chosen = providers.set_rules(
            settings,
            url,
            None if only_content else exclude_tag or [],
            None if only_content else exclude_type or [],
            content,
        )
    except _errors() as exc:
        raise _fail(str(exc)) from None
    if content is not None:
        _push_grants(settings, url)
        typer.echo(
            f"{url}: members-only entries "
            + ("served to members" if content else "shown as teasers only")
        )
        if only_content:
            return
    if chosen["exclude_tags"] or chosen["exclude_types"]:
        typer.echo(
            f"{url}: leaving out tags {chosen['exclude_tags'] or '-'}, "
            f"types {chosen['exclude_types'] or '-'} from the next publish on"
        )
    else:
        typer.echo(f"{url}: everything public is published there")


def _push_grants(settings: Any, url: str) -> None:
    """Hand the provider its delegations now (the tier keys given or withdrawn); one that
    cannot be reached gets them with the next publish."""
    from homeport.sync import grants as grant_sync

    try:
        pushed = grant_sync.sync_blocking(settings, only=url)
    except Exception as exc:  # reported, the rule is saved either way
        pushed = []
        typer.echo(
            f"homeport: warning: {url} not told yet (the next publish will): {exc}", err=True
        )
    for outcome in pushed:
        if outcome.error:
            typer.echo(
                f"homeport: warning: {url} not told yet (the next publish will): {outcome.error}",
                err=True,
            )


class _Bars:
    """One progress bar per provider that sends something (the push calls from a thread per
    provider); rich is imported at the first bar, which a publish with nothing new never
    shows."""

    def __init__(self, disabled: bool) -> None:
        self.disabled = disabled
        self.bars: Any = None
        self.lock = threading.Lock()

    def __enter__(self) -> _Bars:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.stop()

    def _task(self, url: str) -> Any:
        with self.lock:
            if self.bars is None:
                from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

                self.bars = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    disable=self.disabled,
                    transient=True,
                )
                self.bars.start()
            return self.bars.add_task(url, total=None)

    def progress(self, url: str) -> Callable[[int, int], None]:
        task: Any = None

        def update(sent: int, total: int) -> None:
            nonlocal task
            if task is None:
                task = self._task(url)
            self.bars.update(task, completed=sent, total=total)

        return update


async def _plugins(context: Any) -> None:
    """This home's plugins, loaded by a publish that builds (heavy: not before)."""
    from homeport.plugins.activate import prepare

    await prepare(context)


def publish(
    ctx: typer.Context,
    data: DataOption = None,
    site: Annotated[str | None, typer.Option(help="The built site to publish.")] = None,
    provider: Annotated[str | None, typer.Option(help="Only this provider.")] = None,
    snapshot: Annotated[
        bool, typer.Option("--snapshot/--no-snapshot", help="Take a snapshot first.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Build the site for each provider, snapshot the home and publish it to every provider at
    once (with nothing new since the last full publish: only the push, which still checks
    each provider)."""
    from homeport.publish import run
    from homeport.publish.hooks import register_publish_hooks

    settings = _settings(ctx, data)
    register_publish_hooks()
    try:
        with _Bars(disabled=as_json) as bars:
            report = asyncio.run(
                run.publish(
                    settings,
                    site=site,
                    only=provider,
                    snapshot=snapshot,
                    progress=bars.progress,
                    prepare=_plugins,  # the site is built with the plugins' types and themes
                )
            )
            outcomes = report.outcomes
    except _errors() as exc:
        raise _fail(str(exc)) from None
    rows = []
    for o in outcomes:
        r = o.result
        rows.append(
            {
                "url": o.url,
                "ok": o.error is None,
                "error": o.error,
                "seq": r.seq if r else None,
                "up_to_date": r.up_to_date if r else None,
                "objects": r.objects if r else None,
                "bytes": r.bytes if r else None,
                "seconds": round(r.seconds, 6) if r else None,
                "site": r.site if r else None,
                "repaired": r.repaired if r else None,
            }
        )
        if not as_json:
            if r is None:
                typer.echo(f"homeport: {o.url}: {o.error}", err=True)
            elif r.up_to_date:
                typer.echo(f"{o.url}: already live at commit {r.seq}")
            else:
                typer.echo(
                    f"{o.url}: live at commit {r.seq}, sent {r.objects} objects, "
                    f"{_size(r.bytes)} in {r.seconds:.2f} s"
                    + (f" ({r.repaired} damaged copies there replaced)" if r.repaired else "")
                )
    if as_json:
        typer.echo(json.dumps(rows))
    if any(o.error for o in outcomes):
        raise typer.Exit(1)


def status(ctx: typer.Context, data: DataOption = None, as_json: JsonOption = False) -> None:
    """Each provider's live commit, last publish, health, storage used and address."""
    from homeport.services import repository
    from homeport.sync import providers

    settings = _settings(ctx, data)
    try:
        commits = repository.log(settings)
        rows = providers.status(settings)
    except _errors() as exc:
        raise _fail(str(exc)) from None
    head = commits[0].seq if commits else None
    if as_json:
        typer.echo(json.dumps({"head_seq": head, "providers": rows}))
        return
    typer.echo(f"home: commit {head if head is not None else '(none)'}")
    for row in rows:
        remote = row.get("remote") or {}
        live = remote.get("seq")
        usage = remote.get("usage")
        typer.echo(
            f"{row['url']}  {row['health']}  live {live if live is not None else '-'}  "
            f"{_size(int(usage)) if usage is not None else '-'}  {row.get('site') or ''}"
        )


def restore(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--from", help="The provider to restore from.")],
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bring the home here from a provider with the recovery phrase (read from stdin) and make
    this copy the primary (a root-signed handoff the provider checks); run on a standby, moves
    the home back to it."""
    from homeport.cli.identity import read_phrase
    from homeport.sync import providers

    settings = _settings(ctx, data)
    try:
        phrase = read_phrase("Recovery phrase")
        outcome = asyncio.run(providers.restore(settings, source, phrase))
    except _errors() as exc:
        raise _fail(str(exc)) from None
    head = outcome.result.new_commits[-1].seq if outcome.result.new_commits else None
    aside = outcome.set_aside
    doc = {
        "identity": outcome.did,
        "head_seq": head,
        "objects": outcome.result.objects,
        "set_aside": str(aside.path) if aside else None,
    }
    if as_json:
        typer.echo(json.dumps(doc))
    else:
        typer.echo(f"restored {outcome.did} at commit {head} ({outcome.result.objects} objects)")
        if aside is not None:
            typer.echo(set_aside_note(aside))


def set_aside_note(aside: Any) -> str:
    """What the owner reads about commits a move back took out of this copy's history."""
    if aside.first == aside.last:
        span = f"commit {aside.first}"
    else:
        span = f"commits {aside.first} to {aside.last}"
    return (
        f"this copy's {span} never reached the provider: set aside (kept, not lost) in "
        f"{aside.path}; see what they held with 'homeport import {aside.path}' into an empty "
        "data dir (same phrase), and make those changes again here"
    )


def rollback(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(help="The commit to put live again.")],
    data: DataOption = None,
) -> None:
    """Put an earlier commit's site live again at every provider."""
    from homeport.sync import providers

    settings = _settings(ctx, data)
    try:
        outcomes = providers.rollback(settings, seq)
    except _errors() as exc:
        raise _fail(str(exc)) from None
    for o in outcomes:
        if o.error:
            typer.echo(f"homeport: {o.url}: {o.error}", err=True)
        else:
            typer.echo(f"{o.url}: commit {seq} is live")
    if any(o.error for o in outcomes):
        raise typer.Exit(1)


def repair(ctx: typer.Context, data: DataOption = None, as_json: JsonOption = False) -> None:
    """Check every object of the home's repository and fetch the damaged ones back from the
    providers that hold good copies (a publish mends what it finds too)."""
    from homeport.services import repository
    from homeport.sync import providers
    from homeport.sync import repair as mending

    settings = _settings(ctx, data)
    try:
        found = repository.verify_home(settings)
        mending.record(settings.data_dir, found.damaged, merge=False)
        mended = providers.repair_home(settings)
        after = repository.verify_home(settings) if mended.mended else found
    except _errors() as exc:
        raise _fail(str(exc)) from None
    mending.record(settings.data_dir, after.damaged, merge=False)
    doc = {
        "ok": not after.problems,
        "damaged": len(found.damaged),
        "mended": {url: len(ids) for url, ids in mended.mended.items()},
        "left": [oid.hex() for oid in mended.left],
        "errors": mended.errors,
        "problems": after.problems,
    }
    if as_json:
        typer.echo(json.dumps(doc))
    else:
        for url, ids in mended.mended.items():
            typer.echo(f"mended {len(ids)} damaged objects from {url}")
        for line in [*mended.errors, *after.problems]:
            typer.echo(f"homeport: {line}", err=True)
        if not after.problems:
            typer.echo(f"repository ok: {after.objects} objects, {after.commits} commits")
    if after.problems:
        raise typer.Exit(1)


def audit(settings_dir: Path | None, url: str, as_json: bool, ctx: typer.Context) -> None:
    """``homeport verify --provider URL``."""
    from homeport.sync import providers

    settings = _settings(ctx, settings_dir)
    try:
        report = providers.audit(settings, url)
    except _errors() as exc:
        raise _fail(str(exc)) from None
    doc = {
        "ok": not report.problems,
        "url": report.url,
        "head": report.head,
        "objects": report.checked,
        "problems": report.problems,
    }
    if as_json:
        typer.echo(json.dumps(doc))
    for line in report.problems:
        typer.echo(f"homeport: {line}", err=True)
    if report.problems:
        raise typer.Exit(1)
    if not as_json:
        typer.echo(f"{report.url}: ok, {report.checked} objects of commit {report.head}")


def register_providers(app: typer.Typer) -> None:
    """``homeport providers …`` and ``homeport tokens …``."""
    from homeport.cli import grants

    app.add_typer(providers_app, name="providers")
    grants.register(app, providers_app)


def register(app: typer.Typer) -> None:
    """``homeport publish|status|restore|rollback|repair``."""
    app.command("publish")(publish)
    app.command("status")(status)
    app.command("restore")(restore)
    app.command("rollback")(rollback)
    app.command("repair")(repair)
