"""The scan lookup page, and the camera endpoint every scan field uses."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from ..api.scanning import code_json, read_image
from ..auth.access import access
from ..auth.models import Role
from ..errors import ScanAppError
from ..web import render, write
from .resolve import decode_photo, keep_failed_scan_logs, parse_expected, resolve, stock_for

bp = Blueprint("scanning", __name__)
# Scan-log rows of requests that failed are written after their rollback (see resolve.log_scan).
bp.after_app_request(keep_failed_scan_logs)

GS = "\x1d"


class NoBarcode(ScanAppError):
    code = "no_barcode"
    status = 422


@bp.get("/scan")
@access(Role.WORKER)
def lookup():
    """The scan lookup page: scan anything to see what it is and where its stock is."""
    return render("scanning/lookup.html")


@bp.post("/scan")
@access(Role.WORKER)
@write()
def lookup_scan():
    """What a scanned code is, with its stock; 422 with the message when nothing has the code."""
    result = resolve(request.form.get("code"), screen="lookup", user_id=current_user.id,
                     expected=parse_expected(request.form.get("expected")))
    return _lookup_result(result)


@bp.post("/scan/photo")
@access(Role.WORKER)
@write()
def lookup_photo():
    """Look up the barcode in a photo (multipart ``image``); several barcodes: choose one."""
    codes, _ms = decode_photo(read_image(), screen="lookup.photo", user_id=current_user.id)
    if not codes:
        raise NoBarcode(_("No barcode found in the photo. Move closer, hold the phone still and try again."))
    if len(codes) == 1:
        return _lookup_result(resolve(codes[0].text, screen="lookup", user_id=current_user.id))
    choices = [{"text": c.text, "shown": c.text.replace(GS, "<GS>"), "format": c.format} for c in codes]
    return render("scanning/lookup.html", "scanning/_photo_choices.html", choices=choices)


@bp.post("/scan/frame")
@access(Role.WORKER)
@write()
def frame():
    """The barcodes in one camera frame or photo, as JSON {"codes": [...]}, for the scan field.

    Live camera frames (several a second) are not logged; a photo (``mode=photo``) is.
    """
    screen = (request.form.get("screen") or "photo")[:40]
    codes, ms = decode_photo(read_image(), screen=screen, user_id=current_user.id,
                             log=request.form.get("mode") == "photo")
    return jsonify({"codes": [code_json(c) for c in codes], "ms": ms})


def _lookup_result(result):
    return render(
        "scanning/lookup.html", "scanning/_lookup_result.html", status=200 if result.ok else 422,
        result=result, rows=stock_for(result),
    )
