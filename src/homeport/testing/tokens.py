"""A bearer token handed to providers the way the home does it, for tests and benchmarks that
need one before (or without) ``homeport tokens create``: a ``token`` delegation signed by the
home's key, in a list pushed to each provider (``docs/format.md``, ``docs/protocol.md``)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from homeport.crypto.delegations import TOKEN, new_token, sign_delegation, token_hash
from homeport.sync.auth import authorization, origin
from homeport.sync.providers import credentials

TARGET = "/_homeport/v1/delegations"


def give_token(data: Path, providers: Sequence[str], scope: Sequence[str],
               expires: int | None = None) -> str:
    """A new token with ``scope`` for the home in ``data``, usable at every one of
    ``providers`` (their URLs) once this returns. The list pushed holds only this token, so it
    replaces what the home pushed before: meant for a test's own home."""
    creds = credentials(data)
    secret = new_token()
    params = {"hash": token_hash(secret), "scope": sorted(set(scope)), "client_id": None,
              "me": None}
    for url in providers:
        now = int(time.time() * 1000)
        doc = sign_delegation(creds.key, creds.did, origin(url), TOKEN, params,
                              issued=now, expires=expires)
        body = json.dumps({"issued": now, "delegations": [doc], "revoked": []}).encode()
        signed = authorization(creds.key, creds.did, "POST", TARGET, body, audience=origin(url))
        answer = httpx.post(url + TARGET, content=body, timeout=10, headers={
            "Authorization": signed, "Content-Type": "application/json"})
        if answer.status_code != 200:
            raise RuntimeError(f"delegations at {url}: {answer.status_code} {answer.text}")
    return secret
