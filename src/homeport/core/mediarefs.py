"""Which files a record names: its Kinto attachment and every media reference in its data (a
photo's original, an article's image, a PDF), each a ``{"hash": <sha256 hex>, "mimetype": …}``
object somewhere in the record. A snapshot links an entry to these files in this order, and a
restore puts them back into the blob store: a file no link names would be lost with the device.
"""

from __future__ import annotations

import re
from typing import Any

MAX_FILES = 1024
"""The most files one entry links (a provider refuses an entry with more)."""
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _is_ref(value: dict[str, Any]) -> bool:
    digest = value.get("hash")
    return isinstance(digest, str) and bool(_DIGEST.match(digest)) and "mimetype" in value


def file_digests(data: dict[str, Any]) -> list[str]:
    """The digests of the files ``data`` names, each once: the attachment's first, then the
    media references in the order of a walk over sorted keys (the same on every device)."""
    found: list[str] = []
    attachment = data.get("attachment")
    if isinstance(attachment, dict):
        digest = attachment.get("hash")
        if isinstance(digest, str) and _DIGEST.match(digest):
            found.append(digest)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if _is_ref(value) and value["hash"] not in found:
                found.append(value["hash"])
            for key in sorted(value):
                walk(value[key])
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for key in sorted(data):
        if key != "attachment":
            walk(data[key])
    return found
