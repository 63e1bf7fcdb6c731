"""Label API: PDF sheets and ZPL for locations, items, lots and documents (supervisors and admins).

The same query parameters as the labels page's form; errors come back as JSON like everywhere in
the API (404 unknown warehouse/item/lot, 422 bad layout/size/dpi/margins or too many labels).
"""

from __future__ import annotations

from flask import request

from ..auth.access import access
from ..auth.models import Role
from ..labels import service
from ..labels.layouts import LAYOUTS
from ..labels.views import batch_name, file_response, labels_from_args, options_from_args
from ..labels.zpl import ZPL_DPIS
from . import bp


def _labels(kind: str, fmt: str):
    args = request.args
    options = options_from_args(args, format=fmt, default=service.default_layout(kind, fmt))
    labels = service.repeat(labels_from_args(kind, args), service.copies_of(args.get("copies")))
    return file_response(service.render_labels(labels, options), batch_name(kind, args, options))


@bp.get("/labels/locations.pdf", defaults={"fmt": "pdf"})
@bp.get("/labels/locations.zpl", defaults={"fmt": "zpl"})
@access(Role.SUPERVISOR)
def location_labels(fmt: str):
    """Location labels of a warehouse by code prefix and range."""
    return _labels("locations", fmt)


@bp.get("/labels/items.pdf", defaults={"fmt": "pdf"})
@bp.get("/labels/items.zpl", defaults={"fmt": "zpl"})
@access(Role.SUPERVISOR)
def item_labels(fmt: str):
    """Item labels by SKU (repeat ``sku``), or every active item of a category."""
    return _labels("items", fmt)


@bp.get("/labels/lots.pdf", defaults={"fmt": "pdf"})
@bp.get("/labels/lots.zpl", defaults={"fmt": "zpl"})
@access(Role.SUPERVISOR)
def lot_labels(fmt: str):
    """Lot labels by item and/or lot numbers (repeat ``lot``)."""
    return _labels("lots", fmt)


@bp.get("/labels/documents.pdf", defaults={"fmt": "pdf"})
@bp.get("/labels/documents.zpl", defaults={"fmt": "zpl"})
@access(Role.SUPERVISOR)
def document_labels(fmt: str):
    """Document labels (QR of ``DOC:<kind>:<number>``) by kind and number (repeat ``number``)."""
    return _labels("documents", fmt)


# --- OpenAPI ------------------------------------------------------------------------------------


def _query(name: str, description: str, schema: dict | None = None, *, required: bool = False,
           repeated: bool = False) -> dict:
    schema = schema or {"type": "string"}
    if repeated:
        schema = {"type": "array", "items": schema}
    param = {"name": name, "in": "query", "required": required, "description": description, "schema": schema}
    if repeated:
        param.update(style="form", explode=True)
    return param


def _options(fmt: str) -> list[dict]:
    common = [
        _query("layout", "Label layout; PDF default a4-3x8, ZPL default a one-label size.",
               {"type": "string", "enum": list(LAYOUTS)}),
        _query("size", "WIDTHxHEIGHT in mm (15–300 × 10–300), e.g. 60x40: a one-label page (PDF) or the "
                       "printer's label (ZPL); overrides layout."),
        _query("copies", "Copies of each label, one after another.",
               {"type": "integer", "minimum": 1, "maximum": service.MAX_COPIES}),
    ]
    if fmt == "pdf":
        return common + [
            _query("margins", "Page margins in mm: one number, 'vertical,horizontal' or 'top,right,bottom,left'."),
            _query("start", "Labels already used on the first sheet, to skip.", {"type": "integer", "minimum": 0}),
        ]
    return common + [_query("dpi", "Printer resolution.", {"type": "integer", "enum": list(ZPL_DPIS)})]


_KINDS = {
    "locations": ("Location labels (QR of LOC:<code>)", [
        _query("warehouse", "Warehouse code.", required=True),
        _query("prefix", "Location code prefix (case-insensitive), e.g. WH1-A."),
        _query("from", "First location code (inclusive, code order)."),
        _query("to", "Last location code (inclusive; includes the locations below it)."),
        _query("arrow", "An arrow towards the shelf.", {"type": "string", "enum": ["up", "down"]}),
    ]),
    "items": ("Item labels (EAN-13 for GTIN items, else Code 128 of ITEM:<sku>)", [
        _query("sku", "SKUs in print order; without any, every active item.", repeated=True),
        _query("category", "Only the active items of this category (when no sku is given)."),
    ]),
    "lots": ("Lot labels (GS1 DataMatrix for GTIN items, else QR of LOT:<sku>:<lot>)", [
        _query("sku", "The item's SKU; alone, every lot of the item."),
        _query("lot", "Lot numbers; without sku, the lots with these numbers of any item.", repeated=True),
    ]),
    "documents": ("Document labels (QR of DOC:<kind>:<number>)", [
        _query("kind", "Document kind.", {"type": "string", "enum": ["PO", "SO", "PL", "CNT"]}, required=True),
        _query("number", "Document numbers.", repeated=True),
        _query("title", "A line of text printed under the number."),
    ]),
}


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def openapi_paths() -> dict:
    """The OpenAPI path items of the label routes, merged into `api.openapi.spec`."""
    media = {"pdf": ("application/pdf", {"type": "string", "format": "binary"}),
             "zpl": ("text/plain", {"type": "string", "description": "ZPL II, one ^XA…^XZ format per label"})}
    paths = {}
    for kind, (summary, params) in _KINDS.items():
        for fmt, (content_type, schema) in media.items():
            paths[f"/labels/{kind}.{fmt}"] = {"get": {
                "summary": f"{summary} as {fmt.upper()}",
                "description": f"At most {service.MAX_LABELS} labels per request (copies included). "
                               "Content-Disposition: attachment with a file name.",
                "parameters": params + _options(fmt),
                "responses": {
                    "200": {"description": "The labels", "content": {content_type: {"schema": schema}}},
                    "401": _error("No or invalid token"),
                    "403": _error("Supervisors and admins only"),
                    "404": _error("Unknown warehouse, item or lot"),
                    "422": _error("Bad layout, size, dpi, margins or copies; no labels; too many labels"),
                },
            }}
    return paths
