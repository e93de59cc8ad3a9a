"""``interop.ports.OneTime`` at the provider: a key per purpose in the data dir, the same for
every worker process (made once, atomically), or derived from ``provider_secret`` so every node
of a provider has the same; and single-use values remembered in the provider's nonce table,
which every worker and node shares."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from homeport.provider.db import ProviderDB

KEY_BYTES = 32


class ProviderOnce:
    def __init__(
        self, db: ProviderDB, data_dir: Path, clock: Callable[[], int], shared: str = ""
    ) -> None:
        self.db = db
        self.dir = Path(data_dir)
        self.clock = clock
        self.shared = shared.encode()
        """``provider_secret``: keys derived from it, the same on every node that has it."""
        self._keys: dict[str, bytes] = {}

    def secret(self, purpose: str) -> bytes:
        """Kept in a file rather than the database, so a copy of the database cannot mint
        authorization codes."""
        found = self._keys.get(purpose)
        if found is None:
            found = self._keys[purpose] = self._load(purpose)
        return found

    def _load(self, purpose: str) -> bytes:
        if not purpose.isidentifier():
            raise ValueError(f"not a key name: {purpose!r}")
        if self.shared:  # one key per purpose, each independent of the others
            return hmac.new(self.shared, b"homeport-provider-key\0" + purpose.encode(),
                            hashlib.sha256).digest()
        path = self.dir / f"{purpose}.key"
        if not path.exists():
            temporary = self.dir / f".{purpose}.key.{secrets.token_hex(4)}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(KEY_BYTES))
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(temporary, path)  # fails if another worker made it first: theirs wins
            except FileExistsError:
                pass
            finally:
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()
        data = path.read_bytes()
        if len(data) != KEY_BYTES:
            raise RuntimeError(f"{path} is damaged: delete it (pending sign-ins are then lost)")
        return data

    def first_use(self, key: str, expires: int) -> bool:
        return self.db.remember_nonce("once:" + key, expires, self.clock())
