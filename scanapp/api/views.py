"""API routes: parse JSON into plain values, call one service, serialise."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.access import AUTHENTICATED, PUBLIC, access
from ..auth.models import Role
from ..forms import parse_date, parse_int
from ..inventory import queries, services
from ..inventory.errors import NotFound
from ..inventory.models import MoveType
from ..web import BadRequest, json_body, write
from . import bp, serialize
from .fields import text as _text
from .openapi import spec


def _flag(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(_("The field %(name)s must be true or false.", name=name), code="invalid_field")
    return value


def _created(payload: dict):
    return jsonify(payload), 201


@bp.get("/openapi.json")
@access(PUBLIC)
def openapi():
    """The OpenAPI document of this API."""
    return jsonify(spec())


@bp.post("/warehouses")
@access(Role.ADMIN)
@write()
def create_warehouse():
    """Create a warehouse."""
    body = json_body()
    return _created(serialize.warehouse(services.create_warehouse(_text(body, "code"), _text(body, "name"))))


@bp.get("/warehouses/<code>")
@access(AUTHENTICATED)
def get_warehouse(code: str):
    """A warehouse by code."""
    wh = queries.warehouse_by_code(code)
    if wh is None:
        raise NotFound(_("No warehouse %(code)s.", code=code[:60]))
    return jsonify(serialize.warehouse(wh))


@bp.post("/locations")
@access(Role.ADMIN)
@write()
def create_location():
    """Create a location."""
    body = json_body()
    loc = services.create_location(
        _text(body, "code"), _text(body, "warehouse"), _text(body, "name", required=False, default=""),
        _text(body, "type", required=False, default="storage"),
    )
    return _created(serialize.location(loc))


@bp.get("/locations/<path:code>")
@access(AUTHENTICATED)
def get_location(code: str):
    """A location by code."""
    loc = queries.location_by_code(code)
    if loc is None:
        raise NotFound(_("No location %(code)s.", code=code[:60]))
    return jsonify(serialize.location(loc))


@bp.post("/items")
@access(Role.ADMIN)
@write()
def create_item():
    """Create an item with its barcodes."""
    body = json_body()
    raw_barcodes = body.get("barcodes") or []
    if not isinstance(raw_barcodes, list) or len(raw_barcodes) > 50:
        raise BadRequest(_("barcodes must be a list of at most 50 codes."), code="invalid_field")
    barcodes = []
    for entry in raw_barcodes:
        if isinstance(entry, str):
            barcodes.append(services.BarcodeSpec(entry))
        elif isinstance(entry, dict) and isinstance(entry.get("code"), str):
            barcodes.append(services.BarcodeSpec(entry["code"], entry.get("pack_qty", 1)))
        else:
            raise BadRequest(_("Each barcode is a text or {\"code\", \"pack_qty\"}."), code="invalid_field")
    item = services.create_item(
        _text(body, "sku"),
        _text(body, "name"),
        barcodes=barcodes,
        uom=_text(body, "uom", required=False, default="pcs"),
        category=_text(body, "category", required=False, default=""),
        lot_tracked=_flag(body, "lot_tracked"),
        expiry_tracked=_flag(body, "expiry_tracked"),
        whole_units=body.get("whole_units", True) if isinstance(body.get("whole_units", True), bool) else True,
        unit_cost=body.get("unit_cost", 0),
    )
    return _created(serialize.item(item))


@bp.get("/items/<path:sku>")
@access(AUTHENTICATED)
def get_item(sku: str):
    """An item by SKU."""
    item = queries.item_by_sku(sku)
    if item is None:
        raise NotFound(_("No item with SKU %(sku)s.", sku=sku[:60]))
    return jsonify(serialize.item(item))


@bp.post("/moves")
@access(Role.WORKER)
@write(idempotent=True)
def post_move():
    """Post a stock move (Idempotency-Key header required)."""
    body = json_body()
    move_type = _text(body, "type")
    if move_type == MoveType.ADJUSTMENT.value and not current_user.has_role(Role.SUPERVISOR):
        raise BadRequest(_("Only supervisors can post adjustments."), code="forbidden", status=403)
    reason = _text(body, "reason", required=False, default="")
    if move_type == MoveType.SCRAP.value and not reason.strip():
        # The ledger is the audit trail of what was thrown away: a scrap always says why.
        raise BadRequest(_("A scrap needs a reason."), code="reason_required", status=422)
    move = services.move_stock(
        type=move_type,
        sku=_text(body, "sku"),
        qty=body.get("qty"),
        from_location=_text(body, "from_location", required=False),
        to_location=_text(body, "to_location", required=False),
        lot=_text(body, "lot", required=False),
        expiry=parse_date(_text(body, "expiry", required=False), "expiry"),
        reason=reason,
        user_id=current_user.id,
        idempotency_key=_text(body, "idempotency_key", required=False),
    )
    return _created({"move": serialize.move(move),
                     "balances": [serialize.balance(b) for b in services.balances_after(move)]})


@bp.get("/stock")
@access(AUTHENTICATED)
def stock():
    """Stock on hand, filtered by sku, location and warehouse."""
    from flask import request

    args = request.args
    flt = {}
    if args.get("sku"):
        item = queries.item_by_sku(args["sku"])
        if item is None:
            raise NotFound(_("No item with SKU %(sku)s.", sku=args["sku"][:60]))
        flt["item_id"] = item.id
    if args.get("location"):
        loc = queries.location_by_code(args["location"])
        if loc is None:
            raise NotFound(_("No location %(code)s.", code=args["location"][:60]))
        flt["location_id"] = loc.id
    if args.get("warehouse"):
        wh = queries.warehouse_by_code(args["warehouse"])
        if wh is None:
            raise NotFound(_("No warehouse %(code)s.", code=args["warehouse"][:60]))
        flt["warehouse_id"] = wh.id
    limit = parse_int(args.get("limit"), 1000, minimum=1, maximum=5000)
    rows = queries.stock(queries.StockFilter(**flt), limit=limit)
    return jsonify({"items": [serialize.balance(b) for b in rows]})


@bp.get("/ledger")
@access(AUTHENTICATED)
def ledger():
    """The ledger in posting order, `limit` moves after the opaque `cursor`."""
    from flask import request

    args = request.args
    item_id = location_id = None
    if args.get("sku"):
        item = queries.item_by_sku(args["sku"])
        if item is None:
            raise NotFound(_("No item with SKU %(sku)s.", sku=args["sku"][:60]))
        item_id = item.id
    if args.get("location"):
        loc = queries.location_by_code(args["location"])
        if loc is None:
            raise NotFound(_("No location %(code)s.", code=args["location"][:60]))
        location_id = loc.id
    limit = parse_int(args.get("limit"), 100, minimum=1, maximum=1000)
    cursor = args.get("cursor")
    after = parse_int(cursor) if cursor else None
    if cursor and after is None:
        raise BadRequest(_("The cursor is not valid."), code="invalid_cursor")
    moves = queries.ledger(item_id=item_id, location_id=location_id, after_id=after, limit=limit)
    return jsonify({
        "moves": [serialize.move(m) for m in moves],
        "next_cursor": str(moves[-1].id) if len(moves) == limit else None,
    })
