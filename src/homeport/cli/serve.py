"""``homeport serve``: run the home on uvicorn until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import signal
import socket
import sys

import uvicorn

from homeport import jsonio
from homeport.cli import desktop
from homeport.core.errors import HomeportError
from homeport.gui import state
from homeport.home import create_home_app, open_context
from homeport.services import accounts
from homeport.settings import Settings
from homeport.web import slowclients
from homeport.web.arenas import limit_malloc_arenas
from homeport.web.errors import reason
from homeport.web.slowclients import BodyDeadline


async def _prepare(settings: Settings) -> tuple[Settings, bool]:
    """Open the store once before serving so a bad URL fails here with one clear line, and
    create the owner's account on first run. One password: when the GUI's first-run wizard is
    still to run, it chooses the owner's (``admin``'s) password and none is made up here; a home
    set up without the wizard gets a generated one, shown once. Also says whether the wizard
    is still to run."""
    ctx = await open_context(settings)
    try:
        password = settings.admin_password
        generated = None
        first_run = await state.setup_needed(ctx)
        no_account = await ctx.store.count_all("account", "", []) == 0
        if password is None and no_account and not first_run:
            generated = password = secrets.token_urlsafe(12)
        if await accounts.ensure_admin(ctx, password) and generated:
            print("First run: created the owner account 'admin'.")
            print(f"  password: {generated}   (shown once; keep it somewhere safe)")
        elif first_run and password is None and no_account:
            print("First run: open the GUI below to set up your home; the password you choose")
            print("  there is also the API's (account 'admin').")
    finally:
        await ctx.store.close()
    prepared = dataclasses.replace(settings, admin_password=None) if generated else settings
    return prepared, first_run


def _bind(settings: Settings) -> socket.socket:
    """Bind here, not in uvicorn, so a busy port is one clear line (uvicorn logs several and
    exits with code 3), and before anything is created or printed."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError:
        sock.close()
        raise
    return sock


def run(settings: Settings, open_gui: bool = False) -> int:
    """Serve until stopped. With ``open_gui`` (``homeport`` with no command), the GUI opens in
    the browser at first run, and a home already running on the port is opened, not refused."""
    limit_malloc_arenas()  # first, before any thread has made an arena of its own
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    gui = f"http://{_local(host)}:{settings.port}/admin/"
    try:
        sock = _bind(settings)
    except OSError as exc:
        if open_gui and desktop.already_serving(settings):
            print(f"Homeport is already running: {gui}")
            if settings.open_browser:
                desktop.open_when_ready(settings, gui).join()
            return 0
        print(f"homeport: cannot listen on {host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    try:
        return _serve(settings, sock, host, gui if open_gui and settings.open_browser else None)
    finally:
        sock.close()


def _local(host: str) -> str:
    """The address a browser on this computer uses for ``host`` (any-address → loopback)."""
    return {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)


def _timeout_body(message: str) -> bytes:
    """The 408 of a body that came too slowly, in Kinto's error shape."""
    return jsonio.dumps({"code": 408, "errno": 999, "error": reason(408), "message": message})


def _serve(settings: Settings, sock: socket.socket, host: str, gui: str | None) -> int:
    try:
        settings, first_run = asyncio.run(_prepare(settings))
    except HomeportError as exc:
        print(f"homeport: {exc.message}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"homeport: cannot open the data store: {exc}", file=sys.stderr)
        return 1
    config = uvicorn.Config(
        # slow request heads and bodies are cut (web/slowclients.py)
        BodyDeadline(create_home_app(settings), _timeout_body),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        server_header=False,
        **slowclients.server_options(),
        # No proxy in front: the client's address is the connection's. uvicorn's default
        # trusts X-Forwarded-For from 127.0.0.1, which would let any local process pick the
        # address the login limit counts against (and the GUI's loopback check sees).
        proxy_headers=False,
    )
    print(f"Homeport home serving {settings.data_dir}")
    print(f"  API:  http://{host}:{settings.port}/v1/")
    print(f"  GUI:  http://{host}:{settings.port}/admin/", flush=True)
    # uvicorn re-raises the signal that stopped it after shutting down; SIGTERM is how services
    # are stopped, so a graceful stop by it is a success (exit 0), not death by signal (-15).
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    if gui and first_run:
        desktop.open_when_ready(settings, gui)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
