"""``homeport provider …``: run a provider and manage its tenants from the shell.

The operator commands open the provider's database directly (``provider.sqlite``, or PostgreSQL
with ``--database``), so they work whether or not the server is running; the server sees their
changes on its next request.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from homeport.cli.common import JsonOption
from homeport.cli.common import fail as _fail
from homeport.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from homeport.provider.db import ProviderDB

provider_app = typer.Typer(
    help="Run a provider (a public, multi-tenant server) and manage its tenants.",
    no_args_is_help=True,
)

DataOption = Annotated[
    Path | None, typer.Option("--data", help="Provider data directory.", show_default=False)
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Keep the provider's state and the tenants' repositories in PostgreSQL "
        "(postgresql://user@host:port/db) [provider_database; default: SQLite files in --data].",
        show_default=False,
    ),
]
INVITE_DAYS = 7
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


WORKER_HEALTHCHECK_S = 60


def invite_code() -> str:
    """Four groups of four unambiguous characters (about 79 bits): easy to read out and type,
    and never taken for a command-line option (a base64url code may start with '-')."""
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(chars[i : i + 4] for i in range(0, 16, 4))


def _settings(ctx: typer.Context, data: Path | None, **flags: Any) -> Settings:
    try:
        return load_settings(data or (ctx.obj or {}).get("data"), **flags)
    except SettingsError as exc:
        raise _fail(str(exc)) from None


def open_db(settings: Settings) -> ProviderDB:
    """The provider's database, or one ``homeport:`` line saying why it cannot be opened."""
    from homeport.provider.db import ProviderDB, ProviderStateError
    from homeport.store.connection import DatabaseError, is_postgres

    url = settings.provider_database
    if url and not is_postgres(url):
        raise _fail(f"--database {url!r}: give a postgresql://user@host:port/db URL")
    try:
        return ProviderDB(settings.data_dir, url, settings.objects)
    except ValueError as exc:  # the objects URL (scheme, options, credentials)
        raise _fail(f"objects {settings.objects!r}: {exc}") from None
    except (ProviderStateError, OSError, sqlite3.Error, DatabaseError) as exc:
        raise _fail(f"cannot open the provider's data in {settings.data_dir}: {exc}") from None


def check_objects(db: ProviderDB) -> None:
    """List one page of the shared object store, so a wrong bucket, endpoint or key stops
    ``serve`` at once rather than every publish later."""
    from homeport.store.protocols import ObjectStoreError

    if db.objects is None:
        return
    try:
        next(iter(db.objects.names("tenants/")), None)
    except (ObjectStoreError, OSError) as exc:
        db.close()
        raise _fail(f"the object store does not answer: {exc}") from None


def parse_size(text: str) -> int:
    """``5GB``, ``500MB``, ``2GiB``, ``1048576`` → bytes."""
    match = SIZE.match(text)
    if match is None:
        raise ValueError(text)
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    binary = "i" in unit
    letter = unit[:1] if unit not in ("", "b") else ""
    factor = 1024 ** " kmgt".index(letter) if binary and letter else UNITS[letter]
    return int(number * factor)


