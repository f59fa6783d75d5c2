"""How a person finds things on the portal's pages, for the browser tests."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page


def sidebar(page: Page, title: str) -> Locator:
    """A link of the sidebar (its name starts with the icon's ligature, e.g. "key API keys")."""
    name = re.compile(rf"(^|\s){re.escape(title)}$")
    return page.locator("#nav-sidebar").get_by_role("link", name=name)


def dashboard_card(page: Page, title: str) -> Locator:
    return page.locator("#dashboard").get_by_role("link", name=re.compile(rf"^{title}\b"))


def switcher(page: Page) -> Locator:
    return page.get_by_label("Merchant", exact=True)


def open_order(page: Page, order) -> None:
    """From the sidebar's order list to the order's page."""
    sidebar(page, "Orders").click()
    page.locator("#result_list").get_by_role("link", name=order.external_id).click()
