"""Orders and picking API: customers, sales orders, pick lists, picks, short picks, shipping."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.access import AUTHENTICATED, access
from ..auth.models import Role
from ..inventory import queries
from ..inventory.errors import UnknownReference
from ..orders import services
from ..orders.models import Order, PickLine, PickList
from ..scanning.interpret import gtin14
from ..web import BadRequest, json_body, write
from . import bp
from .openapi import IDEMPOTENCY, QTY, _errors, _json_body, _ok, _path_param
from .views import _flag, _text


def line_json(line: PickLine) -> dict:
    reserved, cut = services.line_reservation(line)
    return {
        "id": line.id,
        "seq": line.seq,
        "order": line.order_line.order.number,
        "sku": line.item.sku,
        "name": line.item.name,
        "lot": line.lot.number if line.lot else None,
        "expiry": line.lot.expiry.isoformat() if line.lot and line.lot.expiry else None,
        "location": line.location.code,
        "qty": line.qty,
        "qty_picked": line.qty_picked,
        "qty_short": line.qty_short,
        "qty_shipped": line.qty_shipped,
        "reserved": reserved,
        "shortage": services.shortage(line),
        "reservation_cut": cut,
        "status": line.status.value,
        "short_reason": line.short_reason or None,
        "picked_by": line.picked_by.username if line.picked_by else None,
    }


def pick_list_json(pl: PickList) -> dict:
    return {
        "id": pl.id,
        "number": pl.number,
        "status": pl.status.value,
        "assigned_to": pl.assigned_to.username if pl.assigned_to else None,
        "orders": [o.number for o in pl.orders],
        "lines": [line_json(line) for line in pl.lines],
    }


def order_json(o: Order) -> dict:
    return {
        "id": o.id,
        "number": o.number,
        "kind": o.kind.value,
        "status": o.status.value,
        "customer": o.customer.code if o.customer else None,
        "destination": o.destination.code if o.destination else None,
        "lines": [{"line": ln.line_no, "sku": ln.item.sku, "qty": ln.qty, "qty_picked": ln.qty_picked,
                   "qty_shipped": ln.qty_shipped, "backorder": ln.qty_backorder} for ln in o.lines],
    }


def _me():
    return current_user._get_current_object()


def _list_of(body, name):
    value = body.get(name)
    if not isinstance(value, list) or not value:
        raise BadRequest(_("The field %(name)s must be a non-empty list.", name=name), code="invalid_field")
    return value


@bp.post("/customers")
@access(Role.SUPERVISOR)
@write()
def create_customer():
    """Create a customer {"code", "name"}."""
    body = json_body()
    c = services.create_customer(_text(body, "code"), _text(body, "name", required=False, default=""))
    return jsonify({"code": c.code, "name": c.name}), 201


@bp.post("/sales-orders")
@access(Role.SUPERVISOR)
@write()
def create_sales_order():
    """Create an order {"customer", "number"?, "lines": [{"sku", "qty"}]} (kind sale unless given)."""
    body = json_body()
    lines = []
    for raw in _list_of(body, "lines"):
        if not isinstance(raw, dict):
            raise BadRequest(_("Each line must be an object with sku and qty."), code="invalid_field")
        lines.append(services.LineSpec(_text(raw, "sku"), raw.get("qty")))
    order = services.create_order(
        lines=lines, user_id=current_user.id, kind=_text(body, "kind", required=False, default="sale"),
        customer=_text(body, "customer", required=False), number=_text(body, "number", required=False),
        warehouse=_text(body, "warehouse", required=False), destination=_text(body, "destination", required=False),
    )
    return jsonify(order_json(order)), 201


@bp.get("/sales-orders/<number>")
@access(AUTHENTICATED)
def get_sales_order(number: str):
    """An order with its lines, picked, shipped and backorder quantities."""
    return jsonify(order_json(services.get_order(number)))


@bp.post("/pick-lists")
@access(Role.SUPERVISOR)
@write()
def create_pick_list():
    """Release orders {"orders": [numbers], "assigned_to"?} onto a new pick list, reserving the stock."""
    body = json_body()
    orders = _list_of(body, "orders")
    if not all(isinstance(o, str) for o in orders):
        raise BadRequest(_("The field %(name)s must be a list of texts.", name="orders"), code="invalid_field")
    pl = services.release(orders, user_id=current_user.id, assigned_to=_text(body, "assigned_to", required=False))
    return jsonify(pick_list_json(pl)), 201


@bp.get("/pick-lists/<ref>")
@access(AUTHENTICATED)
def get_pick_list(ref: str):
    """A pick list with its lines in walking order and their progress."""
    return jsonify(pick_list_json(services.get_pick_list(ref)))


def _scanned_item(body):
    """(item id, lot) from "sku" or "barcode" (+ "lot")."""
    lot = _text(body, "lot", required=False)
    if body.get("sku") is not None:
        item = queries.item_by_sku(_text(body, "sku"))
        if item is None:
            raise UnknownReference(_("No item with SKU %(sku)s.", sku=str(body["sku"])[:60]))
        return item.id, lot
    code = _text(body, "barcode", required=False)
    if not code:
        raise BadRequest(_("Give sku or barcode."), code="missing_field")
    barcode = queries.barcode_lookup(code, gtin14(code))
    if barcode is None:
        raise UnknownReference(_("No item has the barcode %(code)s.", code=code[:60]))
    return barcode.item_id, lot


@bp.post("/pick-lists/<ref>/picks")
@access(Role.WORKER)
@write(idempotent=True)
def post_pick(ref: str):
    """Pick units of a line {"line", "location", "sku"|"barcode", "lot"?, "qty", "from_other_location"?}."""
    body = json_body()
    pl = services.get_pick_list(ref)
    item_id, lot = _scanned_item(body)
    line = services.pick(pl, body.get("line"), location=_text(body, "location"), item_id=item_id, lot=lot,
                         qty=body.get("qty"), user_id=current_user.id,
                         other_location=_flag(body, "from_other_location"),
                         idempotency_key=_text(body, "idempotency_key", required=False))
    return jsonify({"line": line_json(line), "pick_list": {"number": pl.number, "status": pl.status.value}}), 201


@bp.post("/pick-lists/<ref>/short")
@access(Role.WORKER)
@write()
def post_short(ref: str):
    """Close a line short {"line", "qty_found", "reason"}: the rest goes back to the order as backorder."""
    body = json_body()
    pl = services.get_pick_list(ref)
    line = services.short(pl, body.get("line"), qty_found=body.get("qty_found"),
                          reason=_text(body, "reason"), user_id=current_user.id)
    return jsonify({"line": line_json(line), "pick_list": {"number": pl.number, "status": pl.status.value}}), 201


@bp.post("/pick-lists/<ref>/ship")
@access(Role.WORKER)
@write()
def post_ship(ref: str):
    """Ship a completely picked list: outbound → customer / production / destination transit."""
    pl = services.get_pick_list(ref)
    moves = services.ship(pl, user_id=current_user.id)
    return jsonify({"pick_list": pick_list_json(pl), "moves": [m.id for m in moves]}), 201


def openapi_paths() -> dict:
    line = {"type": "object", "properties": {
        "id": {"type": "integer"}, "seq": {"type": "integer"}, "order": {"type": "string"},
        "sku": {"type": "string"}, "lot": {"type": ["string", "null"]}, "location": {"type": "string"},
        "qty": {"type": "number"}, "qty_picked": {"type": "number"}, "qty_short": {"type": "number"},
        "reserved": {"type": "number"}, "shortage": {"type": "number"}, "status": {"type": "string"}}}
    pick_list = {"type": "object", "properties": {
        "id": {"type": "integer"}, "number": {"type": "string"}, "status": {"type": "string"},
        "orders": {"type": "array", "items": {"type": "string"}}, "lines": {"type": "array", "items": line}}}
    order = {"type": "object", "properties": {
        "number": {"type": "string"}, "kind": {"type": "string"}, "status": {"type": "string"},
        "customer": {"type": ["string", "null"]},
        "lines": {"type": "array", "items": {"type": "object", "properties": {
            "sku": {"type": "string"}, "qty": {"type": "number"}, "qty_picked": {"type": "number"},
            "qty_shipped": {"type": "number"}, "backorder": {"type": "number"}}}}}}
    return {
        "/customers": {"post": {
            "summary": "Create a customer (supervisor)",
            "requestBody": _json_body({"type": "object", "required": ["code"], "properties": {
                "code": {"type": "string", "maxLength": 40}, "name": {"type": "string"}}}),
            "responses": {**_ok({"type": "object"}, "201"), **_errors(400, 401, 403, 409, 415, 422)}}},
        "/sales-orders": {"post": {
            "summary": "Create an order (supervisor)",
            "description": "kind sale (default, needs customer), production or transfer (need destination).",
            "requestBody": _json_body({"type": "object", "required": ["lines"], "properties": {
                "customer": {"type": "string"}, "number": {"type": "string"},
                "kind": {"type": "string", "enum": ["sale", "production", "transfer"]},
                "warehouse": {"type": "string"}, "destination": {"type": "string"},
                "lines": {"type": "array", "items": {"type": "object", "required": ["sku", "qty"],
                                                     "properties": {"sku": {"type": "string"}, "qty": QTY}}}}}),
            "responses": {**_ok(order, "201"), **_errors(400, 401, 403, 409, 415, 422)}}},
        "/sales-orders/{number}": {"get": {
            "summary": "An order", "parameters": [_path_param("number")],
            "responses": {**_ok(order), **_errors(401, 404)}}},
        "/pick-lists": {"post": {
            "summary": "Release orders onto a pick list, reserving stock (FEFO / oldest first)",
            "requestBody": _json_body({"type": "object", "required": ["orders"], "properties": {
                "orders": {"type": "array", "items": {"type": "string"}}, "assigned_to": {"type": "string"}}}),
            "responses": {**_ok(pick_list, "201"), **_errors(400, 401, 403, 404, 409, 415, 422)}}},
        "/pick-lists/{ref}": {"get": {
            "summary": "A pick list (id or number)", "parameters": [_path_param("ref")],
            "responses": {**_ok(pick_list), **_errors(401, 404)}}},
        "/pick-lists/{ref}/picks": {"post": {
            "summary": "Pick units of a line after location, item and lot checks",
            "description": "422 wrong_location / wrong_item / wrong_lot; 409 over_pick when more than the line "
                           "needs. from_other_location: true takes the line to the given location if it has the "
                           "stock available (re-reserving there).",
            "parameters": [_path_param("ref"), IDEMPOTENCY],
            "requestBody": _json_body({"type": "object", "required": ["line", "location", "qty"], "properties": {
                "line": {"type": "integer"}, "location": {"type": "string"}, "sku": {"type": "string"},
                "barcode": {"type": "string"}, "lot": {"type": "string"}, "qty": QTY,
                "from_other_location": {"type": "boolean"}}}),
            "responses": {**_ok({"type": "object", "properties": {"line": line}}, "201"),
                          **_errors(400, 401, 403, 404, 409, 415, 422)}}},
        "/pick-lists/{ref}/short": {"post": {
            "summary": "Close a line short: what was found in all, and why",
            "parameters": [_path_param("ref")],
            "requestBody": _json_body({"type": "object", "required": ["line", "qty_found", "reason"], "properties": {
                "line": {"type": "integer"}, "qty_found": {"type": "number", "minimum": 0},
                "reason": {"type": "string"}}}),
            "responses": {**_ok({"type": "object", "properties": {"line": line}}, "201"),
                          **_errors(400, 401, 403, 404, 409, 415, 422)}}},
        "/pick-lists/{ref}/ship": {"post": {
            "summary": "Ship a completely picked list", "parameters": [_path_param("ref")],
            "responses": {**_ok({"type": "object"}, "201"), **_errors(401, 403, 404, 409)}}},
    }
