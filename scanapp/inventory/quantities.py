"""Turning what a person or program sent into an exact quantity, or a clear refusal."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l

from .errors import InvalidQuantity

MAX_QTY = Decimal("1000000000")  # a billion units in one move is a typo, not a delivery
PLACES = 3
# ASCII digits only: int("١٢") is 12 in Python, and a worker never means that.
_DECIMAL_TEXT = re.compile(r"[0-9]{1,13}(?:\.[0-9]{1,6})?")


def parse_quantity(raw, *, whole_units: bool = False, allow_zero: bool = False) -> Decimal:
    """Return ``raw`` as a positive Decimal with at most three places, or raise InvalidQuantity.

    Accepts int, Decimal (JSON numbers are parsed as Decimal, never float) and plain decimal text
    such as "12" or "2.5". Refuses booleans, floats, exponents, NaN/Infinity, non-ASCII digits,
    zero (unless ``allow_zero``), negatives, more than three places, and fractions of whole units.
    """
    if isinstance(raw, bool) or raw is None:
        raise InvalidQuantity(_l("Enter a quantity as a number."))
    if isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if not _DECIMAL_TEXT.fullmatch(text):
            raise InvalidQuantity(_l("Enter a quantity as a plain number, such as 12 or 2.5."))
        value = Decimal(text)
    else:
        raise InvalidQuantity(_l("Enter a quantity as a number."))
    try:
        if not value.is_finite():
            raise InvalidQuantity(_l("Enter a quantity as a number."))
        if value < 0 or (value == 0 and not allow_zero):
            raise InvalidQuantity(_l("The quantity must be more than zero."))
        if value > MAX_QTY:
            raise InvalidQuantity(_l("The quantity is too large."))
        if value != value.quantize(Decimal(1).scaleb(-PLACES)):
            raise InvalidQuantity(_l("Quantities have at most three decimal places."))
    except InvalidOperation:
        raise InvalidQuantity(_l("Enter a quantity as a number.")) from None
    if whole_units and value != value.to_integral_value():
        raise InvalidQuantity(_l("This item is counted in whole units."))
    return value.quantize(Decimal(1).scaleb(-PLACES))


def format_quantity(value: Decimal | None) -> str:
    """12.000 → "12", 2.500 → "2.5"; for pages and JSON."""
    if value is None:
        return ""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
