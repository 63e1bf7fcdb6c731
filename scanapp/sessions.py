"""The signed-cookie session, as Flask keeps it, with two savings on the scan path.

- The JSON API never opens a session: it authenticates every call by its bearer token and
  ignores cookies by design (a browser's session must never be usable to forge an API call), so
  parsing and verifying a cookie there would be wasted work — and a null session makes sure no
  API code can come to depend on one.
- The signing serializer is built once per secret key rather than twice per request (Flask
  builds a new one in ``open_session`` and again in ``save_session``).
"""

from __future__ import annotations

from flask.sessions import NullSession, SecureCookieSessionInterface

from .web import API_PATH_PREFIX


class NoApiSession(NullSession):
    def _fail(self, *args, **kwargs):
        raise RuntimeError("The API does not use the cookie session; pass values explicitly.")

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail  # type: ignore[assignment]


class SessionInterface(SecureCookieSessionInterface):
    null_session_class = NoApiSession

    def __init__(self):
        self._serializers: dict = {}

    def open_session(self, app, request):
        if request.path.startswith(API_PATH_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = self._serializers[keys] = super().get_signing_serializer(app)
        return serializer
