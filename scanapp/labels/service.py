"""Labels from the database: which locations, items, lots and documents to print, and how.

The labels page, the API and ``flask print-labels`` call these functions with plain values (codes,
SKUs, lot numbers, option strings as typed) and get back the `render` dataclasses, then the PDF or
ZPL bytes from `render_labels`. Read-only: nothing here writes to the database.

Limits: one request prints at most `MAX_LABELS` labels (copies included); a warehouse's whole
location list is printed in parts, by prefix or by range.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import selectinload

from ..errors import ScanAppError
from ..extensions import db
from ..inventory.errors import NotFound
from ..inventory.models import PHYSICAL_TYPES, Item, Location, Lot
from ..scanning.interpret import gtin14
from ..scanning.payloads import DOCUMENT_KINDS
from .layouts import LAYOUTS, Layout, parse_size
from .render import DocumentLabel, ItemLabel, Label, LocationLabel, LotLabel, render_pdf
from .zpl import ZPL_DPIS, render_zpl

__all__ = [
    "ARROWS",
    "FORMATS",
    "KINDS",
    "MAX_COPIES",
    "MAX_LABELS",
    "SHEET_DEFAULT",
    "SINGLE_DEFAULTS",
    "LabelError",
    "PrintOptions",
    "Rendered",
    "TooManyLabels",
    "copies_of",
    "default_layout",
    "document_labels",
    "download_name",
    "item_gtin",
    "item_label",
    "item_labels",
    "location_label",
    "location_labels",
    "lot_label",
    "lot_label_by_path",
    "lot_labels",
    "page_count",
    "print_options",
    "render_labels",
    "repeat",
]

MAX_LABELS = 5000  # ~10–25 s of rendering for location labels (bench/labels_bench.py): one request's worth
MAX_COPIES = 100
KINDS = ("locations", "items", "lots", "documents")
FORMATS = ("pdf", "zpl")
ARROWS = ("up", "down")
# Label printers: what a kind prints on when no layout is given (PDF sheets default to a4-3x8).
SINGLE_DEFAULTS = {"locations": "100x50", "items": "50x30", "lots": "100x50", "documents": "100x50"}
SHEET_DEFAULT = "a4-3x8"


class LabelError(ScanAppError):
    """A label request that cannot be printed as asked (422)."""

    code = "invalid_label_request"
    status = 422


class TooManyLabels(LabelError):
    code = "too_many_labels"


# --- options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrintOptions:
    """How to print: ``format`` "pdf" or "zpl"; ``layout`` a name in `LAYOUTS`; ``size`` "WxH" mm
    (a one-label page, or the ZPL label; overrides ``layout``); PDF page ``margins_mm`` and the
    number of used labels to skip on the first sheet (``start_position``); ZPL ``dpi``."""

    format: str = "pdf"
    layout: str = SHEET_DEFAULT
    size: str | None = None
    margins_mm: tuple[float, ...] | None = None
    start_position: int = 0
    dpi: int = 203

    @property
    def mimetype(self) -> str:
        return "application/pdf" if self.format == "pdf" else "text/plain; charset=utf-8"

    @property
    def size_name(self) -> str:
        return self.size or self.layout

    def pdf_layout(self) -> Layout:
        """The layout to render on, margins applied; 422 when the margins leave no room."""
        if self.size:
            w, h = parse_size(self.size)
            layout = LAYOUTS.get(f"{w:g}x{h:g}") or Layout(
                name=f"{w:g}x{h:g}", description=f"one {w:g}×{h:g} mm label per page",
                page_w=w, page_h=h, cols=1, rows=1, label_w=w, label_h=h,
            )
        else:
            layout = LAYOUTS[self.layout]
        if self.margins_mm is not None:
            try:
                margins = self.margins_mm
                layout = layout.with_margins(margins[0] if len(margins) == 1 else margins)
            except ValueError:
                raise LabelError(_l("These margins leave no room for the labels."), code="invalid_margins") from None
        return layout

    def zpl_size(self) -> str:
        if self.size:
            return self.size
        if not LAYOUTS[self.layout].single:
            raise LabelError(
                _l("ZPL is for label printers: choose a one-label size (%(sizes)s) instead of a sheet.",
                   sizes=", ".join(name for name, layout in LAYOUTS.items() if layout.single)),
                code="invalid_layout",
            )
        return self.layout


def default_layout(kind: str, format: str = "pdf") -> str:
    """A4 sheets for PDF; the kind's usual label size for ZPL (label printers)."""
    return SINGLE_DEFAULTS[kind] if format == "zpl" else SHEET_DEFAULT


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def print_options(
    *,
    format: str | None = "pdf",
    layout: str | None = None,
    size: str | None = None,
    margins: str | Sequence[float] | None = None,
    dpi: str | int | None = None,
    start: str | int | None = None,
    default: str = SHEET_DEFAULT,
) -> PrintOptions:
    """Validate options as typed in a form, a query string or on the command line (422 with a
    message naming the bad value); blank values take the defaults."""
    fmt = "pdf" if _blank(format) else str(format).strip().lower()
    if fmt not in FORMATS:
        raise LabelError(_l("Choose PDF or ZPL."), code="invalid_format")
    name = default if _blank(layout) else str(layout).strip().lower()
    if name not in LAYOUTS:
        raise LabelError(
            _l("There is no label layout %(name)s; choose one of %(names)s.", name=str(name)[:40],
               names=", ".join(LAYOUTS)),
            code="invalid_layout",
        )
    size_name = None
    if not _blank(size):
        try:
            w, h = parse_size(str(size))
        except ValueError:
            raise LabelError(
                _l("The label size %(size)s is not WIDTHxHEIGHT in millimetres (15–300 × 10–300), e.g. 50x30.",
                   size=str(size)[:40]),
                code="invalid_size",
            ) from None
        size_name = f"{w:g}x{h:g}"
    margins_mm = None if _blank(margins) else _margins(margins)
    dpi_value = 203
    if not _blank(dpi):
        try:
            dpi_value = int(str(dpi).strip())
        except ValueError:
            dpi_value = -1
        if dpi_value not in ZPL_DPIS:
            raise LabelError(_l("The printer resolution must be 203 or 300 dpi."), code="invalid_dpi")
    start_position = 0
    if not _blank(start):
        start_position = _whole(start, _l("The number of labels to skip must be a whole number."), "invalid_start")
    options = PrintOptions(fmt, name, size_name, margins_mm, start_position, dpi_value)
    if fmt == "pdf":
        per_page = options.pdf_layout().per_page
        if start_position >= per_page:
            raise LabelError(
                _l("A sheet of this layout has %(n)d labels: skip at most %(max)d.", n=per_page, max=per_page - 1),
                code="invalid_start",
            )
    else:
        options.zpl_size()  # a sheet layout is an error now, before any query
    return options


