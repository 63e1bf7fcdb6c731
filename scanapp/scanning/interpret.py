"""Understanding a scan: the text a scanner, camera or keyboard delivered → what it says.

Pure: no Flask, no database. `parse_scan` says *what kind* of thing the text is and pulls out the
values in it; the caller looks codes up (a location code, an item barcode or SKU) and decides what the
scan means in the workflow at hand.

What a scan can be, in the order `parse_scan` tries them:

1. ScanApp's own label payloads (``LOC:``, ``ITEM:``, ``LOT:``, ``DOC:``), see `payloads`.
2. A GS1 Digital Link URI (``https://id.gs1.org/01/09506000134352/10/ABC?17=251231``, any domain).
3. A GS1 element string (GS1-128, GS1 DataMatrix, GS1 QR, GS1 DataBar), with or without a symbology
   identifier, with GS (``\\x1d``) or a keyboard wedge's stand-in for GS between fields, or typed in its
   human-readable form ``(01)09506000134352(10)ABC``.
4. Anything else is a ``code`` to look up. When it is a valid GTIN or UPC-E, ``gtin`` carries the
   normalised GTIN-14 so an item stored under its EAN-13 is found when its UPC-A or GTIN-14 is scanned.

GS1 is parsed by biip (its bundled AI table, check digits, dates); nothing here hand-writes AI rules.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.sscc import Sscc
from biip.symbology import GS1Symbology, ISOSymbology
from biip.upc import Upc, UpcFormat

from scanapp.scanning.payloads import parse_payload

if TYPE_CHECKING:
    from collections.abc import Iterable

    from biip.gs1_element_strings import GS1ElementString, GS1ElementStrings

__all__ = [
    "DEFAULT_GS_SUBSTITUTES",
    "KINDS",
    "MAX_SCAN_LENGTH",
    "ParsedScan",
    "gtin14",
    "parse_scan",
    "unscannable_reason",
    "upce_to_gtin14",
]

KINDS = ("location", "item", "lot", "document", "gs1", "code", "empty")

# Longest text we interpret. No handheld symbology a warehouse prints carries more (a DataMatrix holds
# at most 2335 characters of text); anything longer is a stuck key or a paste, and the caller rejects it.
MAX_SCAN_LENGTH = 4096

GS = "\x1d"

# What keyboard wedges are commonly set to type instead of GS (FNC1), which a keyboard cannot type:
# the caret notation of Ctrl+] (Honeywell-style replacement tables), bracketed names, the Unicode
# "SYMBOL FOR GROUP SEPARATOR", and the single characters "~" and "|". None of "~ | ^ [ ] { }" is in
# GS1's character set 82 (nor set 39), so they can never be part of a valid GS1 value: replacing them
# cannot corrupt a correct element string. "<GS>" is made of set-82 characters, but no real lot or
# serial number contains it. Substitutes are replaced only when the text is parsed as GS1, never in
# plain codes, so a location code like "A~1" is untouched.
DEFAULT_GS_SUBSTITUTES: tuple[str, ...] = ("<GS>", "[GS]", "{GS}", "^]", "\u241d", "~", "|")

_GS1_MESSAGE_SYMBOLOGIES = frozenset(GS1Symbology.with_gs1_messages())
# biip 5.2.0's ISOSymbology lacks "J" (DotCode) although GS1Symbology has "J1" GS1 DotCode: take both.
_ISO_SYMBOLOGY_CHARS = frozenset(s.value for s in ISOSymbology) | frozenset(s.value[0] for s in GS1Symbology)
# ISO/IEC 15424 modifier characters are digits and capital letters.
_SI_MODIFIER = re.compile(r"[0-9A-Z]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_HRI_START = re.compile(r"\(\d{2,4}\)")
# A whole HRI string: biip's parse_hri silently skips text it cannot pair with an AI (a trailing
# "(10)" with no value, junk between fields), so the full shape is checked here first.
_HRI_WHOLE = re.compile(r"(?:\(\d{2,4}\)[^()]+)+")
# AIs whose value is the primary GTIN of the scanned thing: (01) the item itself, else (02) the item
# contained in a logistic unit (an SSCC pallet label carries (00)(02)(37)(10)).
_GTIN_AIS = ("01", "02")
# Count AIs only: (37) items in a logistic unit, (30) variable count. Weights and measures (31nn–36nn)
# are not a number of stock units and never become qty.
_COUNT_AIS = ("37", "30")


@dataclass(frozen=True)
class ParsedScan:
    """What one scan says. Built only by `parse_scan`.

    Invariants:
      * ``raw`` is the text exactly as received; ``text`` is it cleaned (see `parse_scan`).
      * ``kind`` is one of `KINDS`; ``kind == "empty"`` exactly when ``text == ""``.
      * ``gtin`` is None or 14 ASCII digits with a valid check digit; it is ``gtin_candidates[0]``
        whenever both are set. ``gtin_candidates`` holds every GTIN-14 the text may mean (an 8-digit
        code may be an EAN-8 or a UPC-E) — try them in order.
      * ``qty`` is set only from a count AI (30 or 37): a whole, non-negative Decimal.
      * ``gs1_fields`` maps AI → raw value, in scan order, for display (an AI repeated with another
        value makes the scan a ``code`` with ``gs1_error``).
      * ``gs1_error`` explains why text that looked like GS1 was not understood; ``kind`` is then
        ``"code"`` so the caller can still look it up.
    """

    raw: str
    text: str
    kind: str
    symbology: str | None = None  # the symbology identifier removed from the front, e.g. "]C1"
    location: str | None = None
    sku: str | None = None
    gtin: str | None = None
    gtin_candidates: tuple[str, ...] = ()
    lot: str | None = None
    expiry: date | None = None  # AI 17; day "00" already means the month's last day
    best_before: date | None = None  # AI 15; callers may fall back to it for FEFO
    serial: str | None = None
    qty: Decimal | None = None
    sscc: str | None = None
    document_kind: str | None = None  # one of payloads.DOCUMENT_KINDS
    document: str | None = None
    # hash=False keeps the frozen dataclass hashable although a dict is not.
    gs1_fields: dict[str, str] = field(default_factory=dict, hash=False)
    gs1_hri: str | None = None  # "(01)09506000134352(10)ABC" — the human-readable form, for display
    gs1_error: str | None = None


def parse_scan(text: str, *, gs_substitutes: Iterable[str] = DEFAULT_GS_SUBSTITUTES) -> ParsedScan:
    """Say what the scanned ``text`` is. Never raises, whatever the text.

    Cleaning (the result's ``text``): control characters other than GS are removed (NUL, CR/LF/Tab a
    wedge appends, DEL, C1 controls), as are Unicode format characters (bidi overrides such as U+202E,
    zero-width spaces, BOM) and lone surrogates; surrounding whitespace is trimmed; a leading ISO/IEC
    15424 symbology identifier (``]C1``, ``]d2``, ``]Q3``, ``]E0`` …) is removed and reported in
    ``symbology``. Nothing else is changed: text starting with ``=``, ``+``, ``-`` or ``@`` is ordinary
    barcode data (HIBC codes start with ``+``) and is kept exactly; escaping it for a spreadsheet
    is the exporter's job.

    Kinds:
      * ``location`` / ``item`` / ``lot`` / ``document``: ScanApp's payloads (prefix case-insensitive,
        ``%3A`` for a colon in a part). ``LOT:`` sets ``sku`` and ``lot``.
      * ``lot``: also GS1 data carrying AI 10 (batch/lot), with ``gtin``, ``expiry`` … when present.
      * ``gs1``: GS1 data without a lot (a GTIN, maybe with count, serial, expiry; or an SSCC).
      * ``code``: anything else, including text too long to interpret (over `MAX_SCAN_LENGTH`
        characters, returned unparsed) and GS1-looking text that failed to parse (``gs1_error``).
      * ``empty``: nothing left after cleaning.

    When text is taken as GS1:
      * with a GS1 symbology identifier (``]C1 ]e0 ]d2 ]Q3 ]J1``): always (a failure gives ``code``);
      * without one: when it starts with ``(NN)`` (typed human-readable form), when it contains a real
        GS character, or when it starts with AI 01/02 and a valid GTIN-14 or AI 00 and a valid SSCC.
        Plain codes like ``10-A-01`` therefore never turn into a lot by accident;
      * ``gs_substitutes`` (strings a wedge types instead of GS) are turned into GS first, longest
        first, ignoring case; GS1 values are variable-length up to a limit, so a wedge that sends no
        separator at all makes a lot swallow what follows it — nothing can recover that.

    A non-``str`` ``text`` (None from a missing form field) is treated as empty.
    """
    raw = text if isinstance(text, str) else ""
    cleaned, symbology = _clean(raw)
    if not cleaned:
        return ParsedScan(raw=raw, text="", kind="empty", symbology=symbology)
    if len(cleaned) > MAX_SCAN_LENGTH:
        return ParsedScan(raw=raw, text=cleaned, kind="code", symbology=symbology)
    base = {"raw": raw, "text": cleaned, "symbology": symbology}

    payload = parse_payload(cleaned)
    if payload is not None:
        match payload.kind:
            case "LOC":
                return ParsedScan(**base, kind="location", location=payload.parts[0])
            case "ITEM":
                return ParsedScan(**base, kind="item", sku=payload.parts[0])
            case "LOT":
                return ParsedScan(**base, kind="lot", sku=payload.parts[0], lot=payload.parts[1])
            case "DOC":
                return ParsedScan(
                    **base, kind="document", document_kind=payload.parts[0], document=payload.parts[1]
                )

    # A Digital Link QR is an ordinary (non-GS1-mode) QR code, so its identifier is usually ]Q1:
    # recognise the URI whatever the symbology says.
    if cleaned[:8].lower().startswith(("http://", "https://")):
        return _from_digital_link(cleaned, base)

    gs1_symbology = _gs1_symbology(symbology)
    if gs1_symbology in _GS1_MESSAGE_SYMBOLOGIES:
        return _from_gs1_text(cleaned, base, gs_substitutes)
    if symbology is None:
        normalised = _substitute_gs(cleaned, gs_substitutes)
        if _looks_like_bare_gs1(cleaned, normalised):
            return _from_gs1_text(cleaned, base, gs_substitutes)
    # A symbology identifier that is not a GS1 one (]C0 plain Code 128, ]A0 Code 39 …) declares the
    # data is not GS1, so no guessing; but an EAN printed as Code 128 still gets its GTIN.
    candidates = _gtin_candidates(cleaned, gs1_symbology)
    return ParsedScan(
        **base, kind="code", gtin=candidates[0] if candidates else None, gtin_candidates=candidates
    )


def unscannable_reason(text: str) -> str | None:
    """Return why ``text`` is not acceptable as barcode data, or None when it is.

    Reasons (stable snake_case codes for the caller to map to a message):
      * ``"empty"``: nothing left after the cleaning `parse_scan` does (blank, only control
        characters, only a symbology identifier), or not a ``str`` at all;
      * ``"too_long"``: more than `MAX_SCAN_LENGTH` characters after cleaning.

    Invariant: ``unscannable_reason(t) is None`` exactly when ``parse_scan(t)`` is neither empty nor
    too long to be interpreted. Formula-leading text (``=``, ``+``, ``-``, ``@``) is acceptable.
    """
    if not isinstance(text, str):
        return "empty"
    cleaned, _ = _clean(text)
    if not cleaned:
        return "empty"
    if len(cleaned) > MAX_SCAN_LENGTH:
        return "too_long"
    return None


def gtin14(text: str) -> str | None:
    """Return ``text`` as a GTIN-14 when it is a valid GTIN-8, -12, -13 or -14, else None.

    ``text`` must be 8, 12, 13 or 14 ASCII digits (surrounding whitespace ignored) with a correct
    GS1 check digit; the result is zero-padded to 14 digits, the form GS1 recommends for storing and
    comparing GTINs, so UPC-A ``614141123452``, EAN-13 ``0614141123452`` and GTIN-14
    ``00614141123452`` all give ``"00614141123452"``. All zeros is not a GTIN.

    Eight digits are read as an EAN-8 (GTIN-8) only. The same eight digits may also be a UPC-E;
    `upce_to_gtin14` gives that reading, and `parse_scan` offers both in ``gtin_candidates`` unless
    a symbology identifier (]E4 EAN-8, ]E0 UPC-E) settles it. Six- and seven-digit UPC-E without a
    check digit are not accepted: too many short plain codes would pass.
    """
    if not isinstance(text, str):
        return None
    value = text.strip()
    if len(value) not in (8, 12, 13, 14) or not _ASCII_DIGITS.fullmatch(value) or not value.strip("0"):
        return None
    try:
        return Gtin.parse(value).as_gtin_14()
    except Exception:  # biip raises ParseError, and has raised others on odd input; None is the answer
        return None


def upce_to_gtin14(text: str) -> str | None:
    """Return the GTIN-14 of an 8-digit UPC-E (number system 0 or 1, valid check digit), else None.

    The UPC-E is expanded to its UPC-A per the GS1 General Specifications (zero suppression rules)
    and zero-padded: ``04252614`` → UPC-A ``042100005264`` → ``"00042100005264"``.
    """
    if not isinstance(text, str):
        return None
    value = text.strip()
    if len(value) != 8 or not _ASCII_DIGITS.fullmatch(value) or value[0] not in "01" or not value.strip("0"):
        return None
    try:
        upc = Upc.parse(value)
        if upc.format is not UpcFormat.UPC_E:
            return None
        return upc.as_gtin_14()
    except Exception:  # see gtin14
        return None


# --- cleaning -----------------------------------------------------------------------------------


class _DropControls(dict):
    """A str.translate table, filled lazily: control (Cc), format (Cf) and surrogate (Cs) code points
    map to None (deleted), everything else to itself. GS stays: it separates GS1 fields."""

    _MAX_CACHED = 8192  # a table for all of Unicode would be 1.1M entries; typical scans use a few dozen

    def __missing__(self, code_point: int) -> int | None:
        drop = code_point != 0x1D and unicodedata.category(chr(code_point)) in ("Cc", "Cf", "Cs")
        result = None if drop else code_point
        if len(self) < self._MAX_CACHED:
            self[code_point] = result
        return result


_DROP_CONTROLS = _DropControls()


def _clean(raw: str) -> tuple[str, str | None]:
    """Return (cleaned text, symbology identifier or None); see `parse_scan` for what cleaning does."""
    text = raw.translate(_DROP_CONTROLS).strip()
    symbology = _symbology_identifier(text)
    if symbology is not None:
        text = text[len(symbology) :].strip()
    return text, symbology


def _symbology_identifier(text: str) -> str | None:
    """The ISO/IEC 15424 symbology identifier at the start of ``text``, or None.

    Checked strictly (a known symbology character and capital/digit modifiers) so text a person
    typed that merely starts with "]" is left alone. biip's own extractor is not used: it raises
    IndexError on "]" alone and ValueError on a malformed "]Y" (biip 5.2.0).
    """
    if len(text) < 3 or text[0] != "]" or text[1] not in _ISO_SYMBOLOGY_CHARS:
        return None
    if text[1] == ISOSymbology.SYSTEM_EXPANSION.value:
        # "]Y" + n + n further modifier characters
        if not text[2].isdigit() or not text[2].isascii():
            return None
        length = 3 + int(text[2])
    else:
        length = 3
    if len(text) < length or not _SI_MODIFIER.fullmatch(text[2:length]):
        return None
    return text[:length]


def _gs1_symbology(symbology: str | None) -> GS1Symbology | None:
    if symbology is None:
        return None
    try:
        return GS1Symbology(symbology[1:])
    except ValueError:
        return None


def _substitute_gs(text: str, substitutes: Iterable[str]) -> str:
    subs = sorted({s for s in substitutes if isinstance(s, str) and s}, key=len, reverse=True)
    if not subs:
        return text
    pattern = "|".join(re.escape(s) for s in subs)
    return re.sub(pattern, GS, text, flags=re.IGNORECASE)


# --- GS1 ----------------------------------------------------------------------------------------


def _looks_like_bare_gs1(cleaned: str, normalised: str) -> bool:
    """Whether text without a symbology identifier should be parsed as GS1 (see `parse_scan`)."""
    if _HRI_START.match(cleaned):
        return True
    if GS in cleaned.strip(GS):
        return True
    body = normalised.lstrip(GS)
    if body[:2] in _GTIN_AIS:
        gtin = body[2:16]
        return len(gtin) == 14 and gtin14(gtin) is not None
    if body[:2] == "00":
        sscc = body[2:20]
        return len(sscc) == 18 and _ASCII_DIGITS.fullmatch(sscc) is not None and _sscc_valid(sscc)
    return False


def _sscc_valid(sscc: str) -> bool:
    try:
        Sscc.parse(sscc)
    except Exception:  # see gtin14
        return False
    return True


def _from_gs1_text(cleaned: str, base: dict, gs_substitutes: Iterable[str]) -> ParsedScan:
    try:
        if _HRI_START.match(cleaned):
            hri = "".join(cleaned.split())
            if not _HRI_WHOLE.fullmatch(hri):
                return ParsedScan(**base, kind="code", gs1_error="not a complete (AI)value sequence")
            elements = GS1Message.parse_hri(hri).element_strings
        else:
            elements = GS1Message.parse(_substitute_gs(cleaned, gs_substitutes)).element_strings
    except Exception as exc:  # ParseError mostly; biip 5.2.0 also lets ValueError etc. escape
        return ParsedScan(**base, kind="code", gs1_error=_error_text(exc))
    return _from_elements(elements, base)


def _error_text(exc: Exception) -> str:
    # biip quotes the unparsed rest of the scan in its messages, which can be kilobytes long.
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _from_digital_link(cleaned: str, base: dict) -> ParsedScan:
    try:
        elements = GS1DigitalLinkURI.parse(cleaned).element_strings
    except Exception as exc:  # urlsplit raises ValueError on e.g. "http://[", biip ParseError
        return ParsedScan(**base, kind="code", gs1_error=_error_text(exc))
    return _from_elements(elements, base)


def _from_elements(elements: GS1ElementStrings, base: dict) -> ParsedScan:
    # biip parses a (01) with a wrong check digit "successfully" and only records gtin_error on the
    # element; a label with a wrong GTIN must not be accepted as that item, so it is an error here.
    # biip 5.2.0's table lets AI 30 be empty ("\d{0,8}"); GS1 requires at least one character.
    for es in elements:
        error = es.gtin_error or es.sscc_error or es.gln_error
        if not es.value:
            error = f"empty value for AI ({es.ai.ai})"
        if error:
            return ParsedScan(**base, kind="code", gs1_error=error)

    by_ai: dict[str, GS1ElementString] = {}
    fields: dict[str, str] = {}
    for es in elements:
        # Exact AI match on purpose: biip's GS1ElementStrings.get(ai=…) matches by prefix.
        if fields.setdefault(es.ai.ai, es.value) != es.value:
            # GS1 forbids one AI with two values in a scan; picking one would be a guess (which lot?).
            return ParsedScan(**base, kind="code", gs1_error=f"AI ({es.ai.ai}) appears with two values")
        by_ai.setdefault(es.ai.ai, es)

    gtin = next((by_ai[ai].gtin.as_gtin_14() for ai in _GTIN_AIS if ai in by_ai), None)
    qty = next((Decimal(int(fields[ai])) for ai in _COUNT_AIS if ai in fields), None)
    expiry = by_ai["17"].date if "17" in by_ai else None
    best_before = by_ai["15"].date if "15" in by_ai else None
    lot = fields.get("10")
    return ParsedScan(
        **base,
        kind="lot" if lot else "gs1",
        gtin=gtin,
        gtin_candidates=(gtin,) if gtin else (),
        lot=lot,
        expiry=expiry,
        best_before=best_before,
        serial=fields.get("21"),
        qty=qty,
        sscc=fields.get("00"),
        gs1_fields=fields,
        gs1_hri="".join(es.as_hri() for es in elements),
    )


# --- plain codes --------------------------------------------------------------------------------


def _gtin_candidates(text: str, gs1_symbology: GS1Symbology | None) -> tuple[str, ...]:
    """Every GTIN-14 a plain code may be, most likely first; the symbology settles 8-digit codes."""
    if gs1_symbology is GS1Symbology.EAN_13_WITH_ADD_ON and len(text) in (15, 18):
        text = text[:13]  # the EAN-13 followed by its 2- or 5-digit add-on
    if gs1_symbology is GS1Symbology.EAN_13 and len(text) == 8:
        found = [upce_to_gtin14(text)]  # ]E0 covers EAN-13, UPC-A and UPC-E; EAN-8 would be ]E4
    elif gs1_symbology is GS1Symbology.EAN_8:
        found = [gtin14(text)]
    elif len(text) == 8:
        found = [gtin14(text), upce_to_gtin14(text)]
    else:
        found = [gtin14(text)]
    return tuple(dict.fromkeys(g for g in found if g))
