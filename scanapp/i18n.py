"""Languages: which one a request gets, and loading its catalog.

Babel parses "zh_CN" as zh_Hans_CN, and gettext then looks for translations/zh_Hans_CN or
translations/zh — never translations/zh_CN, where our catalog lives. `CatalogDomain` loads the
catalog by its directory name instead.
"""

from __future__ import annotations

from babel import support
from flask import has_request_context, request, session
from flask_babel import Domain, get_locale

LANGUAGES = ("zh_CN", "en")


def catalog_name(locale) -> str:
    return "zh_CN" if locale is not None and locale.language == "zh" else "en"


def current_language() -> str:
    """"zh_CN" or "en", for templates (the lang attribute, the language switch)."""
    return catalog_name(get_locale())


class CatalogDomain(Domain):
    def get_translations(self):
        if not has_request_context():
            return support.NullTranslations()
        name = catalog_name(get_locale())
        key = (name, self.domain[0])
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        translations = support.Translations()
        for dirname in self.translation_directories:
            catalog = support.Translations.load(dirname, [name], self.domain[0])
            translations.merge(catalog)
            if hasattr(catalog, "plural"):
                translations.plural = catalog.plural
        self.cache[key] = translations
        return translations


def select_locale() -> str:
    """The user's setting, else the session's choice, else the browser's Accept-Language."""
    from flask_login import current_user

    if not has_request_context():
        return "en"  # CLI and background work: English messages, as in the logs
    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return current_user.language
    if session.get("language") in LANGUAGES:
        return session["language"]
    # zh-CN, zh-TW, zh → Chinese; en-* → English; anything else → the default, Chinese.
    best = request.accept_languages.best_match(["zh_CN", "zh", "en"])
    return "en" if best == "en" else "zh_CN"


def _dynamic_messages():
    """Strings chosen at run time (role, location and move type names), listed so that
    `pybabel extract` finds them; templates translate them with `_(value)`."""
    from flask_babel import lazy_gettext as _l

    return [
        _l("worker"), _l("supervisor"), _l("admin"),
        _l("storage"), _l("receiving"), _l("quarantine"), _l("outbound"), _l("production"), _l("transit"),
        _l("supplier"), _l("customer"), _l("adjustment"), _l("scrap"),
        _l("receipt"), _l("issue"), _l("transfer"), _l("return"),
    ]
