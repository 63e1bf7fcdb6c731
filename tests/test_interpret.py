"""Understanding a scan: text in → what it says (scanapp.scanning.interpret). Pure, no app."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanapp.scanning.interpret import (
    DEFAULT_GS_SUBSTITUTES,
    KINDS,
    MAX_SCAN_LENGTH,
    ParsedScan,
    gtin14,
    parse_scan,
    unscannable_reason,
    upce_to_gtin14,
)
from scanapp.scanning.payloads import document_payload, location_payload, lot_payload

GS = "\x1d"
# GS1's own example GTIN (GS1 Digital Link standard, GS1 General Specifications).
GTIN = "09506000134352"


# --- GS1 element strings ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["]C1", "]d2", "]Q3", "]e0", "]J1", ""])
def test_gs1_gtin_expiry_lot_with_and_without_symbology_identifier(prefix):
    # (01) and (17) are fixed length, so no separator is needed before the variable-length (10).
    scan = parse_scan(f"{prefix}01{GTIN}17151231" + "10ABC123")

    assert scan.kind == "lot"
    assert scan.gtin == GTIN
    assert scan.lot == "ABC123"
    assert scan.expiry == date(2015, 12, 31)
    assert scan.symbology == (prefix or None)
    assert scan.text == f"01{GTIN}1715123110ABC123"
    assert scan.gs1_hri == f"(01){GTIN}(17)151231(10)ABC123"


def test_gs_ends_a_variable_length_field():
    # GS1 General Specifications style pharma DataMatrix: lot, then GS, then serial.
    scan = parse_scan("]d201034531200000111725112510ABCD1234" + GS + "2110EW354EWER")

    assert scan.kind == "lot"
    assert scan.gtin == "03453120000011"
    assert scan.expiry == date(2025, 11, 25)
    assert scan.lot == "ABCD1234"
    assert scan.serial == "10EW354EWER"
    assert scan.gs1_fields == {"01": "03453120000011", "17": "251125", "10": "ABCD1234", "21": "10EW354EWER"}


def test_gs_kept_in_text_and_a_leading_fnc1_as_gs_is_ignored():
    scan = parse_scan(f"{GS}01{GTIN}10L1{GS}21S1\r\n")

    assert scan.text == f"01{GTIN}10L1{GS}21S1"
    assert (scan.kind, scan.lot, scan.serial) == ("lot", "L1", "S1")


def test_gs1_without_lot_is_kind_gs1():
    scan = parse_scan(f"]C101{GTIN}21SN-0001")

    assert scan.kind == "gs1"
    assert (scan.gtin, scan.serial, scan.lot) == (GTIN, "SN-0001", None)
    assert scan.gtin_candidates == (GTIN,)


def test_sscc_label_with_contained_gtin_count_and_lot():
    # The logistic label from biip's docs / GS1 General Specifications: (00)(02)(37)(10).
    scan = parse_scan("]C100106141412345678908" + "0200614141123452" + "3725" + GS + "10ABC123")

    assert scan.kind == "lot"
    assert scan.sscc == "106141412345678908"
    assert scan.gtin == "00614141123452"  # (02): the item inside, which is what gets put into stock
    assert scan.qty == Decimal(25)
    assert scan.lot == "ABC123"


def test_count_ai_30_gives_qty():
    scan = parse_scan(f"]C101{GTIN}3012{GS}10L1")

    assert scan.qty == Decimal(12)
    assert isinstance(scan.qty, Decimal)


def test_net_weight_is_not_a_count():
    scan = parse_scan(f"]C101{GTIN}3103000125")

    assert scan.kind == "gs1"
    assert scan.qty is None
    assert scan.gs1_fields["3103"] == "000125"


@pytest.mark.parametrize(
    ("yymmdd", "expected"),
    [("250200", date(2025, 2, 28)), ("280200", date(2028, 2, 29)), ("251100", date(2025, 11, 30))],
)
def test_expiry_day_00_means_end_of_month(yymmdd, expected):
    assert parse_scan(f"]C101{GTIN}17{yymmdd}").expiry == expected


def test_best_before_is_kept_apart_from_expiry():
    scan = parse_scan(f"]C101{GTIN}15251231")

    assert scan.best_before == date(2025, 12, 31)
    assert scan.expiry is None


@pytest.mark.parametrize(
    "text",
    [
        f"]C101{GTIN[:-1]}3" + "10ABC",  # wrong GTIN check digit
        f"]C101{GTIN}17251301",  # month 13
        "]C100106141412345678907",  # wrong SSCC check digit
        "]C1LOT-17",  # not an AI at all
        f"]C101{GTIN}30",  # a count with no digits (biip 5.2.0 lets AI 30 be empty)
        f"]C101{GTIN}10L1{GS}10L2",  # two lots in one scan: which one?
    ],
)
def test_broken_gs1_with_gs1_symbology_is_a_code_with_the_reason(text):
    scan = parse_scan(text)

    assert scan.kind == "code"
    assert scan.gs1_error
    assert (scan.gtin, scan.lot, scan.expiry) == (None, None, None)


def test_gs1_error_stays_short_for_display():
    scan = parse_scan(f"]C101{GTIN}" + "Z" * 4000)

    assert scan.kind == "code"
    assert 0 < len(scan.gs1_error) <= 200


def test_a_repeated_ai_with_the_same_value_is_fine():
    assert parse_scan(f"]C101{GTIN}10L1{GS}10L1").lot == "L1"


def test_bare_text_with_bad_gtin_check_digit_is_not_gs1():
    scan = parse_scan(f"01{GTIN[:-1]}3" + "10ABC")

    assert scan.kind == "code"
    assert scan.lot is None


@pytest.mark.parametrize("text", ["10-A-01", "21ABC", "17250101", "3712", "10ABC", "0012345", "00A-01"])
def test_plain_codes_that_start_like_an_ai_stay_codes(text):
    scan = parse_scan(text)

    assert scan.kind == "code"
    assert scan.text == text
    assert (scan.lot, scan.serial, scan.expiry, scan.qty) == (None, None, None, None)


# --- keyboard wedge stand-ins for GS --------------------------------------------------------------


@pytest.mark.parametrize("sub", DEFAULT_GS_SUBSTITUTES)
@pytest.mark.parametrize("prefix", ["]C1", ""])
def test_each_default_wedge_substitute_separates_fields(sub, prefix):
    scan = parse_scan(f"{prefix}01{GTIN}10LOT7{sub}21S9{sub}3005")

    assert (scan.kind, scan.lot, scan.serial, scan.qty) == ("lot", "LOT7", "S9", Decimal(5))
    assert scan.text == f"01{GTIN}10LOT7{sub}21S9{sub}3005"  # the text itself is not rewritten


def test_bracketed_substitutes_match_in_any_case():
    assert parse_scan(f"01{GTIN}10LOT7<gs>21S9").serial == "S9"


def test_custom_substitutes_replace_the_defaults():
    text = f"]C101{GTIN}10LOT7#21S9"

    assert parse_scan(text, gs_substitutes=("#",)).lot == "LOT7"
    # "#" is not a GS1 value character, so without the substitute the scan is not understood.
    assert parse_scan(text).kind == "code"


def test_without_substitutes_a_tilde_is_not_a_separator():
    scan = parse_scan(f"]C101{GTIN}10LOT7~21S9", gs_substitutes=())

    assert scan.kind == "code"  # "~" is not a GS1 character, so the lot cannot contain it
    assert scan.gs1_error


def test_substitutes_never_touch_plain_codes():
    assert parse_scan("A~1|B").text == "A~1|B"
    assert parse_scan("A~1|B").kind == "code"


# --- human-readable form ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"(01){GTIN}(17)151231(10)ABC123",
        f"(01) {GTIN} (17) 151231 (10) ABC123",
        f"  (01){GTIN}(17)151231(10)ABC123\n",
    ],
)
def test_typed_human_readable_form(text):
    scan = parse_scan(text)

    assert (scan.kind, scan.gtin, scan.lot, scan.expiry) == ("lot", GTIN, "ABC123", date(2015, 12, 31))


@pytest.mark.parametrize("text", [f"(01){GTIN}(10)", f"(01){GTIN}x(99", f"(01){GTIN[:-1]}3", "(99)"])
def test_incomplete_or_wrong_human_readable_form_is_a_code(text):
    scan = parse_scan(text)

    assert scan.kind == "code"
    assert scan.gs1_error


# --- GS1 Digital Link -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        f"https://id.gs1.org/01/{GTIN}/10/ABC?17=251200",
        f"https://example.com/products/01/{GTIN}/10/ABC?17=251200&linkType=gs1:pip",
        f"HTTPS://ID.GS1.ORG/01/{GTIN}/10/ABC?17=251200",  # QR alphanumeric mode upper-cases URIs
        f"]Q1https://id.gs1.org/01/{GTIN}/10/ABC?17=251200",  # DL is a plain (non-GS1-mode) QR
        f"http://id.gs1.org/01/{GTIN[1:]}/10/ABC?17=251200",  # GTIN-13 in the path is padded
    ],
)
def test_digital_link_uri(uri):
    scan = parse_scan(uri)

    assert (scan.kind, scan.gtin, scan.lot, scan.expiry) == ("lot", GTIN, "ABC", date(2025, 12, 31))


def test_digital_link_with_serial_and_count():
    scan = parse_scan(f"https://id.gs1.org/01/{GTIN}/21/S%2F1?30=4")

    assert (scan.kind, scan.serial, scan.qty) == ("gs1", "S/1", Decimal(4))


@pytest.mark.parametrize(
    "uri",
    ["https://example.com/shop/item?id=7", f"https://id.gs1.org/01/{GTIN[:-1]}3", "http://[", "https://"],
)
def test_other_urls_are_codes(uri):
    scan = parse_scan(uri)

    assert scan.kind == "code"
    assert scan.text == uri
    assert scan.gtin is None


# --- plain GTINs and UPC-E ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["614141123452", "0614141123452", "00614141123452", "]E0614141123452", "]I100614141123452"]
)
def test_upc_a_ean_13_and_gtin_14_give_the_same_gtin(text):
    scan = parse_scan(text)

    assert scan.kind == "code"  # the caller still looks the text up; gtin is the fallback key
    assert scan.gtin == "00614141123452"


def test_upc_e_expands_to_the_same_gtin_as_its_upc_a():
    assert upce_to_gtin14("04252614") == gtin14("042100005264") == gtin14("0042100005264") == "00042100005264"
    assert parse_scan("04252614").gtin == "00042100005264"


def test_eight_digits_valid_as_both_ean_8_and_upc_e_offer_both():
    scan = parse_scan("01234565")

    assert scan.gtin_candidates == ("00000001234565", "00012345000065")
    assert scan.gtin == "00000001234565"
    assert gtin14("01234565") == "00000001234565"  # gtin14 reads 8 digits as EAN-8
    assert upce_to_gtin14("01234565") == "00012345000065"


@pytest.mark.parametrize(
    ("text", "expected"), [("]E401234565", "00000001234565"), ("]E001234565", "00012345000065")]
)
def test_symbology_identifier_settles_ean_8_versus_upc_e(text, expected):
    assert parse_scan(text).gtin_candidates == (expected,)


def test_ean_13_with_add_on():
    scan = parse_scan("]E3400638133393112")

    assert scan.gtin == "04006381333931"
    assert scan.text == "400638133393112"


@pytest.mark.parametrize(
    "text",
    [
        "4006381333932",  # wrong check digit
        "614141123453",
        "00614141123453",
        "01234566",
        "00000000",  # all zeros passes the check digit but is not a GTIN
        "00000000000000",
        "123456",  # six-digit UPC-E without check digit: too many plain codes look like this
        "614141123451",  # 12 digits, bad check digit
        "٠٦١٤١٤١١٢٣٤٥٢",  # Arabic-Indic digits are not barcode digits
        "0614141 123452",
        "",
    ],
)
def test_not_a_gtin(text):
    assert gtin14(text) is None
    assert parse_scan(text).gtin is None


def test_upce_to_gtin14_rejects_other_number_systems_and_check_digits():
    assert upce_to_gtin14("24252614") is None
    assert upce_to_gtin14("04252615") is None
    assert upce_to_gtin14("0425261") is None
    assert upce_to_gtin14("00000000") is None  # valid check digit, but all zeros is no product


@given(st.text(alphabet="0123456789", min_size=11, max_size=13))
def test_gtin14_accepts_any_payload_with_its_check_digit_and_rejects_the_others(payload):
    from biip.checksums import gs1_standard_check_digit

    check = gs1_standard_check_digit(payload)
    if not (payload + str(check)).strip("0"):
        return
    assert gtin14(payload + str(check)) == (payload + str(check)).zfill(14)
    assert gtin14(payload + str((check + 1) % 10)) is None


# --- ScanApp payloads ---------------------------------------------------------------------------


def test_location_payload():
    scan = parse_scan(location_payload("WH1-A-01-02"))

    assert (scan.kind, scan.location) == ("location", "WH1-A-01-02")


def test_payload_prefix_is_case_insensitive_and_escaped_colons_come_back():
    assert parse_scan("loc:wh1-a-01").location == "wh1-a-01"
    assert parse_scan(location_payload("A:1%")).location == "A:1%"
    assert parse_scan("Item:SKU%3A9").sku == "SKU:9"


def test_item_lot_and_document_payloads():
    item = parse_scan("ITEM:SKU-1001")
    lot = parse_scan(lot_payload("SKU-1001", "L2405:B"))
    doc = parse_scan(document_payload("PO", "PO-00012"))
    doc_lower = parse_scan("doc:cnt:C-7")

    assert (item.kind, item.sku) == ("item", "SKU-1001")
    assert (lot.kind, lot.sku, lot.lot) == ("lot", "SKU-1001", "L2405:B")
    assert (doc.kind, doc.document_kind, doc.document) == ("document", "PO", "PO-00012")
    assert (doc_lower.document_kind, doc_lower.document) == ("CNT", "C-7")


def test_payload_from_a_qr_with_symbology_identifier_and_wedge_suffix():
    scan = parse_scan("]Q1LOC:WH1-A-01\r\n")

    assert (scan.kind, scan.location, scan.symbology) == ("location", "WH1-A-01", "]Q1")


@pytest.mark.parametrize("text", ["LOC:", "LOT:SKU-1", "DOC:XX:1", "ITEM: ", "LOC:A:B"])
def test_malformed_payloads_are_codes(text):
    scan = parse_scan(text)

    assert scan.kind == "code"
    assert scan.text == text.strip()


# --- cleaning -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["=SUM(A1:A9)", "+A99912345/$$52001510X3", "-12", "@cmd", '=HYPERLINK("http://x")', "+"]
)
def test_formula_leading_text_is_kept_exactly(text):
    scan = parse_scan(text)

    assert scan.kind == "code"
    assert scan.text == text
    assert unscannable_reason(text) is None


def test_hibc_after_a_symbology_identifier_is_kept():
    scan = parse_scan("]C0+A99912345/$$52001510X3")

    assert (scan.text, scan.symbology) == ("+A99912345/$$52001510X3", "]C0")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("\x00ABC\x00", "ABC"),
        ("ABC\r\n", "ABC"),
        ("\tABC\t", "ABC"),
        ("\ufeffABC", "ABC"),
        ("A\u202eBC", "ABC"),  # a right-to-left override would make the code display backwards
        ("A\u200bB", "AB"),
        ("A\x7fB\x85C", "ABC"),
        ("A\ud800B", "AB"),  # a lone surrogate cannot be stored or encoded
        ("  货位-A1  ", "货位-A1"),
    ],
)
def test_control_and_format_characters_are_removed(raw, text):
    scan = parse_scan(raw)

    assert scan.raw == raw
    assert scan.text == text


@pytest.mark.parametrize("text", ["]", "]x1", "]Cx", "]Y", "]Y9AB", "]]C1"])
def test_text_merely_starting_with_a_bracket_keeps_it(text):
    scan = parse_scan(text)

    assert scan.symbology is None
    assert scan.text == text


@pytest.mark.parametrize("text", ["", "   ", "\r\n", "\x00\x00", GS * 3, "]C1", "]Q1 \r\n", "\u202e"])
def test_empty(text):
    scan = parse_scan(text)

    assert (scan.kind, scan.text) == ("empty", "")
    assert unscannable_reason(text) == "empty"


def test_none_is_empty_not_an_error():
    assert parse_scan(None).kind == "empty"  # type: ignore[arg-type]
    assert unscannable_reason(None) == "empty"  # type: ignore[arg-type]


def test_length_limit():
    longest = "A" * MAX_SCAN_LENGTH
    too_long = f"01{GTIN}10" + "A" * MAX_SCAN_LENGTH

    assert unscannable_reason(longest) is None
    assert unscannable_reason(too_long) == "too_long"
    assert parse_scan(too_long).kind == "code"
    assert parse_scan(too_long).lot is None
    # padding that cleaning removes does not count
    assert unscannable_reason(longest + "\r\n" + "\x00" * 10) is None


def test_parsed_scan_is_frozen_and_hashable():
    scan = parse_scan(f"]C101{GTIN}10L1")

    with pytest.raises(dataclasses.FrozenInstanceError):
        scan.lot = "L2"  # type: ignore[misc]
    assert hash(scan) == hash(parse_scan(f"]C101{GTIN}10L1"))


# --- never raises -------------------------------------------------------------------------------

_any_char = st.characters(codec=None, categories=None)  # every code point, surrogates and controls too
_gs1ish = st.lists(
    st.sampled_from(
        [
            "]C1",
            "]d2",
            "]Q3",
            "]E0",
            "]E4",
            "]Y",
            "]",
            "01",
            GTIN,
            "02",
            "00",
            "10",
            "17",
            "21",
            "30",
            "37",
            "3103",
            "000000",
            "991399",
            "(",
            ")",
            "(01)",
            GS,
            "~",
            "<GS>",
            "^]",
            "http://",
            "https://id.gs1.org/",
            "/01/",
            "?17=",
            "&",
            "%",
            "%3A",
            "LOC:",
            "doc:",
            "LOT:",
            ":",
            "=",
            "+",
            "@",
            "\x00",
            "\u202e",
            "\ud800",
            " ",
            "\r\n",
            "A",
            "9",
        ]
    ),
    max_size=30,
).map("".join)
_long = st.builds(
    lambda unit, n: (unit * n)[: MAX_SCAN_LENGTH + 50],
    st.text(_any_char, min_size=1, max_size=8),
    st.integers(1, MAX_SCAN_LENGTH + 50),
)
_scan_text = st.one_of(st.text(_any_char, max_size=200), _gs1ish, _long)


def _check_invariants(raw: str, scan: ParsedScan) -> None:
    assert isinstance(scan, ParsedScan)
    assert scan.raw == raw
    assert scan.kind in KINDS
    assert (scan.kind == "empty") == (scan.text == "")
    assert scan.text == scan.text.strip()
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") and c != GS for c in scan.text)
    if scan.gtin is not None:
        assert len(scan.gtin) == 14 and scan.gtin.isascii() and scan.gtin.isdigit()
        assert scan.gtin_candidates[0] == scan.gtin
    if scan.qty is not None:
        assert scan.qty == scan.qty.to_integral_value() and scan.qty >= 0
    assert (unscannable_reason(raw) is None) == (scan.kind != "empty" and len(scan.text) <= MAX_SCAN_LENGTH)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_scan_text)
def test_parse_scan_never_raises(raw):
    _check_invariants(raw, parse_scan(raw))


@settings(max_examples=200)
@given(_gs1ish, st.lists(st.text(_any_char, max_size=4), max_size=4).map(tuple))
def test_parse_scan_never_raises_with_any_substitutes(raw, substitutes):
    _check_invariants(raw, parse_scan(raw, gs_substitutes=substitutes))
