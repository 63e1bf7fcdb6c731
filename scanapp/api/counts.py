"""Stocktake API: count sessions, scans, "location done", submit, variances, approve, reject.

Responses to workers never carry book quantities of a blind count; the variance view and the
decisions are for supervisors and admins.
"""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.access import access
from ..auth.models import Role
from ..count import services
from ..count.models import CountLine, CountLocation, CountSession
from ..forms import parse_date
from ..inventory.quantities import MAX_QTY
from ..web import BadRequest, json_body, write
from . import bp
from .openapi import IDEMPOTENCY, QTY, _errors, _json_body, _ok, _path_param, _query


def _me():
    return current_user._get_current_object()


def _body() -> dict:
    """The JSON body, or {} for a POST without one (start, done, submit need none)."""
    return json_body() if request.content_length or request.get_data(cache=True) else {}


def _field(body: dict, name: str, kind, *, default=None):
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise BadRequest(_("The field %(name)s has the wrong type.", name=name), code="invalid_field")
    return value


def _text_list(body: dict, name: str):
    value = _field(body, name, list)
    if value is not None and not all(isinstance(v, str) for v in value):
        raise BadRequest(_("The field %(name)s must be a list of texts.", name=name), code="invalid_field")
    return value


def _iso(value):
    return value.isoformat() + "Z" if value is not None else None


# --- JSON shapes ------------------------------------------------------------------------------


def session_json(s: CountSession) -> dict:
    """What anyone may see of a session: no quantities at all."""
    return {
        "id": s.id,
        "number": s.number,
        "status": s.status.value,
        "blind": s.blind,
        "warehouse": s.warehouse.code if s.warehouse else None,
        "prefix": s.prefix,
        "items": [ci.item.sku for ci in s.items],
        "counters": [c.user.username for c in s.counters],
        "deadline": s.deadline.isoformat() if s.deadline else None,
        "note": s.note,
        "created_by": s.created_by.username if s.created_by else None,
        "created_at": _iso(s.created_at),
        "submitted_at": _iso(s.submitted_at),
        "closed_at": _iso(s.closed_at),
    }


def location_json(cl: CountLocation, scanned: int | None = None) -> dict:
    payload = {
        "code": cl.location.code,
        "status": cl.status.value,
        "round": cl.round,
        "counter": cl.counter.username if cl.counter else None,
        "assigned_to": cl.assigned_to.username if cl.assigned_to else None,
        "started_at": _iso(cl.started_at),
        "done_at": _iso(cl.done_at),
        "recount_reason": cl.recount_reason or None,
    }
    if scanned is not None:
        payload["scanned_lines"] = scanned
    return payload


def line_json(line: CountLine, *, blind: bool) -> dict:
    """A counted line for the counter: the book quantity only when the count is not blind."""
    payload = {
        "id": line.id,
        "sku": line.item.sku,
        "name": line.item.name,
        "uom": line.item.uom,
        "lot": line.lot.number if line.lot else None,
        "counted": line.counted_qty,
        "status": line.status.value,
    }
    if not blind:
        payload["book"] = line.book_qty
    return payload


def variance_json(v: services.Variance) -> dict:
    return {
        "id": v.line_id,
        "location": v.location,
        "sku": v.sku,
        "name": v.name,
        "uom": v.uom,
        "lot": v.lot,
        "book": v.book,
        "counted": v.counted,
        "difference": v.difference,
        "pct": v.pct,
        "unit_cost": v.unit_cost,
        "value": v.value,
        "inside_thresholds": v.inside,
        "moved_while_counting": v.moved_while_counting,
        "status": v.status.value,
        "round": v.round,
        "counter": v.counter,
    }


# --- routes -----------------------------------------------------------------------------------


@bp.get("/counts")
@access(Role.WORKER)
def list_counts():
    """Count sessions, newest first (`status` filters)."""
    return jsonify({"counts": [session_json(s) for s in services.list_sessions(request.args.get("status"))]})


