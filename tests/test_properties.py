"""Property-based tests (hypothesis): quantities and scanned text, for every input rather than
the ones we thought of. parse_scan's "never raises" lives in tests/test_interpret.py."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from scanapp.errors import ScanAppError
from scanapp.inventory.errors import InvalidQuantity
from scanapp.inventory.quantities import MAX_QTY, PLACES, format_quantity, parse_quantity
from scanapp.scanning.interpret import parse_scan
from scanapp.scanning.payloads import (
    DOCUMENT_KINDS,
    document_payload,
    item_payload,
    location_payload,
    lot_payload,
)

CLEAN = re.compile(r"[0-9]{1,13}(\.[0-9]{1,6})?")
STEP = Decimal(1).scaleb(-PLACES)

# Quantities as they are meant: positive, at most three places, at most a billion.
good_quantities = st.decimals(min_value=STEP, max_value=MAX_QTY, places=PLACES, allow_nan=False,
                              allow_infinity=False)


@given(good_quantities)
def test_a_quantity_survives_format_and_parse(qty):
    shown = format_quantity(parse_quantity(qty))
    assert parse_quantity(shown) == qty
    assert CLEAN.fullmatch(shown), shown
    assert not shown.endswith(".") and (("." not in shown) or not shown.endswith("0"))


@given(good_quantities)
def test_text_json_number_and_int_mean_the_same_quantity(qty):
    assert parse_quantity(str(qty)) == parse_quantity(qty) == qty
    if qty == qty.to_integral_value():
        assert parse_quantity(int(qty), whole_units=True) == qty


@given(good_quantities)
def test_whole_unit_items_take_whole_quantities_only(qty):
    if qty == qty.to_integral_value():
        assert parse_quantity(qty, whole_units=True) == qty
    else:
        with pytest.raises(InvalidQuantity):
            parse_quantity(qty, whole_units=True)


@given(st.text(max_size=30))
@example("1e3")
@example("١٢")
@example("NaN")
@example(" 12")
@example("12.")
@example(".5")
@example("+1")
@example("0x10")
@example("1_000")
@example("１２")  # full-width digits
def test_text_is_a_quantity_only_when_it_is_a_clean_decimal(raw):
    """Anything else than plain ASCII digits with an optional fraction is refused, with
    InvalidQuantity and nothing else; what is accepted is exactly the number written."""
    try:
        value = parse_quantity(raw)
    except InvalidQuantity:
        return
    assert CLEAN.fullmatch(raw.strip()), raw
    assert value == Decimal(raw.strip())
    assert Decimal(0) < value <= MAX_QTY


@given(st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), st.complex_numbers(),
                 st.binary(max_size=4)))
def test_values_that_are_not_numbers_are_refused(raw):
    with pytest.raises(InvalidQuantity):
        parse_quantity(raw)


@given(st.one_of(st.integers(), st.decimals(allow_nan=True, allow_infinity=True)))
def test_any_number_is_parsed_or_refused_cleanly(raw):
    try:
        value = parse_quantity(raw)
    except InvalidQuantity:
        assume(True)
        return
    assert Decimal(0) < value <= MAX_QTY and value == value.quantize(STEP)
    assert value == Decimal(raw)


# --- scanned text ---------------------------------------------------------------------------------

# What a payload part may hold: printable text without the characters parse_scan cleans away.
part = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), min_size=1, max_size=30).filter(
    lambda s: s.strip() == s and s.strip())


@given(part)
def test_location_and_item_payloads_round_trip(code):
    assert parse_scan(location_payload(code)).location == code
    parsed = parse_scan(item_payload(code))
    assert (parsed.kind, parsed.sku) == ("item", code)


@given(part, part)
def test_lot_payloads_round_trip(sku, lot):
    parsed = parse_scan(lot_payload(sku, lot))
    assert (parsed.kind, parsed.sku, parsed.lot) == ("lot", sku, lot)


@given(st.sampled_from(DOCUMENT_KINDS), part)
def test_document_payloads_round_trip(kind, number):
    parsed = parse_scan(document_payload(kind, number))
    assert (parsed.kind, parsed.document_kind, parsed.document) == ("document", kind, number)


@given(st.tuples(st.sampled_from("=+-@"), st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")),
                                                  max_size=40)).map("".join).filter(lambda s: s.rstrip() == s))
def test_formula_leading_text_is_kept_exactly(text):
    parsed = parse_scan(text)
    assert parsed.text == text and parsed.raw == text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.text(max_size=60), st.text(max_size=5000).map(lambda s: s * 2),
                     st.sampled_from(["\x00", "\u202e123", "]C1", "LOC:", "DOC:PO:", "(01)", "\x1d" * 3])))
def test_resolve_raises_only_documented_errors(app, raw):
    """resolve() answers any text with a result or InvalidScan (a ScanAppError, a 422), never
    with another exception."""
    from scanapp.extensions import db
    from scanapp.scanning.resolve import InvalidScan, resolve

    with app.app_context():
        try:
            result = resolve(raw, screen="lookup", user_id=None)
            assert result.kind
        except InvalidScan as exc:
            assert isinstance(exc, ScanAppError) and exc.status == 422 and str(exc)
        finally:
            db.session.rollback()
            db.session.remove()
