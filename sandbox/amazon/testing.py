"""Run the emulator inside a test process (a background thread on a free port) against the
test database. Tests that use it must be transactional (``django_db(transaction=True)``):
the server's threads commit.

    from sandbox.amazon.testing import running_amazon_sandbox

    with running_amazon_sandbox() as sandbox:
        sandbox.base_url, sandbox.seller, sandbox.control   # control: AmazonSandboxClient
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sandbox.amazon import sqs
from sandbox.amazon.control import AmazonSandboxClient, sp_api_client_kwargs
from sandbox.amazon.models import SandboxState
from sandbox.amazon.server import AmazonSandboxServer


@dataclass
class RunningSandbox:
    base_url: str
    seller: dict  # the default seller, as the control API shows it
    control: AmazonSandboxClient
    server: AmazonSandboxServer

    @property
    def queue_url(self) -> str:
        """The SQS queue (emulated at ``/sqs``) for the application's notifications."""
        return sqs.queue_url(self.base_url)

    def client_kwargs(self, seller: dict | None = None, marketplace_id: str | None = None) -> dict:
        """Keyword arguments for a real ``sp_api.api`` client class."""
        return sp_api_client_kwargs(seller or self.seller, marketplace_id)


@contextmanager
def running_amazon_sandbox(
    *, rate_limits: bool = True, marketplace_ids: list[str] | None = None
) -> Iterator[RunningSandbox]:
    server = AmazonSandboxServer()
    SandboxState.load()
    SandboxState.objects.filter(pk=1).update(rate_limits_enabled=rate_limits)
    server.start()
    try:
        control = AmazonSandboxClient(server.base_url)
        fields = {"name": "Test seller"}
        if marketplace_ids:
            fields["marketplace_ids"] = marketplace_ids
        seller = control.create_seller(**fields)
        yield RunningSandbox(server.base_url, seller, control, server)
    finally:
        server.stop()
