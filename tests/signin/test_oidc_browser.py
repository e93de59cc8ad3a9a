"""One Chromium walk: the owner logs in to the GUI through a real OpenID provider
(``tests/clients/oidc_provider.mjs``: its own login and consent pages), then uses the Import
page as a person does (choose the kind, upload a zip, watch the counts, read the report) and
takes everything away with the button (a zip download)."""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from PIL import Image

from homeport.testing.live import LiveHome, free_port, start_home
from tests.signin.oidc_support import Issuer

PASSWORD = "correct horse battery"
SECRET = "a-client-secret-long-enough-for-hs256-0123456789"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
WXR = Path(__file__).parents[1] / "unit" / "importers" / "fixtures" / "wordpress" / "export.xml"
WAIT_MS = 30_000


def _wizard(client: httpx.Client) -> None:
    page = client.get("/admin/setup")
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    shown = client.post("/admin/setup", data={
        "csrf": found.group(1), "name": "Ada", "title": "Ada's", "theme": "journal",
        "password": PASSWORD, "password2": PASSWORD})
    words = re.findall(r"<li>([a-z]+)</li>", shown.text)
    confirm = client.get("/admin/setup/confirm")
    answers = {f"word{n}": words[int(n) - 1]
               for n in re.findall(r'name="word(\d+)"', confirm.text)}
    token = CSRF.search(confirm.text)
    assert token
    done = client.post("/admin/setup/confirm", data={"csrf": token.group(1), **answers})
    assert done.status_code == 200 and "Dashboard" in done.text


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHome]:
    base = tmp_path_factory.mktemp("oidc-browser")
    key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"},
                              private=True)
    port = free_port()
    callback = f"http://127.0.0.1:{port}/admin/login/oidc/callback"
    issuer = Issuer(base / "issuer.log", {"keys": [key.as_dict(private=True)]}, [
        {"client_id": "homeport", "client_secret": SECRET, "redirect_uris": [callback]}]).start()
    try:
        env = {**os.environ, "HOMEPORT_ARGON2_MEMORY_KIB": "1024",
               "HOMEPORT_ARGON2_TIME_COST": "1", "HOMEPORT_LOG_LEVEL": "warning",
               "HOMEPORT_NO_BROWSER": "1", "HOMEPORT_AUTO_PUBLISH": "false",
               "HOMEPORT_OIDC_ISSUER": issuer.url, "HOMEPORT_OIDC_CLIENT_ID": "homeport",
               "HOMEPORT_OIDC_CLIENT_SECRET": SECRET, "HOMEPORT_SIGNIN_OWNERS": "oidc:ada"}
        env.pop("HOMEPORT_DATA", None)
        live = start_home(base / "data", env, port=port)
        try:
            with httpx.Client(base_url=live.root, timeout=60, follow_redirects=True) as client:
                _wizard(client)
            yield live
        finally:
            live.stop()
    finally:
        issuer.stop()


def _wordpress_zip(folder: Path) -> Path:
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), "navy").save(picture, "JPEG")
    path = folder / "harbour-wordpress.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(WXR, "harbour.WordPress.2024-01-15.xml")
        archive.writestr("wp-content/uploads/2023/04/harbour.jpg", picture.getvalue())
    return path


def test_owner_signs_in_at_the_issuer_imports_a_zip_and_takes_everything(
        browser: Any, home: LiveHome, tmp_path: Path) -> None:
    context = browser.new_context(base_url=home.root, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/admin/import")
        assert "/admin/login" in page.url
        page.get_by_role("link", name="Sign in with OpenID Connect").click()
        page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/interaction/"))
        assert not page.url.startswith(home.root)  # at the issuer now
        page.locator("input[name=login]").fill("ada")
        page.locator("input[name=password]").fill("anything")
        page.get_by_role("button", name="Sign-in").click()
        page.get_by_role("button", name="Continue").click()  # the issuer's consent
        page.wait_for_url(f"{home.root}/admin/import")  # back where the owner was going
        assert page.get_by_role("button", name="Log out").is_visible()

        page.get_by_label("What kind of export is it?").select_option("wordpress")
        page.get_by_label("The file").set_input_files(str(_wordpress_zip(tmp_path)))
        page.get_by_role("button", name="Import", exact=True).click()
        # imports.js follows the counts and reloads the page with the report at the end
        page.locator("#import-report").wait_for(timeout=WAIT_MS)
        assert "Done." in page.locator("#import-state").inner_text()
        assert "4 created" in page.locator("#import-counts").inner_text()
        assert page.locator("#import-report tr[data-action=skipped]").count() == 2
        assert "media missing: 2023/04/lost.png" in page.locator("#import-report").inner_text()

        with page.expect_download(timeout=WAIT_MS) as started:
            page.get_by_role("button", name="Take everything with you").click()
        saved = tmp_path / "taken.zip"
        started.value.save_as(saved)
        assert re.fullmatch(r"homeport-\d{4}-\d\d-\d\d\.zip", started.value.suggested_filename)
        with zipfile.ZipFile(saved) as archive:
            names = archive.namelist()
        assert "home.homeport" in names
        assert any(n.startswith("sites/ada-s/markdown/") and "low-tide-at-dawn" in n
                   for n in names), names
    finally:
        context.close()
    assert errors == [], f"JavaScript errors: {errors}"
