"""The dashboard: entries, storage used, last build, and what needs attention."""

from __future__ import annotations

from starlette.responses import Response

from homeport.gui.pages import Page, page


@page()
async def dashboard(p: Page) -> Response:
    attention = []
    if p.session.secrets.get("phrase"):
        attention.append(("Confirm your recovery phrase", "/setup/phrase"))
    return p.render("dashboard.html", attention=attention)
