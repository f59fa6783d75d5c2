"""Every error leaves as application/problem+json with a stable code, and none is a 500 for
bad input; an unexpected exception is a 500 `server_error` that reveals nothing inside."""

from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient

from tests.support.api import assert_problem

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.urls_testviews")]


@pytest.fixture
def key(two_merchants, make_api_key):
    return make_api_key(merchant=two_merchants[0])


def test_no_key_is_401_with_a_bearer_challenge(call):
    response = call("get", "/api/v1/merchants/")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_malformed_authorization_header_is_401(call):
    for header in ("Basic dXNlcjpwdw==", "Bearer", "Bearer a b", "kls_only"):
        response = call("get", "/api/v1/merchants/", headers={"Authorization": header})
        body = assert_problem(response, 401, "not_authenticated")
        assert "Bearer" in body["detail"]


def test_an_unknown_key_is_401(call):
    assert_problem(call("get", "/api/v1/merchants/", key="kls_nope"), 401, "not_authenticated")


def test_an_unknown_path_under_the_api_is_a_problem_404(call, key):
    body = assert_problem(call("get", "/api/v1/no-such-thing/", key=key), 404, "not_found")
    assert "docs" in body["detail"]
    assert_problem(call("get", "/api/v2/merchants/"), 404, "not_found")


def test_a_missing_trailing_slash_is_a_404_not_a_redirect_even_for_post(call, key, settings):
    settings.DEBUG = True  # CommonMiddleware raises for a POST it cannot redirect in DEBUG
    for method in ("get", "post"):
        response = call(method, "/api/v1/merchants", key=key)
        body = assert_problem(response, 404, "not_found")
        assert "/api/v1/merchants/" in body["detail"]


def test_an_object_that_does_not_exist_is_404(call, key):
    assert_problem(call("get", "/api/v1/merchants/999999/", key=key), 404, "not_found")
    assert_problem(call("get", "/api/v1/merchants/not-a-number/", key=key), 404, "not_found")
    assert_problem(call("get", f"/api/v1/merchants/{10**30}/", key=key), 404, "not_found")


