"""Delegations and bearer tokens at the provider: the ``Grants`` port (``interop.ports``) and
``POST /_homeport/v1/delegations``, where a home hands over the list of what it grants here.

Nothing is trusted because it is stored: every use checks the signed document again, against
the tenant's identity as it stands (its root and its key in force), this provider's audience,
the expiry and the latest list (a delegation the home dropped from its list, or named as
revoked, is gone). Tokens are kept as SHA-256 hashes only. Tokens the provider issues itself
(IndieAuth, under an ``indieauth-tokens`` delegation) hold only while that delegation does,
and are reported back to the home so it can list and revoke them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeport.core.identity import IdentityError, current_key
from homeport.crypto.delegations import (
    ID,
    INDIEAUTH_TOKENS,
    TOKEN,
    Checked,
    DelegationError,
    check_delegation,
    new_id,
    new_token,
    parse_scope,
    token_hash,
)
from homeport.crypto.signing import verify as verify_signature
from homeport.interop.grants import TOKEN_ISSUED
from homeport.interop.ports import Delegation, Inbox, InboxFull, TokenGrant
from homeport.provider import audience
from homeport.provider.api.context import Provider, in_thread
from homeport.provider.api.http import endpoint, json_of
from homeport.provider.api.signed import authenticate
from homeport.provider.db import ACTIVE, ProviderDB, Tenant
from homeport.provider.errors import ProviderError
from homeport.settings import Settings

log = logging.getLogger("homeport.provider.grants")

HOME = "home"
PROVIDER = "provider"
MAX_LIST = 10_000
"""A list holds at most this many delegations, and names at most this many revoked ids."""


class Redeemed(Exception):
    """A token was already issued under this id (an authorization code used twice)."""


@dataclass(frozen=True)
class _Row:
    id: str
    issuer: str
    power: str
    audience: str
    issued: int
    expires: int | None
    source: str
    doc: dict[str, Any]
    revoked: int | None
    token_hash: str | None


_COLUMNS = "id, issuer, power, audience, issued, expires, source, doc, revoked, token_hash"


def _row(raw: tuple[Any, ...]) -> _Row:
    return _Row(
        raw[0],
        raw[1],
        raw[2],
        raw[3],
        int(raw[4]),
        None if raw[5] is None else int(raw[5]),
        raw[6],
        json.loads(raw[7]),
        None if raw[8] is None else int(raw[8]),
        raw[9],
    )


def allowed_keys(tenant: Tenant) -> set[str]:
    """Who may sign for the tenant now: its root and the key its identity log puts in force."""
    return set(_allowed(tenant.did, json.dumps(tenant.operations)))


@functools.lru_cache(maxsize=1024)
def _allowed(did: str, operations: str) -> tuple[str, ...]:
    """Remembered per log: verifying it costs a signature per operation, on every use."""
    keys = [did]
    with contextlib.suppress(IdentityError):
        keys.append(current_key(did, json.loads(operations), verify_signature))
    return tuple(keys)


class ProviderGrants:
    """``interop.ports.Grants`` over the provider's database, plus what the home's list and the
    IndieAuth endpoints need (issue, revoke, report)."""

    def __init__(
        self,
        db: ProviderDB,
        settings: Settings,
        clock: Callable[[], int],
        inbox: Inbox | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.inbox = inbox
        """Where provider-issued tokens are reported to the home, once the inbox exists."""
        self.public = audience.configured(settings)

    # --- checks on every use -------------------------------------------------------------
    def _tenant(self, name: str) -> Tenant | None:
        tenant = self.db.tenant(name)
        return tenant if tenant is not None and tenant.state == ACTIVE else None

    def _check(self, tenant: Tenant, row: _Row, now: int) -> Checked | None:
        """The row's document checked again, or None (and why, in the log)."""
        if row.revoked is not None or row.issuer != tenant.did:
            return None
        # the audience was checked against the request when the list arrived; with public
        # addresses configured it must still be one of them
        audiences = set(self.public) if self.public else {row.audience}
        try:
            return check_delegation(row.doc, allowed_keys(tenant), tenant.did, audiences, now)
        except DelegationError as exc:
            log.info("delegation %s of %s refused: %s", row.id, tenant.name, exc)
            return None

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[_Row]:
        with self.db.transaction() as conn:
            return [_row(r) for r in conn.execute(sql, args).fetchall()]

    def _in_force(self, tenant: Tenant, power: str, now: int) -> Checked | None:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM delegations WHERE tenant = ? AND power = ? AND source = ?"
            " AND revoked IS NULL ORDER BY issued DESC, id",
            (tenant.name, power, HOME),
        )
        for row in rows:
            checked = self._check(tenant, row, now)
            if checked is not None:
                return checked
        return None

    def delegation(self, tenant: str, power: str) -> Delegation | None:
        """The newest delegation of ``power`` that still checks out, or None."""
        found = self._tenant(tenant)
        if found is None:
            return None
        checked = self._in_force(found, power, self.clock())
        if checked is None:
            return None
        return Delegation(
            checked.id, found.name, checked.power, checked.params, checked.expires or 0
        )

    def token(self, tenant: str, token: str) -> TokenGrant | None:
        """The grant behind a bearer token, checked now: hash compared in constant time,
        expiry, revocation, the home's signature (or, for a token issued here, the
        ``indieauth-tokens`` delegation it was issued under)."""
        found = self._tenant(tenant)
        if found is None or not isinstance(token, str) or not 0 < len(token) <= 512:
            return None
        wanted = token_hash(token)
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM delegations WHERE token_hash = ? AND tenant = ?"
            " AND power = ?",
            (wanted, found.name, TOKEN),
        )
        now = self.clock()
        for row in rows:
            if row.token_hash is None or not hmac.compare_digest(row.token_hash, wanted):
                continue
            if row.revoked is not None or (row.expires is not None and row.expires <= now):
                return None
            if row.source == HOME:
                checked = self._check(found, row, now)
                if checked is None:
                    return None
                params = checked.params
                scope = frozenset(params["scope"])
            else:
                scope = frozenset(row.doc.get("scope", []))
                parent = self._in_force(found, INDIEAUTH_TOKENS, now)
                if parent is None or not scope <= set(parent.params.get("scopes", [])):
                    return None
                params = row.doc
            return TokenGrant(
                row.id,
                found.name,
                scope,
                row.expires,
                params.get("client_id"),
                params.get("me"),
            )
        return None

    # --- tokens issued here (IndieAuth) --------------------------------------------------
    def issue_token(
        self,
        tenant: str,
        scope: Iterable[str],
        *,
        client_id: str | None = None,
        me: str | None = None,
        expires: int | None = None,
        grant_id: str | None = None,
    ) -> tuple[str, TokenGrant]:
        """Mint a token under the tenant's ``indieauth-tokens`` delegation: its scope must be
        within the delegation's ``scopes``, its expiry no later than the delegation's. The
        secret is returned once; only its hash is kept. PermissionError when the delegation
        does not allow it; ``Redeemed`` when ``grant_id`` was used before (one token per
        authorization code)."""
        found = self._tenant(tenant)
        now = self.clock()
        parent = None if found is None else self._in_force(found, INDIEAUTH_TOKENS, now)
        if found is None or parent is None:
            raise PermissionError("the home has not delegated issuing tokens to this provider")
        try:
            scopes = parse_scope(list(scope))
        except DelegationError as exc:
            raise PermissionError(str(exc)) from None
        allowed = set(parent.params.get("scopes", []))
        if not set(scopes) <= allowed:
            extra = " ".join(sorted(set(scopes) - allowed))
            raise PermissionError(f"the home does not let this provider grant: {extra}")
        limit = parent.expires
        if limit is not None:
            expires = limit if expires is None else min(expires, limit)
        secret = new_token()
        grant_id = grant_id or new_id()
        doc = {
            "scope": scopes,
            "client_id": client_id,
            "me": me,
            "issued": now,
            "expires": expires,
            "under": parent.id,
        }
        with self.db.transaction() as conn:
            cur = conn.execute(
                f"INSERT INTO delegations (tenant, {_COLUMNS}) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (tenant, id) DO NOTHING",
                (
                    found.name,
                    grant_id,
                    found.did,
                    TOKEN,
                    parent.audience,
                    now,
                    expires,
                    PROVIDER,
                    json.dumps(doc),
                    token_hash(secret),
                ),
            )
            if cur.rowcount != 1:
                raise Redeemed(f"token {grant_id} was already issued")
        grant = TokenGrant(grant_id, found.name, frozenset(scopes), expires, client_id, me)
        self._report(found.name, grant_id, doc, parent.audience)
        return secret, grant

    def _report(self, tenant: str, grant_id: str, doc: Mapping[str, Any], aud: str) -> None:
        """Tell the home (through its inbox) of a token issued here; the home also learns of
        it on its next list push, so a full inbox loses nothing."""
        if self.inbox is None:
            return
        meta = {"id": grant_id, **{k: doc[k] for k in ("scope", "client_id", "me", "expires")}}
        meta["issued"] = doc["issued"]
        meta["provider"] = aud  # the home names grants by the provider's address
        try:
            self.inbox.put(tenant, TOKEN_ISSUED, meta, b"", item_id=f"{TOKEN_ISSUED}-{grant_id}")
        except InboxFull:
            log.warning("inbox of %s full: token %s reported on the next push", tenant, grant_id)

    def issue(
        self,
        tenant: str,
        *,
        grant_id: str,
        scope: frozenset[str],
        expires: int,
        client_id: str | None,
        me: str | None,
    ) -> str | None:
        """``issue_token`` for an IndieAuth code: the token's id is derived from ``grant_id``
        (the code), so a code redeemed twice gets None the second time."""
        token_id = "ia-" + hashlib.sha256(grant_id.encode("utf-8", "surrogatepass")).hexdigest()
        try:
            secret, _ = self.issue_token(
                tenant, scope, client_id=client_id, me=me, expires=expires, grant_id=token_id[:40]
            )
        except Redeemed:
            return None
        return secret

    def revoke(self, tenant: str, token: str) -> bool:
        return self.revoke_token(tenant, token)

    def revoke_token(self, tenant: str, token: str) -> bool:
        """Revoke the token (a client's own revocation request); whether one was revoked. A
        token the home issued stays revoked here even if an older list names it again."""
        wanted = token_hash(token)
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE delegations SET revoked = ? WHERE tenant = ? AND token_hash = ?"
                " AND revoked IS NULL",
                (self.clock(), tenant, wanted),
            )
            return cur.rowcount > 0

    def issued_here(self, tenant: str) -> list[dict[str, Any]]:
        """Tokens this provider issued for the tenant, as the home records them."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM delegations WHERE tenant = ? AND source = ? ORDER BY issued",
            (tenant, PROVIDER),
        )
        return [
            {
                "id": r.id,
                "scope": r.doc.get("scope", []),
                "client_id": r.doc.get("client_id"),
                "me": r.doc.get("me"),
                "issued": r.issued,
                "expires": r.expires,
                "revoked": r.revoked,
            }
            for r in rows
        ]

    # --- the home's list -----------------------------------------------------------------
    def replace(
        self,
        tenant: Tenant,
        issued: int,
        docs: list[Checked],
        raw: list[Mapping[str, Any]],
        revoked: list[str],
    ) -> int:
        """Make ``docs`` the tenant's home-issued delegations here and mark ``revoked``; 409
        when a newer list already arrived (a slower process's stale view). The number of
        delegations kept."""
        now = self.clock()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT issued FROM delegation_lists WHERE tenant = ?", (tenant.name,)
            ).fetchone()
            if row is not None and int(row[0]) > issued:
                raise ProviderError(
                    409,
                    "stale-list",
                    "a newer list of delegations already arrived; nothing was changed",
                )
            conn.execute(
                "INSERT INTO delegation_lists VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE"
                " SET issued = excluded.issued",
                (tenant.name, issued),
            )
            # rows the home revoked keep their mark; everything else of the home's is replaced
            kept_revoked = {
                str(r[0])
                for r in conn.execute(
                    "SELECT id FROM delegations WHERE tenant = ? AND revoked IS NOT NULL",
                    (tenant.name,),
                ).fetchall()
            }
            conn.execute(
                "DELETE FROM delegations WHERE tenant = ? AND source = ? AND revoked IS NULL",
                (tenant.name, HOME),
            )
            conn.execute(
                "DELETE FROM delegations WHERE tenant = ? AND expires IS NOT NULL AND expires < ?",
                (tenant.name, now),
            )
            stored = 0
            for checked, doc in zip(docs, raw, strict=True):
                if checked.id in kept_revoked:
                    continue
                if checked.expires is not None and checked.expires <= now:
                    continue
                digest = checked.params.get("hash") if checked.power == TOKEN else None
                conn.execute(
                    f"INSERT INTO delegations (tenant, {_COLUMNS}) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (tenant, id) DO NOTHING",
                    (
                        tenant.name,
                        checked.id,
                        checked.issuer,
                        checked.power,
                        checked.audience,
                        checked.issued,
                        checked.expires,
                        HOME,
                        json.dumps(dict(doc)),
                        digest,
                    ),
                )
                stored += 1
            for grant_id in revoked:
                conn.execute(
                    "UPDATE delegations SET revoked = ? WHERE tenant = ? AND id = ?"
                    " AND revoked IS NULL",
                    (now, tenant.name, grant_id),
                )
        return stored


def grants_of(request: Request) -> ProviderGrants:
    found = request.app.state.ports.grants
    assert isinstance(found, ProviderGrants)
    return found


def _ids(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise ProviderError(400, "bad-request", f"revoked must be a list of at most {MAX_LIST}")
    for item in value:
        if not isinstance(item, str) or not ID.match(item):
            raise ProviderError(400, "bad-request", "revoked must list delegation ids")
    return list(value)


def _check_all(
    docs: list[Any], keys: set[str], did: str, audiences: set[str]
) -> list[Checked]:
    checked: list[Checked] = []
    for index, item in enumerate(docs):
        try:
            # expiry is not a fault here: one that lapsed in flight is simply not kept
            checked.append(check_delegation(item, keys, did, audiences, -1))
        except DelegationError as exc:
            raise ProviderError(
                400, "bad-delegation", f"delegation {index}: {exc}; nothing was changed"
            ) from None
    return checked


async def put_delegations(request: Request, provider: Provider) -> Response:
    """The home's whole list for this provider: every delegation in it is checked (signed by
    this tenant, for this provider) before any is kept; all or nothing."""
    tenant, body = await authenticate(request, provider, writes=True)
    doc = json_of(body)
    issued, docs = doc.get("issued"), doc.get("delegations")
    if not isinstance(issued, int) or isinstance(issued, bool) or not 0 <= issued < 2**53:
        raise ProviderError(400, "bad-request", "issued must be milliseconds since the epoch")
    if not isinstance(docs, list) or len(docs) > MAX_LIST:
        raise ProviderError(
            400, "bad-request", f"delegations must be a list of at most {MAX_LIST}"
        )
    revoked = _ids(doc.get("revoked", []))
    audiences = provider.audiences(request)
    # up to 10,000 signatures: checked off the event loop
    checked = await in_thread(_check_all, docs, allowed_keys(tenant), tenant.did, audiences)
    grants = grants_of(request)
    kept = await provider.query(grants.replace, tenant, issued, checked, docs, revoked)
    here = await provider.query(grants.issued_here, tenant.name)
    return JSONResponse({"delegations": kept, "revoked": len(revoked), "issued_here": here})


def routes() -> list[Route]:
    return [Route("/delegations", endpoint(put_delegations), methods=["POST"])]


__all__ = ["ProviderGrants", "Redeemed", "allowed_keys", "routes"]
