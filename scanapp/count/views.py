"""Stocktake pages: the handheld count flow (one step per screen) and the supervisor's sessions,
progress and variance review.

Handheld: /count (scan or pick a session) → /count/<ref> (scan a location) → /count/<ref>/at/<code>
(scan items; "Location done" → confirmation) → back to /count/<ref>. Every count-line POST carries
the whole request (session in the URL; scanned text, location, qty, lot, expiry, idempotency key in
the form), so the offline queue can replay it; the server checks it all again.

Blindness: the handheld templates get book quantities only for a session that is not blind; the
review pages (which show them) are for supervisors and admins (a worker gets 403).
"""

from __future__ import annotations

import io
import re

import segno
from flask import Blueprint, flash, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..auth.access import access
from ..auth.models import Role, User
from ..errors import ScanAppError
from ..extensions import db
from ..forms import checkbox, parse_date, parse_int
from ..inventory.models import Warehouse
from ..labels import service as labels
from ..labels.views import file_response
from ..web import BadRequest, is_htmx, render, write
from . import services
from .errors import WrongState
from .models import LineStatus, LocationStatus, SessionStatus

bp = Blueprint("count", __name__)

SCOPES = ("warehouse", "prefix", "locations", "items")
REVIEW_ROWS = 1000  # rows shown at once; the filters narrow a bigger count


@bp.app_template_filter("money")
def money(value) -> str:
    """A value with two decimals and a sign when it is a gain: +12.50, -3.00, 0.00."""
    return f"{value:+.2f}" if value else "0.00"


def _me() -> User:
    return current_user._get_current_object()


def _go(url: str):
    """Where a scan or a form leads next: HX-Redirect for the scan field, 303 otherwise."""
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303)


def _values(form, name: str) -> list[str]:
    """Every value of ``name``: repeated fields, each split on newlines, commas and blanks."""
    return [part for value in form.getlist(name) for part in re.split(r"[\s,;]+", value) if part]


# --- handheld: the count flow ---------------------------------------------------------------------


@bp.get("/count")
@access(Role.WORKER)
def start():
    """Handheld: scan a count session's label, or pick one of my open sessions or recounts."""
    return render("count/start.html", work=services.my_work(_me()))


@bp.post("/count")
@access(Role.WORKER)
def scan_session():
    """A scanned session label or number → that session's "scan a location" screen."""
    session = services.session_from_scan(request.form.get("code"))
    services.may_count(session, _me())
    if session.status is SessionStatus.CLOSED:
        raise WrongState(_("Count %(number)s is closed.", number=session.number))
    return _go(url_for("count.session", ref=session.number))


@bp.get("/count/<ref>")
@access(Role.WORKER)
def session(ref: str):
    """Handheld: scan a location of the session; its locations and what is left to do."""
    count = services.get_session(ref)
    services.may_count(count, _me())
    progress = services.location_progress(count)
    return render("count/session.html", "count/_my_locations.html", count=count, progress=progress,
                  all_done=all(cl.status is LocationStatus.DONE for cl, _n in progress))


@bp.post("/count/<ref>")
@access(Role.WORKER)
def scan_location(ref: str):
    """A scanned location → the screen to count it (nothing is started until the first item)."""
    count = services.get_session(ref)
    cl = services.location_from_scan(count, request.form.get("code"), user=_me())
    return _go(url_for("count.location", ref=count.number, code=cl.location.code))


def _location_context(count, code: str) -> dict:
    cl, lines = services.location_lines(count, code)
    if count.blind:  # lines on the books that nobody scanned yet are not shown to a blind counter
        lines = [ln for ln in lines if ln.counted_qty > 0]
    return {"count": count, "cl": cl, "lines": lines, "show_book": not count.blind}


@bp.get("/count/<ref>/at/<path:code>")
@access(Role.WORKER)
def location(ref: str, code: str):
    """Handheld: scan items at a location; the running list of what was counted here."""
    count = services.get_session(ref)
    context = _location_context(count, code)
    services.check_countable_by(count, context["cl"], _me())
    return render("count/location.html", "count/_lines.html", **context)


@bp.post("/count/<ref>/lines")
@access(Role.WORKER)
@write(idempotent=True)
def scan(ref: str):
    """Count one scan (or a typed quantity) at the form's location; a repeat of the same key counts once."""
    count = services.get_session(ref)
    form = request.form
    location_code = form.get("location", "")
    result = services.scan_item(
        count, location_code, user=_me(), text=form.get("code"), qty=form.get("qty") or None,
        lot=(form.get("lot") or "").strip() or None, expiry=parse_date(form.get("expiry"), _("Expiry")),
    )
    context = _location_context(count, result.location.location.code)
    return render("count/location.html", "count/_scanned.html", status=201, scanned=result, **context)


