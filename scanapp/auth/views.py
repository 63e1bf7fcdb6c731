"""Login, logout, language, and the admin's user management pages."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from ..extensions import db
from ..web import render, write
from . import services, throttle
from .access import AUTHENTICATED, PUBLIC, access
from .models import Role, User

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after login is a phishing aid.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("stock.home")


@bp.route("/login", methods=["GET", "POST"])
@access(PUBLIC)
@write()
def login():
    """Log in with username and password."""
    if request.method != "POST":  # GET, and the HEAD of monitors: never a login attempt
        if current_user.is_authenticated:
            return redirect(url_for("stock.home"))
        return render("auth/login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip()
    if throttle.is_blocked(username):
        abort(429)
    user = services.authenticate(username, request.form.get("password", ""))
    if user is None:
        throttle.count_failure(username)
        db.session.commit()  # the count outlives this attempt, whose 401 rolls the rest back
        return render(
            "auth/login.html", status=401, error=_("Wrong username or password."), username=username,
            next=request.form.get("next", ""),
        )
    services.start_session(user, request.headers.get("User-Agent", ""))
    session.clear()
    session.permanent = True
    login_user(user)
    return redirect(_safe_next(request.form.get("next")), 303)


@bp.post("/logout")
@access(AUTHENTICATED)
@write()
def logout():
    """End this session (the cookie is useless afterwards, even if copied)."""
    services.end_session(current_user.session_token)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"), 303)


@bp.post("/language")
@access(PUBLIC)
@write()
def language():
    """Switch the interface language (kept on the user, or in the session before login)."""
    lang = request.form.get("language")
    if lang not in current_app.config["LANGUAGES"]:
        lang = "zh_CN"
    session["language"] = lang
    if current_user.is_authenticated:
        services.set_language(current_user, lang)
    return redirect(_safe_next(request.form.get("next")), 303)


@bp.get("/users")
@access(Role.ADMIN)
def users():
    """Users and their roles."""
    rows = db.session.execute(select(User).order_by(User.username)).scalars().all()
    return render("auth/users.html", users=rows, roles=list(Role))


@bp.post("/users")
@access(Role.ADMIN)
@write()
def create_user():
    """Create a user."""
    form = request.form
    services.create_user(form.get("username", "").strip(), form.get("role", ""), form.get("password", ""))
    flash(_("User %(name)s created.", name=form.get("username", "").strip()), "success")
    return redirect(url_for("auth.users"), 303)


@bp.post("/users/<int:user_id>/active")
@access(Role.ADMIN)
@write()
def set_active(user_id: int):
    """Enable or disable a user; disabling logs them out everywhere."""
    user = db.get_or_404(User, user_id)
    if user.id == current_user.id:
        flash(_("You cannot disable yourself."), "error")
        return redirect(url_for("auth.users"), 303)
    services.set_active(user, request.form.get("active") == "1")
    return redirect(url_for("auth.users"), 303)


@bp.post("/users/<int:user_id>/token")
@access(Role.ADMIN)
@write()
def create_token(user_id: int):
    """Create an API token for a user; it is shown once."""
    user = db.get_or_404(User, user_id)
    token = services.create_token(user, request.form.get("name", "")[:100])
    rows = db.session.execute(select(User).order_by(User.username)).scalars().all()
    return render("auth/users.html", users=rows, roles=list(Role), new_token=token, token_user=user)
