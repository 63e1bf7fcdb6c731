"""Login throttling: failed logins counted per account and per client address in a moving window.

Built on `limits` (the storage and window library under Flask-Limiter) and called by the login
view alone. Flask-Limiter hooked a before-request, an after-request and a teardown into every
request of the app to serve this one route: about 6 % of a scan post's CPU (docs/benchmarks.md).
Only failed logins count, so a worker who mistypes once and then logs in is not held back.
The counters live in ``RATELIMIT_STORAGE_URI``: ``memory://`` (per process) or Redis, shared by
every process and app server.
"""

from __future__ import annotations

import logging

from flask import current_app, request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

_EXTENSION = "scanapp_login_throttle"


def init_app(app) -> None:
    storage = storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
    app.extensions[_EXTENSION] = MovingWindowRateLimiter(storage)


def _checks(username: str) -> list[tuple[str, str, str]]:
    """(limit, scope, key) for this attempt: the account, and the address it comes from."""
    config = current_app.config
    return [
        (config["SCANAPP_LOGIN_LIMIT_ACCOUNT"], "login-account", username.strip().lower()[:80]),
        (config["SCANAPP_LOGIN_LIMIT_IP"], "login-ip", request.remote_addr or ""),
    ]


def is_blocked(username: str) -> bool:
    """True when the account or the address has used up its failed logins in the window.

    A counter store that cannot be reached (Redis down) does not lock the floor out: the
    password is still checked, and the failure is logged."""
    limiter = current_app.extensions[_EXTENSION]
    try:
        return any(not limiter.test(parse(limit), scope, key) for limit, scope, key in _checks(username))
    except Exception:  # noqa: BLE001 - any storage error: log it and let the password decide
        log.exception("login throttle storage unavailable")
        return False


def count_failure(username: str) -> None:
    """Count one failed login against the account and the address."""
    limiter = current_app.extensions[_EXTENSION]
    try:
        for limit, scope, key in _checks(username):
            limiter.hit(parse(limit), scope, key)
    except Exception:  # noqa: BLE001 - as in is_blocked
        log.exception("login throttle storage unavailable")