@bp.post("/counts")
@access(Role.SUPERVISOR)
@write()
def create_count():
    """Open a count session over a warehouse, a zone prefix, locations or items."""
    body = json_body()
    session = services.create_session(
        user=_me(),
        warehouse=_field(body, "warehouse", str),
        locations=_text_list(body, "locations"),
        prefix=_field(body, "prefix", str),
        items=_text_list(body, "items"),
        blind=_field(body, "blind", bool, default=True),
        counters=_text_list(body, "counters"),
        deadline=parse_date(_field(body, "deadline", str), "deadline"),
        note=_field(body, "note", str, default=""),
    )
    payload = session_json(session)
    payload["locations"] = [location_json(cl, 0) for cl, _n in services.location_progress(session)]
    return jsonify(payload), 201


@bp.get("/counts/<ref>")
@access(Role.WORKER)
def get_count(ref: str):
    """A session and its locations' progress (never book quantities)."""
    session = services.get_session(ref)
    payload = session_json(session)
    payload["locations"] = [location_json(cl, n) for cl, n in services.location_progress(session)]
    return jsonify(payload)


@bp.get("/counts/<ref>/locations/<path:code>")
@access(Role.WORKER)
def get_count_location(ref: str, code: str):
    """A location of a session with the lines counted there (book quantities only when not blind)."""
    session = services.get_session(ref)
    cl, lines = services.location_lines(session, code)
    if session.blind:
        lines = [ln for ln in lines if ln.counted_qty > 0]
    return jsonify({"count": session.number, "location": location_json(cl),
                    "lines": [line_json(ln, blind=session.blind) for ln in lines]})


@bp.post("/counts/<ref>/locations/<path:code>/start")
@access(Role.WORKER)
@write()
def start_count_location(ref: str, code: str):
    """Start counting a location (the book snapshot is taken now); `recount` to count a done one again."""
    session = services.get_session(ref)
    cl = services.start_location(session, code, user=_me(), recount=_field(_body(), "recount", bool, default=False))
    payload = {"count": session.number, "location": location_json(cl)}
    if not session.blind:
        payload["lines"] = [line_json(ln, blind=False) for ln in services.round_lines(cl)]
    return jsonify(payload)


@bp.post("/counts/<ref>/lines")
@access(Role.WORKER)
@write(idempotent=True)
def add_count_line(ref: str):
    """Count an item at a location: `qty` (default 1, times a pack barcode's quantity) is added to
    the line, or set with `replace` (Idempotency-Key header required)."""
    session = services.get_session(ref)
    body = json_body()
    qty = body.get("qty", 1)
    scan = services.add_line(
        session,
        _field(body, "location", str),
        user=_me(),
        sku=_field(body, "sku", str),
        barcode=_field(body, "barcode", str),
        lot=_field(body, "lot", str),
        qty=qty,
        replace=_field(body, "replace", bool, default=False),
        expiry=parse_date(_field(body, "expiry", str), "expiry"),
    )
    return jsonify({"count": session.number, "location": location_json(scan.location),
                    "line": line_json(scan.line, blind=session.blind), "added": scan.added}), 201


@bp.post("/counts/<ref>/locations/<path:code>/done")
@access(Role.WORKER)
@write()
def finish_count_location(ref: str, code: str):
    """"Location done": what is on the books there but was not scanned is counted 0."""
    session = services.get_session(ref)
    done = services.finish_location(session, code, user=_me())
    not_scanned = done.not_scanned
    payload = {
        "count": session.number,
        "location": location_json(done.location),
        "lines": len(done.lines),
        "scanned": sum(1 for ln in done.lines if ln.counted_qty > 0),
        "not_scanned": len(not_scanned),  # how many lines were counted 0 — never their quantities when blind
    }
    if not session.blind:
        payload["not_scanned_lines"] = [line_json(ln, blind=False) for ln in not_scanned]
    return jsonify(payload)


