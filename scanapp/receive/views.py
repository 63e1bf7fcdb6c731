"""The handheld receive flow, one step per screen.

Steps: (1) choose the PO (scan its label or number, or pick one of today's) or receive without one
where allowed; (2) scan an item; (3) quantity; (4) lot and expiry for tracked items; (5) inspection;
(6) scan the put-away location, which posts and returns to (2) with the PO's progress.

Steps 2–5 keep the line being received in the session (so a burst of scans of the same item adds
up in order). The posting request of step 6 is self-contained for the offline queue: its form
carries the PO, SKU, quantities, lot, expiry, the scanned location and its own idempotency key, and
the server checks everything again.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import Blueprint, abort, make_response, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.access import access
from ..auth.models import Role
from ..errors import ScanAppError
from ..forms import parse_date
from ..inventory import queries
from ..inventory.errors import InvalidMove, NotFound
from ..inventory.quantities import format_quantity, parse_quantity
from ..purchasing import services
from ..purchasing.errors import WrongStatus
from ..purchasing.models import RECEIVABLE
from ..scanning.payloads import parse_payload
from ..scanning.resolve import resolve
from ..web import render, write

bp = Blueprint("receive", __name__, url_prefix="/receive")

STEPS = ("item", "qty", "lot", "inspect", "location")


class Flow:
    """Where the worker receives: a PO, or a warehouse without a PO."""

    def __init__(self, kind: str, ref: str):
        self.kind, self.ref = kind, ref
        self.po = self.warehouse = None
        if kind not in ("po", "wh"):
            abort(404)
        if kind == "po":
            self.po = services.po_by_number(ref)
            self.warehouse = self.po.warehouse
        else:
            self.warehouse = queries.warehouse_by_code(ref)
            if self.warehouse is None:
                raise NotFound(_("No warehouse %(code)s.", code=ref[:40]))
            if not services.may_receive_without_po(current_user, self.warehouse.id):
                abort(403)

    @property
    def key(self) -> str:
        return f"rcv:{self.kind}:{self.ref.upper()}"

    @property
    def po_number(self) -> str | None:
        return self.po.number if self.po else None

    def draft(self) -> dict:
        return dict(session.get(self.key) or {})

    def save(self, draft: dict | None) -> None:
        if draft:
            session[self.key] = draft
        else:
            session.pop(self.key, None)

    def check(self, item, qty: Decimal | None = None):
        if self.po is not None:
            return services.check_receivable(self.po, item, qty)
        return None


def _item(draft: dict):
    item = queries.item_by_sku(draft.get("sku") or "")
    if item is None:
        raise InvalidMove(_("Scan an item first."))
    return item


def _step_view(flow: Flow, draft: dict, *, status: int = 200, error: str | None = None, **extra):
    step = draft.get("step") if draft.get("step") in STEPS else "item"
    item = queries.item_by_sku(draft["sku"]) if draft.get("sku") else None
    ctx = {"flow": flow, "draft": draft, "step": step, "item": item, "error": error,
           "line": None, "suggested": None, "settings": services.settings_for(flow.warehouse.id)}
    if item is not None and flow.po is not None:
        ctx["line"] = next((x for x in flow.po.lines if x.item_id == item.id), None)
    if item is not None and step == "location":
        ctx["suggested"] = services.usual_location(item, flow.warehouse.id)
        ctx["quarantine"] = services.quarantine_location(flow.warehouse.id)
    last = services.last_receipt(current_user.id)
    ctx["undo"] = last if services.can_undo(last, current_user.id) else None
    ctx.update(extra)
    return render("receive/flow.html", "receive/_step.html", status=status, **ctx)


def _failed(flow: Flow, draft: dict, exc: ScanAppError):
    return _step_view(flow, draft, status=exc.status if exc.status in (403, 404, 409, 422) else 422,
                      error=str(exc.message))


# --- step 1: the PO ---------------------------------------------------------------------------


@bp.get("")
@access(Role.WORKER)
def start():
    """Step 1: scan a PO label or number, or pick one of today's open POs."""
    return render("receive/start.html", orders=services.todays_open_orders(),
                  free=services.warehouses_without_po(current_user))


@bp.post("/find")
@access(Role.WORKER)
@write()
def find():
    """A scanned PO label (DOC:PO:…) or typed number → that PO's receive screen."""
    raw = request.form.get("code") or ""
    found = resolve(raw, screen="receive.po", user_id=current_user.id, expected=("document",))
    number = found.document if found.kind == "document" and found.document_kind == "PO" else None
    if number is None:
        payload = parse_payload(raw)
        number = None if payload else raw.strip()
    po = services.po_by_number_or_none(number) if number else None
    if po is None:
        return render("receive/start.html", "receive/_find_error.html", status=404,
                      message=_("No purchase order %(number)s.", number=raw.strip()[:60]),
                      orders=services.todays_open_orders(), free=services.warehouses_without_po(current_user))
    if po.status not in RECEIVABLE:
        message = str(WrongStatus(_("Purchase order %(number)s is %(status)s: nothing can be received on it.",
                                    number=po.number, status=services._status_name(po.status))).message)
        return render("receive/start.html", "receive/_find_error.html", status=409, message=message,
                      orders=services.todays_open_orders(), free=services.warehouses_without_po(current_user))
    target = url_for("receive.flow", kind="po", ref=po.number)
    response = make_response("", 200)
    response.headers["HX-Redirect"] = target
    if request.headers.get("HX-Request") != "true":
        return redirect(target, 303)
    return response


