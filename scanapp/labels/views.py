"""The labels page (choose, preview, download) and the print links of locations, items and lots.

Printing labels is office work: supervisors and admins. The page's preview lists the labels that
will be printed; the PDF itself comes from the download route, inline (to print from the browser's
viewer) or as an attachment. The API (`api.labels`) and ``flask print-labels`` call the same
`labels.service` functions.
"""

from __future__ import annotations

import re

from flask import Blueprint, make_response, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from ..auth.access import access
from ..auth.models import Role
from ..errors import ScanAppError
from ..extensions import db
from ..inventory.models import Warehouse
from ..web import render
from . import service
from .layouts import LAYOUTS
from .render import Label
from .zpl import ZPL_DPIS

bp = Blueprint("labels", __name__)

PAGE_KINDS = ("locations", "items", "lots")
PREVIEW_ROWS = 200
# A PDF opened in the browser's own viewer: Chrome draws it through an <embed> (object-src) in a
# page with inline styles, which the site-wide policy forbids. The PDF is ours (no scripts).
PDF_CSP = ("default-src 'none'; object-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
           "base-uri 'none'; form-action 'none'")


# --- shared with the API ------------------------------------------------------------------------


def _values(args: MultiDict, name: str) -> list[str]:
    """All values of ``name``: repeated parameters, each split on newlines and commas (a textarea)."""
    return [part for value in args.getlist(name) for part in re.split(r"[\r\n,]+", value) if part.strip()]


def labels_from_args(kind: str, args: MultiDict) -> list[Label]:
    """The labels a query string asks for (the page's form and the API take the same names)."""
    if kind == "locations":
        return service.location_labels(
            args.get("warehouse", ""), args.get("prefix", ""), args.get("from"), args.get("to"), args.get("arrow"),
        )
    if kind == "items":
        return service.item_labels(_values(args, "sku"), args.get("category"))
    if kind == "lots":
        return service.lot_labels(args.get("sku"), _values(args, "lot"))
    if kind == "documents":
        return service.document_labels(args.get("kind", ""), _values(args, "number"), args.get("title", ""))
    raise service.LabelError(_("Choose locations, items or lots."), code="invalid_kind")


def options_from_args(args: MultiDict, *, format: str, default: str) -> service.PrintOptions:
    return service.print_options(
        format=format, layout=args.get("layout"), size=args.get("size"), margins=args.get("margins"),
        dpi=args.get("dpi"), start=args.get("start"), default=default,
    )


def file_response(rendered: service.Rendered, filename: str, *, inline: bool = False):
    """The PDF or ZPL as a download (``inline``: a PDF shown in the browser, to print from there)."""
    response = make_response(rendered.data)
    response.headers["Content-Type"] = rendered.mimetype
    disposition = "inline" if inline and rendered.extension == "pdf" else "attachment"
    response.headers.set("Content-Disposition", disposition, filename=filename)
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["X-Label-Count"] = str(rendered.labels)
    if rendered.extension == "pdf":
        response.headers["Content-Security-Policy"] = PDF_CSP
    return response


def batch_name(kind: str, args: MultiDict, options: service.PrintOptions) -> str:
    """``labels-locations-WH1-A-a4-3x8.pdf``: what, which, on what."""
    if kind == "locations":
        which = [args.get("prefix", "").strip() or args.get("warehouse", "").strip(),
                 args.get("from", "").strip(), args.get("to", "").strip()]
    elif kind == "items":
        skus = _values(args, "sku")
        which = [skus[0] if len(skus) == 1 else args.get("category", "").strip()]
    elif kind == "lots":
        lots = _values(args, "lot")
        which = [args.get("sku", "").strip(), lots[0] if len(lots) == 1 else ""]
    else:
        numbers = _values(args, "number")
        which = [args.get("kind", "").strip(), numbers[0] if len(numbers) == 1 else ""]
    return service.download_name("labels", kind, *which, options.size_name,
                                 extension="pdf" if options.format == "pdf" else "zpl")


# --- the labels page ----------------------------------------------------------------------------


def _layout_choices() -> list[tuple[str, str]]:
    names = {
        "a4-3x8": _("A4 sheet · 24 labels 70×37 mm (3×8)"),
        "a4-2x7": _("A4 sheet · 14 labels 99.1×38.1 mm (2×7)"),
        "letter-3x10": _("Letter sheet · 30 labels 2⅝×1 in (3×10)"),
        "letter-2x5": _("Letter sheet · 10 labels 4×2 in (2×5)"),
        "50x30": _("Label printer · one 50×30 mm label"),
        "100x50": _("Label printer · one 100×50 mm label"),
    }
    return [(name, names.get(name, layout.description)) for name, layout in LAYOUTS.items()]


def _page_kind(args: MultiDict) -> str:
    kind = args.get("kind", "locations")
    return kind if kind in PAGE_KINDS else "locations"