def _whole(value, message, code: str) -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise LabelError(message, code=code)
    return int(text)


def _margins(value: str | Sequence[float]) -> tuple[float, ...]:
    parts = re.split(r"[\s,;]+", value.strip()) if isinstance(value, str) else list(value)
    try:
        numbers = tuple(float(p) for p in parts if p != "")
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) not in (1, 2, 4) or not all(math.isfinite(n) and 0 <= n <= 100 for n in numbers):
        raise LabelError(
            _l("Margins are one, two or four numbers of millimetres (0–100): all sides; top/bottom and "
               "left/right; or top, right, bottom, left."),
            code="invalid_margins",
        )
    return numbers


def copies_of(value: str | int | None) -> int:
    """How many copies of each label: 1 when blank, at most `MAX_COPIES`."""
    if _blank(value):
        return 1
    n = _whole(value, _l("Copies must be a whole number."), "invalid_copies")
    if not 1 <= n <= MAX_COPIES:
        raise LabelError(_l("Print 1 to %(max)d copies of each label.", max=MAX_COPIES), code="invalid_copies")
    return n


# --- rendering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    data: bytes
    mimetype: str
    extension: str
    labels: int
    pages: int  # PDF pages, or ZPL formats (one per label)


def _check_count(n: int) -> None:
    if n > MAX_LABELS:
        raise TooManyLabels(
            _l("That is more than %(max)s labels; print at most %(max)s at a time (narrow the prefix or the range).",
               max=f"{MAX_LABELS:,}"),
        )


def repeat(labels: Sequence[Label], copies: int) -> list[Label]:
    """Each label ``copies`` times in a row (one per carton or shelf), within `MAX_LABELS`."""
    _check_count(len(labels) * copies)
    return [label for label in labels for _n in range(copies)]


def page_count(n_labels: int, options: PrintOptions) -> int:
    if options.format == "zpl":
        return n_labels
    return math.ceil((n_labels + options.start_position) / options.pdf_layout().per_page) if n_labels else 0


def render_labels(labels: Sequence[Label], options: PrintOptions) -> Rendered:
    """The PDF or ZPL of ``labels``; 422 when there are none or too many."""
    if not labels:
        raise LabelError(_l("No labels match: nothing to print."), code="no_labels")
    _check_count(len(labels))
    if options.format == "pdf":
        data = render_pdf(labels, options.pdf_layout(), start_position=options.start_position)
        return Rendered(data, options.mimetype, "pdf", len(labels), page_count(len(labels), options))
    text = render_zpl(labels, options.zpl_size(), options.dpi)
    return Rendered(text.encode("utf-8"), options.mimetype, "zpl", len(labels), len(labels))


