"""Handheld put-away/transfer, move-all and scrap screens; transfer documents (office and handheld).

Each handheld step is one request carrying the whole state in its form (see services.Flow); a
refused scan answers 422/409 with the same step re-rendered and the reason on it, so the worker
never loses the screen. Stock-posting requests are idempotent (`@write(idempotent=True)`).
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..auth.access import access
from ..auth.models import Role
from ..errors import ScanAppError
from ..extensions import db
from ..forms import parse_int
from ..web import render, write
from . import services
from .models import TransferStatus
from .services import Flow

bp = Blueprint("moves", __name__)

KIND = "<kind>"  # one of services.KINDS
TITLES = {"putaway": _l("Put away / transfer"), "scrap": _l("Scrap"), "receive": _l("Receive a transfer"),
          "ship": _l("Ship a transfer")}
ENDPOINTS = {"putaway": "moves.putaway", "scrap": "moves.scrap", "receive": "moves.receive",
             "ship": "moves.ship_handheld"}


def _state(form_or_args) -> dict:
    return {
        "from_code": form_or_args.get("from") or None,
        "sku": form_or_args.get("sku") or None,
        "lot": form_or_args.get("lot") or None,
        "qty": form_or_args.get("qty") or None,
        "transfer": form_or_args.get("transfer") or None,
    }


def _load(kind: str, state: dict) -> tuple[Flow, ScanAppError | None]:
    """The step the fields describe; when they no longer apply (stock gone, transfer received), the
    furthest earlier step that does, with the reason."""
    fallbacks = [state, {**state, "qty": None}, {**state, "qty": None, "sku": None, "lot": None},
                 {"transfer": state.get("transfer")}, {}]
    first = None
    for attempt in fallbacks:
        try:
            return Flow.load(kind, **{k: attempt.get(k) for k in state}), first
        except ScanAppError as exc:
            db.session.rollback()
            first = first or exc
    raise AssertionError("unreachable")


def _refused(flow: Flow, exc: ScanAppError):
    return _flow(flow, error=str(exc), status=exc.status)


def _flow(flow: Flow, *, error: str = "", status: int = 200):
    return render("moves/flow.html", "moves/_flow.html", status=status, flow=flow, error=error,
                  title=TITLES[flow.kind], start=ENDPOINTS[flow.kind], reasons=services.SCRAP_REASONS,
                  open_transfers=services.open_transfers() if flow.step == "document" else [],
                  warehouses=services.warehouses() if flow.step == "document" else [])


def _step(kind: str, action):
    """Load the state from the form, apply ``action`` to it; on a refusal, show the same step again
    with the message (422/409) — nothing of the request has been written."""
    if kind not in services.KINDS:
        abort(404)
    state = _state(request.form)
    flow, problem = _load(kind, state)
    if problem:
        return _refused(flow, problem)
    try:
        return _flow(action(flow))
    except ScanAppError as exc:
        db.session.rollback()
        again, _problem = _load(kind, state)
        return _refused(again, exc)


@bp.get("/moves/put-away")
@access(Role.WORKER)
def putaway():
    """Put away or transfer: scan from-location, item, quantity, to-location."""
    flow, problem = _load("putaway", _state(request.args))
    return _flow(flow, error=str(problem) if problem else "")


@bp.get("/moves/scrap")
@access(Role.WORKER)
def scrap():
    """Scrap: scan location, item, lot, quantity, then give the reason."""
    flow, problem = _load("scrap", _state(request.args))
    return _flow(flow, error=str(problem) if problem else "")


@bp.get("/transfers/receive")
@access(Role.WORKER)
def receive():
    """Receive an inter-warehouse transfer: scan its label, then items into locations."""
    flow, problem = _load("receive", _state(request.args))
    return _flow(flow, error=str(problem) if problem else "")


@bp.get("/transfers/ship")
@access(Role.WORKER)
def ship_handheld():
    """Ship a transfer from the handheld: start it, scan from-locations and items, then ship."""
    flow, problem = _load("ship", _state(request.args))
    return _flow(flow, error=str(problem) if problem else "")


@bp.post("/transfers/ship/start")
@access(Role.WORKER)
@write()
def ship_start():
    """Start an empty draft transfer on the handheld."""
    form = request.form
    try:
        tr = services.start_transfer(from_warehouse=form.get("from_warehouse", ""),
                                     to_warehouse=form.get("to_warehouse", ""), user_id=current_user.id)
    except ScanAppError as exc:
        db.session.rollback()
        return _refused(Flow(kind="ship", step="document"), exc)
    return redirect(url_for("moves.ship_handheld", transfer=tr.number), 303)


@bp.post("/moves/ship/add")
@access(Role.WORKER)
@write()
def ship_add():
    """Put the scanned item and quantity on the draft transfer (nothing moves until it ships)."""
    return _step("ship", services.add_line)


@bp.post(f"/moves/{KIND}/scan")
@access(Role.WORKER)
@write(idempotent=True)
def scan(kind: str):
    """One scan on a handheld move screen; a location scanned at the quantity step posts the move."""
    code = request.form.get("code", "")
    key = request.form.get("idempotency_key")
    return _step(kind, lambda flow: services.scan(flow, code, user_id=current_user.id, idempotency_key=key))


@bp.post(f"/moves/{KIND}/qty")
@access(Role.WORKER)
def quantity(kind: str):
    """The quantity typed on the quantity step (checked against what is there)."""
    qty = request.form.get("typed_qty", "")
    return _step(kind, lambda flow: services.set_qty(flow, qty))


@bp.post("/moves/scrap/reason")
@access(Role.WORKER)
def scrap_reason():
    """From the quantity step to the reason step of a scrap."""
    def to_reason(flow):
        if flow.step != "qty":
            raise services.MoveFlowError(_("Scan the item first."))
        flow.step = "reason"
        return flow

    return _step("scrap", to_reason)


@bp.post("/moves/scrap/post")
@access(Role.WORKER)
@write(idempotent=True)
def scrap_post():
    """Post a scrap with its reason; every field is in the form, so it can be replayed later."""
    form = request.form

    def post(flow):
        if flow.step not in ("qty", "reason"):
            raise services.MoveFlowError(_("Scan the item first."))
        move = services.scrap(from_location=flow.from_location.code, sku=flow.item.sku,
                              lot=flow.lot.number if flow.lot else None, qty=flow.qty,
                              reason=form.get("reason", ""), note=form.get("note", ""), user_id=current_user.id,
                              idempotency_key=form.get("idempotency_key"))
        flow.posted = [move]
        return flow.restart()

    state = _state(form)
    flow, problem = _load("scrap", state)
    if problem:
        return _refused(flow, problem)
    try:
        return _flow(post(flow))
    except ScanAppError as exc:
        db.session.rollback()
        again, _problem = _load("scrap", state)
        if again.step == "qty":
            again.step = "reason"
        return _refused(again, exc)


# --- move all ------------------------------------------------------------------------------------


def _move_all(*, source=None, error="", status=200, moved=None, target=None):
    rows = services.contents(source) if source is not None else []
    return render("moves/move_all.html", "moves/_move_all.html", status=status, source=source, rows=rows,
                  summary=services.summarize(rows), error=error, moved=moved, target=target)


@bp.get("/moves/move-all")
@access(Role.WORKER)
def move_all():
    """Move a location's whole content: scan it, check the lines, scan the target."""
    source = None
    error = ""
    if request.args.get("from"):
        try:
            source = services.source(request.args["from"])
        except ScanAppError as exc:
            error = str(exc)
    return _move_all(source=source, error=error)


