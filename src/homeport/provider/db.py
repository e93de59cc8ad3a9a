"""The provider's own state: tenants, invites, domains, enrollment challenges, seen nonces and
the tenants' inboxes (``inbox.py``) and the delegations homes granted (``grants.py``). Tenants'
objects live elsewhere (one repository each, ``tenants.py``).

Two engines, one SQL text (``store/connection.py``):

- SQLite (the default): ``provider.sqlite`` in the data dir. One connection shared by the app's
  threads behind a lock: every statement here is a short indexed read or write, so a lock costs
  less than a pool. The CLI opens its own connection to the same file while the server runs
  (WAL, busy timeout), so what an operator changes (suspend, delete) is what the next request
  sees.
- PostgreSQL (``provider_database = "postgresql://…"``): the same tables in the schema
  ``provider``, through a small pool; the tenants' repositories live in schemas of their own
  (``tenant_<name>``) on a second pool, ``repositories``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeport.store.connection import Connection, DatabaseError, open_sqlite
from homeport.store.migrate import MigrationError, Plan, Step, has_column, migrate

if TYPE_CHECKING:
    from homeport.store.pgconn import PostgresDatabase
    from homeport.store.protocols import ObjectStore

DB_FILE = "provider.sqlite"
SCHEMA_VERSION = 2
PROVIDER_SCHEMA = "provider"

ACTIVE = "active"
SUSPENDED = "suspended"
DELETED = "deleted"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    name TEXT PRIMARY KEY,
    did TEXT NOT NULL,
    operations TEXT NOT NULL,
    quota INTEGER NOT NULL,
    usage INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_publish INTEGER,
    live_seq INTEGER,
    site TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tenants_did ON tenants (did);
CREATE TABLE IF NOT EXISTS invites (
    code_hash TEXT PRIMARY KEY,
    name TEXT,
    quota INTEGER NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    used_by TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS challenges (
    challenge TEXT PRIMARY KEY, expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nonces_expires ON nonces (expires);
CREATE TABLE IF NOT EXISTS domains (
    domain TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    token TEXT NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS domains_tenant ON domains (tenant);
CREATE TABLE IF NOT EXISTS webmentions (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    domain TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL,
    digest TEXT NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    lease INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webmentions_domain ON webmentions (domain, created);
CREATE INDEX IF NOT EXISTS webmentions_pair ON webmentions (tenant, source, target, updated);
CREATE INDEX IF NOT EXISTS webmentions_todo ON webmentions (state, lease);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    meta TEXT NOT NULL,
    body BLOB,
    size INTEGER NOT NULL,
    received INTEGER NOT NULL,
    acked INTEGER,
    result TEXT,
    sealed INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS inbox_id ON inbox (tenant, id);
CREATE INDEX IF NOT EXISTS inbox_waiting ON inbox (tenant, acked, seq);
CREATE TABLE IF NOT EXISTS inbox_keys (
    tenant TEXT PRIMARY KEY, public BLOB NOT NULL, updated INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox_usage (
    tenant TEXT PRIMARY KEY, items INTEGER NOT NULL, bytes INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox_polls (
    tenant TEXT PRIMARY KEY, started INTEGER NOT NULL, ended INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delegations (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    issuer TEXT NOT NULL,
    power TEXT NOT NULL,
    token_hash TEXT,
    audience TEXT NOT NULL,
    issued INTEGER NOT NULL,
    expires INTEGER,
    source TEXT NOT NULL,
    doc TEXT NOT NULL,
    revoked INTEGER,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS delegations_power ON delegations (tenant, power);
CREATE INDEX IF NOT EXISTS delegations_token ON delegations (token_hash);
CREATE TABLE IF NOT EXISTS delegation_lists (tenant TEXT PRIMARY KEY, issued INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS websub (
    tenant TEXT NOT NULL,
    topic TEXT NOT NULL,
    callback TEXT NOT NULL,
    path TEXT NOT NULL,
    secret TEXT NOT NULL,
    expires INTEGER NOT NULL,
    PRIMARY KEY (tenant, topic, callback)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS websub_path ON websub (tenant, path, expires);
CREATE TABLE IF NOT EXISTS ap_followers (
    tenant TEXT NOT NULL,
    actor TEXT NOT NULL,
    inbox TEXT NOT NULL,
    shared_inbox TEXT NOT NULL,
    state TEXT NOT NULL,
    follow_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (tenant, actor)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ap_followers_state ON ap_followers (tenant, state, created);
CREATE TABLE IF NOT EXISTS ap_activities (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, body BLOB NOT NULL, created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ap_activities_tenant ON ap_activities (tenant, created);
CREATE TABLE IF NOT EXISTS ap_deliveries (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    activity TEXT NOT NULL,
    inbox TEXT NOT NULL,
    host TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    due INTEGER NOT NULL,
    created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ap_deliveries_due ON ap_deliveries (due);
CREATE INDEX IF NOT EXISTS ap_deliveries_tenant ON ap_deliveries (tenant, due);
CREATE INDEX IF NOT EXISTS ap_deliveries_activity ON ap_deliveries (activity);
CREATE TABLE IF NOT EXISTS ap_hosts (
    host TEXT PRIMARY KEY, failures INTEGER NOT NULL, open_until INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ap_blocks (
    tenant TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (tenant, target)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS member_payments (
    tenant TEXT NOT NULL,
    subscription TEXT NOT NULL,
    email_hash TEXT NOT NULL,
    customer TEXT NOT NULL,
    tier TEXT NOT NULL,
    until INTEGER NOT NULL,
    event_created INTEGER NOT NULL,
    PRIMARY KEY (tenant, subscription)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS member_payments_email ON member_payments (tenant, email_hash);
CREATE TABLE IF NOT EXISTS mirror_optin (tenant TEXT PRIMARY KEY, since INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mirror_tokens (
    token_hash TEXT PRIMARY KEY, label TEXT NOT NULL, created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS handoffs (
    tenant TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL,
    primary_key TEXT NOT NULL,
    doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rate_windows (
    name TEXT PRIMARY KEY, period INTEGER NOT NULL, taken INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS newsletter_suppressed (
    tenant TEXT NOT NULL,
    email_hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (tenant, email_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS member_passkeys_pending (
    tenant TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    email_hash TEXT NOT NULL,
    public_key TEXT NOT NULL,
    rp_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (tenant, credential_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS newsletter_mails (
    tenant TEXT NOT NULL,
    entry TEXT NOT NULL,
    site TEXT NOT NULL,
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    html TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (tenant, entry)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS newsletter_queue (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    entry TEXT NOT NULL,
    address TEXT NOT NULL,
    email_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    due INTEGER NOT NULL,
    created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS newsletter_queue_due ON newsletter_queue (state, due);
CREATE TABLE IF NOT EXISTS site_trees (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    added INTEGER NOT NULL,
    cost INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS site_live (tenant TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID;
"""


