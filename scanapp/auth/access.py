"""Who may call what: every view declares its access, and a test walks the URL map to check it."""

from __future__ import annotations

from functools import wraps

from flask import abort, g, request
from flask_login import current_user

from .models import Role

PUBLIC = "public"
AUTHENTICATED = "authenticated"


def access(level):
    """Mark a view with its access level: PUBLIC, AUTHENTICATED or a Role (or a role's name).

    Pages redirect anonymous users to the login page (Flask-Login); the API answers 401. A logged
    in user below the role gets 403.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if level != PUBLIC:
                user = current_user
                if not user.is_authenticated:
                    if request.blueprint == "api":
                        abort(401)
                    from ..extensions import login_manager

                    return login_manager.unauthorized()
                if level != AUTHENTICATED and not user.has_role(level):
                    abort(403)
            return view(*args, **kwargs)

        wrapper.access_level = Role(level) if level not in (PUBLIC, AUTHENTICATED) else level
        return wrapper

    return decorator


def api_user():
    """The user the API request authenticated as (set from the bearer token)."""
    return g.get("_login_user")
