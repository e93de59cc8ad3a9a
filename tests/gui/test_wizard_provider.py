"""The first-run wizard's optional provider (issue J, "Measured": a device's first start to an
article live in six steps), in process: half a provider is refused before anything is written,
and a provider that cannot be reached leaves the home made and says what to do. Enrolling at a
real provider, and landing in the editor, is the device walk in tests/e2e/test_hosted_walk.py."""

from __future__ import annotations

import re
from typing import Any

from homeport.services import identity
from homeport.testing.live import free_port

Client = Any


def _form(gui: Any, client: Client, **provider: str) -> dict[str, str]:
    page = client.get("/admin/setup")
    assert 'id="provider_url"' in page.text
    return {"csrf": gui.csrf_of(page.text), "name": "Ada", "title": "Ada's corner",
            "theme": "journal", "password": gui.password, "password2": gui.password, **provider}


def test_an_address_without_a_code_is_refused_and_nothing_is_made(
    gui: Any, client: Client, settings: Any
) -> None:
    url = "https://provider.example"
    answer = client.post("/admin/setup", data=_form(gui, client, provider_url=url))
    assert answer.status_code == 400
    assert "Give both the provider" in answer.text and "or leave both empty" in answer.text
    assert f'value="{url}"' in answer.text  # what was typed is kept
    assert not identity.exists(settings.data_dir)
    assert client.get("/admin/", follow_redirects=False).headers["location"] == "/admin/setup"


def test_an_unreachable_provider_leaves_the_home_made_and_says_so(
    gui: Any, client: Client, settings: Any
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    shown = client.post("/admin/setup", data=_form(
        gui, client, provider_url=nowhere, provider_code="abcd-efgh"))
    assert shown.status_code == 200 and "Could not reach" in shown.text, shown.text
    assert "add the provider later" in shown.text
    words = re.findall(r"<li>([a-z]+)</li>", shown.text)
    confirm = client.get("/admin/setup/confirm")
    positions = [int(n) for n in re.findall(r'name="word(\d+)"', confirm.text)]
    done = client.post("/admin/setup/confirm", data={
        "csrf": gui.csrf_of(confirm.text), **{f"word{n}": words[n - 1] for n in positions}},
        follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/admin/"  # not the editor
    assert identity.exists(settings.data_dir)
