"""``homeport.local`` over mDNS: announced only while ``lan_access`` is on (zeroconf faked)."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Any

from homeport.gui import lan
from homeport.settings import Settings


class FakeZeroconf:
    def __init__(self) -> None:
        self.registered: list[Any] = []
        self.closed = False

    async def async_register_service(self, info: Any) -> Any:
        self.registered.append(info)
        return asyncio.get_running_loop().create_future()

    async def async_unregister_service(self, info: Any) -> None:
        self.registered.remove(info)

    async def async_close(self) -> None:
        self.closed = True


def test_nothing_is_announced_while_lan_access_is_off(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert asyncio.run(lan.announce(settings, FakeZeroconf)) is None


def test_the_gui_is_announced_as_homeport_local_and_withdrawn(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(data_dir=tmp_path), lan_access=True, port=8750)
    fake = FakeZeroconf()

    async def run() -> None:
        announcer = await lan.announce(settings, lambda: fake, ["192.168.1.5"])
        assert announcer is not None
        (info,) = fake.registered
        assert info.server == "homeport.local."
        assert info.port == 8750
        assert info.parsed_addresses() == ["192.168.1.5"]
        assert info.properties[b"path"] == b"/admin/"
        await announcer.close()
        assert fake.registered == [] and fake.closed

    asyncio.run(run())


def test_a_failing_network_only_warns(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(data_dir=tmp_path), lan_access=True)

    class Broken(FakeZeroconf):
        async def async_register_service(self, info: Any) -> Any:
            raise OSError("no multicast here")

    assert asyncio.run(lan.announce(settings, Broken, ["192.168.1.5"])) is None


def test_zeroconf_is_not_imported_for_a_local_home(tmp_path: Path) -> None:
    before = "zeroconf" in sys.modules
    asyncio.run(lan.announce(Settings(data_dir=tmp_path)))
    assert ("zeroconf" in sys.modules) == before
