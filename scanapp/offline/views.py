"""The installable app (manifest, service worker), the offline pages, and the device page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from ..auth.access import AUTHENTICATED, PUBLIC, access
from ..auth.models import Role
from ..extensions import db
from ..i18n import current_language
from ..web import render, write
from . import services
from .assets import asset_version, precache_urls, static_url
from .models import Device

bp = Blueprint("offline", __name__)

THEME_COLOR = "#12263f"
BACKGROUND_COLOR = "#f5f6f8"


@bp.get("/manifest.webmanifest")
@access(PUBLIC)
def manifest():
    """The web app manifest, in the user's language (Chinese or English)."""
    chinese = current_language() == "zh_CN"
    data = {
        "id": "/",
        "name": "ScanApp 扫码库存" if chinese else "ScanApp Inventory",
        "short_name": "ScanApp",
        "description": _("Scan to receive, move, pick and count stock, also without a connection."),
        "lang": "zh-CN" if chinese else "en",
        "dir": "ltr",
        "start_url": url_for("stock.home"),
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "categories": ["business", "productivity"],
        "icons": [
            {"src": static_url("icons/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": static_url("icons/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": static_url("icons/icon-maskable-512.png"), "sizes": "512x512", "type": "image/png",
             "purpose": "maskable"},
            {"src": static_url("icon.svg"), "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
        ],
    }
    response = make_response(current_app.json.dumps(data, ensure_ascii=False))
    response.mimetype = "application/manifest+json"
    response.cache_control.no_cache = True
    response.vary.add("Accept-Language")
    response.vary.add("Cookie")
    return response


@bp.get("/sw.js")
@access(PUBLIC)
def service_worker():
    """The service worker, from the site root so that its scope is the whole app."""
    body = render_template(
        "offline/sw.js", version=asset_version(), precache=precache_urls(), offline_url=url_for("offline.offline"),
    )
    response = make_response(body)
    response.mimetype = "application/javascript"
    response.headers["Service-Worker-Allowed"] = "/"
    response.cache_control.no_cache = True  # a new release must reach every handheld on its next start
    response.cache_control.max_age = 0
    return response


@bp.get("/offline")
@access(PUBLIC)
def offline():
    """The page a handheld shows when the network is gone and the page it wanted is not saved.

    Cached by the service worker for every user, so it holds no user data and both languages.
    """
    return render_template("offline/offline.html")


@bp.get("/offline/conflicts")
@access(AUTHENTICATED)
def conflicts():
    """This handheld's waiting requests and replay conflicts (drawn from its IndexedDB by offline.js)."""
    return render("offline/conflicts.html")


@bp.get("/offline/session")
@access(AUTHENTICATED)
def session_state():
    """Who is logged in, with a fresh CSRF token: the queue checks this before it replays anything."""
    response = jsonify({"user": str(current_user.id), "username": current_user.username,
                        "csrf_token": generate_csrf()})
    response.cache_control.no_store = True
    return response


@bp.post("/devices/heartbeat")
@access(AUTHENTICATED)
@write()
def heartbeat():
    """A handheld reports that it is online and how many requests it still holds."""
    form = request.form
    device = services.heartbeat(
        form.get("device", ""), user_id=current_user.id, waiting=form.get("waiting"),
        conflicts=form.get("conflicts"), name=form.get("name"),
        user_agent=request.headers.get("User-Agent", ""),
    )
    return jsonify({"device": device.device_key, "name": device.name})


@bp.get("/devices")
@access(Role.SUPERVISOR)
def devices():
    """Every handheld with its unsent queue, conflicts and last contact."""
    return render("offline/devices.html", "offline/_devices_table.html", devices=services.devices())


@bp.post("/devices/<int:device_id>/name")
@access(Role.SUPERVISOR)
@write()
def rename(device_id: int):
    """Give a handheld a name people recognise ("Cold room 1")."""
    device = db.session.get(Device, device_id) or abort(404)
    services.rename(device, request.form.get("name", ""))
    return redirect(url_for("offline.devices"), 303)


@bp.after_app_request
def mark_user(response):
    """Tell the service worker whose page this is: it keeps saved pages of one user only."""
    if response.mimetype == "text/html" and current_user and current_user.is_authenticated:
        response.headers["X-ScanApp-User"] = str(current_user.id)
    return response