@bp.post("/counts/<ref>/submit")
@access(Role.WORKER)
@write()
def submit_count(ref: str):
    """Counting is finished: every location must be done."""
    session = services.submit(services.get_session(ref), user=_me())
    return jsonify(session_json(session))


@bp.get("/counts/<ref>/variances")
@access(Role.SUPERVISOR)
def count_variances(ref: str):
    """Variances per line (book, counted, difference, %, value) and totals, for review."""
    session = services.get_session(ref)
    review = services.variances(session)
    limits = review.thresholds
    return jsonify({
        "count": session_json(session),
        "thresholds": {"qty": limits.qty, "pct": limits.pct, "value": limits.value},
        "totals": review.totals,
        "lines": [variance_json(v) for v in review.lines],
    })


@bp.post("/counts/<ref>/approve")
@access(Role.SUPERVISOR)
@write()
def approve_count(ref: str):
    """Approve lines and post their adjustments; without `lines`, the lines inside the thresholds."""
    session = services.get_session(ref)
    body = _body()
    result = services.approve(session, user=_me(), line_ids=body.get("lines"))
    return jsonify({"count": session.number, "status": result.session.status.value, "approved": result.approved,
                    "adjustments": result.adjustments, "waiting": result.waiting_outside})


@bp.post("/counts/<ref>/reject")
@access(Role.SUPERVISOR)
@write()
def reject_count(ref: str):
    """Send lines' locations back for a recount, optionally assigned to another counter."""
    session = services.get_session(ref)
    body = json_body()
    result = services.reject(session, user=_me(), line_ids=body.get("lines"), reason=body.get("reason"),
                             counter=_field(body, "counter", str))
    return jsonify({"count": session.number, "rejected": result.rejected, "superseded": result.superseded,
                    "locations": [location_json(cl) for cl in result.locations]})


# --- OpenAPI ----------------------------------------------------------------------------------

_SESSION = {"type": "object", "properties": {
    "id": {"type": "integer"}, "number": {"type": "string", "example": "CNT-00001"},
    "status": {"type": "string", "enum": ["open", "submitted", "closed"]}, "blind": {"type": "boolean"},
    "warehouse": {"type": ["string", "null"]}, "prefix": {"type": ["string", "null"]},
    "items": {"type": "array", "items": {"type": "string"}},
    "counters": {"type": "array", "items": {"type": "string"}},
    "deadline": {"type": ["string", "null"], "format": "date"}, "note": {"type": "string"},
    "created_by": {"type": ["string", "null"]}, "created_at": {"type": "string"},
    "submitted_at": {"type": ["string", "null"]}, "closed_at": {"type": ["string", "null"]}}}
_LOCATION = {"type": "object", "properties": {
    "code": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "counting", "done", "recount"]},
    "round": {"type": "integer", "description": "1 for the first count, 2 for the first recount …"},
    "counter": {"type": ["string", "null"]}, "assigned_to": {"type": ["string", "null"]},
    "started_at": {"type": ["string", "null"], "description": "When the book snapshot was taken."},
    "done_at": {"type": ["string", "null"]}, "recount_reason": {"type": ["string", "null"]},
    "scanned_lines": {"type": "integer"}}}
_LINE = {"type": "object", "properties": {
    "id": {"type": "integer"}, "sku": {"type": "string"}, "name": {"type": "string"}, "uom": {"type": "string"},
    "lot": {"type": ["string", "null"]}, "counted": {"type": "number"}, "status": {"type": "string"},
    "book": {"type": "number", "description": "Only in counts that are not blind."}}}
