import pytest

from tests.support.policy import make_user, r4_guard  # noqa: F401


@pytest.fixture
def unlimited(settings):
    """The Amazon emulator with its rate limits off, and ours off to match; short waits."""
    from sandbox.amazon.testing import running_amazon_sandbox

    settings.KEELSON_AMAZON_RATE_LIMITS = False
    settings.KEELSON_SYNC_MAX_WAIT = 0.2
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        yield sandbox


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # Rule R4 in every flow these tests run: no e-mail to any buyer address in the database.
    result = yield
    r4_guard(item)
    return result
