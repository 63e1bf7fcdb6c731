"""The OpenAPI 3.1 document of /api/v1, built as data so that tests can walk it."""

from __future__ import annotations

QTY = {"oneOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,3})?$"}],
       "description": "A positive quantity with at most three decimals, as a JSON number or numeric string."}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"],
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}},
}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes):
    return {str(c): {"description": "Error", "content": {"application/json": {"schema": _ref("Error")}}} for c in codes}


def _json_body(schema):
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ok(schema, status="200"):
    return {status: {"description": "OK", "content": {"application/json": {"schema": schema}}}}


IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": True,
               "description": "Made by the client once per intended change; a retry with the same key and body "
                              "returns the first response and writes nothing. Kept at least 7 days.",
               "schema": {"type": "string", "minLength": 1, "maxLength": 200}}


def _path_param(name):
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name, schema=None):
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"}}


def spec() -> dict:
    schemas = {
        "Error": ERROR,
        "Warehouse": {"type": "object", "properties": {"code": {"type": "string"}, "name": {"type": "string"}}},
        "Location": {"type": "object", "properties": {
            "code": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"},
            "warehouse": {"type": ["string", "null"]}, "virtual": {"type": "boolean"}, "active": {"type": "boolean"}}},
        "Item": {"type": "object", "properties": {
            "sku": {"type": "string"}, "name": {"type": "string"}, "uom": {"type": "string"},
            "lot_tracked": {"type": "boolean"}, "expiry_tracked": {"type": "boolean"},
            "unit_cost": {"type": "number"},
            "barcodes": {"type": "array", "items": {"type": "object", "properties": {
                "code": {"type": "string"}, "pack_qty": {"type": "number"}}}}}},
        "Balance": {"type": "object", "properties": {
            "sku": {"type": "string"}, "location": {"type": "string"}, "lot": {"type": ["string", "null"]},
            "expiry": {"type": ["string", "null"], "format": "date"}, "qty": {"type": "number"},
            "reserved": {"type": "number", "description": "promised to pick lists"},
            "available": {"type": "number", "description": "qty - reserved"}}},
        "Move": {"type": "object", "properties": {
            "id": {"type": "integer"}, "type": {"type": "string"}, "sku": {"type": "string"},
            "lot": {"type": ["string", "null"]}, "from_location": {"type": "string"},
            "to_location": {"type": "string"}, "qty": {"type": "number"}, "unit_cost": {"type": "number"},
            "user": {"type": ["string", "null"]}, "created_at": {"type": "string"}}},
    }
    paths = {
        "/warehouses": {"post": {
            "summary": "Create a warehouse", "requestBody": _json_body({
                "type": "object", "required": ["code", "name"], "additionalProperties": True,
                "properties": {"code": {"type": "string", "maxLength": 40}, "name": {"type": "string"}}}),
            "responses": {**_ok(_ref("Warehouse"), "201"), **_errors(400, 401, 403, 409, 415, 422)}}},
        "/warehouses/{code}": {"get": {"summary": "A warehouse", "parameters": [_path_param("code")],
                                       "responses": {**_ok(_ref("Warehouse")), **_errors(401, 404)}}},
        "/locations": {"post": {
            "summary": "Create a location", "requestBody": _json_body({
                "type": "object", "required": ["code", "warehouse"],
                "properties": {"code": {"type": "string"}, "warehouse": {"type": "string"},
                               "name": {"type": "string"},
                               "type": {"type": "string", "enum": ["storage", "receiving", "quarantine", "outbound",
                                                                   "production", "transit"]}}}),
            "responses": {**_ok(_ref("Location"), "201"), **_errors(400, 401, 403, 409, 415, 422)}}},
        "/locations/{code}": {"get": {"summary": "A location", "parameters": [_path_param("code")],
                                      "responses": {**_ok(_ref("Location")), **_errors(401, 404)}}},
        "/items": {"post": {
            "summary": "Create an item", "requestBody": _json_body({
                "type": "object", "required": ["sku", "name"],
                "properties": {"sku": {"type": "string"}, "name": {"type": "string"},
                               "barcodes": {"type": "array", "items": {"oneOf": [
                                   {"type": "string"},
                                   {"type": "object", "required": ["code"],
                                    "properties": {"code": {"type": "string"}, "pack_qty": QTY}}]}},
                               "uom": {"type": "string"}, "lot_tracked": {"type": "boolean"},
                               "expiry_tracked": {"type": "boolean"}, "unit_cost": QTY}}),
            "responses": {**_ok(_ref("Item"), "201"), **_errors(400, 401, 403, 409, 415, 422)}}},
        "/items/{sku}": {"get": {"summary": "An item", "parameters": [_path_param("sku")],
                                 "responses": {**_ok(_ref("Item")), **_errors(401, 404)}}},
        "/moves": {"post": {
            "summary": "Post a stock move",
            "description": "receipt: supplier → to_location; issue: from_location → customer; transfer: "
                           "from → to; scrap: from → scrap (reason required); return: from → supplier; "
                           "adjustment (supervisor): one side given. Moves between warehouses: see /transfers.",
            "parameters": [IDEMPOTENCY],
            "requestBody": _json_body({
                "type": "object", "required": ["type", "sku", "qty"],
                "properties": {"type": {"type": "string", "enum": ["receipt", "issue", "transfer", "scrap",
                                                                    "return", "adjustment"]},
                               "sku": {"type": "string"}, "qty": QTY,
                               "from_location": {"type": "string"}, "to_location": {"type": "string"},
                               "lot": {"type": "string"}, "expiry": {"type": "string", "format": "date"},
                               "reason": {"type": "string"}}}),
            "responses": {
                **_ok({"type": "object", "properties": {"move": _ref("Move"),
                                                        "balances": {"type": "array", "items": _ref("Balance")}}},
                      "201"),
                **_errors(400, 401, 403, 409, 415, 422)}}},
        "/stock": {"get": {
            "summary": "Stock on hand", "parameters": [_query("sku"), _query("location"), _query("warehouse"),
                                                       _query("limit", {"type": "integer", "minimum": 1})],
            "responses": {**_ok({"type": "object", "properties": {
                "items": {"type": "array", "items": _ref("Balance")}}}), **_errors(401, 404)}}},
        "/ledger": {"get": {
            "summary": "The stock ledger in posting order, cursor-paginated",
            "parameters": [_query("sku"), _query("location"), _query("limit", {"type": "integer", "minimum": 1}),
                           _query("cursor")],
            "responses": {**_ok({"type": "object", "properties": {
                "moves": {"type": "array", "items": _ref("Move")},
                "next_cursor": {"type": ["string", "null"]}}}), **_errors(400, 401, 404)}}},
    }
    from .counts import openapi_paths as counts_paths
    from .labels import openapi_paths as labels_paths
    from .orders import openapi_paths as orders_paths
    from .purchasing import openapi_paths as purchasing_paths
    from .scanning import openapi_paths as scanning_paths
    from .transfers import openapi_paths as transfers_paths

    paths.update(scanning_paths())
    paths.update(labels_paths())
    paths.update(counts_paths())
    paths.update(purchasing_paths())
    paths.update(transfers_paths())
    paths.update(orders_paths())
    for operations in paths.values():
        for operation in operations.values():
            # Any request can be refused as malformed (a NUL character in the address, for one).
            for status, response in _errors(400).items():
                operation["responses"].setdefault(status, response)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ScanApp API", "version": "1",
                 "description": "Errors: {\"error\": {\"code\", \"message\"}}. Quantities are accepted as JSON "
                                "numbers or numeric strings and returned as numbers."},
        "servers": [{"url": "/api/v1"}],
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }
