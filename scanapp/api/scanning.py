"""Scan API: decode a photo, interpret a scanned text. Both log the attempt (no stock changes)."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.access import access
from ..auth.models import Role
from ..scanning import decode as decoder
from ..scanning.resolve import decode_photo, parse_expected, resolve
from ..web import BadRequest, json_body, write
from . import bp
from .openapi import _errors, _json_body, _ok


def read_image() -> bytes:
    """The bytes of the multipart field ``image`` (at most one byte over the decoder's limit, so an
    oversized upload is refused without reading all of it); 400 when the field is missing."""
    upload = request.files.get("image")
    if upload is None:
        raise BadRequest(_("Send the photo as the multipart field \"image\"."), code="missing_field")
    return upload.stream.read(decoder.MAX_BYTES + 1)


def code_json(code) -> dict:
    return {"format": code.format, "text": code.text, "position": [list(p) for p in code.position]}


@bp.post("/scan/decode")
@access(Role.WORKER)
@write()
def scan_decode():
    """Read every barcode in an uploaded photo (multipart field ``image``)."""
    codes, ms = decode_photo(read_image(), screen="api.decode", user_id=current_user.id)
    return jsonify({"codes": [code_json(c) for c in codes], "ms": ms})


@bp.post("/scan/interpret")
@access(Role.WORKER)
@write()
def scan_interpret():
    """Say what a scanned text is: location, item, lot, document or unknown."""
    body = json_body()
    text = body.get("text")
    if not isinstance(text, str):
        raise BadRequest(_("The field %(name)s must be text.", name="text"), code="invalid_field")
    expected = body.get("expected")
    if expected is not None and not isinstance(expected, list | str):
        raise BadRequest(_("expected must be a list of kinds."), code="invalid_field")
    result = resolve(text, screen="api.interpret", user_id=current_user.id, expected=parse_expected(expected))
    return jsonify(result.as_dict())


_CODE = {"type": "object", "properties": {
    "format": {"type": "string", "enum": list(decoder.FORMATS)},
    "text": {"type": "string", "description": "Raw content: GS1 symbols keep their symbology identifier "
                                              "(]C1, ]d2, ]Q3) and GS (0x1d) separators."},
    "position": {"type": "array", "minItems": 4, "maxItems": 4,
                 "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
                 "description": "Four [x, y] corners, clockwise, in pixels of the photo as displayed."}}}

_RESOLUTION = {"type": "object", "required": ["kind", "outcome", "message", "text"], "properties": {
    "kind": {"type": "string", "enum": ["location", "item", "lot", "document", "unknown"]},
    "outcome": {"type": "string", "enum": ["ok", "unknown", "error"],
                "description": "error: found, but not of an expected kind."},
    "message": {"type": "string"},
    "text": {"type": "string", "description": "The scan after cleaning (control characters, symbology "
                                              "identifier removed)."},
    "location": {"type": "string"}, "sku": {"type": "string"}, "name": {"type": "string"},
    "uom": {"type": "string"}, "gtin": {"type": "string", "pattern": "^[0-9]{14}$"},
    "lot": {"type": "string"}, "lot_known": {"type": "boolean"},
    "expiry": {"type": "string", "format": "date"}, "serial": {"type": "string"},
    "qty": {"type": "number", "description": "A pack barcode's pack quantity (times a GS1 count)."},
    "document_kind": {"type": "string", "enum": ["PO", "SO", "PL", "CNT", "TR"]}, "document": {"type": "string"}}}


def openapi_paths() -> dict:
    """The OpenAPI path entries of the scan routes, merged into the document by `openapi.spec`."""
    return {
        "/scan/decode": {"post": {
            "summary": "Read the barcodes in a photo",
            "description": "JPEG, PNG or WebP, at most 10 MB and 40 megapixels. Every attempt is logged.",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["image"],
                "properties": {"image": {"type": "string", "format": "binary"}}}}}},
            "responses": {
                **_ok({"type": "object", "required": ["codes", "ms"], "properties": {
                    "codes": {"type": "array", "items": _CODE},
                    "ms": {"type": "integer", "description": "Decoding time in milliseconds."}}}),
                **_errors(400, 401, 403, 413, 415, 422)}}},
        "/scan/interpret": {"post": {
            "summary": "Say what a scanned text is",
            "description": "Looks the text up: a location, an item (barcode, GTIN in any length, SKU), a lot "
                           "(GS1 with (10), or LOT: label), a document (DOC: label) or unknown. Text that "
                           "cannot be a scan (empty, over 4096 characters, control characters) is refused "
                           "with 422 invalid_scan. Every attempt is logged.",
            "requestBody": _json_body({"type": "object", "required": ["text"], "properties": {
                "text": {"type": "string", "maxLength": 4096},
                "expected": {"type": "array", "items": {"type": "string",
                                                        "enum": ["location", "item", "lot", "document"]},
                             "description": "Kinds the screen wants; another kind gives outcome error."}}}),
            "responses": {**_ok(_RESOLUTION), **_errors(400, 401, 403, 415, 422)}}},
    }
