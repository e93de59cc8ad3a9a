"""With ``lan_access`` on, other devices on the network may use the GUI (still behind login)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from homeport.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, lan_access=True)


def test_another_device_gets_the_login_page_not_a_refusal(gui: Any, make_client: Any) -> None:
    gui.wizard(make_client())
    phone = make_client("192.168.1.20")
    response = phone.get("/admin/", follow_redirects=True)
    assert response.status_code == 200
    assert "Owner password" in response.text


def test_the_first_run_wizard_opens_only_on_this_computer(make_client: Any) -> None:
    phone = make_client("192.168.1.20")
    response = phone.get("/admin/setup")
    assert response.status_code == 403
    assert "Set up on this computer first" in response.text
