"""Login throttling: failed logins counted per account and per client address in a moving window.

Called by the login view alone. Flask-Limiter hooked a before-request, an after-request and a
teardown into every request of the app to serve this one route: about 6 % of a scan post's CPU
(docs/benchmarks.md). Only failed logins count, so a worker who mistypes once and then logs in is
not held back.

Where the counts live is ``RATELIMIT_STORAGE_URI``:

- ``database`` (the default): the `LoginFailure` table of the app's own database, shared by every
  process and app server without anything else to run. The count is committed with the failed
  attempt (the view commits before it answers 401, whose transaction is otherwise rolled back).
- a `limits` storage URI: ``redis://…`` (shared, and no write to the database per failure) or
  ``memory://`` (one process only: with several workers each keeps its own counts).

Two attempts at the same moment may both be let through at the limit; a throttle only has to keep
guessing slow, and each attempt costs its guesser a full password check anyway.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app, request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import and_, delete, func, insert, or_, select

from ..clock import utcnow
from ..extensions import db
from .models import LoginFailure

log = logging.getLogger(__name__)

_EXTENSION = "scanapp_login_throttle"
DATABASE = "database"


class _DatabaseCounters:
    """Failed logins as rows of `LoginFailure`, written in the request's own transaction."""

    _table = LoginFailure.__table__

    def blocked(self, checks) -> bool:
        t, now = self._table, utcnow()
        counts = dict(db.session.execute(
            select(t.c.scope, func.count())
            .where(or_(*(
                and_(t.c.scope == scope, t.c.key == key, t.c.at > now - timedelta(seconds=limit.get_expiry()))
                for limit, scope, key in checks
            )))
            .group_by(t.c.scope)
        ).all())
        return any(counts.get(scope, 0) >= limit.amount for limit, scope, _ in checks)

    def hit(self, checks) -> None:
        t, now = self._table, utcnow()
        longest = max(limit.get_expiry() for limit, _, _ in checks)
        db.session.execute(delete(t).where(t.c.at <= now - timedelta(seconds=longest)))
        db.session.execute(insert(t), [{"scope": scope, "key": key, "at": now} for _, scope, key in checks])


class _LimitsCounters:
    """Failed logins in a `limits` storage (Redis, or this process's memory).

    A Redis that cannot be reached does not lock the floor out: the failure is logged and the
    password decides. (The database store fails with the database, as the login itself does.)"""

    def __init__(self, uri: str):
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri))

    def blocked(self, checks) -> bool:
        try:
            return any(not self._limiter.test(limit, scope, key) for limit, scope, key in checks)
        except Exception:  # noqa: BLE001 - any storage error: log it and let the password decide
            log.exception("login throttle storage unavailable")
            return False

    def hit(self, checks) -> None:
        try:
            for limit, scope, key in checks:
                self._limiter.hit(limit, scope, key)
        except Exception:  # noqa: BLE001 - as in blocked
            log.exception("login throttle storage unavailable")


def init_app(app) -> None:
    uri = app.config["RATELIMIT_STORAGE_URI"]
    app.extensions[_EXTENSION] = _DatabaseCounters() if uri == DATABASE else _LimitsCounters(uri)


def _checks(username: str) -> list:
    """(limit, scope, key) for this attempt: the account, and the address it comes from."""
    config = current_app.config
    return [
        (parse(config["SCANAPP_LOGIN_LIMIT_ACCOUNT"]), "login-account", username.strip().lower()[:80]),
        (parse(config["SCANAPP_LOGIN_LIMIT_IP"]), "login-ip", (request.remote_addr or "")[:100]),
    ]


def is_blocked(username: str) -> bool:
    """True when the account or the address has used up its failed logins in the window."""
    return current_app.extensions[_EXTENSION].blocked(_checks(username))


def count_failure(username: str) -> None:
    """Count one failed login against the account and the address (in the database store, as
    part of the request's transaction: the caller commits it)."""
    current_app.extensions[_EXTENSION].hit(_checks(username))
