"""One error type for the provider's wire protocol: a status, a stable code, a message."""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """Answered as ``{"error": code, "message": message, **extra}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}