@bp.get("/count/<ref>/at/<path:code>/done")
@access(Role.WORKER)
def confirm_done(ref: str, code: str):
    """Handheld: "Location done?" — how many book lines were not scanned and will count as 0."""
    count = services.get_session(ref)
    preview = services.preview_done(count, code)
    services.may_count(count, _me())
    return render("count/done.html", count=count, preview=preview)


@bp.post("/count/<ref>/at/<path:code>/done")
@access(Role.WORKER)
@write(idempotent=True)
def finish(ref: str, code: str):
    """"Location done": what was not scanned counts as 0; back to "scan a location"."""
    count = services.get_session(ref)
    done = services.finish_location(count, code, user=_me())
    flash(_("%(code)s done: %(scanned)s lines counted, %(zero)s counted as 0.", code=done.location.location.code,
            scanned=sum(1 for ln in done.lines if ln.counted_qty > 0), zero=len(done.not_scanned)), "success")
    return redirect(url_for("count.session", ref=count.number), 303)


@bp.post("/count/<ref>/submit")
@access(Role.WORKER)
@write()
def submit(ref: str):
    """Counting is finished (every location done): the session goes to review."""
    count = services.submit(services.get_session(ref), user=_me())
    flash(_("Count %(number)s submitted for review.", number=count.number), "success")
    if _me().has_role(Role.SUPERVISOR):
        return redirect(url_for("count.detail", ref=count.number), 303)
    return redirect(url_for("count.start"), 303)


# --- supervisor: sessions -------------------------------------------------------------------------


@bp.get("/counts")
@access(Role.SUPERVISOR)
def sessions():
    """Count sessions, newest first, with their progress (``status`` filters)."""
    status = request.args.get("status", "")
    if status not in {s.value for s in SessionStatus}:
        status = ""
    found = services.list_sessions(status or None, limit=200)
    return render("count/sessions.html", "count/_sessions_table.html", sessions=found, current=status,
                  statuses=list(SessionStatus), progress=services.session_progress(found))


def _form_context(form) -> dict:
    warehouses = db.session.execute(select(Warehouse).order_by(Warehouse.code)).scalars().all()
    workers = db.session.execute(
        select(User).where(User.active.is_(True)).order_by(User.username)
    ).scalars().all()
    return {"form": form, "warehouses": warehouses, "workers": workers, "scopes": SCOPES}


@bp.get("/counts/new")
@access(Role.SUPERVISOR)
def new():
    """The form to open a count session. ``?locations=A,B`` (repeatable) pre-fills a list of
    locations, e.g. from the locations flagged by short picks; ``?items=`` a cycle count."""
    args = request.args
    form = {"scope": args.get("scope") or ("locations" if args.get("locations") else
                                           "items" if args.get("items") else "warehouse"),
            "locations": "\n".join(_values(args, "locations")), "items": "\n".join(_values(args, "items")),
            "prefix": args.get("prefix", ""), "warehouse": args.get("warehouse", ""), "blind": True,
            "note": args.get("note", "")}
    return render("count/new.html", **_form_context(form))


@bp.post("/counts")
@access(Role.SUPERVISOR)
@write()
def create():
    """Open a count session from the form; back to the form with the message when it cannot."""
    form = request.form
    scope = form.get("scope") if form.get("scope") in SCOPES else "warehouse"
    kept = {"scope": scope, "warehouse": form.get("warehouse", ""), "prefix": form.get("prefix", ""),
            "locations": form.get("locations", ""), "items": form.get("items", ""),
            "blind": checkbox(form, "blind"), "deadline": form.get("deadline", ""), "note": form.get("note", ""),
            "counters": form.getlist("counters")}
    try:
        count = services.create_session(
            user=_me(),
            warehouse=form.get("warehouse") or None,
            prefix=form.get("prefix") if scope == "prefix" else None,
            locations=_values(form, "locations") if scope == "locations" else None,
            items=_values(form, "items") if scope == "items" else None,
            blind=checkbox(form, "blind"),
            counters=[c for c in form.getlist("counters") if c],
            deadline=parse_date(form.get("deadline"), _("Deadline")),
            note=form.get("note", ""),
        )
    except ScanAppError as exc:
        return render("count/new.html", status=422, error=str(exc.message), **_form_context(kept))
    flash(_("Count %(number)s is open.", number=count.number), "success")
    return redirect(url_for("count.detail", ref=count.number), 303)


@bp.get("/counts/<ref>")
@access(Role.SUPERVISOR)
def detail(ref: str):
    """A session: what it covers, its label, and each location's progress (the fragment polls)."""
    count = services.get_session(ref)
    progress = services.location_progress(count)
    return render("count/detail.html", "count/_progress.html", count=count, progress=progress,
                  summary=services.session_progress([count])[count.id],
                  payload=labels_payload(count))


