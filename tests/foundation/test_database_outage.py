"""A lost database is a clean 503, never a 500 (issue 14): the classification of errors, the
API's problem+json and the portal's page, when PostgreSQL refuses connections."""

from __future__ import annotations

import psycopg
import pytest
from django.db import InterfaceError, OperationalError, connections
from django.test import Client

from foundation.database_outage import is_database_unavailable


def _wrapped(cause: Exception) -> OperationalError:
    try:
        raise OperationalError(str(cause)) from cause
    except OperationalError as exc:
        return exc


def test_lost_or_refused_connections_count_as_unavailable_and_query_errors_do_not():
    assert is_database_unavailable(_wrapped(psycopg.OperationalError("connection refused")))
    assert is_database_unavailable(InterfaceError("connection already closed"))
    assert is_database_unavailable(_wrapped(psycopg.errors.AdminShutdown("terminating")))
    assert is_database_unavailable(_wrapped(psycopg.errors.CannotConnectNow("starting up")))
    assert not is_database_unavailable(_wrapped(psycopg.errors.QueryCanceled("timeout")))
    assert not is_database_unavailable(_wrapped(psycopg.errors.DeadlockDetected("deadlock")))
    assert not is_database_unavailable(ValueError("not a database error"))


@pytest.fixture
def database_down(settings):
    """Every new connection of the application goes to a port nobody listens on."""
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT="1", OPTIONS={"connect_timeout": 2})
    yield
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_503_database_unavailable_with_retry_after_when_postgresql_is_down(
    database_down,
):
    response = Client(raise_request_exception=False).get(
        "/api/v1/orders/", HTTP_AUTHORIZATION="Bearer kls_whatever"
    )
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "database_unavailable"


@pytest.mark.django_db(transaction=True)
def test_a_portal_page_is_a_plain_503_page_when_postgresql_is_down(database_down):
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "a-session-the-database-must-be-asked-about"
    response = client.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Keelson is back in a moment" in response.content.decode()
