"""End to end in headless Chromium against a live ``homeport serve``: the first-run wizard, an
article with a pasted image, a photo note and a paper, then the preview, parsed with mf2py.

Screenshots of every main screen go to ``HOMEPORT_SCREENSHOTS`` (``docs/screenshots`` keeps the
current ones; see the README) or a temporary folder.
"""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import mf2py
from PIL import Image
from playwright.sync_api import expect

from homeport.testing.live import LiveHome

PASSWORD = "correct horse battery"
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
PASTE_IMAGE = """async ([b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const file = new File([bytes], name, {type: "image/png"});
  const data = new DataTransfer();
  data.items.add(file);
  const body = document.getElementById("body");
  body.focus();
  body.setSelectionRange(body.value.length, body.value.length);
  const paste = {clipboardData: data, bubbles: true, cancelable: true};
  body.dispatchEvent(new ClipboardEvent("paste", paste));
}"""


def png(width: int = 640, height: int = 400, color: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    image = Image.new("RGB", (width, height), color)
    for x in range(0, width, 40):
        for y in range(0, height, 40):
            if (x + y) // 40 % 2:
                image.paste((250, 200, 60), (x, y, x + 20, y + 20))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_article_note_and_paper_reach_the_preview(page: Any, shots: Any) -> None:
    shots(page.goto("/admin/") and page, "04-dashboard")
    # An article with a pasted image, described when asked.
    page.goto("/admin/write/new")
    page.get_by_label("Title").fill("Hello from home")
    page.locator("#body").fill("First paragraph with **bold** text.\n\n")
    page.evaluate(PASTE_IMAGE, [base64.b64encode(png()).decode(), "garden.png"])
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Alt text", exact=False).fill("A chequered garden")
    dialog.get_by_role("button", name="Add image").click()
    expect(page.locator("#body")).to_have_value(re.compile(r"\(\.\./\.\./media/[0-9a-f]{64}/"))
    page.get_by_label("Tags", exact=False).fill("home, web")
    page.wait_for_selector("#preview img[alt='A chequered garden']")
    expect(page.locator("#status")).to_have_text(re.compile("^Saved"))
    shots(page, "05-editor")
    page.get_by_role("button", name="Publish").click()
    page.wait_for_selector("text=Published “Hello from home”")
    # no provider yet: the editor says the entry is only previewed and what to do next
    where = page.locator("#entry-live")
    expect(where).to_contain_text("only previewed on this computer")
    expect(where.get_by_role("link", name="add a provider")).to_be_visible()
    shots(page, "05b-editor-published")
    # A note with a photo, from the single box.
    page.goto("/admin/notes")
    page.get_by_label("What\u2019s on your mind?").fill("Planted tomatoes today.")
    page.locator("#note-photos").set_input_files(
        {"name": "tomato.png", "mimeType": "image/png", "buffer": png(color=(200, 40, 40))}
    )
    page.get_by_label("Describe tomato.png").fill("Young tomato plants")
    page.get_by_role("button", name="Post").click()
    page.wait_for_selector("text=Posted.")
    shots(page, "06-notes")
    # A paper from its PDF.
    page.goto("/admin/papers")
    page.locator("#pdf").set_input_files(
        {"name": "engine.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    page.get_by_label("Title").fill("Notes on the Analytical Engine")
    page.get_by_label("Authors", exact=False).fill("Ada Lovelace\nCharles Babbage")
    page.get_by_label("Journal or conference").fill("Scientific Memoirs")
    page.get_by_label("Year").fill("1843")
    page.get_by_role("button", name="Add paper").click()
    page.wait_for_selector("text=Paper added.")
    assert "@article{lovelace1843notes" in page.locator("#bibtex").inner_text()
    shots(page, "07-paper")
    page.goto("/admin/")
    shots(page, "08-dashboard-with-entries")
    # The preview shows all three, with microformats.
    page.goto("/preview/")
    shots(page, "09-preview-home")
    parsed = mf2py.parse(doc=page.content(), url=page.url)
    entries = _h_entries(parsed["items"])
    names = [e["properties"].get("name", [""])[0] for e in entries]
    assert any("Hello from home" in n for n in names), names
    assert any("Notes on the Analytical Engine" in n for n in names), names
    notes = [e for e in entries if "Planted tomatoes" in str(e["properties"].get("content"))]
    assert notes and notes[0]["properties"].get("photo"), entries
    page.get_by_role("link", name="Hello from home").first.click()
    article = _h_entries(mf2py.parse(doc=page.content(), url=page.url)["items"])[0]
    assert article["properties"]["name"] == ["Hello from home"]
    assert "bold" in article["properties"]["content"][0]["html"]
    image = page.locator("article img[alt='A chequered garden']")
    assert image.evaluate("img => img.complete && img.naturalWidth") == 640
    shots(page, "10-preview-article")


def _h_entries(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for item in items:
        if "h-entry" in item["type"]:
            found.append(item)
        found += _h_entries(item.get("children", []))
    return found


def test_media_library_uploads_with_progress_and_edits_alt(page: Any, shots: Any) -> None:
    page.goto("/admin/media")
    page.locator("#media-files").set_input_files([
        {"name": "one.png", "mimeType": "image/png", "buffer": png(color=(10, 150, 90))},
        {"name": "two.png", "mimeType": "image/png", "buffer": png(color=(120, 60, 160))},
    ])
    page.get_by_label("Describe this photo (alt text)").nth(0).fill("Green squares")
    page.get_by_label("Describe this photo (alt text)").nth(1).fill("Purple squares")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/admin/media")
    page.wait_for_selector("img[alt='Purple squares']")
    shots(page, "11-media")
    page.get_by_role("link", name="Edit Green squares").click()
    page.get_by_label("Alt text", exact=False).fill("Green and yellow squares")
    page.get_by_label("Caption").fill("A test pattern")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("img[alt='Green and yellow squares']")


def test_settings_change_the_site(page: Any, shots: Any) -> None:
    page.goto("/admin/settings")
    page.get_by_label("Description").fill("Writing, photos and papers.")
    page.get_by_label("Navigation", exact=False).fill("About | /about/")
    page.get_by_label("Domains", exact=False).fill("ada.example.org")
    shots(page, "12-settings")
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_selector("text=Settings saved.")
    page.goto("/preview/")
    assert "Writing, photos and papers." in page.content()


def test_phone_sized_screen_is_usable(browser: Any, live_home: LiveHome, owner: Any,
                                      shots: Any) -> None:
    context = browser.new_context(base_url=live_home.root, storage_state=owner,
                                  viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto("/admin/notes")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        shots(page, "13-phone-notes", full=False)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    finally:
        context.close()


# --- bad input ------------------------------------------------------------------------------
def test_wrong_password_says_so(browser: Any, live_home: LiveHome, owner: Any,
                                shots: Any) -> None:
    context = browser.new_context(base_url=live_home.root)
    page = context.new_page()
    try:
        page.goto("/admin/")
        assert "/admin/login" in page.url
        page.get_by_label("Owner password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        assert page.get_by_role("alert").inner_text().startswith("That password is not right")
        shots(page, "14-login-wrong-password")
        page.get_by_label("Owner password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/admin/")
    finally:
        context.close()


def test_form_without_csrf_token_is_refused(page: Any) -> None:
    page.goto("/admin/notes")
    page.get_by_label("What\u2019s on your mind?").fill("Should not be posted")
    page.evaluate("document.querySelector('#note-form input[name=csrf]').remove()")
    page.get_by_role("button", name="Post").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Security token missing"
    response = page.request.post("/admin/notes", form={"text": "Nor this"})
    assert response.status == 403
    page.goto("/admin/notes")
    assert "Should not be posted" not in page.locator(".notes").inner_text()


def test_expired_session_keeps_the_text(page: Any, live_home: LiveHome) -> None:
    page.goto("/admin/write/new")
    page.get_by_label("Title").fill("Written while logged out")
    page.context.add_cookies([{"name": "homeport_session", "value": "expired-or-unknown",
                               "url": live_home.root}])
    page.locator("#body").fill("Every word of this must survive.")
    page.wait_for_selector("#status.bad")
    assert "session has expired" in page.locator("#status").inner_text()
    page.goto("/admin/login?next=/admin/write/new")
    page.get_by_label("Owner password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/write/new")
    page.get_by_role("button", name="Restore it").click()
    assert page.locator("#body").input_value() == "Every word of this must survive."
    expect(page.locator("#status")).to_have_text(re.compile("^Saved"))


def test_not_an_image_is_refused_and_nothing_is_added(page: Any) -> None:
    page.goto("/admin/media")
    before = page.locator(".grid li").count()
    page.locator("#media-files").set_input_files(
        {"name": "fake.png", "mimeType": "image/png", "buffer": b"this is not a picture"}
    )
    page.get_by_label("Describe this photo (alt text)").fill("Nothing")
    page.get_by_role("button", name="Upload").click()
    message = page.locator("#media-queue .status.bad")
    message.wait_for()
    assert "not an image" in message.inner_text()
    page.goto("/admin/media")
    assert page.locator(".grid li").count() == before


def test_not_a_pdf_is_refused_and_the_form_is_kept(page: Any) -> None:
    page.goto("/admin/papers")
    before = page.locator("main ul li").count()
    page.locator("#pdf").set_input_files(
        {"name": "paper.pdf", "mimeType": "application/pdf", "buffer": b"<html>nope</html>"}
    )
    page.get_by_label("Title").fill("A paper that is not")
    page.get_by_label("Authors", exact=False).fill("Someone")
    page.get_by_role("button", name="Add paper").click()
    assert "is not a PDF" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Title").input_value() == "A paper that is not"
    assert page.locator("main ul li").count() == before


def test_note_with_undescribed_photo_keeps_the_text(page: Any) -> None:
    page.goto("/admin/notes")
    page.get_by_label("What\u2019s on your mind?").fill("A note whose photo has no description")
    page.locator("#note-photos").set_input_files(
        {"name": "x.png", "mimeType": "image/png", "buffer": png(64, 64)}
    )
    page.evaluate("document.querySelectorAll('#note-alts input').forEach(i => i.required = false)")
    page.get_by_role("button", name="Post").click()
    assert "Describe each photo" in page.get_by_role("alert").inner_text()
    assert re.search("no description", page.get_by_label("What\u2019s on your mind?").input_value())


UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), textarea, select, button'))
  .filter(el => el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !(el.textContent || '').trim())
  .map(el => el.outerHTML)"""


MAIN_SCREENS = ["/admin/", "/admin/write/new", "/admin/notes", "/admin/media", "/admin/papers",
                "/admin/responses", "/admin/settings"]


def test_every_control_has_a_label_and_every_image_a_text(page: Any) -> None:
    for path in MAIN_SCREENS:
        page.goto(path)
        assert page.evaluate(UNLABELLED) == [], path
        images = "() => Array.from(document.images).filter(i => !i.hasAttribute('alt')).length"
        assert page.evaluate(images) == 0, path
        assert page.locator("h1").count() == 1, path


def test_delete_offers_undo(page: Any) -> None:
    page.goto("/admin/notes")
    page.get_by_label("What\u2019s on your mind?").fill("A note to delete and bring back")
    page.get_by_role("button", name="Post").click()
    page.wait_for_selector("text=Posted.")
    page.locator(".notes li", has_text="bring back").get_by_role("button").click()
    assert "bring back" not in page.locator(".notes").inner_text()
    page.get_by_role("button", name="Undo").click()
    page.wait_for_selector("text=Restored")
    assert "bring back" in page.locator(".notes").inner_text()


def test_a_published_article_changes_only_on_update(page: Any) -> None:
    page.goto("/admin/write/new")
    token = page.locator("meta[name=csrf]").get_attribute("content")
    saved = page.request.post("/admin/api/articles", headers={"X-CSRF-Token": token},
                              data={"title": "Second thoughts", "body": "First version."}).json()
    page.request.post(f"/admin/entries/article/{saved['id']}/publish", form={"csrf": token})
    page.goto(f"/admin/write/{saved['id']}")
    page.locator("#body").fill("Rewritten **completely**.")
    expect(page.locator("#status")).to_have_text(re.compile("press Update"))
    article = page.request.get(f"/preview/{_site(page)}/articles/second-thoughts/").text()
    assert "First version" in article and "Rewritten" not in article
    page.get_by_role("button", name="Update").click()
    expect(page.locator("#status")).to_have_text(re.compile("^Updated on the site"))
    article = page.request.get(f"/preview/{_site(page)}/articles/second-thoughts/").text()
    assert "Rewritten <strong>completely</strong>" in article


def _site(page: Any) -> str:
    location = page.request.get("/preview/", max_redirects=0).headers["location"]
    return str(location.strip("/").split("/")[-1])