@provider_app.command()
def serve(
    ctx: typer.Context,
    data: DataOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on [127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [8760].")] = None,
    base_domain: Annotated[
        str | None,
        typer.Option("--base-domain", help="Tenants get <name>.<base domain> (required)."),
    ] = None,
    database: DatabaseOption = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes [one per CPU].", show_default=False)
    ] = None,
    public_url: Annotated[
        list[str] | None,
        typer.Option(
            "--public-url",
            help="An address homes reach this provider at, e.g. https://example.net "
            "(repeatable; needed behind a proxy) [provider_public_url].",
            show_default=False,
        ),
    ] = None,
    objects: Annotated[
        str | None,
        typer.Option(
            "--objects",
            help="Keep tenants' pack files in an S3-compatible bucket: "
            "s3://BUCKET?endpoint=URL&region=R, credentials from AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY [objects; default: each tenant's packs/ in --data].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the sync protocol under /_homeport/v1/ and tenants' sites by Host header."""
    from homeport.web.arenas import limit_malloc_arenas

    limit_malloc_arenas()  # first, before any thread has made an arena of its own
    import uvicorn

    from homeport.provider import audience, hosted
    from homeport.provider.admin import has_password, set_password
    from homeport.provider.app import ProviderWorker, create_provider_app
    from homeport.provider.hosted import HomeFactory
    from homeport.web import slowclients

    settings = _settings(
        ctx,
        data,
        host=host,
        provider_port=port,
        base_domain=base_domain,
        provider_database=database,
        provider_public_url=public_url or None,
        objects=objects,
    )
    try:
        public = audience.configured(settings)
        hosted.check_settings(settings)
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    if not settings.base_domain:
        raise _fail("--base-domain is required (or the base_domain setting), e.g. example.net")
    count = workers if workers is not None else _cpus()
    if count < 1:
        raise _fail(f"--workers {count}: give at least 1")
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    try:
        sock = _bind(settings.host, settings.provider_port)
    except OSError as exc:
        raise _fail(f"cannot listen on {shown}:{settings.provider_port}: {exc}") from None
    try:
        db = open_db(settings)
        check_objects(db)
        if not has_password(db):
            password = settings.operator_password or secrets.token_urlsafe(12)
            set_password(db, settings, password)
            if not settings.operator_password:
                print("First run: the operator page is /_homeport/admin/ (user 'operator').")
                print(f"  password: {password}   (shown once; keep it somewhere safe)")
        # several workers share the socket; each builds its own app (database connection,
        # caches) in its own process, and publishes are serialised across them by a file lock
        # hosted homes are homes: the provider cannot import the home's app, so it is handed
        # in (and only imported when they are offered: it adds to every worker's start)
        factory: HomeFactory | None = None
        if settings.hosted_homes:
            from homeport.home import create_home_app

            factory = create_home_app
        app = (
            create_provider_app(settings, db=db, home_factory=factory)
            if count == 1
            else ProviderWorker(settings, factory)
        )
        config = uvicorn.Config(
            app,
            workers=count,
            log_level=settings.log_level,
            access_log=False,
            timeout_graceful_shutdown=5,
            # a worker has this long to import and start, and to answer the supervisor's
            # pings: uvicorn's 5 s killed and restarted workers over and over on a loaded
            # 2-CPU machine (and would on a small board), so the provider never came up
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            timeout_keep_alive=75,  # longer than a front proxy keeps idle upstream connections
            server_header=False,
            # behind Caddy on loopback: the client's address (the operator page's login limit)
            # and scheme come from X-Forwarded-*, trusted from 127.0.0.1 only
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1",
            **slowclients.server_options(),  # slow or huge request heads are cut
        )
        print(f"Homeport provider serving {settings.data_dir} for *.{settings.base_domain}")
        print(f"  on http://{shown}:{settings.provider_port}/", flush=True)
        if public:
            print(f"  answering requests signed for {', '.join(public)}", flush=True)
        else:
            print(
                f"  answering requests signed for https://{settings.base_domain} or for the "
                "address they reach it at directly (behind a proxy, set --public-url)",
                flush=True,
            )
        print(f"  with {count} worker process{'es' if count > 1 else ''}", flush=True)
        if settings.provider_database:
            print(f"  state and repositories in PostgreSQL at {db.where}", flush=True)
        if db.objects is not None:
            print(f"  tenants' packs in {db.objects!r}", flush=True)
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        if count == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            from uvicorn.supervisors import Multiprocess

            db.close()
            Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


def _cpus() -> int:
    """The CPUs this process may run on (all of them where that cannot be asked)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@provider_app.command()
def invite(
    ctx: typer.Context,
    data: DataOption = None,
    quota: Annotated[
        str | None, typer.Option(help="Storage quota, e.g. 5GB, 500MB [invite_quota].")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Reserve this site name for the tenant.")] = None,
    as_json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Print a one-time enrollment code (valid 7 days)."""
    from homeport.provider.tenants import valid_name

    settings = _settings(ctx, data, provider_database=database)
    try:
        limit = parse_size(quota) if quota is not None else settings.invite_quota
    except ValueError:
        raise _fail(f"--quota {quota!r}: give a size such as 5GB or 500MB") from None
    if name is not None and not valid_name(name):
        raise _fail(f"--name {name!r}: use lower-case letters, digits and '-' (one DNS label)")
    db = open_db(settings)
    try:
        if name is not None and db.tenant(name) is not None:
            raise _fail(f"the name {name} is taken by a tenant")
        code = invite_code()
        now = int(time.time() * 1000)
        db.add_invite(code, name, limit, now, now + INVITE_DAYS * 86_400_000)
    finally:
        db.close()
    if as_json:
        typer.echo(json.dumps({"code": code, "quota": limit, "name": name}))
        return
    typer.echo(code)
    where = f"https://{settings.base_domain}" if settings.base_domain else "https://<provider>"
    typer.echo(f"The home enrolls with: homeport providers add {where} {code}", err=True)


@provider_app.command("mirror-token")
def mirror_token(
    ctx: typer.Context,
    label: Annotated[str, typer.Option(help="Whose mirror this is, for the operator.")] = "mirror",
    data: DataOption = None,
    as_json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Print a token with which a home may mirror the tenants that opted in (homeport
    provider mirror); only its hash is kept."""
    settings = _settings(ctx, data, provider_database=database)
    token = "hpm_" + secrets.token_urlsafe(32)
    db = open_db(settings)
    try:
        db.add_mirror_token(token, label[:100], int(time.time() * 1000))
    finally:
        db.close()
    if as_json:
        typer.echo(json.dumps({"token": token, "label": label[:100]}))
        return
    typer.echo(token)


@provider_app.command("mirror")
def mirror(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The provider to mirror, e.g. https://site.eu")],
    token: Annotated[str, typer.Option(help="The token its operator gave (mirror-token).")],
    into: Annotated[
        Path | None, typer.Option(help="Where the copies go [default: <data>/mirrors/<host>].")
    ] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Keep a full backup copy of every tenant of a provider that opted in (homeport
    providers mirror): each as a checked bundle its owner restores with the phrase
    (homeport import). Run it again (a timer) to stay up to date: only what moved is fetched."""
    from urllib.parse import urlsplit

    from homeport.cli.repo import _settings as home_settings
    from homeport.sync import mirror as mirroring
    from homeport.sync.providers import ProvidersError

    settings = home_settings(ctx, data)
    target = into or settings.data_dir / "mirrors" / (urlsplit(url).netloc or url)
    try:
        done = mirroring.run(url, token, target)
    except (ProvidersError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    rows = [vars(d) for d in done]
    if as_json:
        typer.echo(json.dumps({"into": str(target), "tenants": rows}))
    else:
        for d in done:
            state = d.error or ("fetched" if d.fetched else "up to date")
            typer.echo(f"{d.name}  commit {d.seq if d.seq is not None else '-'}  {state}")
    if any(d.error for d in done):
        raise typer.Exit(1)


@provider_app.command()
def tenants(
    ctx: typer.Context,
    data: DataOption = None,
    as_json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List tenants: name, identity, domains, usage, last publish, live seq."""
    from homeport.provider import sites, sitestore
    from homeport.provider.admin import size, when

    settings = _settings(ctx, data, provider_database=database)
    db = open_db(settings)
    try:
        store = sitestore.for_provider(settings, db)
        docs: list[dict[str, Any]] = []
        for t in db.tenants():
            live = store.live(t.name)
            docs.append(
                {
                    "name": t.name,
                    "did": t.did,
                    "state": t.state,
                    "domains": [
                        {"domain": d.domain, "verified": d.verified} for d in db.domains_of(t.name)
                    ],
                    "usage": t.usage,
                    "quota": t.quota,
                    "last_publish": t.last_publish,
                    "seq": sites.seq_of(live) if live else None,
                }
            )
    finally:
        db.close()
    if as_json:
        typer.echo(json.dumps(docs))
        return
    if not docs:
        typer.echo("No tenants yet: make an enrollment code with 'homeport provider invite'.")
    for d in docs:
        names = ", ".join(x["domain"] + ("" if x["verified"] else "?") for x in d["domains"])
        typer.echo(
            f"{d['name']}  {d['state']}  {d['did']}  {size(d['usage'])}/{size(d['quota'])}"
            f"  seq {d['seq'] if d['seq'] is not None else '-'}  last publish "
            f"{when(d['last_publish'])}" + (f"  {names}" if names else "")
        )


def _change(
    ctx: typer.Context, data: Path | None, database: str | None, name: str, action: str
) -> None:
    from homeport.provider import sitestore
    from homeport.provider.api.tenant import remove_tenant
    from homeport.provider.db import ACTIVE, DELETED, SUSPENDED

    settings = _settings(ctx, data, provider_database=database)
    db = open_db(settings)
    try:
        tenant = db.tenant(name)
        if tenant is None:
            raise _fail(f"no tenant named {name!r} (see 'homeport provider tenants')")
        if tenant.state == DELETED:
            raise _fail(f"tenant {name} was deleted; nothing was changed")
        if action == "delete":
            remove_tenant(db, settings.data_dir, name, sitestore.for_provider(settings, db))
        else:
            db.set_state(name, SUSPENDED if action == "suspend" else ACTIVE)
    finally:
        db.close()
    typer.echo(f"{name}: {action}d" if action != "resume" else f"{name}: resumed")


@provider_app.command()
def suspend(
    ctx: typer.Context, tenant: str, data: DataOption = None, database: DatabaseOption = None
) -> None:
    """Stop serving a tenant's site (503) and refuse its requests, keeping its data."""
    _change(ctx, data, database, tenant, "suspend")


@provider_app.command()
def resume(
    ctx: typer.Context, tenant: str, data: DataOption = None, database: DatabaseOption = None
) -> None:
    """Serve a suspended tenant again."""
    _change(ctx, data, database, tenant, "resume")


@provider_app.command()
def delete(
    ctx: typer.Context, tenant: str, data: DataOption = None, database: DatabaseOption = None
) -> None:
    """Delete a tenant's objects and sites; its addresses answer 410 Gone from then on."""
    _change(ctx, data, database, tenant, "delete")


@provider_app.command("gc")
def gc_command(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go, and remove nothing.")
    ] = False,
    data: DataOption = None,
    as_json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Collect every tenant's garbage now (what ``serve`` does each gc_interval_seconds):
    uploads no publish adopted within a day, objects no commit reaches, and the packs a
    deleted tenant left in the object store."""
    import asyncio

    from homeport.provider.api.context import Provider
    from homeport.provider.gc import collect_all

    settings = _settings(ctx, data, provider_database=database)
    db = open_db(settings)
    try:
        report = asyncio.run(collect_all(Provider(settings, db), dry_run=dry_run))
    finally:
        db.close()
    doc = report.as_dict()
    if as_json:
        typer.echo(json.dumps(doc))
    else:
        verb = "would go" if dry_run else "went"
        for name, found in doc["tenants"].items():
            pending, lost = found["pending"], found["unreachable"]
            typer.echo(
                f"{name}: {pending['count']} stale uploads ({pending['bytes']} B) and "
                f"{lost['count']} unreachable objects ({lost['bytes']} B) {verb}; "
                f"kept {found['kept']['count']} objects ({found['kept']['bytes']} B)"
            )
        for name, count in doc["deleted_tenants_packs"].items():
            typer.echo(f"{name} (deleted): {count} packs left in the object store {verb}")
        for name, error in doc["failed"].items():
            typer.echo(f"homeport: tenant {name}: {error}", err=True)
    if doc["failed"]:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    provider_app(sys.argv[1:])
