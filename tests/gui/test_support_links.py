"""Donations without a processor, set on the Settings page: links rendered by the theme with
``rel="payment"`` and a Web Monetization ``<link rel="monetization">`` on every page; bad
addresses are refused with a clear message and change nothing; whatever reaches the settings
another way (``/v1``) is still checked when the site is built."""

from __future__ import annotations

import re
from typing import Any

import mf2py

from homeport.content.support import donation_links, rendered, wallet_address


def save(client: Any, gui: Any, **fields: str) -> Any:
    page = client.get("/admin/settings")
    form = {"csrf": gui.csrf_of(page.text), "title": "My corner", "author": "Ada",
            "theme": "journal", **fields}
    return client.post("/admin/settings", data=form)


def test_links_and_wallet_are_on_every_page(client: Any, gui: Any) -> None:
    gui.wizard(client)
    done = save(client, gui, donations="https://liberapay.com/ada\nCoffee | https://ko-fi.com/ada",
                monetization="$wallet.example/ada")
    assert done.status_code == 200 and "Settings saved" in done.text
    # the form shows what was saved, one link a line, with the titles given or found
    assert "Liberapay | https://liberapay.com/ada\nCoffee | https://ko-fi.com/ada" in done.text
    assert 'value="https://wallet.example/ada"' in done.text
    home = client.get("/preview/my-corner/").text
    assert '<link rel="monetization" href="https://wallet.example/ada">' in home
    payment = re.findall(r'<a rel="payment" href="([^"]+)">([^<]+)</a>', home)
    assert payment == [("https://liberapay.com/ada", "Liberapay"),
                       ("https://ko-fi.com/ada", "Coffee")]
    rels = mf2py.parse(doc=home, url="https://example.org/")["rels"]
    assert rels["payment"] == ["https://liberapay.com/ada", "https://ko-fi.com/ada"]


def test_bad_addresses_are_refused_and_change_nothing(client: Any, gui: Any) -> None:
    gui.wizard(client)
    assert save(client, gui, donations="https://liberapay.com/ada").status_code == 200
    for fields, said in (({"donations": "javascript:alert(1)"}, "Donation link 1 must be"),
                         ({"donations": "http://ko-fi.com/ada"}, "must be an https://"),
                         ({"monetization": "ftp://wallet"}, "The wallet address must be")):
        refused = save(client, gui, **fields)
        assert refused.status_code == 400 and said in refused.text
    page = client.get("/admin/settings").text
    assert "Liberapay | https://liberapay.com/ada" in page


def test_what_the_renderer_keeps() -> None:
    settings = {"donations": [{"title": "x", "url": "javascript:alert(1)"},
                              {"url": "https://opencollective.com/ada"}, "nonsense"],
                "monetization": "javascript:x"}
    links, wallet = rendered(settings)
    assert links == [{"title": "Open Collective", "url": "https://opencollective.com/ada"}]
    assert wallet == ""
    assert wallet_address("$Wallet.Example") == "https://wallet.example/.well-known/pay"
    assert donation_links([("", "https://github.com/sponsors/ada")])[0]["title"] == (
        "GitHub Sponsors")
