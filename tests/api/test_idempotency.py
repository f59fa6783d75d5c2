"""Idempotency-Key (api.md): the same key and body return the first answer without acting
again; another body is 409; concurrent retries wait for the first and replay it."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from foundation.api.idempotency import purge_expired
from foundation.models import IdempotencyRecord
from orders.models import EventKind, OrderEvent
from tenants.scope import tenant_context
from tests.api import urls_testviews
from tests.support.api import assert_problem

pytestmark = pytest.mark.urls("tests.api.urls_testviews")


@pytest.fixture(autouse=True)
def _reset_test_views():
    urls_testviews.EXECUTIONS.clear()
    urls_testviews.HOOKS.clear()
    yield
    urls_testviews.HOOKS.clear()


@pytest.fixture
def setup(two_merchants, make_order, make_api_key):
    merchant = two_merchants[0]
    order = make_order(merchant)
    return order, make_api_key(merchant=merchant), f"/api/v1/test/orders/{order.pk}/notes/"


def notes(order) -> list[str]:
    with tenant_context(order.merchant_id):
        return list(
            OrderEvent.objects.filter(order=order, kind=EventKind.NOTE).values_list(
                "message", flat=True
            )
        )


def post(call, url, key, body, idem=None):
    headers = {"Idempotency-Key": idem} if idem is not None else {}
    return call("post", url, key=key, data=body, headers=headers)


@pytest.mark.django_db
def test_a_retry_with_the_same_key_and_body_returns_the_first_answer_without_acting_again(
    call, setup
):
    order, key, url = setup
    first = post(call, url, key, {"message": "packed"}, idem="k-1")
    again = post(call, url, key, {"message": "packed"}, idem="k-1")

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"] == "application/json"
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert urls_testviews.EXECUTIONS == ["packed"]
    assert notes(order) == ["packed"]


@pytest.mark.django_db
def test_the_same_json_in_another_key_order_or_spacing_is_the_same_request(call, setup):
    _order, key, url = setup
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "k-2"}
    client = APIClient()
    json = "application/json"
    a = client.post(url, '{"message": "x", "z": 1}', content_type=json, headers=headers)
    b = client.post(url, '{ "z":1,"message":"x" }', content_type=json, headers=headers)
    assert a.status_code == b.status_code == 201
    assert b.content == a.content
    assert urls_testviews.EXECUTIONS == ["x"]


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_409_and_acts_not(call, setup):
    order, key, url = setup
    post(call, url, key, {"message": "one"}, idem="k-3")
    body = assert_problem(
        post(call, url, key, {"message": "two"}, idem="k-3"), 409, "idempotency_key_reused"
    )
    assert "another request" in body["detail"]
    assert notes(order) == ["one"]


@pytest.mark.django_db
def test_the_same_key_on_another_path_is_409(call, setup, make_order):
    order, key, url = setup
    other = make_order(order.merchant)
    post(call, url, key, {"message": "one"}, idem="k-4")
    response = post(call, f"/api/v1/test/orders/{other.pk}/notes/", key, {"message": "one"}, "k-4")
    assert_problem(response, 409, "idempotency_key_reused")
    assert notes(other) == []


@pytest.mark.django_db
def test_without_the_header_every_request_acts(call, setup):
    order, key, url = setup
    post(call, url, key, {"message": "a"})
    post(call, url, key, {"message": "a"})
    assert notes(order) == ["a", "a"]
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db
def test_keys_belong_to_one_api_key(call, setup, make_api_key):
    order, key, url = setup
    other_key = make_api_key(merchant=order.merchant)
    post(call, url, key, {"message": "a"}, idem="shared")
    second = post(call, url, other_key, {"message": "b"}, idem="shared")
    assert second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert sorted(notes(order)) == ["a", "b"]


@pytest.mark.django_db
def test_a_request_refused_before_the_use_case_keeps_nothing_so_the_key_can_be_retried(call, setup):
    _order, key, url = setup
    assert_problem(post(call, url, key, {}, idem="k-5"), 400, "validation_error")
    # An error answer returned (not raised) by the view is not kept either.
    assert post(call, url, key, {"message": "soft-fail"}, idem="k-5").status_code == 409
    ok = post(call, url, key, {"message": "fixed"}, idem="k-5")
    assert ok.status_code == 201
    assert IdempotencyRecord.objects.filter(key="k-5").count() == 1
    assert urls_testviews.EXECUTIONS == ["soft-fail", "fixed"]


@pytest.mark.django_db
def test_a_refusal_by_the_use_case_is_kept_replayed_and_guards_the_key(call, setup):
    """api.md: a key whose first request a business rule refused (409/422 from the use case)
    keeps that answer: the same body replays it, another body is idempotency_key_reused."""
    order, key, url = setup
    first = post(call, url, key, {"message": "reject"}, idem="k-6")
    assert_problem(first, 422, "note_rejected")

    again = post(call, url, key, {"message": "reject"}, idem="k-6")
    assert again.status_code == 422
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    other = post(call, url, key, {"message": "a different note"}, idem="k-6")
    assert_problem(other, 409, "idempotency_key_reused")

    assert urls_testviews.EXECUTIONS == ["reject"]  # the use case ran once

    # What a use case wrote before refusing is undone with it; the refusal alone is kept.
    written = post(call, url, key, {"message": "write-then-reject"}, idem="k-7")
    assert_problem(written, 422, "note_rejected")
    assert notes(order) == []
    assert post(call, url, key, {"message": "write-then-reject"}, idem="k-7").content == (
        written.content
    )


@pytest.mark.django_db
@pytest.mark.parametrize("idem", ["", "x" * 256, "naïve", "tab\there"])
def test_an_unusable_key_is_400(call, setup, idem):
    order, key, url = setup
    body = assert_problem(
        post(call, url, key, {"message": "a"}, idem=idem), 400, "validation_error"
    )
    assert list(body["errors"]) == ["Idempotency-Key"]
    assert notes(order) == []


@pytest.mark.django_db
def test_another_tenants_object_is_404_with_a_key_too(call, setup, two_merchants, make_order):
    _, key, _ = setup
    theirs = make_order(two_merchants[1])
    response = post(call, f"/api/v1/test/orders/{theirs.pk}/notes/", key, {"message": "x"}, "k-6")
    assert_problem(response, 404, "not_found")
    assert notes(theirs) == []


@pytest.mark.django_db
def test_a_key_is_kept_24_hours_then_it_is_new_again(call, setup):
    order, key, url = setup
    post(call, url, key, {"message": "a"}, idem="k-7")
    record = IdempotencyRecord.objects.get(key="k-7")
    assert record.expires_at - record.created_at == timedelta(hours=24)

    IdempotencyRecord.objects.filter(pk=record.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    again = post(call, url, key, {"message": "b"}, idem="k-7")
    assert again.status_code == 201
    assert notes(order) == ["a", "b"]


@pytest.mark.django_db
def test_expired_records_are_purged(call, setup):
    _order, key, url = setup
    for n in range(3):
        post(call, url, key, {"message": "a"}, idem=f"p-{n}")
    IdempotencyRecord.objects.filter(key__in=["p-0", "p-1"]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert purge_expired(batch_size=1) == 2
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["p-2"]


# --- Concurrency: real transactions, two threads, the same key ----------------------------


def _post_in_thread(url: str, key: str, body: dict, idem: str, results: dict, name: str):
    def run():
        try:
            results[name] = APIClient().post(
                url,
                body,
                format="json",
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idem},
            )
        except Exception as exc:  # surfaced by the test's assertions
            results[name] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def _wait_until_a_backend_waits_for_a_lock(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with connections["owner"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE '%%portal_idempotencyrecord%%'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the second request never waited for the first one's lock")


@pytest.fixture
def gate():
    """Holds the first request inside the view (key claimed, nothing committed)."""
    entered, release = threading.Event(), threading.Event()

    def hold():
        entered.set()
        assert release.wait(20), "the test never released the first request"

    urls_testviews.HOOKS["before_create"] = hold
    yield entered, release
    release.set()


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_retry_waits_for_the_first_request_and_replays_its_answer(setup, gate):
    order, key, url = setup
    entered, release = gate
    results: dict = {}
    first = _post_in_thread(url, key, {"message": "once"}, "c-1", results, "first")
    assert entered.wait(10)
    urls_testviews.HOOKS.pop("before_create")  # only the first request is held
    second = _post_in_thread(url, key, {"message": "once"}, "c-1", results, "second")
    _wait_until_a_backend_waits_for_a_lock()
    release.set()
    first.join(20)
    second.join(20)

    assert results["first"].status_code == 201, results["first"]
    assert results["second"].status_code == 201, results["second"]
    assert results["second"].content == results["first"].content
    assert results["second"]["Idempotent-Replayed"] == "true"
    assert urls_testviews.EXECUTIONS == ["once"]
    assert notes(order) == ["once"]


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_retry_that_waits_too_long_is_409_in_progress(setup, gate, settings):
    settings.KEELSON_IDEMPOTENCY_WAIT_SECONDS = 0.2
    order, key, url = setup
    entered, release = gate
    results: dict = {}
    first = _post_in_thread(url, key, {"message": "slow"}, "c-2", results, "first")
    assert entered.wait(10)
    urls_testviews.HOOKS.pop("before_create")
    second = _post_in_thread(url, key, {"message": "slow"}, "c-2", results, "second")
    second.join(20)
    release.set()
    first.join(20)

    assert_problem(results["second"], 409, "idempotency_key_in_progress")
    assert results["second"]["Retry-After"] == "1"
    assert results["first"].status_code == 201
    # Once the first has finished, the retry gets its answer.
    third = APIClient().post(
        url,
        {"message": "slow"},
        format="json",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "c-2"},
    )
    assert third.status_code == 201 and third["Idempotent-Replayed"] == "true"
    assert urls_testviews.EXECUTIONS == ["slow"]
    assert notes(order) == ["slow"]
