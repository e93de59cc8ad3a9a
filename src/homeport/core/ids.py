"""Object ids and URIs in Kinto's tree: /buckets/b/collections/c/records/r."""

from __future__ import annotations

import re
import uuid

ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
"""Kinto's id pattern for buckets, collections and groups."""

RECORD_ID_PATTERN = ID_PATTERN
"""Records follow the same pattern (UUIDs fit it); never dots or slashes."""

ACCOUNT_ID_PATTERN = re.compile(r"^[a-zA-Z0-9][+.@a-zA-Z0-9_-]*$")
"""Accounts also allow ``@``, ``.`` and ``+`` so an e-mail address can be a user name."""

MAX_ID_LENGTH = 255


def valid_id(object_id: str, pattern: re.Pattern[str] = ID_PATTERN) -> bool:
    return len(object_id) <= MAX_ID_LENGTH and pattern.match(object_id) is not None


def new_record_id(random_hex: str | None = None) -> str:
    """A UUID4 string as Kinto generates for records created by POST."""
    return str(uuid.UUID(random_hex)) if random_hex else str(uuid.uuid4())
