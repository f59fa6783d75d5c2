import pytest

from tests.support.policy import make_user, r4_guard  # noqa: F401


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # Rule R4 in every flow these tests run: no e-mail to any buyer address in the database.
    result = yield
    r4_guard(item)
    return result
