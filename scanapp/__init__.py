"""ScanApp: a handheld-first inventory system. `create_app` reads as the table of contents."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_babel import lazy_gettext as _l

from . import config, i18n
from . import db as db_setup
from .errors import ScanAppError
from .extensions import babel, csrf, db, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    config.load(app, overrides)
    _configure_json(app)
    _configure_sessions(app)
    _wrap_wsgi(app)
    _configure_database(app)
    _init_extensions(app)
    _register_blueprints(app)
    _register_error_handlers(app)
    _register_template_helpers(app)
    _register_cli(app)
    return app


def _configure_json(app: Flask) -> None:
    from .jsonutil import JSONProvider

    app.json = JSONProvider(app)


def _configure_sessions(app: Flask) -> None:
    from .sessions import SessionInterface

    app.session_interface = SessionInterface()


def _wrap_wsgi(app: Flask) -> None:
    from .headers import ResponseHeaders

    app.wsgi_app = ResponseHeaders(app.wsgi_app, app.config)
    if app.config["SCANAPP_TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = int(app.config["SCANAPP_TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)


def _configure_database(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    options = db_setup.engine_options(url)
    options.update(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if url.startswith("sqlite"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)


def _init_extensions(app: Flask) -> None:
    from . import models  # noqa: F401 - registers every model on the metadata

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    babel.domain_instance = i18n.CatalogDomain()
    from .auth import throttle

    throttle.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Log in to continue.")
    login_manager.session_protection = "basic"

    from .auth.services import user_for_session

    login_manager.user_loader(user_for_session)


def _register_blueprints(app: Flask) -> None:
    from .api import bp as api_bp
    from .auth.views import bp as auth_bp
    from .catalog.views import bp as catalog_bp
    from .count.views import bp as count_bp
    from .labels.views import bp as labels_bp
    from .moves.views import bp as moves_bp
    from .offline.views import bp as offline_bp
    from .orders.views import bp as orders_bp
    from .pick.views import bp as pick_bp
    from .purchasing.views import bp as purchasing_bp
    from .receive.views import bp as receive_bp
    from .scanning.views import bp as scanning_bp
    from .stock.views import bp as stock_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(stock_bp)
    app.register_blueprint(catalog_bp)
    app.register_blueprint(scanning_bp)
    app.register_blueprint(labels_bp)
    app.register_blueprint(purchasing_bp)
    app.register_blueprint(receive_bp)
    app.register_blueprint(moves_bp)
    app.register_blueprint(pick_bp)
    app.register_blueprint(orders_bp)
    app.register_blueprint(count_bp)
    app.register_blueprint(offline_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    csrf.exempt(api_bp)  # bearer tokens, never cookies: nothing ambient to forge


def _register_error_handlers(app: Flask) -> None:
    from werkzeug.exceptions import HTTPException

    from . import compress, web

    app.register_error_handler(ScanAppError, web.handle_app_error)
    app.register_error_handler(HTTPException, web.handle_http_error)
    app.register_error_handler(Exception, web.handle_unexpected)
    app.before_request(web.refuse_nul_bytes)
    compress.init_app(app)


def _register_template_helpers(app: Flask) -> None:
    import uuid

    from .inventory.quantities import format_quantity
    from .offline.assets import long_cache, static_url
    from .web import is_htmx

    app.jinja_env.filters["qty"] = format_quantity
    app.jinja_env.globals["new_key"] = lambda: uuid.uuid4().hex
    app.jinja_env.globals["current_locale"] = i18n.current_language
    app.jinja_env.globals["is_htmx"] = is_htmx
    app.jinja_env.globals["static_url"] = static_url
    app.after_request(long_cache)


def _register_cli(app: Flask) -> None:
    from .cli import register

    register(app)