class ProviderStateError(Exception):
    """The provider's data dir cannot be used as asked; the message says what to do."""


@dataclass(frozen=True)
class Tenant:
    name: str
    did: str
    operations: list[dict[str, Any]]
    quota: int
    usage: int
    state: str
    created: int
    last_publish: int | None
    live_seq: int | None
    site: str | None


@dataclass(frozen=True)
class Invite:
    name: str | None
    quota: int
    expires: int
    used_by: str | None


@dataclass(frozen=True)
class Domain:
    domain: str
    tenant: str
    token: str
    verified: bool


@dataclass(frozen=True)
class HandoffOffer:
    """A handoff record a tenant's root key signed, as ``take_handoff`` is offered it."""

    tenant: str
    epoch: int
    primary: str
    doc: dict[str, Any]
    operations: list[dict[str, Any]]
    """The identity log that puts ``primary`` in force, kept with the record."""
    before: list[dict[str, Any]]
    """The log the caller checked ``operations`` against."""

    def taken(self, log: list[dict[str, Any]] | None, held_epoch: int | None) -> bool:
        """The one rule every tenant store applies: the tenant exists, its log is still
        ``before``, and no handoff of an equal or higher epoch is held (of two racing
        handoffs, the first to commit wins)."""
        return log == self.before and (held_epoch is None or held_epoch < self.epoch)


