"""Purchasing API: suppliers, purchase orders, receipts against them, returns to suppliers."""

from __future__ import annotations

from functools import partial

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.access import AUTHENTICATED, access
from ..auth.models import Role
from ..forms import parse_date
from ..inventory.errors import UnknownReference
from ..purchasing import services
from ..purchasing.errors import OverReceipt
from ..purchasing.models import PurchaseOrder, PurchaseOrderLine
from ..scanning.resolve import resolve
from ..web import BadRequest, error_json, json_body, write
from . import bp, serialize
from .fields import text
from .openapi import IDEMPOTENCY, QTY, _errors, _json_body, _ok, _path_param

_text = partial(text, required=False)  # a PO's fields are optional unless a call says required=True


def line_json(line: PurchaseOrderLine) -> dict:
    return {"sku": line.item.sku, "name": line.item.name, "ordered": line.qty_ordered,
            "received": line.qty_received, "rejected": line.qty_rejected, "open": line.open_qty,
            "unit_cost": line.unit_cost}


def order_json(po: PurchaseOrder) -> dict:
    return {"number": po.number, "status": po.status.value, "supplier": po.supplier.code,
            "warehouse": po.warehouse.code, "expected_date": po.expected_date.isoformat() if po.expected_date else None,
            "closed_short": po.closed_short, "lines": [line_json(x) for x in po.lines]}


def _over_receipt(exc: OverReceipt):
    details = {k: exc.details[k] for k in ("ordered", "received", "this_receipt", "allowed", "tolerance_pct")
               if k in exc.details}
    return error_json(exc.code, str(exc.message), exc.status, **details)


@bp.post("/suppliers")
@access(Role.SUPERVISOR)
@write()
def create_supplier():
    """Create a supplier."""
    body = json_body()
    supplier = services.create_supplier(_text(body, "code", required=True), _text(body, "name", required=True))
    return jsonify({"code": supplier.code, "name": supplier.name}), 201


@bp.post("/purchase-orders")
@access(Role.SUPERVISOR)
@write()
def create_purchase_order():
    """Create a purchase order (open unless "status": "draft")."""
    body = json_body()
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines or not all(isinstance(x, dict) for x in lines):
        raise BadRequest(_("The field lines must be a list of objects with sku and qty."), code="invalid_field")
    status = _text(body, "status") or "open"
    if status not in ("open", "draft"):
        raise BadRequest(_("status must be open or draft."), code="invalid_field")
    specs = [services.LineSpec(_text(x, "sku", required=True), x.get("qty"), x.get("unit_cost")) for x in lines]
    po = services.create_purchase_order(
        supplier=_text(body, "supplier", required=True), number=_text(body, "number"),
        warehouse=_text(body, "warehouse"), expected_date=parse_date(_text(body, "expected_date"), "expected_date"),
        lines=specs, user_id=current_user.id, open_now=status == "open",
    )
    return jsonify(order_json(po)), 201


@bp.get("/purchase-orders/<number>")
@access(AUTHENTICATED)
def get_purchase_order(number: str):
    """A purchase order with its lines' progress."""
    return jsonify(order_json(services.po_by_number(number)))


@bp.post("/purchase-orders/<number>/open")
@access(Role.SUPERVISOR)
@write()
def open_purchase_order(number: str):
    """Draft → open."""
    return jsonify(order_json(services.open_order(services.po_by_number(number))))


@bp.post("/purchase-orders/<number>/close")
@access(Role.SUPERVISOR)
@write()
def close_purchase_order(number: str):
    """Close the PO (short when lines are not received in full)."""
    return jsonify(order_json(services.close_order(services.po_by_number(number))))


@bp.post("/purchase-orders/<number>/receipts")
@access(Role.WORKER)
@write(idempotent=True)
def receive(number: str):
    """Receive an item against the PO: accepted to `location`, rejected to quarantine."""
    body = json_body()
    sku, barcode = _text(body, "sku"), _text(body, "barcode")
    lot, expiry = _text(body, "lot"), parse_date(_text(body, "expiry"), "expiry")
    if barcode:
        found = resolve(barcode, screen="api.receive", user_id=current_user.id, expected=("item", "lot"))
        if found.kind not in ("item", "lot") or not found.ok:
            raise UnknownReference(found.message)
        sku = found.sku
        lot = lot or found.lot
        expiry = expiry or found.expiry
    elif not sku:
        raise BadRequest(_("Give sku or barcode."), code="missing_field")
    try:
        result = services.receive(
            user=current_user, po_number=number, sku=sku, qty=body.get("qty"), location=_text(body, "location"),
            lot=lot, expiry=expiry, rejected_qty=body.get("rejected_qty"),
            reject_reason=_text(body, "reject_reason") or "", idempotency_key=_idempotency_key(),
        )
    except OverReceipt as exc:
        return _over_receipt(exc)
    payload = {"receipt": result.receipt.id, "moves": [serialize.move(m) for m in result.moves],
               "line": line_json(result.line), "status": result.order.status.value}
    if result.warning:
        payload["warning"] = result.warning
    return jsonify(payload), 201


@bp.post("/purchase-orders/<number>/returns")
@access(Role.WORKER)
@write(idempotent=True)
def return_against_order(number: str):
    """Return stock to the PO's supplier (from quarantine or any location)."""
    return _return(po_number=number)


@bp.post("/suppliers/<code>/returns")
@access(Role.WORKER)
@write(idempotent=True)
def return_to_supplier(code: str):
    """Return stock to a supplier without a PO."""
    return _return(supplier=code)