def download_name(*parts: str, extension: str) -> str:
    """A safe file name from ``parts``: ``labels-locations-WH1-A.pdf``."""
    stem = "-".join(p for p in parts if p)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:100] or "labels"
    return f"{stem}.{extension}"


# --- locations ----------------------------------------------------------------------------------


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _code_order(column) -> ColumnElement:
    """``column`` compared byte by byte (PostgreSQL's default collation sorts '-' and case by
    language rules; SQLite already compares binary), so ranges and order agree on every database."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column


def _warehouse(code: str):
    from ..inventory.queries import warehouse_by_code

    wh = warehouse_by_code(code.strip()) if code and code.strip() else None
    if wh is None:
        raise NotFound(_l("No warehouse %(code)s.", code=(code or "").strip()[:60] or "—"))
    return wh


def _arrow(arrow: str | None) -> str | None:
    if _blank(arrow) or arrow == "none":
        return None
    if arrow not in ARROWS:
        raise LabelError(_l("The arrow points up or down."), code="invalid_arrow")
    return arrow


def _location_label(loc: Location, arrow: str | None = None) -> LocationLabel:
    wh = loc.warehouse
    zone = loc.zone
    return LocationLabel(
        loc.code,
        warehouse=(wh.name or wh.code) if wh else "",
        zone=_("Zone %(zone)s", zone=zone) if zone else "",
        arrow=arrow,
    )


def location_labels(
    warehouse: str,
    prefix: str = "",
    first: str | None = None,
    last: str | None = None,
    arrow: str | None = None,
) -> list[LocationLabel]:
    """Labels for the active physical locations of ``warehouse`` whose code starts with ``prefix``,
    from ``first`` to ``last`` (both inclusive, in code order, case-insensitive; ``last`` includes
    the locations below it, so WH1-A-01 to WH1-A-03 takes WH1-A-03-04 too), in code order.

    404 for an unknown warehouse, 422 (`TooManyLabels`) above `MAX_LABELS`."""
    wh = _warehouse(warehouse)
    arrow = _arrow(arrow)
    code = func.upper(Location.code)
    stmt = (
        select(Location)
        .options(selectinload(Location.warehouse))
        .where(Location.warehouse_id == wh.id, Location.type.in_(PHYSICAL_TYPES), Location.active.is_(True))
    )
    if prefix and prefix.strip():
        stmt = stmt.where(code.like(_escape_like(prefix.strip().upper()) + "%", escape="\\"))
    if first and first.strip():
        stmt = stmt.where(_code_order(code) >= first.strip().upper())
    if last and last.strip():
        bound = last.strip().upper()
        stmt = stmt.where(or_(_code_order(code) <= bound, code.like(_escape_like(bound) + "%", escape="\\")))
    rows = db.session.execute(
        stmt.order_by(_code_order(code), _code_order(Location.code)).limit(MAX_LABELS + 1)
    ).scalars().all()
    _check_count(len(rows))
    return [_location_label(loc, arrow) for loc in rows]


def location_label(code: str, arrow: str | None = None) -> LocationLabel:
    """The label of one location by its exact code (404 when unknown or virtual)."""
    from ..inventory.queries import location_by_code

    loc = location_by_code(code)
    if loc is None or loc.is_virtual:
        raise NotFound(_l("No location %(code)s.", code=code[:60]))
    return _location_label(loc, _arrow(arrow))


# --- items and lots -----------------------------------------------------------------------------


def item_gtin(item: Item) -> str | None:
    """The GTIN to print for ``item``: its first unit barcode that is a valid GTIN-13 or UPC-A
    (GTIN-12). Pack barcodes are skipped: they stand for a case, not the unit the label goes on."""
    for barcode in item.barcodes:
        code = barcode.code.strip()
        if barcode.pack_qty == 1 and len(code) in (12, 13) and gtin14(code) is not None:
            return code
    return None


def _item_label(item: Item) -> ItemLabel:
    return ItemLabel(item.sku, item.name, item_gtin(item))


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        value = value.strip()
        if value:
            seen.setdefault(value, None)
    return list(seen)


def _items_by_sku(skus: Sequence[str]) -> list[Item]:
    """Items in the order of ``skus``; 404 naming the SKUs that don't exist."""
    found: dict[str, Item] = {}
    for start in range(0, len(skus), 500):
        chunk = skus[start:start + 500]
        rows = db.session.execute(
            select(Item).options(selectinload(Item.barcodes)).where(Item.sku.in_(chunk))
        ).scalars()
        found.update((item.sku, item) for item in rows)
    missing = [sku for sku in skus if sku not in found]
    if missing:
        raise NotFound(_l("No item with SKU %(sku)s.", sku=", ".join(s[:60] for s in missing[:5])
                          + (" …" if len(missing) > 5 else "")))
    return [found[sku] for sku in skus]


