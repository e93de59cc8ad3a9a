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
from homeport.core.errors import HomeportError
from homeport.home import create_home_app, open_context
from homeport.services import accounts
from homeport.settings import Settings
from homeport.web import slowclients
from homeport.web.errors import reason
from homeport.web.slowclients import BodyDeadline


async def _prepare(settings: Settings) -> Settings:
    """Open the store once before serving so a bad URL fails here with one clear line, and
    create the owner's account on first run, showing a generated password once."""
    ctx = await open_context(settings)
    try:
        password = settings.admin_password
        generated = None
        if password is None and await ctx.store.count_all("account", "", []) == 0:
            generated = password = secrets.token_urlsafe(12)
        if await accounts.ensure_admin(ctx, password) and generated:
            print("First run: created the owner account 'admin'.")
            print(f"  password: {generated}   (shown once; keep it somewhere safe)")
    finally:
        await ctx.store.close()
    return dataclasses.replace(settings, admin_password=None) if generated else settings


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


def run(settings: Settings) -> int:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    try:
        sock = _bind(settings)
    except OSError as exc:
        print(f"homeport: cannot listen on {host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    try:
        return _serve(settings, sock, host)
    finally:
        sock.close()


def _timeout_body(message: str) -> bytes:
    """The 408 of a body that came too slowly, in Kinto's error shape."""
    return jsonio.dumps({"code": 408, "errno": 999, "error": reason(408), "message": message})


def _serve(settings: Settings, sock: socket.socket, host: str) -> int:
    try:
        settings = asyncio.run(_prepare(settings))
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
    uvicorn.Server(config).run(sockets=[sock])
    return 0
