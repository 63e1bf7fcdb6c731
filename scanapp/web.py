"""Web plumbing shared by every blueprint: htmx rendering, the write unit of work, idempotency
and error mapping (the headers every response carries are added in `scanapp.headers`)."""

from __future__ import annotations

import json
import logging
import random
import time
from decimal import Decimal
from functools import wraps

from flask import current_app, g, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from . import idempotency
from .errors import ScanAppError
from .extensions import db

log = logging.getLogger(__name__)

# Every path of the JSON API (all versions) starts so: it answers in JSON and ignores cookies.
API_PATH_PREFIX = "/api/"

# PostgreSQL SQLSTATEs worth retrying: serialization failure, deadlock, lock timeout.
RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}


class BadRequest(ScanAppError):
    code = "bad_request"
    status = 400


class UnsupportedMediaType(ScanAppError):
    code = "unsupported_media_type"
    status = 415


def is_htmx() -> bool:
    """A request for a fragment: htmx, but not a boosted navigation or a history restore (on Back,
    htmx re-fetches the URL and expects the whole page)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render(page_template: str, fragment_template: str | None = None, status: int = 200, **context):
    """Render the full page, or only its fragment for htmx; responses vary on HX-Request."""
    template = fragment_template if fragment_template and is_htmx() else page_template
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def is_retryable(exc: Exception, *, committing: bool = False) -> bool:
    """Worth running the whole unit of work again: a deadlock, a serialisation failure, a lock
    timeout, SQLite busy, or a connection the database server had dropped before COMMIT (the retry
    gets a new one). A connection lost *during* COMMIT is not retried: the work may have been
    committed, so the request answers 503 and a keyed client's retry is then a replay."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return not committing
        state = getattr(exc.orig, "sqlstate", None)
        if state in RETRYABLE_SQLSTATES:
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
            return True
    return False


def run_in_transaction(fn, *args, **kwargs):
    """Run ``fn`` as one unit of work: commit once at the end, roll back on any error, and retry
    a few times with jitter when the database reports a deadlock or serialisation failure."""
    attempts = current_app.config["SCANAPP_RETRY_ATTEMPTS"]
    for attempt in range(attempts):
        committing = False
        try:
            result = fn(*args, **kwargs)
            committing = True
            db.session.commit()
            return result
        except Exception as exc:
            db.session.rollback()
            if attempt + 1 < attempts and is_retryable(exc, committing=committing):
                time.sleep(random.uniform(0.005, 0.03) * (2**attempt))  # noqa: S311 - jitter, not secrets
                continue
            raise
    raise AssertionError("unreachable")


def request_payload():
    """What the request asks for, for the idempotency fingerprint: JSON body or form fields."""
    if request.is_json:
        return json_body()
    return {k: v for k, v in request.form.to_dict(flat=False).items() if k not in ("csrf_token", "idempotency_key")}