def code_hash(code: str) -> str:
    """Invites are kept as hashes: a copy of the database does not hand out enrollments."""
    return hashlib.sha256(code.strip().encode()).hexdigest()


def _tenant(row: tuple[Any, ...]) -> Tenant:
    return Tenant(
        name=row[0],
        did=row[1],
        operations=json.loads(row[2]),
        quota=int(row[3]),
        usage=int(row[4]),
        state=row[5],
        created=int(row[6]),
        last_publish=row[7],
        live_seq=row[8],
        site=row[9],
    )


_TENANT_COLUMNS = (
    "name, did, operations, quota, usage, state, created, last_publish, live_seq, site"
)


def _catch_up(db: Connection) -> None:
    """Schema 1 grew tables without a new version (each open ran ``_SCHEMA``, all ``IF NOT
    EXISTS``): a schema-1 database gets those it lacks, and the inbox's ``sealed`` column
    added after the inbox itself."""
    db.script(_SCHEMA)
    if not has_column(db, "inbox", "sealed"):
        db.script("ALTER TABLE inbox ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0")


PLAN = Plan(
    DB_FILE,
    (Step(2, "every table of schema 1, and the inbox's sealed bodies", _catch_up),),
    baseline=_SCHEMA,
)
"""The provider's schema (``store/migrate.py``): a new database gets ``_SCHEMA`` at once."""


