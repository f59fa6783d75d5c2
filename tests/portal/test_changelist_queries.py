"""No N+1 in the portal (issue 14): every changelist of the portal site, present and future,
shows 2 rows and 20 rows with the same number of SQL queries.

It walks ``portal_site._registry`` and grows each list with the isolation harness's factory of
its model (``tests/<app>/factories.py``), one row per merchant of an agency, seen by the agency's
owner in "All my merchants": per-row and per-merchant lookups both show up as extra queries.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django.db import connections
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.site import portal_site
from tenants.models import Role
from tests.support.tenant_factories import load_all

pytestmark = pytest.mark.django_db

SMALL, LARGE = 2, 20


def changelist_url(model: type[Model]) -> str:
    return reverse(f"portal:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _queries(model, n: int, make_agency, make_merchant, make_user, login) -> tuple[int, list, int]:
    agency = make_agency()
    factory = load_all()[model]
    for _ in range(n):
        factory(make_merchant(agency=agency))
    client = login(make_user(Role.AGENCY_OWNER, agency=agency))
    url = changelist_url(model)
    client.get(url)  # warm: session, per-process caches
    with CaptureQueriesContext(connections["default"]) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    rows = len(response.context["cl"].result_list)
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries], rows


@pytest.mark.parametrize(
    "model",
    sorted(portal_site._registry, key=lambda m: m._meta.label),
    ids=lambda m: m._meta.label,
)
def test_a_changelist_costs_the_same_queries_for_2_rows_as_for_20(
    model, make_agency, make_merchant, make_user, login
):
    if model not in load_all():
        pytest.fail(f"register an isolation factory for {model._meta.label} (test_isolation.py)")
    small, small_sql, small_rows = _queries(
        model, SMALL, make_agency, make_merchant, make_user, login
    )
    large, large_sql, large_rows = _queries(
        model, LARGE, make_agency, make_merchant, make_user, login
    )
    assert small_rows >= SMALL and large_rows >= LARGE, (small_rows, large_rows)
    assert large == small, (
        f"{model._meta.label}: {small} queries for {small_rows} rows, {large} for {large_rows}; "
        "repeated:\n" + repeated(small_sql, large_sql)
    )


def _shape(sql: str) -> str:
    return re.sub(r"\(\?(, \?)*\)", "(...)", re.sub(r"\d+", "?", sql))


def repeated(small_sql: list[str], large_sql: list[str]) -> str:
    """The queries the larger list runs more often than the smaller one (numbers blanked)."""
    shape = Counter(_shape(q) for q in small_sql)
    grown = Counter(_shape(q) for q in large_sql) - shape
    return "\n".join(f"{n} x {q[:600]}" for q, n in grown.items())
