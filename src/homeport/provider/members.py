"""``ports.Members`` at the provider: entitlements read from the tenant's live site, where each
publish puts them (``_homeport/members/entitlements.json``, never served). Parsed once per live
tree and process, so a sign-in costs one hash; a publish is seen by the next request.

A payer this provider saw pay (Stripe's webhook, ``interop/payments.py``) is let in before the
home has published them: that grant counts until the home publishes again well after the
payment (``GRACE``), whose entitlements are then the final word.

A passkey a member registers here signs them in here at once (``PendingPasskeys``), while it
travels home through the inbox; the member must still be one by the entitlements, so a member
removed at home is refused with it too. Other providers know it from the next publish."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from homeport import jsonio
from homeport.interop.payments import member_hash
from homeport.interop.ports import Payments
from homeport.members import entitlements
from homeport.members.model import MemberError
from homeport.provider.db import ProviderDB
from homeport.provider.serve import SiteServer

MAX_BYTES = 64 * 1024 * 1024
"""A document larger than this is not read (a million members is about 45 MB)."""
GRACE = 5 * 60_000
"""A publish this long after a payment is taken to carry the home's word on it (the home
applies the payment from its inbox within seconds when it runs, and publishes right after)."""


PENDING_MS = 30 * 86_400_000
"""How long a passkey registered here works here without the home publishing it."""


class PendingPasskeys:
    """Passkeys registered at this provider, by tenant and credential id
    (``member_passkeys_pending``), kept ``PENDING_MS``."""

    def __init__(self, db: ProviderDB) -> None:
        self.db = db

    def add(self, tenant: str, credential_id: str, hashed: str, public_key: str, rp_id: str,
            now: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM member_passkeys_pending WHERE tenant = ? AND created < ?",
                         (tenant, now - PENDING_MS))
            conn.execute(
                "INSERT INTO member_passkeys_pending (tenant, credential_id, email_hash,"
                " public_key, rp_id, created) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (tenant, credential_id) DO NOTHING",
                (tenant, credential_id, hashed, public_key, rp_id, now))

    def find(self, tenant: str, credential_id: str, now: int) -> tuple[str, str, str] | None:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT email_hash, public_key, rp_id FROM member_passkeys_pending"
                " WHERE tenant = ? AND credential_id = ? AND created >= ?",
                (tenant, credential_id, now - PENDING_MS)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]))


class ProviderMembers:
    def __init__(
        self,
        site: SiteServer,
        clock: Callable[[], int],
        keep: int = 64,
        payments: Payments | None = None,
        published: Callable[[str], int | None] | None = None,
        pending: PendingPasskeys | None = None,
        did_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self.site = site
        self.pending = pending
        self.clock = clock
        self.payments = payments
        self.published = published
        """The time (ms) of a tenant's last publish here, or None."""
        self.did_of = did_of
        """A tenant's identity, or None (the entitlements name it too, once published)."""
        self.keep = keep
        self._docs: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def site_file(self, tenant: str, rel: str) -> bytes | None:
        tree = self.site._tree(tenant)
        if tree is None or rel not in tree.manifest.files:
            return None
        try:
            return self.site.sites.read(tenant, tree.manifest, rel, MAX_BYTES)
        except (OSError, ValueError):  # unreadable now (a fetch that failed): not there
            return None

    def _document(self, tenant: str) -> dict[str, Any]:
        tree = self.site._tree(tenant)
        if tree is None:
            return {}
        key = (tenant, tree.manifest.name)
        with self._lock:
            found = self._docs.get(key)
            if found is not None:
                self._docs.move_to_end(key)
                return found
        data = self.site_file(tenant, entitlements.PATH)
        try:
            doc = jsonio.loads(data) if data else {}
        except ValueError:
            doc = {}
        doc = doc if isinstance(doc, dict) else {}
        with self._lock:
            self._docs[key] = doc
            while len(self._docs) > self.keep:
                self._docs.popitem(last=False)
        return doc

    def entitlement(self, tenant: str, email: str) -> str | None:
        doc = self._document(tenant)
        found = entitlements.lookup(doc, email, self.clock())
        if found or self.payments is None:
            return found  # a tier in force at home: no need to look further
        did = doc.get("did") if isinstance(doc.get("did"), str) else None
        did = did or (self.did_of(tenant) if self.did_of is not None else None)
        if not did:
            return found
        try:
            hashed = member_hash(did, email)
        except MemberError:
            return found
        return self._paid(tenant, hashed, found)

    def entitlement_of(self, tenant: str, address_hash: str) -> str | None:
        """A member signed in by passkey gets what they paid for here at once, like one
        signed in by link: the payment row is keyed by the same hash."""
        found = entitlements.lookup_hash(self._document(tenant), address_hash, self.clock())
        if found or self.payments is None:
            return found
        return self._paid(tenant, address_hash, found)

    def _paid(self, tenant: str, hashed: str, found: str | None) -> str | None:
        """The tier this provider saw ``hashed`` pay for, unless a publish since carries the
        home's word on it (``GRACE``); else ``found``."""
        assert self.payments is not None
        paid = self.payments.paid(tenant, hashed, self.clock())
        if paid is None:
            return found
        last = self.published(tenant) if self.published is not None else None
        if last is not None and last > paid.event_created + GRACE:
            return found
        return paid.tier

    def passkey(self, tenant: str, credential_id: str) -> tuple[str, str, str] | None:
        found = entitlements.passkey(self._document(tenant), credential_id)
        if found is None and self.pending is not None:
            return self.pending.find(tenant, credential_id, self.clock())
        return found

    def remember_passkey(self, tenant: str, email: str, credential_id: str, public_key: str,
                         rp_id: str) -> bool:
        did = self._document(tenant).get("did")
        if self.pending is None or not isinstance(did, str):
            return False
        hashed = entitlements.address_hash(did, email)
        self.pending.add(tenant, credential_id, hashed, public_key, rp_id, self.clock())
        return True
