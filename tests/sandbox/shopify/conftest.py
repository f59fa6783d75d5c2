"""Fixtures for the Shopify emulator: a server in a background thread on a free port, against
the test database (tests using it are transactional: the server commits)."""

from __future__ import annotations

import pytest

from sandbox.shopify.testing import running_shopify_sandbox


@pytest.fixture
def shopify_sandbox(transactional_db):
    """A running emulator with throttling on and a default store."""
    with running_shopify_sandbox() as sandbox:
        yield sandbox
