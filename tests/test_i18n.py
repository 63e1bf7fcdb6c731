"""Both catalogs are complete and up to date, and pages really render in each language."""

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
METHODS = [("scanapp/**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def _source_ids() -> set:
    ids = set()
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=METHODS, keywords=KEYWORDS
    ):
        if filename.startswith(".venv"):
            continue
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_catalog_has_every_string_translated(language):
    path = ROOT / "scanapp" / "translations" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    translated = {}
    for message in catalog:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        translated[key] = all(strings) and "fuzzy" not in message.flags
    missing = sorted(_source_ids() - {k for k, ok in translated.items() if ok})
    assert missing == [], f"{language}: {len(missing)} strings missing, e.g. {missing[:10]}"


def test_pages_render_in_chinese_and_english(app, page_client):
    client = page_client("worker")
    client.post("/language", {"language": "zh_CN"})
    zh = client.get("/stock").get_data(as_text=True)
    assert "现有库存" in zh and "退出登录" in zh
    client.post("/language", {"language": "en"})
    en = client.get("/stock").get_data(as_text=True)
    assert "Stock on hand" in en and "Log out" in en


def test_api_errors_follow_accept_language(app, api_client):
    api = api_client("worker")
    r = api.get("/items/NOPE", headers={"Accept-Language": "zh-CN"})
    assert "没有" in r.json["error"]["message"]
    r = api.get("/items/NOPE", headers={"Accept-Language": "en"})
    assert r.json["error"]["message"].startswith("No item")