def _return(**against):
    """A return to supplier from the JSON body, against a PO (``po_number``) or a ``supplier``."""
    body = json_body()
    move = services.return_to_supplier(
        **against, sku=_text(body, "sku", required=True), qty=body.get("qty"),
        from_location=_text(body, "from_location", required=True), lot=_text(body, "lot"),
        reason=_text(body, "reason") or "", user_id=current_user.id, idempotency_key=_idempotency_key(),
    )
    return jsonify({"move": serialize.move(move)}), 201


def _idempotency_key():
    from flask import g

    return g.get("idempotency_key")


def openapi_paths() -> dict:
    number = _path_param("number")
    line = {"type": "object", "properties": {
        "sku": {"type": "string"}, "name": {"type": "string"}, "ordered": {"type": "number"},
        "received": {"type": "number", "description": "Accepted into stock."},
        "rejected": {"type": "number", "description": "Rejected at inspection (to quarantine)."},
        "open": {"type": "number"}, "unit_cost": {"type": "number"}}}
    order = {"type": "object", "properties": {
        "number": {"type": "string"},
        "status": {"type": "string", "enum": ["draft", "open", "partially_received", "received", "closed"]},
        "supplier": {"type": "string"}, "warehouse": {"type": "string"},
        "expected_date": {"type": ["string", "null"], "format": "date"}, "closed_short": {"type": "boolean"},
        "lines": {"type": "array", "items": line}}}
    ret = {"type": "object", "required": ["sku", "qty", "from_location"], "properties": {
        "sku": {"type": "string"}, "qty": QTY, "from_location": {"type": "string"}, "lot": {"type": "string"},
        "reason": {"type": "string"}}}
    move = {"type": "object", "properties": {"move": {"$ref": "#/components/schemas/Move"}}}
    return {
        "/suppliers": {"post": {
            "summary": "Create a supplier (supervisor)",
            "requestBody": _json_body({"type": "object", "required": ["code", "name"], "properties": {
                "code": {"type": "string", "maxLength": 40}, "name": {"type": "string"}}}),
            "responses": {**_ok({"type": "object"}, "201"), **_errors(400, 401, 403, 409, 415, 422)}}},
        "/purchase-orders": {"post": {
            "summary": "Create a purchase order (supervisor); numbered PO-00001… unless number is given",
            "requestBody": _json_body({"type": "object", "required": ["supplier", "lines"], "properties": {
                "supplier": {"type": "string"}, "number": {"type": "string"},
                "warehouse": {"type": "string", "description": "Needed when there are several warehouses."},
                "expected_date": {"type": "string", "format": "date"},
                "status": {"type": "string", "enum": ["open", "draft"], "default": "open"},
                "lines": {"type": "array", "items": {"type": "object", "required": ["sku", "qty"], "properties": {
                    "sku": {"type": "string"}, "qty": QTY,
                    "unit_cost": {**QTY, "description": "Default: the item's unit cost."}}}}}}),
            "responses": {**_ok(order, "201"), **_errors(400, 401, 403, 409, 415, 422)}}},
        "/purchase-orders/{number}": {"get": {
            "summary": "A purchase order and each line's progress", "parameters": [number],
            "responses": {**_ok(order), **_errors(401, 404)}}},
        "/purchase-orders/{number}/open": {"post": {
            "summary": "Open a draft (supervisor)", "parameters": [number],
            "responses": {**_ok(order), **_errors(401, 403, 404, 409, 422)}}},
        "/purchase-orders/{number}/close": {"post": {
            "summary": "Close, short when not every line is received in full (supervisor)", "parameters": [number],
            "responses": {**_ok(order), **_errors(401, 403, 404, 409)}}},
        "/purchase-orders/{number}/receipts": {"post": {
            "summary": "Receive an item against the PO",
            "description": "qty is what arrived; rejected_qty of it (with reject_reason) goes to the warehouse's "
                           "quarantine, the rest to location, both from the supplier at the line's unit cost. "
                           "An item not on the PO → 422 not_on_order; a line already received in full → 409 "
                           "fully_received; more than ordered + the warehouse's tolerance → 409 over_receipt "
                           "with ordered, received, this_receipt, allowed and tolerance_pct. Lot (and expiry) "
                           "are required for tracked items; a past expiry → 422 expired; an expiry inside the "
                           "item's minimum shelf life is accepted with a warning.",
            "parameters": [number, IDEMPOTENCY],
            "requestBody": _json_body({"type": "object", "required": ["qty"], "properties": {
                "sku": {"type": "string"},
                "barcode": {"type": "string", "description": "Any barcode of the item, or GS1 data (fills lot and "
                                                             "expiry)."},
                "qty": QTY, "location": {"type": "string"}, "lot": {"type": "string"},
                "expiry": {"type": "string", "format": "date"}, "rejected_qty": QTY,
                "reject_reason": {"type": "string"}}}),
            "responses": {**_ok({"type": "object", "properties": {
                "receipt": {"type": "integer"},
                "moves": {"type": "array", "items": {"$ref": "#/components/schemas/Move"}},
                "line": line, "status": {"type": "string"}, "warning": {"type": "string"}}}, "201"),
                **_errors(400, 401, 403, 404, 409, 415, 422)}}},
        "/purchase-orders/{number}/returns": {"post": {
            "summary": "Return stock to the PO's supplier", "parameters": [number, IDEMPOTENCY],
            "requestBody": _json_body(ret),
            "responses": {**_ok(move, "201"), **_errors(400, 401, 403, 404, 409, 415, 422)}}},
        "/suppliers/{code}/returns": {"post": {
            "summary": "Return stock to a supplier", "parameters": [_path_param("code"), IDEMPOTENCY],
            "requestBody": _json_body(ret),
            "responses": {**_ok(move, "201"), **_errors(400, 401, 403, 404, 409, 415, 422)}}},
    }
