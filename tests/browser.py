"""Browser-test support: the app served on a real port, Debian's Chromium driven by Playwright.

Not a conftest: a browser test module loads it with ``pytest_plugins = ["tests.browser"]`` and then
asks for the fixtures by name::

    pytest_plugins = ["tests.browser"]
    pytestmark = pytest.mark.browser

    def test_login(live_server, new_page, console_errors):
        page = new_page("phone", locale="zh-CN")   # relative URLs resolve against live_server
        page.goto("/login")
        ...
        assert console_errors(page) == []

Import nothing from this module in a test module (pytest would warn that it cannot rewrite the
asserts in an already imported plugin); everything is a fixture.

Fixtures: ``live_server`` (base URL of the app from conftest's ``app`` fixture, so SQLite and
PostgreSQL), ``playwright`` and ``browser`` (one Chromium per test process), ``new_page(device,
locale)`` (a fresh context per page: own cookies, viewport and Accept-Language; 5 s timeouts) and
``console_errors(page)``. A failing test leaves a screenshot of each of its pages in test-artifacts/.
"""

from __future__ import annotations

import re
import socket
import threading
import weakref
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DEVICES = {
    # A mid-size phone held upright; the warehouse handhelds are about this size.
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 3,
    },
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
TIMEOUT_MS = 5000  # everything here is local: fail in seconds, not after Playwright's 30 s default

_console_errors: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# --- the app on a real port --------------------------------------------------------------------


@pytest.fixture
def live_server(app):
    """The test's app served by werkzeug on 127.0.0.1 (free port, threaded); yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    handlers = []  # one thread per connection; tracked so that none outlives the app
    serve_connection = server.process_request_thread

    def tracked(request, client_address):
        handlers.append(threading.current_thread())
        serve_connection(request, client_address)

    server.process_request_thread = tracked
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        # Connection threads end when the browser closes its keep-alive connections, and pages close
        # first (new_page depends on this fixture); one still running would outlive the app fixture.
        for handler in handlers:
            handler.join(5)
        alive = [t.name for t in handlers if t.is_alive()]
        assert not alive, f"live server connections still open after the test: {alive}"


@pytest.fixture
def serve_app():
    """serve_app(app, port=0) → base URL: another app (e.g. a new release) served on a chosen port.

    The same origin (same port) is what a handheld sees when the server restarts with a new version.
    ``serve_app.stop(url)`` stops one early; all stop at the end of the test.
    """
    servers = {}

    def start(app, port: int = 0) -> str:
        server = make_server("127.0.0.1", port, app, threaded=True)
        server.daemon_threads = True
        server.connections = []  # closed on stop: a browser's keep-alive must not reach the old app
        serve_connection = server.process_request_thread

        def tracked(request, client_address):
            server.connections.append(request)
            serve_connection(request, client_address)

        server.process_request_thread = tracked
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="app-server")
        thread.start()
        url = f"http://127.0.0.1:{server.server_port}"
        servers[url] = (server, thread)
        return url

    def stop(url: str) -> None:
        server, thread = servers.pop(url)
        server.shutdown()
        thread.join()
        server.server_close()
        for connection in server.connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    start.stop = stop
    yield start
    for url in list(servers):
        stop(url)


@pytest.fixture
def profile_context(playwright, live_server, tmp_path):
    """profile_context(device, locale) → a browser context with a real profile on disk (not incognito:
    Chromium's install criteria and storage behave as on a handheld). Close it in the test."""

    def make(device: str = "phone", locale: str = "zh-CN"):
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{device}-{locale}"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, base_url=live_server, locale=locale, **DEVICES[device])
        context.set_default_timeout(10000)
        return context

    return make


@pytest.fixture(scope="session")
def fake_camera_browser(playwright, tmp_path_factory):
    """fake_camera_browser(video) → a Chromium whose camera plays ``video`` (a .y4m or .mjpeg file),
    with camera permission prompts answered yes. Closed at the end of the session."""
    launched = []

    def launch(video: Path):
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                                  f"--use-file-for-fake-video-capture={video}"],
        )
        launched.append(browser)
        return browser

    yield launch
    for browser in launched:
        browser.close()


# --- Chromium ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    yield manager
    manager.stop()


@pytest.fixture(scope="session")
def browser(playwright):
    """Debian's Chromium, headless; a missing or broken one fails the test (never a silent skip)."""
    from playwright.sync_api import Error

    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests need Debian's chromium; run `make test`, which installs it.",
            pytrace=False,
        )
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    except Error as exc:
        pytest.fail(f"{CHROMIUM} did not start ({exc.message.splitlines()[0]}); run `make test` to (re)install it.",
                    pytrace=False)
    yield browser
    browser.close()


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture
def new_page(browser, live_server, request):
    """new_page(device="phone" | "desktop", locale="zh-CN") → a Page in its own browser context.

    The locale sets Accept-Language and navigator.language; relative URLs go to the live server.
    """
    contexts = []

    def make(device: str = "phone", locale: str = "zh-CN"):
        context = browser.new_context(base_url=live_server, locale=locale, **DEVICES[device])
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        errors = _console_errors.setdefault(page, [])

        def on_console(message):
            if message.type == "error":
                errors.append(f"{message.text} ({message.location.get('url')})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        return page

    yield make
    try:
        if request.node.stash.get(_CALL_FAILED, False):
            _screenshots(request.node.nodeid, contexts)
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def console_errors():
    """console_errors(page) → the console errors and uncaught exceptions seen on the page so far
    (CSP violations, failed requests, 4xx/5xx answers to htmx included)."""

    def errors(page) -> list[str]:
        return list(_console_errors.get(page, []))

    return errors


def _screenshots(nodeid: str, contexts) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")
    pages = [page for context in contexts for page in context.pages]
    for n, page in enumerate(pages, 1):
        suffix = f"-{n}" if len(pages) > 1 else ""
        try:
            page.screenshot(path=ARTIFACTS / f"{name}{suffix}.png", full_page=True, timeout=TIMEOUT_MS)
        except Exception as exc:  # a failed screenshot must not hide the test's failure
            print(f"screenshot of {page.url} failed: {exc}")
