"""The "Webmentions sent" page lists each send (entry, link, endpoint, status, attempts), and
only to the signed-in owner."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from homeport.interop import sending
from homeport.settings import Settings


def test_the_history_is_listed_for_the_owner(
    client: TestClient, gui: Any, settings: Settings
) -> None:
    gui.wizard(client)
    empty = client.get("/admin/mentions/sent")
    assert empty.status_code == 200 and "Nothing sent yet" in empty.text
    assert not (settings.data_dir / sending.DB_FILE).exists()  # looking makes no file

    outbox = sending.Outbox.of(settings)
    source = "https://alice.example.net/notes/hello/"
    outbox.apply({source: ("v1", frozenset({"https://bob.example/a", "https://carol.example/"}))},
                 1_700_000_000_000)
    for send in outbox.due(1_700_000_000_000):
        if send.target == "https://bob.example/a":
            outcome = sending.Outcome(sending.SENT, "https://bob.example/wm", 202)
        else:
            outcome = sending.Outcome(sending.QUEUED, "https://carol.example/wm", 500, "oops")
        outbox.record(send, outcome, 1_700_000_001_000)
    outbox.close()

    page = client.get("/admin/mentions/sent")
    assert page.status_code == 200
    rows = page.text.split("<tbody>")[1]
    assert "https://bob.example/wm" in rows and "sent (202)" in rows
    assert "queued (500)" in rows and "next try" in rows and "oops" in rows
    assert source in rows
    assert "/admin/mentions/sent" in client.get("/admin/providers").text


def test_strangers_are_sent_to_the_login(client: TestClient, gui: Any) -> None:
    gui.wizard(client)
    client.post("/admin/logout", data={"csrf": gui.csrf_of(client.get("/admin/").text)})
    page = client.get("/admin/mentions/sent", follow_redirects=False)
    assert page.status_code in (302, 303)
    assert "/admin/login" in page.headers["location"]
