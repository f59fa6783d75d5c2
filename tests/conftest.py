"""Shared fixtures. The test database is created and migrated by the owner role; the
application role (`default`) reads it as a mirror, so row-level security applies in tests
exactly as in production."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
from pytest_django.plugin import validate_django_db

from tenants.scope import tenant_context
from tests.support.api import call, client, make_api_key  # noqa: F401  (fixtures)

_counter = itertools.count(1)


def pytest_configure(config):
    # The xdist controller (not a worker, and workers asked for): one migrated database that
    # every worker's test database is copied from, made before the workers start.
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    from tests.support import template_database

    # Beside the migration, on the other core: one collection that leaves pytest's rewritten
    # test modules in __pycache__, so that the workers load them instead of each rewriting
    # all of them at once (16 s of CPU per worker on a clean clone, 6 s with the cache).
    warm_up = _collect_in_the_background() if not sys.dont_write_bytecode else None
    try:
        name = template_database.create()
    finally:
        if warm_up is not None:
            warm_up.wait()
    os.environ[template_database.TEMPLATE_VARIABLE] = name
    config.stash[_template_key] = name


def _collect_in_the_background() -> subprocess.Popen:
    from tests.support.processes import ROOT

    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def pytest_unconfigure(config):
    name = config.stash.get(_template_key, None)
    if name:
        from tests.support import template_database

        template_database.drop(name)


_template_key = pytest.StashKey[str]()


def pytest_collection_modifyitems(items):
    # Every database test may use both aliases. Without "owner" in `databases`, Django would
    # not flush between transactional tests: the application alias is a test mirror.
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None:
            continue
        kwargs = dict(marker.kwargs)
        if kwargs.get("databases") in (None, ["default"], ("default",), {"default"}):
            kwargs["databases"] = "__all__"
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)
    _start_slow_tests_first(items)


def _transactional(item) -> bool:
    # As pytest-django decides it when it orders the tests (pytest_django.plugin).
    marker = item.get_closest_marker("django_db")
    if marker is not None:
        transaction, reset_sequences, *_ = validate_django_db(marker)
        if transaction or reset_sequences:
            return True
    fixtures = getattr(item, "fixturenames", ())
    return "transactional_db" in fixtures or "live_server" in fixtures


def _start_slow_tests_first(items) -> None:
    """The `slow` tests (a real qcluster's schedules, the demo) first among the transactional
    tests, so that on several pytest-xdist workers they start early, side by side, rather than
    one of them ending the run alone. pytest-django has already put the transactional tests
    after the others, as Django does (their flush leaves no migration-seeded rows behind for a
    test that expects them); that order stays."""
    slow = [item for item in items if item.get_closest_marker("slow")]
    if not slow:
        return
    rest = [item for item in items if not item.get_closest_marker("slow")]
    first_transactional = next(
        (n for n, item in enumerate(rest) if _transactional(item)), len(rest)
    )
    slow_plain = [item for item in slow if not _transactional(item)]
    slow_transactional = [item for item in slow if _transactional(item)]
    items[:] = (
        slow_plain + rest[:first_transactional] + slow_transactional + rest[first_transactional:]
    )


# The suite's API calls must never meet a 429: a budget no test reaches. The rate-limit tests
# (tests/api/test_rate_limits.py) set their own small ones.
UNREACHABLE_RATE_LIMITS = {"read": (1_000_000, 60), "write": (1_000_000, 60)}


@pytest.fixture(autouse=True)
def _unreachable_api_rate_limits(settings):
    settings.KEELSON_API_RATE_LIMITS = UNREACHABLE_RATE_LIMITS


@pytest.fixture(autouse=True)
def _site_language():
    """Every test starts in the site's language: the language a request activated (the test
    client runs LocaleMiddleware in this thread) would otherwise stay for the next test."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete():
    """A transactional test's tables are emptied by DELETE, keeping the content types and
    permissions post_migrate would write again (tests/support/fast_flush.py)."""
    from tests.support import fast_flush

    fast_flush.install()


@pytest.fixture(scope="session", autouse=True)
def _close_connections_before_test_databases_are_dropped(django_db_setup, django_db_blocker):
    # The application alias is a test mirror: Django drops the database through the owner
    # alias and would find the application connection still open.
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        connections.close_all()


@pytest.fixture
def make_agency(db):
    from tenants.models import Agency

    def make(**fields):
        n = next(_counter)
        fields.setdefault("name", f"Agency {n}")
        fields.setdefault("slug", f"agency-{n}")
        return Agency.objects.create(**fields)

    return make


@pytest.fixture
def make_merchant(db, make_agency):
    from tenants.models import Merchant

    def make(agency=None, **fields):
        n = next(_counter)
        fields.setdefault("name", f"Merchant {n}")
        fields.setdefault("slug", f"merchant-{n}")
        return Merchant.objects.create(agency=agency or make_agency(), **fields)

    return make


@pytest.fixture
def make_user(db):
    from tenants.models import Membership, User

    def make(role=None, agency=None, merchant=None, password="pw-Keelson-123", **fields):
        n = next(_counter)
        fields.setdefault("username", f"user{n}")
        fields.setdefault("email", f"user{n}@example.com")
        user = User.objects.create_user(password=password, **fields)
        if role:
            Membership.objects.create(user=user, role=role, agency=agency, merchant=merchant)
        return user

    return make


@pytest.fixture
def make_amazon_account(db):
    from tenants.models import AmazonAccount

    def make(merchant, **fields):
        n = next(_counter)
        fields.setdefault("selling_partner_id", f"A{n:012d}")
        fields.setdefault("marketplace_ids", ["ATVPDKIKX0DER"])
        fields.setdefault("lwa_refresh_token", f"Atzr|refresh-{n}")
        with tenant_context(merchant):
            return AmazonAccount.objects.create(merchant=merchant, **fields)

    return make


@pytest.fixture
def two_merchants(make_merchant):
    """Two merchants of two different agencies: A (ours) and B (someone else's)."""
    return make_merchant(name="Alpha Goods"), make_merchant(name="Bravo Supplies")


@pytest.fixture
def make_order(db):
    """An Amazon order with lines in the merchant's scope (tests.support.orders.create_order)."""
    from tests.support.orders import create_order

    return create_order
