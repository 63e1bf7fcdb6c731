"""`Server-Timing: app;dur=<ms>` on every response: how long the app took to build it.

Browsers show it in the developer tools' network timing, a proxy or load balancer can log it
next to its own figure, and the benchmarks read it to tell the server's time from the client's.
It is measured around the whole WSGI call up to `start_response` (Flask buffers its responses,
so that is routing, authentication, queries and rendering; a streamed body is not included).
"""

from __future__ import annotations

import time


class ServerTiming:
    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()

        def timed_start_response(status, headers, exc_info=None):
            headers.append(("Server-Timing", f"app;dur={(time.perf_counter() - started) * 1000:.1f}"))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, timed_start_response)


def server_ms(response) -> float | None:
    """The app's time in ms from a response's Server-Timing header (None when absent)."""
    for part in response.headers.get("Server-Timing", "").split(","):
        name, _sep, params = part.strip().partition(";")
        if name == "app" and params.startswith("dur="):
            return float(params[4:])
    return None
