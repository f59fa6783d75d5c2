"""Run the Shopify emulator inside a test process (a background thread on a free port, and
its webhook dispatcher) against the test database. Tests that use it must be transactional
(``django_db(transaction=True)``): the server's threads commit.

    from sandbox.shopify.testing import running_shopify_sandbox

    with running_shopify_sandbox() as sandbox:
        sandbox.base_url, sandbox.store, sandbox.control   # control: ShopifySandboxClient
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sandbox.shopify.control import ShopifySandboxClient
from sandbox.shopify.server import ShopifySandboxServer


@dataclass
class RunningShopifySandbox:
    base_url: str
    store: dict  # the default store, as the control API shows it
    control: ShopifySandboxClient
    server: ShopifySandboxServer

    @property
    def graphql_url(self) -> str:
        return self.store["graphql_url"]


@contextmanager
def running_shopify_sandbox(
    *,
    throttling: bool = True,
    retry_schedule: list[float] | None = (0.05, 0.1, 0.2),
    domain: str = "keelson-test.myshopify.com",
) -> Iterator[RunningShopifySandbox]:
    """``retry_schedule``: webhook retry delays (short by default in tests; None: the
    production-like default schedule)."""
    server = ShopifySandboxServer()
    server.start()
    try:
        control = ShopifySandboxClient(server.base_url)
        control.set_webhook_retry(list(retry_schedule) if retry_schedule is not None else None)
        store = control.create_store(domain=domain, name="Keelson Test Store")
        if not throttling:
            store = control.set_throttle(store["domain"], enabled=False)
        yield RunningShopifySandbox(server.base_url, store, control, server)
    finally:
        server.stop()
