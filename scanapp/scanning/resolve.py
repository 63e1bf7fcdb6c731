"""A scan → what it is in this database: `interpret.parse_scan` plus the lookups, and the scan log.

`resolve` is what every scanning screen calls with the text a scanner, camera or keyboard sent. It
refuses text that cannot be barcode data (`InvalidScan`, 422), says what the rest is — a location,
an item, a lot of an item, a document, or unknown — and logs the attempt to `ScanLog`.

The scan log and the unit of work: a log row is added to the request's session, so a successful
request commits it together with whatever the scan did. A request that fails (a 4xx answer, or an
error) rolls its transaction back, and the row with it; `keep_failed_scan_logs`, run after every
request, writes those rows again in a short transaction of their own — the attempts that did *not*
work are the ones support needs to see ("it didn't scan").
"""

from __future__ import annotations

import logging
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from flask import current_app, g, has_request_context
from flask_babel import gettext as _
from sqlalchemy import delete, inspect

from ..clock import utcnow
from ..errors import ScanAppError
from ..extensions import db
from ..inventory import queries
from ..inventory.models import Item, ItemBarcode, Location, Lot, StockBalance
from .decode import Code, decode
from .interpret import MAX_SCAN_LENGTH, ParsedScan, parse_scan
from .models import ScanLog

log = logging.getLogger(__name__)

__all__ = [
    "EXPECTABLE_KINDS",
    "decode_photo",
    "InvalidScan",
    "Resolution",
    "keep_failed_scan_logs",
    "log_scan",
    "parse_expected",
    "purge_scan_log",
    "resolve",
    "stock_for",
]

KINDS = ("location", "item", "lot", "document", "unknown")
EXPECTABLE_KINDS = ("location", "item", "lot", "document")
DEFAULT_LOG_DAYS = 90
MESSAGE_LENGTH = 300  # ScanLog.message
SCREEN_LENGTH = 40  # ScanLog.screen
SHOWN_LENGTH = 80  # how much of a scan a message quotes

GS = "\x1d"
# Characters a scanner or keyboard wedge legitimately sends besides printable text: GS (FNC1) between
# GS1 fields, and the Tab/CR/LF suffix a wedge appends. Any other control character is refused.
_ALLOWED_CONTROLS = frozenset({GS, "\t", "\r", "\n"})
# Unicode bidi controls (Bidi_Control=Yes): invisible, and they make text display differently from what
# it is ("Trojan Source"). No symbology a warehouse prints encodes them on purpose.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class InvalidScan(ScanAppError):
    """The text cannot be barcode data: empty, over 4096 characters, or with control characters."""

    code = "invalid_scan"
    status = 422


