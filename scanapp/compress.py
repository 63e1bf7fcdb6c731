"""gzip for text responses (pages, CSS, JS, JSON, SVG) when the client accepts it.

Werkzeug and gunicorn send bodies as they are; a handheld on weak Wi-Fi should not wait for 50 KB
of htmx when 16 KB will do. Static files are compressed once per version and kept in memory.
"""

from __future__ import annotations

import gzip

from flask import Flask, request

COMPRESSIBLE = ("text/", "application/javascript", "application/json", "application/manifest+json",
                "image/svg+xml", "application/problem+json")
MIN_SIZE = 500  # smaller bodies gain nothing worth the CPU
MAX_SIZE = 5 * 1024 * 1024  # big exports stream as they are rather than sit in memory
LEVEL = 6


def init_app(app: Flask) -> None:
    app.extensions["scanapp_gzip_cache"] = {}
    app.after_request(compress)


def _wants_gzip(response) -> bool:
    if response.status_code != 200 or response.is_streamed and not response.direct_passthrough:
        return False
    if "Content-Encoding" in response.headers or request.method == "HEAD":
        return False
    if not (response.mimetype or "").startswith(COMPRESSIBLE):
        return False
    if response.content_length is not None and response.content_length > MAX_SIZE:
        return False
    accepted = request.headers.get("Accept-Encoding", "")
    return "gzip" in accepted.lower()


def compress(response):
    """gzip the body of a 200 text response, and say so (Content-Encoding, Vary, a distinct ETag)."""
    from flask import current_app

    response.vary.add("Accept-Encoding")
    if not _wants_gzip(response):
        return response
    cache = current_app.extensions["scanapp_gzip_cache"]
    etag, weak = response.get_etag()
    static_key = (request.path, etag) if request.endpoint == "static" and etag else None
    body = cache.get(static_key) if static_key else None
    original = response.response
    if body is None:
        response.direct_passthrough = False  # send_file hands us a file wrapper: read it
        data = response.get_data()
        if len(data) < MIN_SIZE:
            return response
        body = gzip.compress(data, LEVEL, mtime=0)
        if static_key:
            cache[static_key] = body
    response.set_data(body)
    if hasattr(original, "close"):
        original.close()  # the file wrapper of a static file
    response.headers["Content-Encoding"] = "gzip"
    if etag:
        response.set_etag(etag + "-gzip", weak=weak)
    return response