def labels_payload(count) -> str:
    from ..scanning.payloads import document_payload

    return document_payload("CNT", count.number)


@bp.get("/counts/<ref>/label.pdf", defaults={"fmt": "pdf"})
@bp.get("/counts/<ref>/label.zpl", defaults={"fmt": "zpl"})
@access(Role.SUPERVISOR)
def label(ref: str, fmt: str):
    """The session's label (QR of DOC:CNT:<number>) to print and put where counters start."""
    count = services.get_session(ref)
    title = _("Stocktake") + (f" · {count.prefix}" if count.prefix else
                              f" · {count.warehouse.code}" if count.warehouse else "")
    options = labels.print_options(format=fmt, layout=request.args.get("layout"), size=request.args.get("size"),
                                   margins=None, dpi=request.args.get("dpi"), start=None,
                                   default=labels.SINGLE_DEFAULTS["documents"])
    rendered = labels.render_labels(labels.document_labels("CNT", [count.number], title), options)
    name = labels.download_name("label", "count", count.number, extension=rendered.extension)
    return file_response(rendered, name, inline=request.args.get("download") != "1")


@bp.get("/counts/<ref>/qr.svg")
@access(Role.SUPERVISOR)
def qr(ref: str):
    """The session's QR code on screen, for counters to scan from the supervisor's tablet."""
    count = services.get_session(ref)
    svg = io.BytesIO()
    segno.make(labels_payload(count), error="m").save(svg, kind="svg", scale=6, border=2, xmldecl=False)
    response = make_response(svg.getvalue())
    response.headers["Content-Type"] = "image/svg+xml"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# --- supervisor: review -----------------------------------------------------------------------------


def _review_filters(source) -> dict:
    sort = source.get("sort", "location")
    return {
        "outside_only": checkbox(source, "outside"),
        "waiting_only": checkbox(source, "waiting"),
        "differing_only": checkbox(source, "differing"),
        "prefix": (source.get("prefix") or "")[:60],
        "sku": (source.get("sku") or "")[:60],
        "sort": sort if sort in services.VARIANCE_SORTS else "location",
        "descending": source.get("dir") == "desc",
    }


def _review(count, source, *, status: int = 200, **extra):
    review = services.variances(count)
    filters = _review_filters(source)
    rows = services.filter_variances(review.lines, **filters)
    return render(
        "count/review.html", "count/_variances.html", status=status, count=count, review=review,
        totals=review.totals, rows=rows[:REVIEW_ROWS], shown_all=len(rows) <= REVIEW_ROWS, matching=len(rows),
        filters=filters, counters=_counters(), waiting=LineStatus.COUNTED, **extra,
    )


def _counters():
    return db.session.execute(select(User).where(User.active.is_(True)).order_by(User.username)).scalars().all()


@bp.get("/counts/<ref>/review")
@access(Role.SUPERVISOR)
def review(ref: str):
    """Variances per line (book, counted, difference, %, value), filtered and sorted; totals."""
    return _review(services.get_session(ref), request.args)


def _line_ids(form) -> list[int]:
    ids = [parse_int(v) for v in form.getlist("line")]
    if not ids or None in ids:
        raise BadRequest(_("Select the lines first."), code="no_lines")
    return ids


def _refused(ref: str, exc: ScanAppError):
    """The review again with the reason a decision was refused; nothing of it is kept."""
    db.session.rollback()
    return _review(services.get_session(ref), request.form, status=exc.status, error=str(exc.message))


@bp.post("/counts/<ref>/approve")
@access(Role.SUPERVISOR)
@write(idempotent=True)
def approve(ref: str):
    """Approve the selected lines, or (``all_inside``) every waiting line inside the thresholds;
    their adjustments post in this transaction."""
    count = services.get_session(ref)
    try:
        ids = None if checkbox(request.form, "all_inside") else _line_ids(request.form)
        done = services.approve(count, user=_me(), line_ids=ids)
    except ScanAppError as exc:
        return _refused(ref, exc)
    message = _("%(n)s lines approved, %(moves)s adjustments posted.", n=done.approved, moves=done.adjustments)
    return _review(count, request.form, message=message)


@bp.post("/counts/<ref>/reject")
@access(Role.SUPERVISOR)
@write(idempotent=True)
def reject(ref: str):
    """Send the selected lines' locations back for a recount (a reason; optionally another counter)."""
    count = services.get_session(ref)
    try:
        done = services.reject(count, user=_me(), line_ids=_line_ids(request.form),
                               reason=request.form.get("reason", ""), counter=request.form.get("counter") or None)
    except ScanAppError as exc:
        return _refused(ref, exc)
    message = _("Sent back for a recount: %(codes)s.", codes=", ".join(cl.location.code for cl in done.locations))
    return _review(count, request.form, message=message)