@bp.post("/moves/move-all/scan")
@access(Role.WORKER)
@write(idempotent=True)
def move_all_scan():
    """Scan the location to empty, then the target: one transaction moves every (item, lot) there."""
    form = request.form
    source = None
    try:
        if form.get("from"):
            source = services.source(form["from"])
        from ..scanning.resolve import resolve

        result = resolve(form.get("code"), screen="moves.move_all", user_id=current_user.id, expected=("location",))
        if not result.ok:
            raise services.MoveFlowError(result.message)
        if source is None:
            return _move_all(source=services.source(result.location))
        ids = services.move_all(from_location=source.code, to_location=result.location, user_id=current_user.id,
                                expect_lines=parse_int(form.get("lines")), expect_total=form.get("total"))
        return _move_all(moved=len(ids), target=result.location)
    except ScanAppError as exc:
        db.session.rollback()
        if source is not None:
            source = services.location(source.code)
        return _move_all(source=source, error=str(exc), status=exc.status)


# --- transfer documents (office) -----------------------------------------------------------------


@bp.get("/transfers")
@access(Role.WORKER)
def transfers():
    """Inter-warehouse transfers, newest first; supervisors create them here."""
    status = request.args.get("status") or None
    if status not in (None, *[s.value for s in TransferStatus]):
        status = None
    return render("moves/transfers.html", "moves/_transfer_list.html", transfers=services.list_transfers(status),
                  status_filter=status, statuses=list(TransferStatus), warehouses=services.warehouses(), form={})


@bp.post("/transfers")
@access(Role.SUPERVISOR)
@write()
def create_transfer():
    """Create a draft transfer from the office form."""
    form = request.form
    try:
        tr = services.create_transfer(from_warehouse=form.get("from_warehouse", ""),
                                      to_warehouse=form.get("to_warehouse", ""),
                                      lines=services.parse_lines(form.get("lines", "")),
                                      note=form.get("note", ""), user_id=current_user.id)
    except ScanAppError as exc:
        db.session.rollback()
        return render("moves/transfers.html", "moves/_transfer_form.html", status=exc.status,
                      transfers=services.list_transfers(), status_filter=None, statuses=list(TransferStatus),
                      warehouses=services.warehouses(), form=form, error=str(exc))
    response = redirect(url_for("moves.transfer", number=tr.number), 303)
    response.headers["HX-Redirect"] = url_for("moves.transfer", number=tr.number)
    return response


def _transfer_page(number: str, **ctx):
    tr = services.get_transfer(number)
    return render("moves/transfer.html", "moves/_transfer_progress.html", tr=tr,
                  moves=services.transfer_moves(tr), **ctx)


@bp.get("/transfers/<number>")
@access(Role.WORKER)
def transfer(number: str):
    """A transfer: lines with shipped and received quantities, and its moves (the fragment polls)."""
    return _transfer_page(number)


@bp.post("/transfers/<number>/ship")
@access(Role.WORKER)
@write(idempotent=True)
def ship(number: str):
    """Ship a draft transfer: its lines move into the destination's transit location."""
    try:
        services.ship_transfer(number, user_id=current_user.id)
    except ScanAppError as exc:
        db.session.rollback()
        return _transfer_page(number, error=str(exc), status=exc.status)
    return _transfer_page(number, notice=_("Shipped."))
