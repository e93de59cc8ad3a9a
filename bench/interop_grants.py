"""Bearer tokens (issue E): how soon a token made with ``homeport tokens create`` works at every
provider, and how soon ``homeport tokens revoke`` stops it, measured at the providers' real
Micropub endpoint (``q=config``: 200 with a valid token, 401 otherwise); and what checking a
token costs a provider (``Grants.token``, SQLite).

    .venv/bin/python bench/interop_grants.py [--tokens 5]

Two ``provider serve`` on SQLite, one home, all on 127.0.0.1; the clock starts when the command
is started (its own start-up included) and stops when both providers agree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from homeport.crypto.delegations import check_delegation, new_token, sign_delegation, token_hash
from homeport.provider.db import ProviderDB
from homeport.provider.grants import ProviderGrants, allowed_keys
from homeport.services import identity as ids
from homeport.services.repository import signer
from homeport.settings import load_settings
from homeport.sync.auth import origin
from homeport.testing.live import free_port, stop_process

BASE = "example.test"
HOST = f"alice.{BASE}"
FAST = {"HOMEPORT_ARGON2_TIME_COST": "1", "HOMEPORT_ARGON2_MEMORY_KIB": "1024"}
WITHIN = 30.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    return {**env, **FAST, "HOMEPORT_OPERATOR_PASSWORD": "operator-pw"}


def _cli(data: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "homeport", *args, "--data", str(data)],
                          capture_output=True, timeout=120, env=_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"homeport {' '.join(args)}: {done.stderr.decode()}")
    return done.stdout.decode()


def _provider(root: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(root / f"{name}.log", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(root / name),
             "--port", str(port), "--base-domain", BASE],
            stdout=out, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/_homeport/v1/", timeout=2)
            return proc, url
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop_process(proc)
                raise RuntimeError(f"provider {name} did not start") from None
            time.sleep(0.05)


def _until(urls: list[str], token: str, status: int, since: float) -> float:
    """Seconds from ``since`` until every provider answers ``status`` for ``token``."""
    pending = list(urls)
    with httpx.Client(timeout=5, headers={"Host": HOST, "Authorization": f"Bearer {token}"}) as c:
        while pending:
            if time.perf_counter() - since > WITHIN:
                raise RuntimeError(f"not {status} at {pending} after {WITHIN} s")
            pending = [u for u in pending
                       if c.get(u + "/_homeport/micropub?q=config").status_code != status]
            if pending:
                time.sleep(0.02)
    return time.perf_counter() - since


def _summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_s": round(statistics.median(values), 3),
            "max_s": round(max(values), 3)}


def _check_cost(root: Path, calls: int = 2000) -> dict[str, Any]:
    """Microseconds per ``Grants.token`` on SQLite: a valid token, an unknown one."""
    ident, _ = ids.create(root / "cost-home")
    key = signer(root / "cost-home").key
    settings = load_settings(root / "cost-provider", base_domain=BASE)
    db = ProviderDB(settings.data_dir)
    try:
        db.add_invite("code", None, 10**9, 0, 2**62)
        db.enroll("code", "alice", ident.did, ident.operations, 10**9, 0)
        grants = ProviderGrants(db, settings, lambda: int(time.time() * 1000))
        aud = origin("http://127.0.0.1:1")
        secret = new_token()
        params = {"hash": token_hash(secret), "scope": ["create"], "client_id": None, "me": None}
        doc = sign_delegation(key, ident.did, aud, "token", params, issued=1, expires=None)
        tenant = db.tenant("alice")
        assert tenant is not None
        checked = check_delegation(doc, allowed_keys(tenant), ident.did, {aud}, 0)
        grants.replace(tenant, 1, [checked], [doc], [])
        figures = {}
        for label, value in (("valid", secret), ("unknown", new_token())):
            start = time.perf_counter()
            for _ in range(calls):
                grants.token("alice", value)
            figures[f"token_check_{label}_us"] = round((time.perf_counter() - start) / calls * 1e6)
        return figures
    finally:
        db.close()


def run(tokens: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="homeport-bench-grants-") as scratch:
        root = Path(scratch)
        started: list[subprocess.Popen[bytes]] = []
        try:
            urls = []
            for name in ("provider-a", "provider-b"):
                proc, url = _provider(root, name)
                started.append(proc)
                urls.append(url)
            data = root / "home"
            _cli(data, "init", "--json")
            for n, url in enumerate(urls):
                code = json.loads(subprocess.run(
                    [sys.executable, "-m", "homeport", "provider", "invite", "--json", "--data",
                     str(root / f"provider-{'ab'[n]}")],
                    capture_output=True, timeout=60, env=_env(), check=True).stdout)["code"]
                _cli(data, "providers", "add", url, code, "--name", "alice")
            usable, refused, commands = [], [], []
            for _ in range(tokens):
                since = time.perf_counter()
                made = json.loads(_cli(data, "tokens", "create", "--scope", "create", "--json"))
                commands.append(time.perf_counter() - since)
                usable.append(_until(urls, made["token"], 200, since))
                since = time.perf_counter()
                _cli(data, "tokens", "revoke", made["id"])
                commands.append(time.perf_counter() - since)
                refused.append(_until(urls, made["token"], 401, since))
            start = time.perf_counter()
            _cli(data, "--version")
            startup = time.perf_counter() - start
            figures: dict[str, Any] = {
                "providers": len(urls),
                "create_to_usable_everywhere": _summary(usable),
                "revoke_to_refused_everywhere": _summary(refused),
                "command_runs": _summary(commands),
                "cli_start_up_s": round(startup, 3),
            }
        finally:
            for proc in started:
                stop_process(proc)
        figures.update(_check_cost(root))
        return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.tokens), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
