"""Fixtures for the SP-API emulator: a server in a background thread on a free port, against
the test database (so tests using it are transactional: the server commits)."""

from __future__ import annotations

import pytest

from sandbox.amazon.testing import running_amazon_sandbox


@pytest.fixture
def amazon_sandbox(transactional_db):
    """A running emulator with rate limits on and a default seller (US, CA, MX)."""
    with running_amazon_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def amazon_sandbox_unlimited(transactional_db):
    """A running emulator with rate limits off (bulk scenarios)."""
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        yield sandbox