def write(*, idempotent: bool = False):
    """Decorate a view that changes data: one transaction, retried on deadlock, committed once.

    With ``idempotent=True`` the request must carry an Idempotency-Key header or an
    ``idempotency_key`` form field; a repeat returns the first response and writes nothing.
    Only successful responses (< 400) are kept; a failed request changes nothing, key included.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not idempotent:
                try:
                    return run_in_transaction(lambda: _commit_ok(make_response(view(*args, **kwargs))))
                except _FailedResponse as failed:
                    return failed.response
            key = idempotency.validate_key(
                request.headers.get("Idempotency-Key") or request.form.get("idempotency_key")
            )
            digest = idempotency.fingerprint(request.method, request.path, request_payload())
            g.idempotency_key = key

            def unit():
                earlier = idempotency.claim(current_user.id, key, digest)
                if earlier is not None:
                    return _replay(earlier)
                response = make_response(view(*args, **kwargs))
                if response.status_code >= 400:
                    raise _FailedResponse(response)
                body = response.get_data(as_text=True)
                if response.status_code in (301, 302, 303, 307, 308):
                    body = response.headers.get("Location", "")
                idempotency.record_response(response.status_code, body, response.content_type)
                return response

            try:
                return run_in_transaction(unit)
            except _FailedResponse as failed:
                return failed.response

        wrapper.idempotent = idempotent  # tests find every keyed endpoint in the URL map by it
        return wrapper

    return decorator


class _FailedResponse(Exception):
    """Carries a 4xx response out of the transaction so that it is rolled back, key included."""

    def __init__(self, response):
        self.response = response


def _commit_ok(response):
    if response.status_code >= 400:
        raise _FailedResponse(response)
    return response


def _replay(record):
    if record.status in (301, 302, 303, 307, 308):
        response = make_response("", record.status)
        response.headers["Location"] = record.body or "/"
    else:
        response = make_response(record.body or "", record.status or 200)
        response.content_type = record.content_type or "text/plain"
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _reject_constant(name):
    raise ValueError(f"{name} is not a number")


def json_body() -> dict:
    """The request's JSON object, numbers as Decimal (never float); 415/400 with a clear message."""
    cached = g.get("_json_body")
    if cached is not None:
        return cached
    if not request.is_json:
        raise UnsupportedMediaType(_("Send the request body as JSON (Content-Type: application/json)."))
    try:
        body = json.loads(request.get_data(cache=True), parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest(_("The request body is not valid JSON."), code="malformed_json") from None
    if not isinstance(body, dict):
        raise BadRequest(_("The request body must be a JSON object."), code="malformed_json")
    g._json_body = body
    return body


# --- errors ---------------------------------------------------------------------------------


def error_json(code: str, message: str, status: int, **extra):
    payload = {"error": {"code": code, "message": message, **extra}}
    return make_response(jsonify(payload), status)


def wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith(API_PATH_PREFIX)


def handle_app_error(exc: ScanAppError):
    message = str(exc.message)
    if wants_json():
        return error_json(exc.code, message, exc.status)
    return _error_page(message, exc.status)


def handle_http_error(exc: HTTPException):
    messages = {
        400: _("The request could not be understood."),
        401: _("Log in first."),
        403: _("You do not have permission for this."),
        404: _("Not found."),
        405: _("This action is not allowed here."),
        413: _("The upload is too large."),
        415: _("This type of content is not supported."),
        429: _("Too many attempts. Wait a few minutes and try again."),
    }
    message = messages.get(exc.code, exc.description or exc.name)
    if exc.code == 400 and "CSRF" in (exc.description or ""):
        message = _("The form has expired. Reload the page and try again.")
    if wants_json():
        code = (exc.name or "error").lower().replace(" ", "_")
        if exc.code == 400 and "CSRF" in (exc.description or ""):
            code = "csrf_failed"
        return error_json(code, message, exc.code or 500)
    response = _error_page(message, exc.code or 500)
    if exc.code == 400 and "CSRF" in (exc.description or ""):
        response.headers["X-ScanApp-Error"] = "csrf_failed"  # the offline queue keeps the request: log in again
    return response


def handle_unexpected(exc: Exception):
    db.session.rollback()
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        # The database server dropped the connection (restarted); the pool has been renewed.
        log.warning("database connection lost: %s", exc.orig)
        message = _("The database connection was reset. Nothing was saved; try again.")
        if wants_json():
            return error_json("database_unavailable", message, 503)
        return _error_page(message, 503)
    log.exception("unhandled error")
    message = _("Something went wrong on the server. Nothing was saved; try again.")
    if wants_json():
        return error_json("server_error", message, 500)
    return _error_page(message, 500)


def _error_page(message: str, status: int):
    if is_htmx():
        response = make_response(render_template("_error.html", message=message, status=status), status)
    else:
        response = make_response(render_template("error.html", message=message, status=status), status)
    response.vary.add("HX-Request")
    return response


def refuse_nul_bytes():
    """400 for a NUL character in the path or the query string: PostgreSQL text cannot hold one,
    so a lookup by such a code would fail in the driver (a 500) instead of saying "not found".
    Bodies are not refused wholesale: a scanned NUL is a rejected scan that the scan log keeps, and
    fields go through `inventory.services.clean_text`, which refuses control characters."""
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
        raise BadRequest(_("The address contains a NUL character."), code="invalid_characters")
