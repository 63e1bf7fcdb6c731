"""Reading values out of page forms into plain Python values for the services."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from .web import BadRequest


def parse_date(text: str | None, field: str = "date") -> date | None:
    """An ISO date (YYYY-MM-DD) or None for an empty field; 400 with a message otherwise."""
    if text is None or str(text).strip() == "":
        return None
    text = str(text).strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise BadRequest(_("%(field)s must be a date like 2026-12-31.", field=field), code="invalid_date")


def parse_int(text, default=None, *, minimum=None, maximum=None):
    """A non-negative whole number from a query string, or ``default`` when absent or malformed."""
    if text is None or text == "":
        return default
    if not (isinstance(text, str) and text.isascii() and text.isdigit()) or len(text) > 12:
        return default
    value = int(text)
    if minimum is not None and value < minimum:
        return default
    if maximum is not None:
        value = min(value, maximum)
    return value


def checkbox(form, name: str) -> bool:
    return form.get(name) in ("1", "on", "true", "yes")
