"""The JSON API (/api/v1): bearer tokens, JSON errors, the same services as the pages."""

from flask import Blueprint, g, request
from flask_babel import gettext as _

from ..auth.services import user_for_token
from ..web import error_json

bp = Blueprint("api", __name__)

PUBLIC_ENDPOINTS = {"api.openapi"}


@bp.before_request
def authenticate():
    """Every API call but the OpenAPI document needs `Authorization: Bearer <token>`; cookies
    are ignored here, so a browser session can never be used to forge an API call."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    user = user_for_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if user is None:
        response = error_json("unauthorized", _("A valid API token is required (Authorization: Bearer …)."), 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="scanapp"'
        return response
    g._login_user = user  # what Flask-Login's current_user returns for this request
    return None


from . import counts, labels, orders, purchasing, scanning, transfers, views  # noqa: E402,F401 - registers the routes