def item_labels(skus: Iterable[str] = (), category: str | None = None) -> list[ItemLabel]:
    """Labels for the items with ``skus`` (in that order, each once), or else for every active item
    (of ``category`` when given) in SKU order. 404 for an unknown SKU; 422 above `MAX_LABELS`."""
    wanted = _unique(skus)
    _check_count(len(wanted))
    if wanted:
        return [_item_label(item) for item in _items_by_sku(wanted)]
    stmt = select(Item).options(selectinload(Item.barcodes)).where(Item.active.is_(True))
    if category and category.strip():
        stmt = stmt.where(Item.category == category.strip())
    rows = db.session.execute(stmt.order_by(_code_order(Item.sku)).limit(MAX_LABELS + 1)).scalars().all()
    _check_count(len(rows))
    return [_item_label(item) for item in rows]


def item_label(sku: str) -> ItemLabel:
    return item_labels([sku])[0]


def _lot_label(lot: Lot) -> LotLabel:
    item = lot.item
    return LotLabel(item.sku, item.name, item_gtin(item), lot.number, lot.expiry)


def lot_labels(sku: str | None = None, lots: Iterable[str] = ()) -> list[LotLabel]:
    """Labels for lots: ``lots`` of the item ``sku``; every lot of ``sku`` (by expiry, then
    number); or, without a SKU, the lots with these numbers of any item (by SKU). 404 for an
    unknown item or lot; 422 when neither is given or above `MAX_LABELS`."""
    numbers = _unique(lots)
    sku = (sku or "").strip()
    if not sku and not numbers:
        raise LabelError(_l("Give an item (SKU) or lot numbers."), code="missing_field")
    _check_count(len(numbers))
    stmt = select(Lot).join(Lot.item).options(selectinload(Lot.item).selectinload(Item.barcodes))
    if sku:
        item = _items_by_sku([sku])[0]
        stmt = stmt.where(Lot.item_id == item.id)
    if numbers:
        stmt = stmt.where(Lot.number.in_(numbers))
    stmt = stmt.order_by(_code_order(Item.sku), Lot.expiry.is_(None), Lot.expiry, _code_order(Lot.number))
    rows = db.session.execute(stmt.limit(MAX_LABELS + 1)).scalars().all()
    missing = [n for n in numbers if n not in {lot.number for lot in rows}]
    if missing:
        what = ", ".join(n[:60] for n in missing[:5]) + (" …" if len(missing) > 5 else "")
        if sku:
            raise NotFound(_l("Item %(sku)s has no lot %(lot)s.", sku=sku[:60], lot=what))
        raise NotFound(_l("No lot %(lot)s.", lot=what))
    _check_count(len(rows))
    if numbers and sku:
        order = {n: i for i, n in enumerate(numbers)}
        rows = sorted(rows, key=lambda lot: order[lot.number])
    return [_lot_label(lot) for lot in rows]


def lot_label(sku: str, number: str) -> LotLabel:
    return lot_labels(sku, [number])[0]


def lot_label_by_path(path: str) -> LotLabel:
    """The label of ``<sku>/<lot>`` from a URL, where the SKU and the lot may both contain "/":
    the first split that names an existing lot wins (404 when none does)."""
    from ..inventory.queries import item_by_sku, lot_by_number

    parts = path.split("/")
    for i in range(1, len(parts)):
        item = item_by_sku("/".join(parts[:i]))
        lot = lot_by_number(item.id, "/".join(parts[i:])) if item is not None else None
        if lot is not None:
            return _lot_label(lot)
    raise NotFound(_l("No lot %(lot)s.", lot=path[:120]))


# --- documents ----------------------------------------------------------------------------------


def document_labels(kind: str, numbers: Iterable[str], title: str = "") -> list[DocumentLabel]:
    """Labels for documents by kind (PO, SO, PL, CNT) and number. The documents themselves are not
    looked up (their tables come with purchasing, picking and counting)."""
    kind = (kind or "").strip().upper()
    if kind not in DOCUMENT_KINDS:
        raise LabelError(_l("The document kind is one of %(kinds)s.", kinds=", ".join(DOCUMENT_KINDS)),
                         code="invalid_document_kind")
    wanted = _unique(numbers)
    if not wanted:
        raise LabelError(_l("Give at least one document number."), code="missing_field")
    _check_count(len(wanted))
    if any(len(n) > 60 for n in wanted):
        raise LabelError(_l("A document number has at most 60 characters."), code="invalid_field")
    return [DocumentLabel(kind, number, (title or "").strip()[:200]) for number in wanted]
