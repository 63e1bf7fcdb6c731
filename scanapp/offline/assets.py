"""Versioned static URLs: every asset URL carries ``?v=<asset version>``, so a new release is new
URLs (browsers and the service worker fetch it once) and an old one can be cached for a year.

The asset version is SCANAPP_ASSET_VERSION when set, else a digest of every file under static/
and of the service worker template: any change to them is a new version, and the service worker's
cache name changes with it (see templates/offline/sw.js).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, current_app, url_for

# What a handheld needs to draw any page with no network: the service worker caches these on install.
PRECACHE = (
    "app.css",
    "scan.css",
    "vendor/htmx-2.0.11.min.js",
    "app.js",
    "scan-early.js",
    "scan.js",
    "offline.js",
    "icon.svg",
    "icons/icon-192.png",
    "icons/icon-512.png",
)


def asset_version(app: Flask | None = None) -> str:
    app = app or current_app
    version = app.config.get("SCANAPP_ASSET_VERSION")
    if version:
        return str(version)
    cached = app.extensions.get("scanapp_asset_version")
    if cached is None:
        cached = app.extensions["scanapp_asset_version"] = _digest(app)
    return cached


def _digest(app: Flask) -> str:
    digest = hashlib.sha256()
    static = Path(app.static_folder)
    files = [(f"static/{p.relative_to(static)}", p) for p in sorted(static.rglob("*")) if p.is_file()]
    files.append(("sw.js", Path(app.template_folder) / "offline" / "sw.js"))
    for name, path in files:
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def static_url(filename: str) -> str:
    """The URL of a static file with the asset version: ``/static/app.js?v=3f2a…``."""
    return url_for("static", filename=filename, v=asset_version())


def precache_urls() -> list[str]:
    return [static_url(name) for name in PRECACHE]


def long_cache(response):
    """Versioned static files never change under their URL: let browsers keep them a year."""
    from flask import request

    if request.endpoint == "static" and request.args.get("v") == asset_version() and response.status_code == 200:
        response.cache_control.public = True
        response.cache_control.max_age = 31536000
        response.cache_control.immutable = True
        response.cache_control.no_cache = None
    return response