@bp.get("/<kind>/<ref>")
@access(Role.WORKER)
def flow(kind: str, ref: str):
    """The receive screen of a PO (or of a warehouse without a PO): the current step and progress."""
    f = Flow(kind, ref)
    return _step_view(f, f.draft())


@bp.get("/<kind>/<ref>/progress")
@access(Role.WORKER)
def progress(kind: str, ref: str):
    """The PO's progress panel (polled while the screen is open)."""
    return render("receive/_progress.html", flow=Flow(kind, ref))


# --- steps 2–5 ----------------------------------------------------------------------------------


@bp.post("/<kind>/<ref>/scan")
@access(Role.WORKER)
@write()
def scan(kind: str, ref: str):
    """A scan on steps 2–4: an item starts a line, the same item again adds, a lot label fills the lot."""
    f = Flow(kind, ref)
    draft = f.draft()
    step = draft.get("step") or "item"
    try:
        if step == "lot":
            return _scan_lot(f, draft)
        found = resolve(request.form.get("code"), screen="receive", user_id=current_user.id,
                        expected=("item", "lot"))
        if found.kind not in ("item", "lot") or not found.ok:
            raise InvalidMove(found.message, code="not_an_item")
        item = queries.item_by_sku(found.sku)
        per_scan = found.qty if found.qty is not None else Decimal(1)
        if step == "qty" and draft.get("sku"):
            if draft["sku"] != item.sku:
                raise InvalidMove(_("You are receiving %(sku)s: confirm or cancel it before scanning %(other)s.",
                                    sku=draft["sku"], other=item.sku), code="another_item")
            if found.lot and draft.get("lot") and found.lot != draft["lot"]:
                raise InvalidMove(_("This is lot %(lot)s; you are receiving lot %(current)s. Confirm it first, then "
                                    "scan the other lot.", lot=found.lot, current=draft["lot"]), code="another_lot")
            qty = Decimal(draft["qty"]) + per_scan
            f.check(item, qty)
            draft["qty"] = str(qty)
        else:
            f.check(item, per_scan)
            draft = {"sku": item.sku, "qty": str(per_scan), "step": "qty", "lot": found.lot or "",
                     "expiry": found.expiry.isoformat() if found.expiry else "", "scanned": found.text[:200]}
    except ScanAppError as exc:
        return _failed(f, f.draft(), exc)
    f.save(draft)
    return _step_view(f, draft)


def _scan_lot(f: Flow, draft: dict):
    raw = request.form.get("code") or ""
    found = resolve(raw, screen="receive.lot", user_id=current_user.id, expected=("lot",))
    if found.kind == "lot" and found.sku == draft.get("sku"):
        draft["lot"] = found.lot
        if found.expiry:
            draft["expiry"] = found.expiry.isoformat()
    elif found.kind in ("item", "lot", "location"):
        raise InvalidMove(_("Scan the lot of %(sku)s (or type it).", sku=draft.get("sku")), code="not_a_lot")
    else:
        draft["lot"] = found.text[:60]
    return _after_lot(f, draft)


def _after_lot(f: Flow, draft: dict):
    item = _item(draft)
    try:
        checked = services.check_lot(item, draft.get("lot"), _date(draft.get("expiry")))
    except ScanAppError as exc:
        if exc.code in ("lot_required", "expiry_required"):
            draft["step"] = "lot"
            f.save(draft)
            return _step_view(f, draft)
        raise
    draft["lot"] = checked.lot_number or ""
    draft["expiry"] = checked.expiry.isoformat() if checked.expiry else ""
    draft["warning"] = checked.warning or ""
    draft["step"] = "inspect"
    f.save(draft)
    return _step_view(f, draft)


def _date(text):
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@bp.post("/<kind>/<ref>/qty")
@access(Role.WORKER)
@write()
def qty(kind: str, ref: str):
    """Step 3: the quantity (typed, or as counted by the scans); over the tolerance is refused."""
    f = Flow(kind, ref)
    draft = f.draft()
    try:
        item = _item(draft)
        value = parse_quantity(request.form.get("qty"), whole_units=item.whole_units)
        f.check(item, value)
        draft["qty"] = str(value)
        if item.lot_tracked:
            return _after_lot(f, draft)
        draft["step"] = "inspect"
    except ScanAppError as exc:
        return _failed(f, draft, exc)
    f.save(draft)
    return _step_view(f, draft)


