"""First run, the other way: bring a lost home back from one of its providers with the 24-word
phrase, then choose a password. Everything is verified before anything is written (the same
import as ``homeport restore --from``); a wrong phrase or address changes nothing."""

from __future__ import annotations

from starlette.responses import Response

from homeport.crypto.keys import PhraseError
from homeport.gui import uploads, wording
from homeport.gui.pages import PREFIX, Page, page
from homeport.gui.sessions import store_of
from homeport.repo.bundle import BundleError
from homeport.repo.repository import RepositoryError
from homeport.services import accounts, identity
from homeport.services.repository import RepoStateError
from homeport.sync import providers
from homeport.sync.client import ProviderError

OWNER = "admin"
MIN_PASSWORD = 8


@page(login=False, during_setup=True)
async def form(p: Page) -> Response:
    return p.render("restore.html", error=None, url="", phrase="", password="")


@page(login=False, during_setup=True)
async def restore(p: Page) -> Response:
    raw = await p.form()
    url = uploads.line(raw, "url", 300)
    phrase = uploads.line(raw, "phrase", 400)
    password = str(raw.get("password") or "")
    error = None
    if identity.exists(p.ctx.settings.data_dir):
        error = "This home already has an identity: there is nothing to restore into."
    elif not url:
        error = "Give the address of one of your providers."
    elif len(phrase.split()) != 24:
        error = "Type all 24 words of your recovery phrase, separated by spaces."
    elif len(password) < MIN_PASSWORD:
        error = f"Choose a password of at least {MIN_PASSWORD} characters."
    standby = None
    if error is None:
        try:
            outcome = await providers.restore(
                p.ctx.settings, url, phrase, store=p.ctx.store, blobs=p.ctx.blobs
            )
        except providers.NotPrimary as exc:
            standby = str(exc)  # the data came: sign in, and say why it does not write
        except PhraseError as exc:
            error = wording.phrase_problem(exc)
        except ProviderError as exc:
            error = wording.provider_problem(exc, restoring=True)
        except (BundleError, RepoStateError, RepositoryError, identity.IdentityStateError) as exc:
            error = (
                f"The copy at {url} did not pass the checks, so nothing was written ({exc}). "
                "Try another of your providers."
            )
        except OSError as exc:
            error = (
                f"This computer could not save the home ({exc.strerror or exc}). Make room on "
                "its disk, then try again."
            )
        except ValueError as exc:
            error = f"{exc}. Check the address and the phrase, then try again."
    if error is not None:
        # what was typed stays, so one wrong word does not mean typing 24 again
        return p.render("restore.html", 400, error=error, url=url, phrase=phrase, password=password)
    await accounts.set_password(p.ctx, OWNER, password)
    store = store_of(p.ctx)
    store.drop_user(OWNER)
    p.replace_session(store.login(p.session, OWNER, p.now))
    if standby is not None:
        p.flash(f"Your home's data is here, but it is not the primary: {standby}")
        return p.redirect(PREFIX + "/")
    versions = wording.plural(len(outcome.result.new_commits), "saved version")
    p.flash(f"Your home is back from {url} and lives here now: {versions}, every one checked.")
    return p.redirect(PREFIX + "/")


@page()
async def move_form(p: Page) -> Response:
    """On a standby: take the home back here with the phrase (the device was lost, say)."""
    saved = providers.load(p.ctx.settings.data_dir)
    url = saved[0]["url"] if saved else ""
    return p.render("move_here.html", error=None, url=url, phrase="")


@page()
async def move_here(p: Page) -> Response:
    """The same move as ``homeport restore --from`` on this copy: catch up with what the
    primary published, then become the primary with the next handoff."""
    raw = await p.form()
    url = uploads.line(raw, "url", 300)
    phrase = uploads.line(raw, "phrase", 400)
    error = None
    if not url:
        error = "Give the address of the provider your home publishes to."
    elif len(phrase.split()) != 24:
        error = "Type all 24 words of your recovery phrase, separated by spaces."
    else:
        try:
            outcome = await providers.restore(
                p.ctx.settings,
                url,
                phrase,
                store=p.ctx.store,
                blobs=p.ctx.blobs,
                where=f"the home at {p.request.base_url}admin/",
            )
        except providers.NotPrimary as exc:
            error = str(exc)
        except PhraseError as exc:
            error = wording.phrase_problem(exc)
        except ProviderError as exc:
            error = wording.provider_problem(exc, restoring=True)
        except (
            BundleError,
            RepoStateError,
            RepositoryError,
            identity.IdentityStateError,
            providers.ProvidersError,
            OSError,
            ValueError,
        ) as exc:
            error = f"Nothing was changed: {exc}."
    if error is not None:
        return p.render("move_here.html", 400, error=error, url=url, phrase=phrase)
    note = f"Your home lives here again: it caught up with {url} and takes changes here."
    aside = outcome.set_aside
    if aside is not None:
        saved = "change" if aside.first == aside.last else "changes"
        note += (
            f" This copy had saved {aside.last - aside.first + 1} {saved} that never reached "
            f"{url}; they are kept, not lost, in {aside.path}. Make them again here if you "
            "still want them (import that file into an empty home to see them)."
        )
    p.flash(note)
    return p.redirect(PREFIX + "/")