@dataclass
class Resolution:
    """What one scan is, for a screen to act on.

    Invariants:
      * ``kind`` is one of location | item | lot | document | unknown.
      * ``outcome`` is "ok" when the scan was found (or is a document, resolved later by its workflow)
        and is of an expected kind; "unknown" when nothing has the code; "error" when it was found but
        the screen expected another kind. ``message`` says what was scanned and, when it is not "ok",
        what was wrong and what was expected.
      * ``raw`` is the text exactly as received; ``text`` is it cleaned by `parse_scan`.
      * ``qty`` is set for a barcode match (its pack_qty, times a GS1 count when there is one) and for
        GS1 data with a count AI; it is None for SKUs, location and lot labels.
      * ``lot_id`` is None for a lot that is not in the database yet (a new lot being received):
        ``kind`` is still "lot", with the number and expiry the scan carries.
    """

    raw: str
    text: str
    kind: str
    outcome: str
    message: str = ""
    location: str | None = None  # location code
    sku: str | None = None
    name: str | None = None  # the location's or the item's name
    uom: str | None = None
    gtin: str | None = None
    lot: str | None = None
    expiry: date | None = None
    serial: str | None = None
    qty: Decimal | None = None
    document_kind: str | None = None
    document: str | None = None
    location_id: int | None = None
    item_id: int | None = None
    lot_id: int | None = None
    parsed: ParsedScan | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def as_dict(self) -> dict:
        """The JSON shape: kind, outcome, message, text and only the fields that apply."""
        data = {"kind": self.kind, "outcome": self.outcome, "message": self.message, "text": self.text}
        for name in ("location", "sku", "name", "uom", "gtin", "lot", "expiry", "serial", "qty",
                     "document_kind", "document"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value.isoformat() if isinstance(value, date) else value
        if self.kind == "lot":
            data["lot_known"] = self.lot_id is not None
        return data


# --- validation --------------------------------------------------------------------------------


def _escaped(raw: str) -> str:
    """``raw`` with refused characters written as \\uXXXX, so that it can be logged and shown:
    PostgreSQL cannot store NUL, and a lone surrogate cannot be encoded at all."""
    out = []
    for ch in raw:
        if _refused(ch):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _refused(ch: str) -> bool:
    if ch in _ALLOWED_CONTROLS:
        return False
    if ch in _BIDI_CONTROLS:
        return True
    return unicodedata.category(ch) in ("Cc", "Cs")


def _check_scannable(raw) -> str | None:
    """The message for text that cannot be a scan, or None when it can."""
    if not isinstance(raw, str) or not raw.strip():
        return _("Nothing was scanned.")
    if len(raw) > MAX_SCAN_LENGTH:
        return _("The scan is too long: %(count)d characters, at most %(max)d.", count=len(raw),
                 max=MAX_SCAN_LENGTH)
    bad = sorted({ch for ch in raw if _refused(ch)})
    if bad:
        shown = ", ".join(f"U+{ord(ch):04X}" for ch in bad[:5])
        return _("The scan contains invisible control characters (%(chars)s), so it cannot be a barcode. "
                 "Scan again or type the code.", chars=shown)
    if parse_scan(raw).kind == "empty":
        return _("Nothing was scanned.")
    return None


def parse_expected(value) -> tuple[str, ...] | None:
    """A screen's expected kinds from a form or JSON value ("location,item" or a list); unknown
    names are ignored, nothing left means no expectation."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else value if isinstance(value, list | tuple) else []
    kinds = tuple(dict.fromkeys(p.strip().lower() for p in parts if isinstance(p, str)))
    kinds = tuple(k for k in kinds if k in EXPECTABLE_KINDS)
    return kinds or None


# --- resolving ---------------------------------------------------------------------------------


def resolve(text, *, screen: str = "lookup", user_id: int | None = None,
            expected: tuple[str, ...] | None = None) -> Resolution:
    """Say what the scanned ``text`` is in this database, and log the attempt.

    Raises `InvalidScan` (422) for text that cannot be barcode data — empty, longer than 4096
    characters, or containing control characters other than GS/Tab/CR/LF or Unicode bidi controls
    (U+202E …) — after logging it with outcome "rejected". Formula-leading text (``=``, ``+``, ``-``,
    ``@``) is ordinary data and is looked up exactly.

    Lookups, by what `parse_scan` found: a ``LOC:`` label → the location (case-insensitive); ``ITEM:``
    → the item by SKU; ``LOT:`` or GS1 data with a lot → the item (by SKU or by every GTIN candidate)
    and its lot; GS1 without a lot → the item by GTIN; ``DOC:`` → kind "document" (its workflow
    resolves the number). A plain code is tried as a location code, an item barcode (exact text, then
    each GTIN-14 it may mean — so the UPC-A scan of an item stored under its EAN-13 is found) and a
    SKU; when it matches several kinds, an expected kind wins.

    ``expected`` (kinds the screen wants) turns a found scan of another kind into outcome "error" with
    a message such as "Expected a location, but this is an item (SKU-1)."
    """
    if expected:
        expected = tuple(k for k in expected if k in EXPECTABLE_KINDS) or None
    problem = _check_scannable(text)
    if problem is not None:
        raw = text if isinstance(text, str) else ""
        log_scan(screen=screen, raw=_escaped(raw), kind="", outcome="rejected", message=problem, user_id=user_id)
        raise InvalidScan(problem)

    parsed = parse_scan(text)
    result = _lookup(parsed, expected)
    if result.kind == "unknown":
        result.outcome = "unknown"
        result.message = _('Scanned "%(text)s" — no location, item or lot has this code.', text=_shown(parsed))
        if expected:
            result.message += " " + _("Expected %(kinds)s.", kinds=_kinds_phrase(expected))
    elif expected and result.kind not in expected:
        result.outcome = "error"
        result.message = _("Expected %(kinds)s, but this is %(actual)s.", kinds=_kinds_phrase(expected),
                           actual=_describe(result))
    else:
        result.outcome = "ok"
        result.message = _describe(result)
    log_scan(screen=screen, raw=text, kind=result.kind, outcome=result.outcome, message=result.message,
             user_id=user_id)
    return result


def _lookup(parsed: ParsedScan, expected: tuple[str, ...] | None) -> Resolution:
    base = {"raw": parsed.raw, "text": parsed.text, "parsed": parsed, "outcome": ""}
    match parsed.kind:
        case "location":
            loc = queries.location_by_code_ci(parsed.location)
            return _location(loc, base) if loc else _unknown(base)
        case "item":
            item = queries.item_by_sku(parsed.sku)
            return _item(item, base) if item else _unknown(base)
        case "document":
            return Resolution(**base, kind="document", document_kind=parsed.document_kind,
                              document=parsed.document)
        case "lot" | "gs1":
            if parsed.sku is not None:  # a LOT: label
                item, barcode = queries.item_by_sku(parsed.sku), None
            else:
                barcode = _barcode(parsed.text, parsed.gtin_candidates)
                item = barcode.item if barcode else None
            if item is None:
                return _unknown(base, gtin=parsed.gtin)
            qty = _qty(barcode, parsed.qty)
            if parsed.lot is None:
                return _item(item, base, gtin=parsed.gtin, qty=qty, serial=parsed.serial, expiry=parsed.expiry)
            return _lot(item, parsed.lot, base, gtin=parsed.gtin, qty=qty, serial=parsed.serial,
                        expiry=parsed.expiry)
        case "code":
            return _plain_code(parsed, base, expected)
    return _unknown(base)


def _plain_code(parsed: ParsedScan, base: dict, expected: tuple[str, ...] | None) -> Resolution:
    """A plain code may be a location code, an item barcode or a SKU: all are found, the caller's
    expected kind (see `resolve`) picks among them, else that order."""
    found = []
    loc = queries.location_by_code_ci(parsed.text)
    if loc is not None:
        found.append(_location(loc, base))
    barcode = _barcode(parsed.text, parsed.gtin_candidates)
    if barcode is not None:
        found.append(_item(barcode.item, base, gtin=barcode.gtin14, qty=_qty(barcode, None)))
    else:
        item = queries.item_by_sku(parsed.text)
        if item is not None:
            found.append(_item(item, base))
    if not found:
        return _unknown(base, gtin=parsed.gtin)
    for candidate in found:
        if expected and candidate.kind in expected:
            return candidate
    return found[0]


def _barcode(text: str, candidates: tuple[str, ...]) -> ItemBarcode | None:
    for gtin in candidates or (None,):
        row = queries.barcode_lookup(text, gtin)
        if row is not None:
            return row
    return None


def _qty(barcode: ItemBarcode | None, count: Decimal | None) -> Decimal | None:
    """A pack barcode stands for pack_qty units; a GS1 count is a number of what the GTIN is."""
    if barcode is None:
        return count
    return barcode.pack_qty * (count if count is not None else 1)


def _unknown(base: dict, gtin: str | None = None) -> Resolution:
    return Resolution(**base, kind="unknown", gtin=gtin)


def _location(loc: Location, base: dict) -> Resolution:
    return Resolution(**base, kind="location", location=loc.code, name=loc.name, location_id=loc.id)


def _item(item: Item, base: dict, **fields) -> Resolution:
    return Resolution(**base, kind="item", sku=item.sku, name=item.name, uom=item.uom, item_id=item.id, **fields)


def _lot(item: Item, number: str, base: dict, *, expiry: date | None, **fields) -> Resolution:
    lot: Lot | None = queries.lot_by_number(item.id, number)
    return Resolution(
        **base, kind="lot", sku=item.sku, name=item.name, uom=item.uom, item_id=item.id, lot=number,
        lot_id=lot.id if lot else None, expiry=expiry or (lot.expiry if lot else None), **fields,
    )


def _shown(parsed: ParsedScan) -> str:
    text = parsed.gs1_hri or parsed.text.replace(GS, "<GS>")
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…"


def _kind_name(kind: str) -> str:
    return {
        "location": _("a location"),
        "item": _("an item"),
        "lot": _("a lot"),
        "document": _("a document"),
    }[kind]


def _kinds_phrase(kinds: tuple[str, ...]) -> str:
    return _(" or ").join(_kind_name(k) for k in kinds)


def _describe(r: Resolution) -> str:
    match r.kind:
        case "location":
            return _("a location (%(code)s)", code=r.location)
        case "item":
            return _("an item (%(sku)s)", sku=r.sku)
        case "lot":
            return _("a lot (%(sku)s, lot %(lot)s)", sku=r.sku, lot=r.lot)
        case "document":
            return _("a document (%(kind)s %(number)s)", kind=r.document_kind, number=r.document)
    return ""


# --- the scan log ------------------------------------------------------------------------------


def log_scan(*, screen: str, raw: str, kind: str, outcome: str, message: str = "",
             user_id: int | None = None) -> ScanLog:
    """Add one scan attempt to the session (the caller's transaction commits it).

    ``raw`` must be storable (no NUL); longer values and messages are cut to the column sizes.
    Inside a request the row is also remembered, so that `keep_failed_scan_logs` can write it again
    when the request's transaction is rolled back.
    """
    entry = ScanLog(
        screen=(screen or "")[:SCREEN_LENGTH], raw=raw[:MAX_SCAN_LENGTH], kind=(kind or "")[:20],
        outcome=outcome, message=str(message)[:MESSAGE_LENGTH], user_id=user_id, created_at=utcnow(),
    )
    db.session.add(entry)
    if has_request_context():
        g.setdefault("_scan_logs", []).append(entry)
    return entry


def keep_failed_scan_logs(response):
    """After a request: write again the scan-log rows its rolled-back transaction lost.

    Registered app-wide by the scanning blueprint. When the request committed, its rows are in the
    database and nothing happens; a retried transaction's earlier attempts are not written twice.
    Otherwise (a 4xx/5xx answer, an error, or a view that did not commit) the rows are added again in
    a transaction of their own; a scan that was understood but whose request failed is logged with
    outcome "error". A failure here is logged and never changes the response.
    """
    entries = g.pop("_scan_logs", None)
    if not entries or any(inspect(e).persistent for e in entries):
        return response
    failed = response.status_code >= 400
    rows = {}
    for e in entries:
        outcome = "error" if failed and e.outcome == "ok" else e.outcome
        key = (e.screen, e.raw, e.kind, outcome, e.message)
        rows.setdefault(key, (e, outcome))
    try:
        db.session.rollback()
        for e, outcome in rows.values():
            db.session.add(ScanLog(screen=e.screen, raw=e.raw, kind=e.kind, outcome=outcome, message=e.message,
                                   user_id=e.user_id, created_at=e.created_at))
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not write the scan log of a failed request")
    return response


def purge_scan_log(days: int | None = None) -> int:
    """Delete scan-log rows older than ``days`` (default: SCANAPP_SCAN_LOG_DAYS, else 90); returns how
    many. Flushes, never commits: the CLI command commits."""
    if days is None:
        days = int(current_app.config.get("SCANAPP_SCAN_LOG_DAYS", DEFAULT_LOG_DAYS))
    cutoff = utcnow() - timedelta(days=days)
    result = db.session.execute(delete(ScanLog).where(ScanLog.created_at < cutoff))
    return result.rowcount or 0


# --- photos ------------------------------------------------------------------------------------


def decode_photo(data: bytes, *, screen: str, user_id: int | None, log: bool = True) -> tuple[list[Code], int]:
    """Read the barcodes in photo bytes and log the attempt (kind "photo"): (codes, milliseconds).

    The decoder's errors (413 too large, 415 not JPEG/PNG/WebP, 422 corrupt) are logged as rejected
    and raised again, same class and code, with a message in the reader's language. ``log=False`` is
    for live camera frames: several a second, and the code read is logged when it is submitted.
    """
    started = time.perf_counter()
    try:
        codes = decode(data)
    except ScanAppError as exc:
        message = _photo_error(exc)
        if log:
            log_scan(screen=screen, raw="", kind="photo", outcome="rejected", message=message, user_id=user_id)
        raise type(exc)(message, code=exc.code, status=exc.status) from exc
    ms = round((time.perf_counter() - started) * 1000)
    if log:
        log_scan(
            screen=screen, raw=_escaped("\n".join(c.text for c in codes)), kind="photo",
            outcome="ok" if codes else "unknown",
            message=_("%(count)d barcodes read from a photo.", count=len(codes)) if codes
            else _("No barcode found in the photo."),
            user_id=user_id,
        )
    return codes, ms


def _photo_error(exc: ScanAppError) -> str:
    """The decoder's errors in the reader's language (the decoder is pure and speaks English)."""
    messages = {
        "image_too_large": _("The photo is too large: at most 10 MB and 40 megapixels."),
        "unsupported_image": _("This is not a photo ScanApp can read: send a JPEG, PNG or WebP image."),
        "corrupt_image": _("The photo is damaged and cannot be read. Take it again."),
    }
    return messages.get(exc.code, str(exc))


# --- stock of what was scanned -----------------------------------------------------------------


def stock_for(result: Resolution, limit: int = 200) -> list[StockBalance]:
    """Stock on hand of what was scanned: a location's contents; an item's or a lot's balances by
    location (walking order), with lot and expiry."""
    if result.kind == "location":
        return queries.stock(queries.StockFilter(location_id=result.location_id), limit=limit)
    if result.kind == "item":
        return queries.stock(queries.StockFilter(item_id=result.item_id), limit=limit)
    if result.kind == "lot" and result.lot_id is not None:
        rows = queries.stock(queries.StockFilter(item_id=result.item_id))
        return [b for b in rows if b.lot_id == result.lot_id][:limit]
    return []
