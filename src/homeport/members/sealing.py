"""Members-only pages in the snapshot: the whole page sealed with the key of the tier that may
read it, so a provider serves it only if the home delegated that key to it.

A sealed page is ``HPM1 <tier>\\n`` then AES-256-GCM (``crypto/seal.py``: random nonce, tag)
of the page's bytes, with the page's path and tier as associated data, so a sealed page cannot
be served at another path or under another tier. It lives at ``_homeport/members/pages/<path>``
in the published site, beside the public teaser at ``<path>``; ``/_homeport/`` is never served
as a file. The tier ``members`` (any member) has a key derived from the data key; a tier's key
is its record's ``key``.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from homeport.crypto.seal import SealError, open_sealed, seal
from homeport.members.model import TIER_ID

PAGES = "_homeport/members/pages/"
MAGIC = b"HPM1 "
ANY_MEMBER = "members"


def members_key(data_key: bytes) -> bytes:
    """The content key of entries for any member, from the data key (so the phrase restores
    it, like the tiers' keys that are records)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"homeport",
                info=b"homeport/v1/members-content").derive(data_key)


def _associated(path: str, tier: str) -> bytes:
    return f"{path}\n{tier}".encode()


def seal_page(key: bytes, path: str, tier: str, page: bytes) -> bytes:
    return MAGIC + tier.encode() + b"\n" + seal(key, page, _associated(path, tier))


def tier_of(sealed: bytes) -> str | None:
    """Which tier's key opens a sealed page (None: not one)."""
    if not sealed.startswith(MAGIC):
        return None
    head = sealed[len(MAGIC): len(MAGIC) + 41].split(b"\n", 1)[0].decode("ascii", "replace")
    return head if head == ANY_MEMBER or TIER_ID.match(head) else None


def open_page(key: bytes, path: str, sealed: bytes) -> bytes | None:
    """The page, or None when it does not open under ``key`` at ``path``."""
    tier = tier_of(sealed)
    if tier is None:
        return None
    body = sealed[len(MAGIC) + len(tier) + 1:]
    try:
        return open_sealed(key, body, _associated(path, tier))
    except SealError:
        return None