def test_an_unsupported_method_is_405_with_allow(call, key):
    response = call("delete", "/api/v1/merchants/", key=key)
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_a_body_that_is_not_json_is_415(call, key, make_order, two_merchants):
    order = make_order(two_merchants[0])
    response = call(
        "post",
        f"/api/v1/test/orders/{order.pk}/notes/",
        key=key,
        data="message=hi",
        content_type="application/x-www-form-urlencoded",
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_malformed_json_is_400_validation_error(call, key, make_order, two_merchants):
    order = make_order(two_merchants[0])
    response = call(
        "post",
        f"/api/v1/test/orders/{order.pk}/notes/",
        key=key,
        data='{"message": ',
        content_type="application/json",
    )
    body = assert_problem(response, 400, "validation_error")
    assert "JSON parse error" in body["detail"]


def test_invalid_fields_are_400_with_errors_by_field(call, key, make_order, two_merchants):
    order = make_order(two_merchants[0])
    response = call(
        "post", f"/api/v1/test/orders/{order.pk}/notes/", key=key, data={"message": "x" * 501}
    )
    body = assert_problem(response, 400, "validation_error")
    assert list(body["errors"]) == ["message"]
    assert "500" in body["errors"]["message"][0]
    assert body["detail"] == body["errors"]["message"][0]


def test_a_django_validation_error_from_a_service_is_400_not_500(call, key):
    body = assert_problem(
        call("get", "/api/v1/test/django-invalid/", key=key), 400, "validation_error"
    )
    assert body["errors"] == {"time_zone": ["Mars/Olympus is not a known time zone."]}


def test_a_domain_error_keeps_its_code_and_status(call, key, make_order, two_merchants):
    order = make_order(two_merchants[0])
    response = call(
        "post", f"/api/v1/test/orders/{order.pk}/notes/", key=key, data={"message": "reject"}
    )
    body = assert_problem(response, 422, "note_rejected")
    assert body["title"] == "The note was rejected"
    assert body["detail"] == "Notes saying 'reject' are rejected."


def test_throttling_is_429_rate_limited_with_retry_after(call, key):
    response = call("get", "/api/v1/test/throttled/", key=key)
    assert_problem(response, 429, "rate_limited")
    assert response["Retry-After"] == "7"


def test_a_missing_scope_is_403_permission_denied_naming_the_scope(
    call, two_merchants, make_api_key
):
    key = make_api_key(merchant=two_merchants[0], scopes=["orders:read", "orders:write"])
    body = assert_problem(
        call("get", "/api/v1/test/refunds-only/", key=key), 403, "permission_denied"
    )
    assert "refunds:read" in body["detail"]
    ok = make_api_key(merchant=two_merchants[0], scopes=["refunds:read"])
    assert call("get", "/api/v1/test/refunds-only/", key=ok).status_code == 200


def test_an_unexpected_exception_is_a_500_problem_that_leaks_nothing(key, caplog):
    client = APIClient(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="keelson.api"):
        response = client.get("/api/v1/test/boom/", headers={"Authorization": f"Bearer {key}"})
    body = assert_problem(response, 500, "server_error")
    text = response.content.decode()
    for secret in ("hunter2", "db-secret-host", "RuntimeError", "Traceback"):
        assert secret not in text
    # The operator gets the traceback, with the reference the client was given.
    record = next(r for r in caplog.records if r.name == "keelson.api")
    assert record.exc_info and "hunter2" in str(record.exc_info[1])
    assert record.args[0] in body["detail"]


def test_the_test_client_still_sees_unexpected_exceptions(key, client):
    with pytest.raises(RuntimeError, match="hunter2"):
        client.get("/api/v1/test/boom/", headers={"Authorization": f"Bearer {key}"})


def test_a_view_that_declares_no_scope_is_refused_not_open(key):
    client = APIClient(raise_request_exception=False)
    response = client.get("/api/v1/test/undeclared/", headers={"Authorization": f"Bearer {key}"})
    assert_problem(response, 500, "server_error")
    assert b"secret" not in response.content


@pytest.mark.urls("portal.urls")
def test_an_error_django_raises_before_any_view_is_a_problem_too(client, key):
    # A forged Host header fails before routing (DisallowedHost): the root handler400.
    response = client.get(
        "/api/v1/merchants/", headers={"Authorization": f"Bearer {key}"}, HTTP_HOST="evil.example"
    )
    assert_problem(response, 400, "validation_error")
    # Outside the API, Django's own page.
    assert not client.get("/admin/", HTTP_HOST="evil.example")["Content-Type"].startswith(
        "application/problem+json"
    )


def test_the_root_500_handler_answers_problem_json_under_the_api(rf):
    from portal.api.views import handler500

    body = assert_problem(handler500(rf.get("/api/v1/merchants/")), 500, "server_error")
    assert "logged" in body["detail"]
    assert handler500(rf.get("/"))["Content-Type"].startswith("text/html")


def test_nested_validation_errors_are_flattened_to_field_paths():
    from foundation.api.errors import flatten_errors

    assert flatten_errors(
        {
            "lines": [{}, {"quantity": ["Too many."], "non_field_errors": ["Bad line."]}],
            "shipping": {"amount": ["Not a number."]},
            "non_field_errors": ["Nothing to refund."],
        }
    ) == {
        "lines[1].quantity": ["Too many."],
        "lines[1].non_field_errors": ["Bad line."],
        "shipping.amount": ["Not a number."],
        "non_field_errors": ["Nothing to refund."],
    }
    assert flatten_errors(["One.", "Two."]) == {"non_field_errors": ["One.", "Two."]}
    # DRF 3.15 reports a nested list's items by index (a dict): the same paths, not "lines.1".
    assert flatten_errors(
        {"lines": {0: ["This field may not be null."], 1: {"line": ["A valid integer..."]}}}
    ) == {"lines[0]": ["This field may not be null."], "lines[1].line": ["A valid integer..."]}


@pytest.mark.django_db
def test_a_method_no_view_handles_is_405_even_with_scopes_by_method(
    call, make_api_key, two_merchants
):
    key = make_api_key(merchant=two_merchants[0])
    order_id = 1
    response = call("trace", f"/api/v1/orders/{order_id}/refunds/", key)
    assert_problem(response, 405, "method_not_allowed")