def _page_context(args: MultiDict) -> dict:
    kind = _page_kind(args)
    warehouses = db.session.execute(select(Warehouse).order_by(Warehouse.code)).scalars().all()
    return {
        "kind": kind,
        "kinds": [("locations", _("Locations")), ("items", _("Items")), ("lots", _("Lots"))],
        "form": args,
        "warehouses": warehouses,
        "layouts": _layout_choices(),
        "dpis": ZPL_DPIS,
        "max_labels": service.MAX_LABELS,
    }


def _preview_context(args: MultiDict) -> tuple[dict, int]:
    """The preview of the labels ``args`` asks for, or the error that stops it (with its status)."""
    kind = _page_kind(args)
    try:
        fmt = args.get("format") or "pdf"
        options = options_from_args(args, format=fmt, default=service.default_layout(kind, fmt))
        labels = labels_from_args(kind, args)
        copies = service.copies_of(args.get("copies"))
        service.repeat(labels, copies)  # 422 above the limit, before anyone clicks Download
    except ScanAppError as exc:
        return {"preview": {"error": str(exc.message)}}, exc.status
    query = {k: v for k, v in args.to_dict(flat=False).items() if v != [""]}
    total = len(labels) * copies
    preview = {
        "kind": kind,
        "labels": labels[:PREVIEW_ROWS],
        "distinct": len(labels),
        "copies": copies,
        "total": total,
        "pages": service.page_count(total, options),
        "format": options.format,
        "download_url": url_for("labels.download", **query),
        "open_url": url_for("labels.download", **query, inline="1") if options.format == "pdf" else None,
    }
    return {"preview": preview}, 200


@bp.get("/labels")
@access(Role.SUPERVISOR)
def page():
    """The labels page: choose what to print and how, then preview and download."""
    return render("labels/page.html", **_page_context(request.args), preview=None)


@bp.get("/labels/preview")
@access(Role.SUPERVISOR)
def preview():
    """The labels the form asks for, listed with their count (the page with it, or the fragment)."""
    context, status = _preview_context(request.args)
    return render("labels/page.html", "labels/_preview.html", status=status, **_page_context(request.args), **context)


@bp.get("/labels/download")
@access(Role.SUPERVISOR)
def download():
    """The PDF or ZPL of what the form asks for (``inline=1``: the PDF opens in the browser)."""
    args = request.args
    kind = _page_kind(args)
    fmt = args.get("format") or "pdf"
    options = options_from_args(args, format=fmt, default=service.default_layout(kind, fmt))
    labels = service.repeat(labels_from_args(kind, args), service.copies_of(args.get("copies")))
    rendered = service.render_labels(labels, options)
    return file_response(rendered, batch_name(kind, args, options), inline=args.get("inline") == "1")


# --- one label: the print links of the location, item and item-lot pages -------------------------


def _one(kind: str, label: Label, fmt: str, *names: str):
    args = request.args
    options = options_from_args(args, format=fmt, default=service.SINGLE_DEFAULTS[kind])
    labels = service.repeat([label], service.copies_of(args.get("copies")))
    rendered = service.render_labels(labels, options)
    filename = service.download_name("label", kind.removesuffix("s"), *names, extension=rendered.extension)
    return file_response(rendered, filename, inline=args.get("download") != "1")


@bp.get("/labels/location/<path:code>.pdf", defaults={"fmt": "pdf"})
@bp.get("/labels/location/<path:code>.zpl", defaults={"fmt": "zpl"})
@access(Role.SUPERVISOR)
def location_label(code: str, fmt: str):
    """One location's label (default 100×50 mm; ``?layout=``, ``?size=``, ``?arrow=up|down``)."""
    return _one("locations", service.location_label(code, request.args.get("arrow")), fmt, code)


@bp.get("/labels/item/<path:sku>.pdf", defaults={"fmt": "pdf"})
@bp.get("/labels/item/<path:sku>.zpl", defaults={"fmt": "zpl"})
@access(Role.SUPERVISOR)
def item_label(sku: str, fmt: str):
    """One item's label (default 50×30 mm; ``?copies=`` prints several)."""
    return _one("items", service.item_label(sku), fmt, sku)


@bp.get("/labels/lot/<path:sku>/<path:lot>.pdf", defaults={"fmt": "pdf"})
@bp.get("/labels/lot/<path:sku>/<path:lot>.zpl", defaults={"fmt": "zpl"})
@access(Role.SUPERVISOR)
def lot_label(sku: str, lot: str, fmt: str):
    """One lot's label (default 100×50 mm: GS1 DataMatrix and GS1-128 for GTIN items)."""
    label = service.lot_label_by_path(f"{sku}/{lot}")
    return _one("lots", label, fmt, label.sku, label.lot)
