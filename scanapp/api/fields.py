"""Reading fields of a JSON body: the type checks every API endpoint shares (400 with the name)."""

from __future__ import annotations

from flask_babel import gettext as _

from ..web import BadRequest


def text(body: dict, name: str, *, required: bool = True, default=None):
    """The text field ``name``; absent → ``default`` (or 400 when required); not text → 400."""
    value = body.get(name, default)
    if value is None:
        if required:
            raise BadRequest(_("The field %(name)s is required.", name=name), code="missing_field")
        return default
    if not isinstance(value, str):
        raise BadRequest(_("The field %(name)s must be text.", name=name), code="invalid_field")
    return value
