"""What the GUI says when something fails: what happened in the person's words, and what to do
next. The program's own messages (errnos, checksums, protocol codes) stay in the logs and the
command line; a screen shows these instead."""

from __future__ import annotations

from homeport.crypto.keys import PhraseError
from homeport.sync.client import ProviderError


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 version``, ``2 versions``."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def phrase_problem(exc: PhraseError) -> str:
    if exc.kind == "count":
        return (
            f"You typed {plural(exc.count, 'word')}; the phrase has 24. Type all of them, in "
            "order, with a space between words."
        )
    if exc.kind == "word":
        return (
            f"Word {exc.position}, “{_word_of(exc)}”, is not one of the phrase's words: check "
            "its spelling against your paper copy."
        )
    return (
        "Every word is spelled right, but one is not the right word or two are in the wrong "
        "order. Compare them, one by one, with your paper copy."
    )


def _word_of(exc: PhraseError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1].strip("'\"") if ": " in text else ""


def provider_problem(exc: ProviderError, restoring: bool = False) -> str:
    """A provider refused or could not be reached."""
    url = exc.url
    if exc.code == "unreachable":
        return (
            f"Could not reach {url}. Check the address (it starts with https:// or http://), "
            "that this computer is online and that the provider is running, then try again."
        )
    if restoring and exc.status == 401:
        return (
            f"{url} holds no home for this phrase. Check the address (it is one of the providers "
            "you published to) and the words of your phrase."
        )
    if exc.code == "suspended":
        return f"{url} has suspended your site. Ask its operator why; your home is unchanged."
    if exc.code == "deleted":
        return f"{url} has deleted your site there. Remove it, or enroll again with a new code."
    if exc.code == "bad-invite":
        return (
            f"{url} did not accept that code: it is unknown, used or expired. Check it, or ask "
            "the provider's operator for a new one."
        )
    if exc.code in ("bad-name", "name-taken"):
        return (
            "Choose another name there: lower-case letters, digits and hyphens, and not one "
            "someone already has."
        )
    if exc.code in ("busy", "provider-full", "replayed"):
        return f"{url} is busy or full right now. Try again in a few minutes."
    detail = str(exc).removeprefix(f"{url}: ")
    return f"{url} refused: {detail}. Check the address, or try again later."


def health(code: str | None, status: int = 0) -> str:
    """One provider's state for the Providers table."""
    if code is None:
        return "reachable"
    if code == "unreachable":
        return "not reachable right now"
    if status == 401:
        return "does not recognise this home yet: publish to update it"
    return {"suspended": "suspended by its operator", "deleted": "deleted your site"}.get(
        code, "answered with an error: try publishing again"
    )