@bp.post("/<kind>/<ref>/lot")
@access(Role.WORKER)
@write()
def lot(kind: str, ref: str):
    """Step 4: lot and expiry typed (or corrected); a past expiry is refused, a short one warns."""
    f = Flow(kind, ref)
    draft = f.draft()
    try:
        draft["lot"] = (request.form.get("lot") or "").strip()[:60]
        expiry = parse_date(request.form.get("expiry"), _("Expiry"))
        draft["expiry"] = expiry.isoformat() if expiry else ""
        return _after_lot(f, draft)
    except ScanAppError as exc:
        return _failed(f, draft, exc)


@bp.post("/<kind>/<ref>/inspect")
@access(Role.WORKER)
@write()
def inspect(kind: str, ref: str):
    """Step 5: accept all, or split into accepted and rejected (with a reason)."""
    f = Flow(kind, ref)
    draft = f.draft()
    try:
        item = _item(draft)
        total = Decimal(draft["qty"])
        if request.form.get("action") == "split":
            rejected, reason = services.inspection_split(item, total, request.form.get("rejected"),
                                                         request.form.get("reason"))
        else:
            rejected, reason = Decimal(0), ""
        draft.update(rejected=str(rejected), reason=reason, step="location")
    except ScanAppError as exc:
        return _failed(f, draft, exc)
    f.save(draft)
    return _step_view(f, draft)


@bp.post("/<kind>/<ref>/cancel")
@access(Role.WORKER)
@write()
def cancel(kind: str, ref: str):
    """Drop the line being received and go back to scanning an item."""
    f = Flow(kind, ref)
    f.save(None)
    return _step_view(f, {})


@bp.post("/<kind>/<ref>/back")
@access(Role.WORKER)
@write()
def back(kind: str, ref: str):
    """One step back (to correct the quantity, lot or inspection)."""
    f = Flow(kind, ref)
    draft = f.draft()
    if draft.get("sku"):
        step = draft.get("step") or "qty"
        previous = {"lot": "qty", "inspect": "qty", "location": "inspect"}.get(step, step)
        draft["step"] = previous
        f.save(draft)
    return _step_view(f, draft)


# --- step 6: post ------------------------------------------------------------------------------


@bp.post("/<kind>/<ref>/post")
@access(Role.WORKER)
@write(idempotent=True)
def post(kind: str, ref: str):
    """Step 6: the scanned put-away location posts the receipt. Self-contained: every value comes
    from this request's form (sku, qty, rejected_qty, reject_reason, lot, expiry, code)."""
    f = Flow(kind, ref)
    form = request.form
    draft = f.draft()
    try:
        location = None
        if (form.get("code") or "").strip():
            found = resolve(form.get("code"), screen="receive.location", user_id=current_user.id,
                            expected=("location",))
            if found.kind != "location" or not found.ok:
                raise InvalidMove(found.message, code="not_a_location")
            location = found.location
        result = services.receive(
            user=current_user, po_number=f.po_number, warehouse=None if f.po else f.warehouse.code,
            sku=form.get("sku"), qty=form.get("qty"), location=location, lot=form.get("lot") or None,
            expiry=parse_date(form.get("expiry"), _("Expiry")), rejected_qty=form.get("rejected_qty") or None,
            reject_reason=form.get("reject_reason") or "", idempotency_key=form.get("idempotency_key"),
        )
    except ScanAppError as exc:
        return _failed(f, draft, exc)
    if draft.get("sku") == form.get("sku"):
        f.save(None)
    return _step_view(f, {}, posted=result)


@bp.post("/<kind>/<ref>/undo")
@access(Role.WORKER)
@write(idempotent=True)
def undo(kind: str, ref: str):
    """Undo the worker's own last receipt line (within 5 minutes): reversing moves."""
    f = Flow(kind, ref)
    try:
        receipt_id = int(request.form.get("receipt") or 0)
        receipt = services.undo_receipt(receipt_id, user=current_user)
    except ValueError:
        return _failed(f, f.draft(), InvalidMove(_("Nothing to undo.")))
    except ScanAppError as exc:
        return _failed(f, f.draft(), exc)
    return _step_view(f, f.draft(), undone=receipt)


# --- template helpers -------------------------------------------------------------------------


@bp.app_template_filter("dec")
def _dec(value) -> Decimal:
    """Text kept in the session (a quantity) as a Decimal; 0 when it is not a number."""
    try:
        return Decimal(str(value if value not in (None, "") else 0))
    except ArithmeticError:
        return Decimal(0)


@bp.app_template_filter("qty_text")
def _qty_text(value) -> str:
    return format_quantity(_dec(value))


@bp.app_template_global("status_name")
def _status_name(status) -> str:
    return services._status_name(status)
