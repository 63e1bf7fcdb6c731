"""Headers on every response, added in one WSGI wrapper: the security policy and Server-Timing.

Security headers (CSP, frame-ancestors, nosniff, referrer and permissions policy; HSTS when
served over HTTPS or with ``SCANAPP_HTTPS``) are added to whatever the app answers — pages, JSON,
static files, error pages, even an unhandled 500 — unless the view set its own (the PDF viewer's
CSP). They are added here rather than in an ``after_request`` hook because werkzeug's
``Headers.setdefault`` scans the header list once per header: on a scan post that was 2.5 % of
the request's CPU, here it is one pass over the list (docs/benchmarks.md).

``Server-Timing: app;dur=<ms>`` says how long the app took to build the response: browsers show
it in the developer tools' network timing, a proxy or load balancer can log it next to its own
figure, and the benchmarks read it to tell the server's time from the client's. It is measured
around the whole WSGI call up to ``start_response`` (Flask buffers its responses, so that is
routing, authentication, queries and rendering; a streamed body is not included).
"""

from __future__ import annotations

import time

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(self), microphone=(), geolocation=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


class ResponseHeaders:
    """WSGI middleware; ``config`` is the app's config, read per request (so ``SCANAPP_HTTPS``
    set after start-up, as tests do, takes effect)."""

    def __init__(self, wsgi_app, config):
        self.wsgi_app = wsgi_app
        self.config = config

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        https = environ.get("wsgi.url_scheme") == "https" or self.config.get("SCANAPP_HTTPS")

        def add_headers(status, headers, exc_info=None):
            present = {name.lower() for name, _value in headers}
            headers.extend(h for h in SECURITY_HEADERS if h[0].lower() not in present)
            if https and "strict-transport-security" not in present:
                headers.append(HSTS)
            headers.append(("Server-Timing", f"app;dur={(time.perf_counter() - started) * 1000:.1f}"))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, add_headers)


def server_ms(response) -> float | None:
    """The app's time in ms from a response's Server-Timing header (None when absent)."""
    for part in response.headers.get("Server-Timing", "").split(","):
        name, _sep, params = part.strip().partition(";")
        if name == "app" and params.startswith("dur="):
            return float(params[4:])
    return None
