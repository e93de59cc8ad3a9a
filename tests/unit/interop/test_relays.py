"""Which providers a serving home keeps a relay to, and with which key."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.interop.relay import Relays
from homeport.sync.client import Credentials


def test_relays_follow_the_providers_list_and_the_signing_key(tmp_path: Path) -> None:
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    state = {
        "urls": ["http://127.0.0.1:9", "http://127.0.0.1:10"],
        "key": first.private_bytes_raw(),
    }

    def credentials() -> Credentials:  # read afresh each time, as from the data dir
        return Credentials("did:key:zHome", Ed25519PrivateKey.from_private_bytes(state["key"]))

    async def go() -> None:
        relays = Relays(tmp_path, {}, None, lambda: list(state["urls"]), credentials)
        try:
            relays.rescan()
            tasks = {url: task for url, (_, task) in relays.running.items()}
            assert sorted(tasks) == ["http://127.0.0.1:10", "http://127.0.0.1:9"]
            relays.rescan()  # nothing changed: the same relays go on
            assert {url: task for url, (_, task) in relays.running.items()} == tasks
            state["urls"] = ["http://127.0.0.1:9"]  # one provider left
            relays.rescan()
            assert list(relays.running) == ["http://127.0.0.1:9"]
            state["key"] = second.private_bytes_raw()  # identity rotate: a new signing key
            relays.rescan()
            relay, task = relays.running["http://127.0.0.1:9"]
            assert task is not tasks["http://127.0.0.1:9"]
            assert relay.credentials.key.public_key() == second.public_key()
            state["urls"] = []
            relays.rescan()
            assert relays.running == {}
        finally:
            await relays.close()

    asyncio.run(go())
