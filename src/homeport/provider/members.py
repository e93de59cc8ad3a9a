"""``ports.Members`` at the provider: entitlements read from the tenant's live site, where each
publish puts them (``_homeport/members/entitlements.json``, never served). Parsed once per live
tree and process, so a sign-in costs one hash; a publish is seen by the next request."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from homeport import jsonio
from homeport.members import entitlements
from homeport.provider.serve import SiteServer

MAX_BYTES = 64 * 1024 * 1024
"""A document larger than this is not read (a million members is about 45 MB)."""


class ProviderMembers:
    def __init__(self, site: SiteServer, clock: Callable[[], int], keep: int = 64) -> None:
        self.site = site
        self.clock = clock
        self.keep = keep
        self._docs: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def site_file(self, tenant: str, rel: str) -> bytes | None:
        tree = self.site._tree(tenant)
        if tree is None or rel not in tree.manifest.files:
            return None
        path = os.path.join(tree.tdir.sites_str, tree.manifest.name, rel)
        try:
            if os.path.getsize(path) > MAX_BYTES:
                return None
            with open(path, "rb") as handle:
                return handle.read()
        except OSError:
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
        return entitlements.lookup(self._document(tenant), email, self.clock())
