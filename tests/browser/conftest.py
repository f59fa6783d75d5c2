"""Browser tests: a person using the portal in Debian's chromium (/usr/bin/chromium, installed by
``scripts/install-browser.sh`` from ``make install``), driven by Playwright's sync API against
pytest-django's ``live_server`` (so every test is transactional).

Without Playwright or chromium every browser test skips, in one line of pytest's summary that
names what is missing; with ``KEELSON_REQUIRE_BROWSER=1`` (CI) they fail instead. No test module
imports Playwright, so collecting them needs neither.

- ``portal_page(user)``: a page logged in as ``user``, on the dashboard (a session cookie made by
  Django's test client; ``test_dashboard.py`` logs in through the form instead).
- ``new_page()``: a page with no session.
- ``expect``: Playwright's assertions, which wait for the page.
- ``screenshot(page, name)``: with ``KEELSON_SCREENSHOTS=<dir>`` (``make screenshots``: into
  docs/screenshots/) saves a full-page PNG of the page there; otherwise does nothing.
- ``world``: a small agency with two merchants and orders in several states (seeded with the
  project's factories and services, ``world.py``), the same for every scenario and for the
  screenshots."""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.test import Client

from tests.browser.world import World, build_world

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}
# Long enough for a page load on a busy 2-core machine running the suite on 4 workers.
TIMEOUT_MS = 15_000


@functools.cache
def missing_browser_parts() -> tuple[str, ...]:
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    return tuple(missing)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Runs before any fixture (the database included). Skipped from here rather than from a
    fixture, the tests fold into one line: "SKIPPED [7] tests/browser/conftest.py:NN: browser
    tests need ..." (pytest reports a fixture's skip at each test's own line)."""
    missing = missing_browser_parts()
    if not missing:
        return
    reason = "browser tests need " + " and ".join(missing)
    if os.environ.get("KEELSON_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (KEELSON_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def _async_unsafe_allowed(monkeypatch) -> None:
    # Playwright's sync API runs an asyncio event loop in this thread (in a greenlet) for as long
    # as it is started, so Django sees a running loop and refuses ORM calls from the test itself
    # (seeding, checking what a click changed) with SynchronousOnlyOperation. Nothing here is
    # async: the portal runs in live_server's own thread. Allowed only while a browser test runs
    # (monkeypatch undoes it), and Playwright is stopped after each test, so the rest of the
    # suite on the same worker never sees the loop nor the setting.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser(live_server, world, _async_unsafe_allowed) -> Iterator[Browser]:
    """Headless chromium for one test. Started after live_server and the seeded data, and
    stopped before them, so the database flush runs without Playwright's loop."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        # While the loop runs, Django keeps this thread's connections in a context variable,
        # apart from the thread's usual ones: close those now, or they outlive the test and
        # hold the test database open when it is dropped.
        connections.close_all()
        playwright.stop()


@pytest.fixture
def expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    return expect


@pytest.fixture
def new_page(browser, live_server) -> Callable[..., Page]:
    """A fresh page (its own cookies) with the portal's address as base URL."""

    def make() -> Page:
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        return context.new_page()

    return make


@pytest.fixture
def portal_page(new_page, live_server) -> Callable[..., Page]:
    """A page logged in as the given user, on the dashboard."""

    def make(user) -> Page:
        client = Client()
        client.force_login(user)
        page = new_page()
        page.context.add_cookies(
            [
                {
                    "name": django_settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )
        page.goto("/")
        return page

    return make


@pytest.fixture
def screenshot() -> Callable[..., None]:
    folder = os.environ.get("KEELSON_SCREENSHOTS", "")

    def save(page: Page, name: str) -> None:
        if not folder:
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        # The whole page in one window as tall as the page, rather than Playwright's full_page
        # stitching: the portal's sidebar is fixed to the window and would end mid-picture.
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": VIEWPORT["width"], "height": max(height, 800)})
        try:
            page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
        finally:
            page.set_viewport_size(VIEWPORT)

    return save


@pytest.fixture
def world(transactional_db, make_agency, make_merchant, make_user) -> World:
    return build_world(make_agency, make_merchant, make_user)
