"""Amazon's static sandbox cases (``x-amzn-api-sandbox`` in the models) are served for their
documented inputs under ``/sandbox-static``, with the documented status and body."""

from __future__ import annotations

import pytest

from sandbox.amazon import operations
from tests.sandbox import spapi_models
from tests.sandbox.helpers import SpApi, body, grantless_token

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def cases(model: str):
    for path, methods in spapi_models.load(model)["paths"].items():
        for method, op in methods.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            params = {p["name"]: p for p in op.get("parameters", [])}
            for status, response in op["responses"].items():
                for case in (response.get("x-amzn-api-sandbox") or {}).get("static", []):
                    yield method.upper(), path, op["operationId"], int(status), params, case


def request_for(path: str, params: dict, case: dict) -> tuple[str, dict, object]:
    query, payload = {}, None
    for name, spec in (case.get("request") or {}).get("parameters", {}).items():
        value = spec.get("value")
        where = params.get(name, {}).get("in", "body" if name == "body" else "query")
        if where == "path":
            path = path.replace("{" + name + "}", str(value))
        elif where == "body":
            payload = value
        else:
            if isinstance(value, bool):
                value = str(value).lower()
            query[name] = value if not isinstance(value, list) else ",".join(map(str, value))
    return path, query, payload


@pytest.mark.parametrize(
    "model",
    [
        "ordersV0.json",
        "orders_2026-01-01.json",
        "feeds_2021-06-30.json",
        "financesV0.json",
        "notifications.json",
    ],
)
def test_the_static_sandbox_answers_every_documented_case(amazon_sandbox_unlimited, model):
    api = SpApi(amazon_sandbox_unlimited.seller, amazon_sandbox_unlimited.seller["endpoint"])
    api.endpoint += "/sandbox-static"
    grantless = grantless_token(amazon_sandbox_unlimited.seller)
    failures, served = [], 0
    for method, template, operation_id, status, params, case in cases(model):
        path, query, payload = request_for(template, params, case)
        # Grantless operations take the application's token, as on Amazon.
        token = grantless if operation_id in operations.GRANTLESS else None
        response = api.call(method, path, params=query, json=payload, token=token)
        expected = case.get("response")
        got = body(response)
        label = f"{operation_id} {status} {case['request']}"
        if response.status_code != status:
            failures.append(f"{label}: HTTP {response.status_code} {response.text[:200]}")
            continue
        if (expected or None) != (got or None):
            failures.append(f"{label}: body differs")
            continue
        # Amazon's own examples, checked against Amazon's own schemas (not strictly: they are
        # the reference, and a few use properties the published schema lacks).
        try:
            spapi_models.validate(model, method, template, status, got, strict=False)
        except AssertionError as exc:
            failures.append(f"{label}: {exc}")
        served += 1
    assert not failures, "\n".join(failures)
    assert served >= 4


def test_a_request_matching_no_case_is_refused_like_amazons_sandbox(amazon_sandbox_unlimited):
    api = SpApi(amazon_sandbox_unlimited.seller)
    api.endpoint += "/sandbox-static"
    response = api.get("/orders/v0/orders/111-1111111-1111111")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "InvalidInput"
    assert api.call("GET", "/orders/v0/orders/TEST_CASE_200", token="").status_code == 403
