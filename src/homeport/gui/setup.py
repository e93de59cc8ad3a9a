"""The first-run wizard: name, site title, theme and password; then the recovery phrase.

Everything is checked before anything is written, so a mistake leaves nothing half-made. The
phrase is kept only in this session's memory until three of its words are confirmed, then
forgotten: it is shown once.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from starlette.responses import Response

from homeport.gui import site
from homeport.gui.entries import rebuild
from homeport.gui.pages import PREFIX, Page, page
from homeport.gui.sessions import store_of
from homeport.services import accounts, identity

OWNER = "admin"
MIN_PASSWORD = 8
CONFIRM_WORDS = 3
PROVIDER_FIELDS = ("provider_url", "provider_code", "provider_name")
"""The wizard's optional provider: where the site goes live as soon as the home is made."""


def pick_positions(phrase: str) -> list[int]:
    """Which words (1-based) the person is asked to type back."""
    count = len(phrase.split())
    return sorted(secrets.SystemRandom().sample(range(1, count + 1), CONFIRM_WORDS))


def check_words(
    phrase: str, positions: list[int], form: Any
) -> tuple[dict[int, str], list[int], str | None]:
    """The words typed at ``positions``, the wrong ones, and what to say about them (None when
    all are right). A provider's hosted sign-up checks its phrase with this too."""
    words = phrase.split()
    typed = {n: str(form.get(f"word{n}") or "").strip().lower()[:40] for n in positions}
    wrong = [n for n in positions if typed[n] != words[n - 1]]
    if not wrong:
        return typed, wrong, None
    which = " and ".join(f"word {n}" for n in wrong)
    error = (
        f"{which[0].upper()}{which[1:]} {'does' if len(wrong) == 1 else 'do'} not match your "
        "phrase. Check against your paper copy; the words you got right are kept."
    )
    return typed, wrong, error


@page(login=False, during_setup=True)
async def wizard(p: Page) -> Response:
    values = {"name": "", "title": "", "theme": site.DEFAULT_THEME}
    values.update({k: "" for k in PROVIDER_FIELDS})
    return p.render("setup.html", values=values, errors={}, themes=site.themes())


def check_form(form: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not form["title"]:
        errors["title"] = "Give your site a title; you can change it later."
    elif len(form["title"]) > 300:
        errors["title"] = "Keep the title under 300 characters."
    if len(form["name"]) > 300:
        errors["name"] = "Keep your name under 300 characters."
    if form["theme"] not in site.themes():
        errors["theme"] = "Choose one of the themes shown."
    if len(form["password"]) < MIN_PASSWORD:
        errors["password"] = f"Use at least {MIN_PASSWORD} characters."
    elif form["password"] != form["password2"]:
        errors["password2"] = "The two passwords differ; type the same one twice."
    return errors


@page(login=False, during_setup=True)
async def create(p: Page) -> Response:
    raw = await p.form()
    keys = ("name", "title", "theme", "password", "password2", *PROVIDER_FIELDS)
    form = {k: str(raw.get(k) or "").strip()[:300] for k in keys}
    errors = check_form(form)
    if bool(form["provider_url"]) != bool(form["provider_code"]):
        missing = "provider_code" if form["provider_url"] else "provider_url"
        errors[missing] = ("Give both the provider's address and the code its operator sent "
                           "you, or leave both empty to add a provider later.")
    if errors:
        values = {k: form[k] for k in ("name", "title", "theme", *PROVIDER_FIELDS)}
        return p.render("setup.html", 400, values=values, errors=errors, themes=site.themes())
    name = await site.create_first_site(p.ctx, form["title"], form["name"], form["theme"])
    await accounts.set_password(p.ctx, OWNER, form["password"])
    store = store_of(p.ctx)
    store.drop_user(OWNER)
    p.replace_session(store.login(p.session, OWNER, p.now))
    if identity.exists(p.ctx.settings.data_dir):
        p.flash("Your home is ready. It already had an identity, so there is no new phrase.")
        return p.redirect(PREFIX + "/")
    _, phrase = identity.create(p.ctx.settings.data_dir)
    p.session.secrets["phrase"] = phrase
    if form["provider_url"]:
        await _enroll(p, form["provider_url"], form["provider_code"],
                      form["provider_name"] or name)
    return p.redirect(PREFIX + "/setup/phrase")


async def _enroll(p: Page, url: str, code: str, name: str) -> None:
    """Enroll at the provider the wizard was given; once the phrase is confirmed the person
    lands in the editor, whose Publish then puts the article there. A failure is said on the
    next page and changes nothing else: the home is made, the provider can be added later."""
    from homeport.gui.wording import provider_problem
    from homeport.sync import providers
    from homeport.sync.client import ProviderError

    try:
        entry = await asyncio.to_thread(providers.add, p.ctx.settings, url, code, name)
    except ProviderError as exc:
        p.flash(f"{provider_problem(exc)} Your home is made: add the provider later on the "
                "Providers page.")
        return
    except providers.ProvidersError as exc:
        p.flash(f"{exc} Your home is made: add the provider later on the Providers page.")
        return
    p.session.secrets["landing"] = PREFIX + "/write/new"
    p.flash(f"Enrolled with {entry['url']}: your site will be at {entry['site']}")


@page()
async def show_phrase(p: Page) -> Response:
    phrase = p.session.secrets.get("phrase")
    if not phrase:
        return p.redirect(PREFIX + "/")
    return p.render("phrase.html", words=phrase.split())


@page()
async def confirm_form(p: Page) -> Response:
    phrase = p.session.secrets.get("phrase")
    if not phrase:
        return p.redirect(PREFIX + "/")
    positions = p.session.secrets.get("confirm")
    if not positions:
        positions = pick_positions(phrase)
        p.session.secrets["confirm"] = positions
    return p.render("confirm.html", positions=positions, error=None, typed={}, wrong=[])


@page()
async def confirm(p: Page) -> Response:
    phrase = p.session.secrets.get("phrase")
    positions = p.session.secrets.get("confirm")
    if not phrase or not positions:
        return p.redirect(PREFIX + "/")
    typed, wrong, error = check_words(phrase, positions, await p.form())
    if error:
        return p.render("confirm.html", 400, positions=positions, error=error, typed=typed,
                        wrong=wrong)
    p.session.secrets.pop("phrase", None)
    p.session.secrets.pop("confirm", None)
    landing = p.session.secrets.pop("landing", None) or PREFIX + "/"
    problem = await rebuild(p)
    ready = "Your home is ready, and your recovery phrase is confirmed."
    if landing != PREFIX + "/":
        ready += " Write your first article: Publish puts it on your site at the provider."
    p.flash(problem or ready)
    return p.redirect(landing)
