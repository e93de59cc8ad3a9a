"""axe-core (npm ``axe-core``, installed into tests/clients by ``npm ci``) run by Chromium on
every GUI page and on the site's pages in the preview: no serious or critical violation. On the
site's pages Chromium also says which resources blocked the first paint: none may
(``PerformanceResourceTiming.renderBlockingStatus``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homeport.testing.live import LiveHome

AXE = Path(__file__).resolve().parents[1] / "clients/node_modules/axe-core/axe.min.js"
RUN = """async () => {
  const result = await axe.run(document);
  const bad = result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + " (" + v.impact + "): "
              + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
  return {bad: bad, passed: result.passes.length};
}"""


BLOCKING = """() => performance.getEntriesByType("resource")
  .filter(e => e.renderBlockingStatus === "blocking").map(e => e.name)"""


def _check(page: Any, path: str, found: dict[str, list[str]]) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    if path.startswith("/preview/"):
        blocking = page.evaluate(BLOCKING)
        if blocking:
            found[path + " (render-blocking)"] = blocking
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(RUN)
    assert result["passed"] > 5, f"axe checked nothing on {path}"
    if result["bad"]:
        found[path] = result["bad"]


def _square() -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (1200, 800), "grey").save(out, "JPEG")
    return out.getvalue()


def _make_entries(page: Any) -> tuple[str, str]:
    page.goto("/admin/write/new")
    token = page.locator("meta[name=csrf]").get_attribute("content")
    headers = {"X-CSRF-Token": token, "Accept": "application/json"}
    image = page.request.post("/admin/api/images", headers=headers, multipart={
        "alt": "A grey square", "file": {"name": "square.jpg", "mimeType": "image/jpeg",
                                         "buffer": _square()}}).json()
    article = page.request.post("/admin/api/articles", headers=headers, data={
        "title": "Readable", "body": "Some *text*.\n\n" + image["markdown"],
        "images": [image["ref"]]}).json()
    page.request.post(f"/admin/entries/article/{article['id']}/publish", form={"csrf": token})
    # a paid tier, so the Members page shows its price form too
    tier = page.request.post("/admin/members/tiers", form={
        "csrf": token, "name": "Gold", "price": "5", "currency": "EUR", "interval": "month"})
    assert tier.ok and "Change the price" in tier.text(), tier.status
    location = page.request.get("/preview/", max_redirects=0).headers["location"]
    return str(article["id"]), str(location.strip("/").split("/")[-1])


def _more_entries(page: Any) -> list[str]:
    """A photo and a paper: their own editors, each with its "On the web" section."""
    token = page.locator("meta[name=csrf]").get_attribute("content")
    headers = {"X-CSRF-Token": token, "Accept": "application/json"}
    photo = page.request.post("/admin/api/photos", headers=headers, multipart={
        "alt": "A grey field", "publish": "on", "file": {
            "name": "field.jpg", "mimeType": "image/jpeg", "buffer": _square()}}).json()
    paper = page.request.post("/admin/papers", max_redirects=0, multipart={
        "csrf": token, "title": "On engines", "authors": "Ada Lovelace", "pdf": {
            "name": "engines.pdf", "mimeType": "application/pdf",
            "buffer": b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"}})
    assert paper.status == 303, paper.text()
    return [str(photo["edit"]).removeprefix("http://127.0.0.1"), paper.headers["location"]]


@pytest.mark.timeout(300)  # ~35 pages, each loaded and checked by axe: 100-200 s at load 12
def test_no_serious_accessibility_violation(browser: Any, live_home: LiveHome, owner: Any,
                                            fresh_home: LiveHome) -> None:
    if not AXE.exists():
        pytest.fail("axe-core is missing: run scripts/install (npm ci in tests/clients)")
    found: dict[str, list[str]] = {}
    context = browser.new_context(base_url=live_home.root, storage_state=owner, bypass_csp=True)
    page = context.new_page()
    try:
        article, site = _make_entries(page)
        editors = _more_entries(page)
        assert [e.split("/")[2] for e in editors] == ["media", "papers"], editors
        for path in ["/admin/", "/admin/write", "/admin/write/new", f"/admin/write/{article}",
                     "/admin/notes", "/admin/media", "/admin/papers", "/admin/providers",
                     "/admin/settings", "/admin/signin", "/admin/plugins", "/admin/pages",
                     "/admin/pages/new", "/admin/albums/new", "/admin/fediverse",
                     "/admin/bookmarks/new", "/admin/files/new", "/admin/members", "/admin/import",
                     "/admin/albums", "/admin/bookmarks", "/admin/files", "/admin/responses",
                     "/admin/tokens", "/admin/mentions/sent", "/admin/move-here",
                     "/admin/passkeys",
                     f"/preview/{site}/", f"/preview/{site}/articles/readable/",
                     f"/preview/{site}/articles/", f"/preview/{site}/tags/",
                     f"/preview/{site}/archive/",
                     "/admin/write/no-such-entry",  # the GUI's error page
                     *editors]:
            _check(page, path, found)
        # the card's featured picture: a variant the browser chose from the srcset, loaded
        page.goto(f"/preview/{site}/", wait_until="networkidle")
        shown = page.evaluate("""() => { const img = document.querySelector(".featured img");
          return img && img.complete ? [img.currentSrc, img.naturalWidth] : null; }""")
        assert shown and "/media/" in shown[0] and shown[1] > 0, shown
    finally:
        context.close()
    context = browser.new_context(base_url=live_home.root, bypass_csp=True)
    try:  # signed out: the login page
        _check(context.new_page(), "/admin/login", found)
    finally:
        context.close()
    context = browser.new_context(base_url=fresh_home.root, bypass_csp=True)
    page = context.new_page()
    try:
        for path in ["/admin/setup", "/admin/setup/restore"]:
            _check(page, path, found)
    finally:
        context.close()
    assert found == {}, found