_VARIANCE = {"type": "object", "properties": {
    "id": {"type": "integer"}, "location": {"type": "string"}, "sku": {"type": "string"},
    "name": {"type": "string"}, "uom": {"type": "string"}, "lot": {"type": ["string", "null"]},
    "book": {"type": "number", "description": "On the books when the location was started."},
    "counted": {"type": "number"}, "difference": {"type": "number"},
    "pct": {"type": ["number", "null"], "description": "Difference in % of book; null when the book had none."},
    "unit_cost": {"type": "number"}, "value": {"type": "number"},
    "inside_thresholds": {"type": "boolean"},
    "moved_while_counting": {"type": "boolean",
                             "description": "Stock moved at the location while it was being counted."},
    "status": {"type": "string", "enum": ["counted", "approved"]}, "round": {"type": "integer"},
    "counter": {"type": ["string", "null"]}}}
_LINE_IDS = {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": services.MAX_LINE_IDS}


def openapi_paths() -> dict:
    """The OpenAPI path entries of the count routes, merged into the document by `openapi.spec`."""
    ref, code = _path_param("ref"), _path_param("code")
    ref["description"] = "The session id or number (CNT-00001)."
    located = {"type": "object", "properties": {"count": {"type": "string"}, "location": _LOCATION}}
    return {
        "/counts": {
            "get": {"summary": "Count sessions, newest first",
                    "parameters": [_query("status", {"type": "string", "enum": ["open", "submitted", "closed"]})],
                    "responses": {**_ok({"type": "object", "properties": {
                        "counts": {"type": "array", "items": _SESSION}}}), **_errors(401, 422)}},
            "post": {
                "summary": "Open a count session (supervisor)",
                "description": "Locations: `locations`, else codes starting with `prefix`, else every location "
                               "of `warehouse`; `items` alone is a cycle count of the locations holding them, "
                               "and restricts the others to those items. Blind unless `blind` is false.",
                "requestBody": _json_body({"type": "object", "properties": {
                    "warehouse": {"type": "string"}, "locations": {"type": "array", "items": {"type": "string"}},
                    "prefix": {"type": "string"}, "items": {"type": "array", "items": {"type": "string"}},
                    "blind": {"type": "boolean", "default": True},
                    "counters": {"type": "array", "items": {"type": "string"}, "description": "Usernames."},
                    "deadline": {"type": "string", "format": "date"}, "note": {"type": "string"}}}),
                "responses": {**_ok({**_SESSION, "properties": {
                    **_SESSION["properties"], "locations": {"type": "array", "items": _LOCATION}}}, "201"),
                    **_errors(400, 401, 403, 415, 422)}}},
        "/counts/{ref}": {"get": {
            "summary": "A count session and its locations' progress (no book quantities)",
            "parameters": [ref],
            "responses": {**_ok({**_SESSION, "properties": {
                **_SESSION["properties"], "locations": {"type": "array", "items": _LOCATION}}}),
                **_errors(401, 404)}}},
        "/counts/{ref}/locations/{code}": {"get": {
            "summary": "A location of a count with its lines",
            "description": "In a blind count only scanned lines, without book quantities.",
            "parameters": [ref, code],
            "responses": {**_ok({**located, "properties": {**located["properties"],
                                                           "lines": {"type": "array", "items": _LINE}}}),
                          **_errors(401, 404, 422)}}},
        "/counts/{ref}/locations/{code}/start": {"post": {
            "summary": "Start counting a location: the book snapshot is taken now",
            "description": "A first scan starts the location too. A done location is counted again only "
                           "with `recount`: the new round replaces its count.",
            "parameters": [ref, code],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"recount": {"type": "boolean"}}}}}},
            "responses": {**_ok(located), **_errors(400, 401, 403, 404, 409, 422)}}},
        "/counts/{ref}/lines": {"post": {
            "summary": "Count an item at a location",
            "description": "`qty` (default 1; a pack barcode multiplies it by its pack quantity) is added to "
                           "the line of this (location, item, lot) in the location's current count, or sets "
                           "it with `replace`. The first scan at a location starts it.",
            "parameters": [ref, IDEMPOTENCY],
            "requestBody": _json_body({"type": "object", "required": ["location"], "properties": {
                "location": {"type": "string"}, "sku": {"type": "string"}, "barcode": {"type": "string"},
                "lot": {"type": "string"}, "expiry": {"type": "string", "format": "date",
                                                      "description": "For a lot the books do not know."},
                "qty": {**QTY, "maximum": int(MAX_QTY)}, "replace": {"type": "boolean"}}}),
            "responses": {**_ok({**located, "properties": {**located["properties"], "line": _LINE,
                                                           "added": {"type": "number"}}}, "201"),
                          **_errors(400, 401, 403, 404, 409, 415, 422)}}},
        "/counts/{ref}/locations/{code}/done": {"post": {
            "summary": "Location done: what is on the books but was not scanned is counted 0",
            "description": "Says how many lines that is; their book quantities only when not blind.",
            "parameters": [ref, code],
            "responses": {**_ok({**located, "properties": {
                **located["properties"], "lines": {"type": "integer"}, "scanned": {"type": "integer"},
                "not_scanned": {"type": "integer"},
                "not_scanned_lines": {"type": "array", "items": _LINE}}}),
                **_errors(401, 403, 404, 409, 422)}}},
        "/counts/{ref}/submit": {"post": {
            "summary": "Counting is finished (every location done)", "parameters": [ref],
            "responses": {**_ok(_SESSION), **_errors(401, 403, 404, 409)}}},
        "/counts/{ref}/variances": {"get": {
            "summary": "Variances and totals for review (supervisor)", "parameters": [ref],
            "responses": {**_ok({"type": "object", "properties": {
                "count": _SESSION,
                "thresholds": {"type": "object", "properties": {
                    "qty": {"type": ["number", "null"]}, "pct": {"type": ["number", "null"]},
                    "value": {"type": ["number", "null"]}}},
                "totals": {"type": "object", "properties": {
                    k: {"type": "number"} for k in ("lines", "lines_with_difference", "inside_thresholds",
                                                    "outside_thresholds", "waiting", "approved", "value_up",
                                                    "value_down", "value_net", "accuracy_pct")}},
                "lines": {"type": "array", "items": _VARIANCE}}}), **_errors(401, 403, 404)}}},
        "/counts/{ref}/approve": {"post": {
            "summary": "Approve lines and post their adjustments (supervisor)",
            "description": "Without `lines`, approves the waiting lines inside the thresholds; lines outside "
                           "must be listed. Each difference is posted as an adjustment (counted − book at "
                           "count time) to today's balance, all in one transaction; a line that would take "
                           "a balance below zero refuses the approval with 409. Lines approved or rejected "
                           "already (or a moment ago by someone else) give 409.",
            "parameters": [ref],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"lines": _LINE_IDS}}}}},
            "responses": {**_ok({"type": "object", "properties": {
                "count": {"type": "string"}, "status": {"type": "string"}, "approved": {"type": "integer"},
                "adjustments": {"type": "integer"},
                "waiting": {"type": "array", "items": {"type": "integer"},
                            "description": "Lines still waiting for a decision."}}}),
                **_errors(400, 401, 403, 404, 409, 422)}}},
        "/counts/{ref}/reject": {"post": {
            "summary": "Send lines' locations back for a recount (supervisor)",
            "description": "The recount takes a new book snapshot and replaces the location's count.",
            "parameters": [ref],
            "requestBody": _json_body({"type": "object", "required": ["lines", "reason"], "properties": {
                "lines": _LINE_IDS, "reason": {"type": "string", "maxLength": 500},
                "counter": {"type": "string", "description": "Username to assign the recount to."}}}),
            "responses": {**_ok({"type": "object", "properties": {
                "count": {"type": "string"}, "rejected": {"type": "integer"}, "superseded": {"type": "integer"},
                "locations": {"type": "array", "items": _LOCATION}}}),
                **_errors(400, 401, 403, 404, 409, 415, 422)}}},
    }
