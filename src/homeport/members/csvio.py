"""Members in and out as CSV: Ghost's members export (its column names, ``true``/``false``
booleans, comma-joined labels and tier names), so people can leave for Ghost or come from it,
and Substack's subscriber export. Pure: text in, rows out."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping
from typing import Any

from homeport.members.model import MemberError, MemberFields

GHOST_COLUMNS = ("id", "email", "name", "note", "subscribed_to_emails", "complimentary_plan",
                 "stripe_customer_id", "created_at", "deleted_at", "labels", "tiers")
"""The columns of Ghost's members export, in its order."""
MAX_ROWS = 500_000
MAX_BYTES = 256 * 1024 * 1024


def iso(ms: int | None) -> str:
    """Milliseconds → ``2024-03-01T10:00:00.000Z`` (how Ghost writes dates)."""
    if ms is None:
        return ""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> int | None:
    """An ISO 8601 date or date-time (``Z`` or an offset; naive taken as UTC) → ms."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MemberError(f"{text!r} is not a date (ISO 8601, like 2024-03-01T10:00:00Z)"
                          ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _bool(text: str, default: bool) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    if value == "":
        return default
    raise MemberError(f"{text!r} is not true or false")


def ghost_csv(members: Iterable[Mapping[str, Any]], tiers: Mapping[str, Mapping[str, Any]]
              ) -> str:
    """Members as Ghost writes its export. ``stripe_customer_id`` is the first Stripe customer
    among the member's payment references."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(GHOST_COLUMNS)
    for m in members:
        tier = m.get("tier")
        customer = next((str(p.get("customer")) for p in m.get("payments") or ()
                         if p.get("processor") == "stripe" and p.get("customer")), "")
        writer.writerow([
            m.get("id", ""), m.get("email", ""), m.get("name", ""), m.get("note", ""),
            "true" if m.get("subscribed", True) else "false",
            "true" if m.get("status") == "comped" else "false",
            customer, iso(m.get("created")), "", ",".join(m.get("labels") or ()),
            str(tiers.get(tier, {}).get("name", tier)) if tier else "",
        ])
    return out.getvalue()


def _reader(text: str) -> tuple[list[str], Iterable[dict[str, str]]]:
    if len(text) > MAX_BYTES:
        raise MemberError("that file is too large to import")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = [c.strip().lower() for c in reader.fieldnames or ()]
    reader.fieldnames = columns
    return columns, reader


def read_csv(text: str, tier_names: Mapping[str, str]) -> list[tuple[str, MemberFields]]:
    """Rows of a Ghost or Substack members export. ``tier_names`` maps a tier's lower-cased
    name and id to its id. Ghost: a ``complimentary_plan`` of true is comped on the row's
    (first) tier; a tier without that is a paid tier whose payments the processor reconciles,
    kept as a free member of it until then. Substack: ``comp`` plans are comped, paid plans
    are paid until ``expiry``."""
    columns, rows = _reader(text)
    if "email" not in columns:
        raise MemberError("this CSV has no email column (a Ghost or Substack members export)")
    substack = "plan" in columns or "active_subscription" in columns
    parsed: list[tuple[str, MemberFields]] = []
    for number, row in enumerate(rows, start=2):
        if number - 1 > MAX_ROWS:
            raise MemberError(f"at most {MAX_ROWS} members in one import")
        try:
            if not (row.get("email") or "").strip():
                continue
            parsed.append(_substack_row(row, tier_names) if substack
                          else _ghost_row(row, tier_names))
        except MemberError as exc:
            raise MemberError(f"line {number}: {exc.message}") from None
    return parsed


def _tier(name: str, tier_names: Mapping[str, str]) -> str:
    found = tier_names.get(name.strip().lower())
    if found is None:
        raise MemberError(f"no tier is called {name.strip()!r}: add it first (homeport tiers add)")
    return found


def _ghost_row(row: Mapping[str, str], tier_names: Mapping[str, str]
               ) -> tuple[str, MemberFields]:
    named = [t for t in (row.get("tiers") or "").split(",") if t.strip()]
    # Ghost's Free tier is every member's: it is not one of ours.
    named = [t for t in named if t.strip().lower() != "free"]
    tier = _tier(named[0], tier_names) if named else None
    comped = _bool(row.get("complimentary_plan") or "", False)
    if comped and tier is None:
        raise MemberError("a complimentary member needs a tier (the tiers column)")
    customer = (row.get("stripe_customer_id") or "").strip()
    payments = ({"processor": "stripe", "customer": customer},) if customer else ()
    return (row.get("email") or "", MemberFields(
        name=(row.get("name") or "").strip(), tier=tier,
        status="comped" if comped else "free",
        labels=tuple(t for t in (row.get("labels") or "").split(",") if t.strip()),
        note=row.get("note") or "",
        subscribed=_bool(row.get("subscribed_to_emails") or "", True),
        payments=payments, created=parse_time(row.get("created_at") or "")))


PAID_PLANS = ("paid", "monthly", "yearly", "annual", "founding", "month", "year")


def _substack_row(row: Mapping[str, str], tier_names: Mapping[str, str]
                  ) -> tuple[str, MemberFields]:
    plan = (row.get("plan") or row.get("type") or "free").strip().lower()
    fields: dict[str, Any] = {}
    if plan == "comp" or plan in PAID_PLANS:
        tier = tier_names.get("substack") or (next(iter(set(tier_names.values())))
                                              if len(set(tier_names.values())) == 1 else None)
        if tier is None:
            raise MemberError("a paid Substack subscriber needs a tier: add one called "
                              "'substack' (or have exactly one tier)")
        fields["tier"] = tier
        if plan == "comp":
            fields["status"] = "comped"
        else:
            fields["status"] = "paid"
            fields["paid_until"] = parse_time(row.get("expiry") or "")
    return (row.get("email") or "", MemberFields(
        subscribed=not _bool(row.get("email_disabled") or "", False),
        labels=(f"substack-{plan}",),
        created=parse_time(row.get("created_at") or ""), **fields))
