"""The handheld pick flow: open a pick list (scan or "next one for me"), then per line scan the
location, scan the item (and lot), short-pick what is missing, and ship the finished list.

Every stock-posting POST is self-contained (offline contract): it carries the pick list number (URL),
the line id, the confirmed location, the scanned text, the quantity and its idempotency key, and the
server checks all of it again on receipt.
"""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.access import access
from ..auth.models import Role
from ..errors import ScanAppError
from ..extensions import db
from ..forms import parse_int
from ..inventory.quantities import format_quantity
from ..orders import services
from ..orders.errors import WrongLocation
from ..orders.models import PickLineStatus, PickListStatus
from ..scanning.resolve import resolve
from ..web import render, write

bp = Blueprint("pick", __name__, url_prefix="/pick")

SHORT_REASONS = ("not_found", "damaged", "less_than_expected", "other")


def short_reasons():
    return [("not_found", _("Not found at the location")), ("damaged", _("Damaged")),
            ("less_than_expected", _("Fewer than expected")), ("other", _("Other"))]


@bp.get("/")
@access(Role.WORKER)
def start():
    """Start picking: scan a pick list, or take the next one assigned to me."""
    lists = [pl for pl in services.list_pick_lists(active_only=True)
             if pl.assigned_to_id in (None, current_user.id)]
    return render("pick/start.html", lists=lists)


@bp.post("/open")
@access(Role.WORKER)
@write()
def open_list():
    """Open the pick list whose label or number was scanned."""
    code = request.form.get("code", "")
    result = resolve(code, screen="pick.open", user_id=current_user.id)
    ref = result.document if result.kind == "document" and result.document_kind == "PL" else code
    pl = services.get_pick_list(ref)
    response = redirect(url_for("pick.screen", number=pl.number), 303)
    response.headers["HX-Redirect"] = url_for("pick.screen", number=pl.number)
    return response


@bp.post("/next")
@access(Role.WORKER)
@write()
def next_list():
    """Take the next pick list: mine first, else the oldest unassigned one."""
    pl = services.next_for(current_user.id)
    return redirect(url_for("pick.screen", number=pl.number), 303)


@bp.get("/<number>")
@access(Role.WORKER)
def screen(number: str):
    """One line of the list, big: where, what, which lot, how many still to pick."""
    pl = services.get_pick_list(number)
    return _screen(pl, line_id=parse_int(request.args.get("line")), other=request.args.get("other") == "1")


def _screen(pl, *, line_id=None, location="", other=False, last_code="", message=None, error=None, status=200):
    pl = services._fresh_list(pl.id)
    line = None
    if line_id is not None:
        line = next((ln for ln in pl.lines if ln.id == line_id and ln.status is PickLineStatus.OPEN), None)
    if line is None:
        line = services.current_line(pl)
        if line is not None and line_id is not None and line.id != line_id:
            location, last_code, other = "", "", False
    done = sum(1 for ln in pl.lines if ln.done)
    return render(
        "pick/screen.html", "pick/_screen.html", status=status, pl=pl, line=line, location=location,
        other=other, last_code=last_code, message=message, error=error, done=done,
        shortage=services.shortage(line) if line is not None else 0, reasons=short_reasons(),
        complete=pl.status in (PickListStatus.PICKED, PickListStatus.SHIPPED),
    )


def _failed(pl, exc: ScanAppError, **state):
    db.session.rollback()
    return _screen(pl, error=str(exc), status=exc.status, **state)


@bp.post("/<number>/scan")
@access(Role.WORKER)
@write(idempotent=True)
def scan(number: str):
    """A scan on the pick screen: the location (to confirm it), then the item or lot (to pick)."""
    form = request.form
    pl = services.get_pick_list(number)
    line_id = parse_int(form.get("line"))
    location = form.get("location", "").strip()[:60]
    other = form.get("other") == "1"
    state = {"line_id": line_id, "location": location, "other": other, "last_code": form.get("last_code", "")}
    try:
        result = resolve(form.get("code"), screen="pick", user_id=current_user.id)
        line = services._line(pl, line_id)
        if result.kind == "location":
            loc = services.check_location(pl, line, result.location, other=other)
            return _screen(pl, line_id=line.id, location=loc.code,
                           message=_("Location %(code)s confirmed. Now scan the item.", code=loc.code))
        if result.kind in ("item", "lot"):
            if not location:
                raise WrongLocation(_("Scan the location first: %(code)s.", code=line.location.code))
            qty = form.get("qty") or result.qty or 1
            picked = services.pick(pl, line.id, location=location, item_id=result.item_id, lot=result.lot,
                                   qty=qty, user_id=current_user.id, idempotency_key=form.get("idempotency_key"))
            message = _("Picked %(qty)s × %(sku)s.", qty=format_quantity(services.parse_quantity(qty)),
                        sku=picked.item.sku)
            if picked.status is PickLineStatus.OPEN:
                return _screen(pl, line_id=picked.id, location=location, last_code=form.get("code", ""),
                               message=message)
            return _screen(pl, message=message + " " + _("Line done."))
        raise WrongLocation(result.message or _("Scan the location, then the item."))
    except ScanAppError as exc:
        return _failed(pl, exc, **state)


@bp.post("/<number>/short")
@access(Role.WORKER)
@write(idempotent=True)
def short(number: str):
    """Close the line short: what was found in all and why; the location is flagged for a count."""
    form = request.form
    pl = services.get_pick_list(number)
    line_id = parse_int(form.get("line"))
    reason = form.get("reason", "")
    labels = dict(short_reasons())
    note = form.get("note", "").strip()[:200]
    text = labels.get(reason, reason) + (f": {note}" if note else "")
    try:
        line = services.short(pl, line_id, qty_found=form.get("qty_found", ""), reason=text,
                              user_id=current_user.id)
        message = (_("Line short by %(qty)s; the rest goes back to the order and %(code)s will be counted.",
                     qty=format_quantity(line.qty_short), code=line.location.code)
                   if line.status is PickLineStatus.SHORT else _("Line done."))
        return _screen(pl, message=message)
    except ScanAppError as exc:
        return _failed(pl, exc, line_id=line_id, location=form.get("location", ""))


@bp.post("/<number>/ship")
@access(Role.WORKER)
@write(idempotent=True)
def ship(number: str):
    """Ship the finished list: outbound → customer (or production / the destination's transit)."""
    pl = services.get_pick_list(number)
    try:
        services.ship(pl, user_id=current_user.id)
        return _screen(pl, message=_("Pick list %(number)s shipped.", number=pl.number))
    except ScanAppError as exc:
        return _failed(pl, exc)
