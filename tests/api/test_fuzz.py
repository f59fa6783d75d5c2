"""Property-based fuzzing of the whole partner API from its own OpenAPI document (issue 2,
item 9). The operations are read from /api/v1/schema/ when the tests are collected, so
endpoints added later are fuzzed without touching this file: one test per operation. Runs
in-process over WSGI, authenticated as a merchant key with every scope.

Checks on every response (schemathesis' defaults): no 5xx, a documented status code, the
documented content type (problem+json for errors), a body and headers that match the schema,
and for the negative cases schemathesis makes (bad parameters, missing credentials) that the
API refuses them.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from tests.support.api import ALL_SCOPES

# Deterministic (derandomize) and small in `make test`; raise it for a deeper hunt:
# KEELSON_FUZZ_EXAMPLES=500 make test PYTEST_ARGS=tests/api/test_fuzz.py
MAX_EXAMPLES = int(os.environ.get("KEELSON_FUZZ_EXAMPLES", "25"))

# Loading the schema is a plain request to a public view: no database needed at collection.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # As Django's test client does: a request must not close the test's database connection
    # (inside the test's transaction, close_old_connections finds it "unusable").
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def fuzz_key(two_merchants, make_api_key) -> str:
    return make_api_key(merchant=two_merchants[0], scopes=ALL_SCOPES)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_survives_fuzzing_and_keeps_its_contract(case, fuzz_key):
    if case.query:
        # A page cursor is opaque: only a `next` link holds a valid one, so a generated one is
        # rightly refused (400). tests/api/test_pagination.py covers bad and forged cursors.
        case.query.pop("cursor", None)
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_key}"})
