"""Errors a person can fix: a 400 in the API, one ``homeport:`` line in the CLI."""

from __future__ import annotations

from homeport.core.errors import Errno, HomeportError


class ContentError(HomeportError):
    code = 400
    errno = Errno.INVALID_PARAMETERS

    def __init__(self, message: str) -> None:
        super().__init__(message)


class MediaError(ContentError):
    """An upload that is not what it claims (not an image, a bomb, not a PDF)."""


class SlugTaken(ContentError):
    code = 409
    errno = Errno.CONSTRAINT_VIOLATED
