"""The one base class for errors a person should see: a code for programs, a status, a message.

Domain packages subclass it (`inventory.errors`, `scanning.decode`); the web layer maps every
subclass once, to a JSON error for the API and an error fragment for pages. Pure Python, so the
pure packages can raise it without importing Flask.
"""

from __future__ import annotations


class ScanAppError(Exception):
    """An error with a snake_case ``code``, an HTTP ``status`` and a message for a person.

    ``message`` should already be translated by the caller when it comes from a view; domain code
    passes lazy strings (flask_babel.lazy_gettext) or plain English that the view layer translates.
    """

    code = "error"
    status = 422

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, **details):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details

    def __str__(self) -> str:
        return str(self.message)
