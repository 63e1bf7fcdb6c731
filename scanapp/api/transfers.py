"""Inter-warehouse transfer API: create (draft), read, ship, receive (Idempotency-Key)."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.access import access
from ..auth.models import Role
from ..moves import services
from ..moves.models import Transfer
from ..web import BadRequest, json_body, write
from . import bp, serialize
from .fields import text as _text
from .openapi import IDEMPOTENCY, QTY, _errors, _json_body, _ok, _path_param, _ref


def transfer_json(tr: Transfer, *, moves: bool = False) -> dict:
    payload = {
        "number": tr.number,
        "status": tr.status.value,
        "from_warehouse": tr.from_warehouse.code,
        "to_warehouse": tr.to_warehouse.code,
        "note": tr.note,
        "created_at": tr.created_at.isoformat() + "Z",
        "shipped_at": tr.shipped_at.isoformat() + "Z" if tr.shipped_at else None,
        "received_at": tr.received_at.isoformat() + "Z" if tr.received_at else None,
        "lines": [{
            "sku": ln.item.sku, "lot": ln.lot.number if ln.lot else None, "from_location": ln.from_location.code,
            "qty": ln.qty, "shipped": ln.shipped_qty, "received": ln.received_qty,
        } for ln in tr.lines],
    }
    if moves:
        payload["moves"] = [serialize.move(m) for m in services.transfer_moves(tr)]
    return payload


@bp.post("/transfers")
@access(Role.SUPERVISOR)
@write()
def create_transfer():
    """Create a draft transfer between two warehouses."""
    body = json_body()
    raw_lines = body.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines or len(raw_lines) > 500:
        raise BadRequest(_("lines must be a list of 1 to 500 lines."), code="invalid_field")
    lines = []
    for raw in raw_lines:
        if not isinstance(raw, dict):
            raise BadRequest(_("Each line is {\"sku\", \"qty\", \"from_location\", \"lot\"?}."), code="invalid_field")
        lines.append(services.LineSpec(sku=_text(raw, "sku"), qty=raw.get("qty"),
                                       from_location=_text(raw, "from_location"),
                                       lot=_text(raw, "lot", required=False)))
    tr = services.create_transfer(from_warehouse=_text(body, "from_warehouse"),
                                  to_warehouse=_text(body, "to_warehouse"), lines=lines,
                                  note=_text(body, "note", required=False) or "", user_id=current_user.id)
    return jsonify(transfer_json(tr)), 201


@bp.get("/transfers/<number>")
@access(Role.WORKER)
def get_transfer(number: str):
    """A transfer with its lines (qty, shipped, received) and its moves."""
    return jsonify(transfer_json(services.get_transfer(number), moves=True))


@bp.post("/transfers/<number>/ship")
@access(Role.WORKER)
@write(idempotent=True)
def ship_transfer(number: str):
    """Ship a draft transfer: every line into the destination's transit location, in one transaction."""
    tr = services.ship_transfer(number, user_id=current_user.id)
    return jsonify(transfer_json(tr, moves=True))


@bp.post("/transfers/<number>/receipts")
@access(Role.WORKER)
@write(idempotent=True)
def receive_transfer(number: str):
    """Receive part of a shipped transfer into a location of the destination warehouse."""
    body = json_body()
    tr = services.get_transfer(number)
    move = services.receive_transfer(tr, sku=_text(body, "sku"), qty=body.get("qty"),
                                     to_location=_text(body, "location"), lot=_text(body, "lot", required=False),
                                     user_id=current_user.id)
    line = next(ln for ln in tr.lines if ln.item_id == move.item_id and ln.lot_id == move.lot_id)
    return jsonify({"move": serialize.move(move), "status": tr.status.value,
                    "line": {"sku": line.item.sku, "lot": line.lot.number if line.lot else None,
                             "shipped": line.shipped_qty, "received": line.received_qty}}), 201


def openapi_paths() -> dict:
    line = {"type": "object", "properties": {
        "sku": {"type": "string"}, "lot": {"type": ["string", "null"]}, "from_location": {"type": "string"},
        "qty": {"type": "number"}, "shipped": {"type": "number"}, "received": {"type": "number"}}}
    transfer = {"type": "object", "properties": {
        "number": {"type": "string"},
        "status": {"type": "string", "enum": ["draft", "shipped", "partially_received", "received"]},
        "from_warehouse": {"type": "string"}, "to_warehouse": {"type": "string"}, "note": {"type": "string"},
        "lines": {"type": "array", "items": line},
        "moves": {"type": "array", "items": _ref("Move")}}}
    return {
        "/transfers": {"post": {
            "summary": "Create a draft inter-warehouse transfer (supervisor)",
            "requestBody": _json_body({
                "type": "object", "required": ["from_warehouse", "to_warehouse", "lines"],
                "properties": {"from_warehouse": {"type": "string"}, "to_warehouse": {"type": "string"},
                               "note": {"type": "string"},
                               "lines": {"type": "array", "minItems": 1, "maxItems": 500, "items": {
                                   "type": "object", "required": ["sku", "qty", "from_location"],
                                   "properties": {"sku": {"type": "string"}, "qty": QTY,
                                                  "from_location": {"type": "string"},
                                                  "lot": {"type": "string"}}}}}}),
            "responses": {**_ok(transfer, "201"), **_errors(400, 401, 403, 409, 415, 422)}}},
        "/transfers/{number}": {"get": {
            "summary": "A transfer with its lines and moves", "parameters": [_path_param("number")],
            "responses": {**_ok(transfer), **_errors(401, 404)}}},
        "/transfers/{number}/ship": {"post": {
            "summary": "Ship a draft transfer into the destination warehouse's transit location",
            "parameters": [_path_param("number"), IDEMPOTENCY],
            "responses": {**_ok(transfer), **_errors(400, 401, 403, 404, 409, 422)}}},
        "/transfers/{number}/receipts": {"post": {
            "summary": "Receive part of a shipped transfer: transit → location",
            "description": "More than is left to receive on the line → 409 over_receipt; an item not on the "
                           "transfer → 422 not_on_transfer.",
            "parameters": [_path_param("number"), IDEMPOTENCY],
            "requestBody": _json_body({
                "type": "object", "required": ["sku", "qty", "location"],
                "properties": {"sku": {"type": "string"}, "qty": QTY, "location": {"type": "string"},
                               "lot": {"type": "string"}}}),
            "responses": {**_ok({"type": "object", "properties": {
                "move": _ref("Move"), "status": {"type": "string"}, "line": line}}, "201"),
                **_errors(400, 401, 404, 409, 415, 422)}}},
    }