class ProviderDB:
    def __init__(self, data_dir: Path, database: str = "", objects: str = "") -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.objects: ObjectStore | None = None
        """The store every tenant's packs go to, each under ``tenants/<name>/packs/`` (the
        ``objects`` setting); None: each tenant's own directory."""
        if objects:
            from homeport.store.open import open_object_store

            self.objects = open_object_store(objects)
        self.path = data_dir / DB_FILE
        self.url = database
        self._lock = threading.RLock()
        self._sqlite: Connection | None = None
        self._pg: PostgresDatabase | None = None
        self.repositories: PostgresDatabase | None = None
        """PostgreSQL only: the pool the tenants' repositories are opened on."""
        if database:
            from homeport.store.pgconn import PostgresDatabase, where

            self.where = where(database)
            self._pg = PostgresDatabase(
                database, search_path=PROVIDER_SCHEMA, max_size=4, name="homeport-provider"
            )
            self._pg.open()
            self.repositories = PostgresDatabase(database, max_size=16, name="homeport-tenants")
        else:
            self.where = str(self.path)
            self._sqlite = open_sqlite(self.path, "synchronous=NORMAL", "busy_timeout=10000")
        try:
            if self._pg is not None:
                self._pg.create_schema(PROVIDER_SCHEMA, "")
            with self._connection() as db:
                migrate(db, PLAN)
        except BaseException as exc:
            self.close()
            if isinstance(exc, MigrationError):
                raise ProviderStateError(f"{self.where}: {exc}") from exc
            raise

    @property
    def engine(self) -> str:
        return "sqlite" if self._pg is None else "postgresql"

    def close(self) -> None:
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.close()
        if self._pg is not None:
            self._pg.close()
        if self.repositories is not None:
            self.repositories.close()
        close = getattr(self.objects, "close", None)
        if close is not None:
            close()

    @contextmanager
    def _connection(self, lock: str = "") -> Iterator[Connection]:
        if self._pg is None:
            assert self._sqlite is not None
            with self._lock:
                yield self._sqlite
            return
        conn = self._pg.connect(lock=lock)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads outside a transaction (each statement sees what is
        committed): no write lock taken, so frequent reads (a waiting relay poll's) never
        queue behind or hold up writers."""
        with self._connection() as db:
            yield db

    @contextmanager
    def transaction(self, lock: str = "") -> Iterator[Connection]:
        """One transaction; SQLite's takes the write lock at once (across processes). On
        PostgreSQL, ``lock`` names an advisory lock held until it ends (one tenant's inbox)."""
        with self._connection(lock) as db:
            db.begin()
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self._connection() as db:
            return db.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._connection() as db:
            return db.execute(sql, args).fetchall()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """A write; how many rows it changed."""
        with self._connection() as db:
            return db.execute(sql, args).rowcount

    # --- meta --------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._run(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # --- tenants -----------------------------------------------------------------------------
    def tenant(self, name: str) -> Tenant | None:
        row = self._one(f"SELECT {_TENANT_COLUMNS} FROM tenants WHERE name = ?", (name,))
        return None if row is None else _tenant(row)

    def tenant_by_did(self, did: str) -> Tenant | None:
        """The tenant speaking for ``did``: the live one, else the latest deleted one."""
        row = self._one(
            f"SELECT {_TENANT_COLUMNS} FROM tenants WHERE did = ?"
            " ORDER BY state = 'deleted', created DESC LIMIT 1",
            (did,),
        )
        return None if row is None else _tenant(row)

    def tenants(self) -> list[Tenant]:
        return [
            _tenant(r) for r in self._all(f"SELECT {_TENANT_COLUMNS} FROM tenants ORDER BY name")
        ]

    def set_state(self, name: str, state: str) -> None:
        self._run("UPDATE tenants SET state = ? WHERE name = ?", (state, name))

    def add_usage(self, name: str, delta: int) -> None:
        self._run("UPDATE tenants SET usage = usage + ? WHERE name = ?", (delta, name))

    def set_usage(self, name: str, usage: int) -> None:
        self._run("UPDATE tenants SET usage = ? WHERE name = ?", (usage, name))

    def published(
        self, name: str, operations: list[dict[str, Any]], live_seq: int, site: str, now: int
    ) -> None:
        self._run(
            "UPDATE tenants SET operations = ?, live_seq = ?, site = ?, last_publish = ?"
            " WHERE name = ?",
            (json.dumps(operations), live_seq, site, now, name),
        )

    def set_operations(self, name: str, operations: list[dict[str, Any]]) -> None:
        self._run(
            "UPDATE tenants SET operations = ? WHERE name = ?", (json.dumps(operations), name)
        )

    def set_live(self, name: str, live_seq: int | None) -> None:
        self._run("UPDATE tenants SET live_seq = ? WHERE name = ?", (live_seq, name))

    # --- mirrors (homes keeping a backup copy of the tenants that opted in: mirror.py) -----
    def set_mirrored(self, name: str, on: bool, now: int) -> None:
        if on:
            self._run(
                "INSERT INTO mirror_optin VALUES (?, ?) ON CONFLICT (tenant) DO NOTHING",
                (name, now),
            )
        else:
            self._run("DELETE FROM mirror_optin WHERE tenant = ?", (name,))

    def mirrored(self) -> list[str]:
        """The active tenants that opted in to being mirrored, by name."""
        rows = self._all(
            "SELECT m.tenant FROM mirror_optin m JOIN tenants t ON t.name = m.tenant"
            " WHERE t.state = ? ORDER BY m.tenant",
            (ACTIVE,),
        )
        return [str(r[0]) for r in rows]

    def add_mirror_token(self, token: str, label: str, now: int) -> None:
        self._run("INSERT INTO mirror_tokens VALUES (?, ?, ?)", (code_hash(token), label, now))

    def mirror_token(self, token: str) -> str | None:
        """The label of a mirror token, None when it is not one (kept as a hash)."""
        row = self._one("SELECT label FROM mirror_tokens WHERE token_hash = ?", (code_hash(token),))
        return None if row is None else str(row[0])

    # --- handoffs (which copy of a home writes: core/handoff.py) ----------------------------
    def handoff(self, name: str) -> dict[str, Any] | None:
        """The latest handoff record this tenant's root key signed, as it was sent."""
        row = self._one("SELECT doc FROM handoffs WHERE tenant = ?", (name,))
        return None if row is None else dict(json.loads(row[0]))

    def take_handoff(self, offer: HandoffOffer) -> bool:
        """Keep the offered record and its identity log in one transaction when
        ``offer.taken`` says so; False (nothing changed) otherwise."""
        with self.transaction(lock=f"handoff:{offer.tenant}") as db:
            row = db.execute(
                "SELECT t.operations, h.epoch FROM tenants t LEFT JOIN handoffs h"
                " ON h.tenant = t.name WHERE t.name = ?",
                (offer.tenant,),
            ).fetchone()
            log = None if row is None else json.loads(row[0])
            if not offer.taken(log, None if row is None or row[1] is None else int(row[1])):
                return False
            db.execute(
                "INSERT INTO handoffs VALUES (?, ?, ?, ?) ON CONFLICT (tenant) DO UPDATE SET"
                " epoch = excluded.epoch, primary_key = excluded.primary_key, doc = excluded.doc",
                (offer.tenant, offer.epoch, offer.primary, json.dumps(offer.doc)),
            )
            db.execute(
                "UPDATE tenants SET operations = ? WHERE name = ?",
                (json.dumps(offer.operations), offer.tenant),
            )
            return True

    # --- invites and enrollment -------------------------------------------------------------
    def add_invite(self, code: str, name: str | None, quota: int, now: int, expires: int) -> None:
        self._run(
            "INSERT INTO invites VALUES (?, ?, ?, ?, ?, NULL)",
            (code_hash(code), name, quota, now, expires),
        )

    def invite(self, code: str) -> Invite | None:
        row = self._one(
            "SELECT name, quota, expires, used_by FROM invites WHERE code_hash = ?",
            (code_hash(code),),
        )
        return None if row is None else Invite(row[0], int(row[1]), int(row[2]), row[3])

    def add_challenge(self, challenge: str, expires: int, now: int) -> None:
        with self._connection() as db:
            db.execute("DELETE FROM challenges WHERE expires < ?", (now,))
            db.execute("INSERT INTO challenges VALUES (?, ?)", (challenge, expires))

    def take_challenge(self, challenge: str, now: int) -> bool:
        """Consume a challenge: whether it existed and had not expired (single use)."""
        changed = self._run(
            "DELETE FROM challenges WHERE challenge = ? AND expires >= ?", (challenge, now)
        )
        return changed == 1

    def challenges_pending(self, now: int) -> int:
        row = self._one("SELECT count(*) FROM challenges WHERE expires >= ?", (now,))
        return int(row[0])

    def enroll(
        self, code: str, name: str, did: str, operations: list[dict[str, Any]], quota: int, now: int
    ) -> None:
        """Create the tenant and use up the invite, together. A deleted tenant of the same
        identity and name is replaced (coming back); any other holder of the name wins."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE invites SET used_by = ? WHERE code_hash = ? AND used_by IS NULL",
                (name, code_hash(code)),
            )
            if cur.rowcount != 1:
                raise ProviderStateError("invite already used")
            db.execute(
                "DELETE FROM tenants WHERE name = ? AND did = ? AND state = ?", (name, did, DELETED)
            )
            db.execute("DELETE FROM domains WHERE tenant = ?", (name,))
            db.execute("DELETE FROM handoffs WHERE tenant = ?", (name,))
            db.execute("DELETE FROM mirror_optin WHERE tenant = ?", (name,))
            db.execute(
                f"INSERT INTO tenants ({_TENANT_COLUMNS}) VALUES (?, ?, ?, ?, 0, ?, ?, NULL,"
                " NULL, NULL)",
                (name, did, json.dumps(operations), quota, ACTIVE, now),
            )

    # --- replay protection -------------------------------------------------------------------
    def remember_nonce(self, nonce: str, expires: int, now: int) -> bool:
        """Record a request nonce; False when it was seen before (a replay)."""
        with self._connection() as db:
            db.execute("DELETE FROM nonces WHERE expires < ?", (now,))
            cur = db.execute("INSERT OR IGNORE INTO nonces VALUES (?, ?)", (nonce, expires))
            return cur.rowcount == 1

    # --- materialised sites (``sharedsites.SharedSites``) ----------------------------------
    def add_tree(self, tenant: str, name: str, seq: int, cost: int, manifest: str) -> None:
        """Keep a tree's manifest, numbered after the tenant's others (the newest wins a
        seq)."""
        self._run(
            "INSERT INTO site_trees SELECT ?, ?, ?, coalesce(max(added), 0) + 1, ?, ?"
            " FROM site_trees WHERE tenant = ?",
            (tenant, name, seq, cost, manifest, tenant),
        )

    def tree(self, tenant: str, name: str) -> str | None:
        row = self._one(
            "SELECT manifest FROM site_trees WHERE tenant = ? AND name = ?", (tenant, name)
        )
        return None if row is None else str(row[0])

    def trees(self, tenant: str) -> list[tuple[int, str, int]]:
        """(seq, name, order added) of each kept tree."""
        rows = self._all("SELECT seq, name, added FROM site_trees WHERE tenant = ?", (tenant,))
        return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]

    def tree_costs(self, tenant: str) -> list[int]:
        return [
            int(r[0]) for r in self._all("SELECT cost FROM site_trees WHERE tenant = ?", (tenant,))
        ]

    def live_tree(self, tenant: str) -> str | None:
        row = self._one("SELECT name FROM site_live WHERE tenant = ?", (tenant,))
        return None if row is None else str(row[0])

    def set_live_tree(self, tenant: str, name: str) -> bool:
        """Point the tenant's live tree at ``name``; False when there is no such tree."""
        with self.transaction() as db:
            found = db.execute(
                "SELECT 1 FROM site_trees WHERE tenant = ? AND name = ?", (tenant, name)
            ).fetchone()
            if found is None:
                return False
            db.execute(
                "INSERT INTO site_live VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET"
                " name = excluded.name",
                (tenant, name),
            )
            return True

    def drop_trees(self, tenant: str, names: list[str] | None) -> None:
        """Drop the trees named (never the live one), or with None every tree and the live
        pointer (a deleted tenant)."""
        with self.transaction() as db:
            if names is None:
                db.execute("DELETE FROM site_trees WHERE tenant = ?", (tenant,))
                db.execute("DELETE FROM site_live WHERE tenant = ?", (tenant,))
                return
            for name in names:
                db.execute(
                    "DELETE FROM site_trees WHERE tenant = ? AND name = ? AND name NOT IN"
                    " (SELECT name FROM site_live WHERE tenant = ?)",
                    (tenant, name, tenant),
                )

    # --- domains -----------------------------------------------------------------------------
    def domain(self, domain: str) -> Domain | None:
        row = self._one(
            "SELECT domain, tenant, token, verified FROM domains WHERE domain = ?", (domain,)
        )
        return None if row is None else Domain(row[0], row[1], row[2], bool(row[3]))

    def domains_of(self, tenant: str) -> list[Domain]:
        rows = self._all(
            "SELECT domain, tenant, token, verified FROM domains WHERE tenant = ? ORDER BY domain",
            (tenant,),
        )
        return [Domain(r[0], r[1], r[2], bool(r[3])) for r in rows]

    def claim_domain(self, domain: str, tenant: str, token: str, now: int) -> None:
        self._run(
            "INSERT INTO domains VALUES (?, ?, ?, 0, ?) ON CONFLICT (domain) DO UPDATE SET"
            " tenant = excluded.tenant, token = excluded.token, verified = 0,"
            " created = excluded.created",
            (domain, tenant, token, now),
        )

    def verify_domain(self, domain: str) -> None:
        self._run("UPDATE domains SET verified = 1 WHERE domain = ?", (domain,))


__all__ = [
    "ACTIVE",
    "DELETED",
    "SUSPENDED",
    "DatabaseError",
    "Domain",
    "Invite",
    "ProviderDB",
    "ProviderStateError",
    "Tenant",
    "code_hash",
]
