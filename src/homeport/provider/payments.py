"""``interop.ports.Payments`` over the provider's database (``db.py``'s ``member_payments``,
SQLite or PostgreSQL): one row per subscription a tenant's payers hold, keyed by the hash of
the payer's address, so a payer is let in at once at this provider while the home is away."""

from __future__ import annotations

from typing import Any

from homeport.interop.ports import PaidAccess
from homeport.provider.db import ProviderDB

_COLUMNS = "tenant, subscription, email_hash, customer, tier, until, event_created"


def _access(row: tuple[Any, ...]) -> PaidAccess:
    return PaidAccess(row[0], row[1], row[2], row[3], row[4], int(row[5]), int(row[6]))


class ProviderPayments:
    def __init__(self, db: ProviderDB) -> None:
        self.db = db

    def record(self, access: PaidAccess) -> bool:
        """An event older than the one that last set the row changes nothing (Stripe does
        not promise to deliver in order)."""
        with self.db.transaction(lock=f"payments:{access.tenant}") as conn:
            row = conn.execute(
                "SELECT event_created FROM member_payments WHERE tenant = ? AND subscription = ?",
                (access.tenant, access.subscription),
            ).fetchone()
            if row is not None and int(row[0]) > access.event_created:
                return False
            conn.execute(
                f"INSERT INTO member_payments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (tenant, subscription) DO UPDATE SET"
                " email_hash = excluded.email_hash, customer = excluded.customer,"
                " tier = excluded.tier, until = excluded.until,"
                " event_created = excluded.event_created",
                (access.tenant, access.subscription, access.email_hash, access.customer,
                 access.tier, access.until, access.event_created),
            )
        return True

    def by_subscription(self, tenant: str, subscription: str) -> PaidAccess | None:
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM member_payments WHERE tenant = ? AND subscription = ?",
                (tenant, subscription),
            ).fetchone()
        return None if row is None else _access(tuple(row))

    def paid(self, tenant: str, email_hash: str, now: int) -> PaidAccess | None:
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM member_payments WHERE tenant = ? AND email_hash = ?"
                " AND until > ? ORDER BY until DESC, subscription LIMIT 1",
                (tenant, email_hash, now),
            ).fetchone()
        return None if row is None else _access(tuple(row))


__all__ = ["ProviderPayments"]
