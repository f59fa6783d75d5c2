"""API rate limits per key and scope class (issue 14; tenants/api_throttle.py over
foundation/ratelimit.py): the (N+1)th request is a 429 `rate_limited` with Retry-After, every
counted answer carries the RateLimit headers, keys and scope classes have their own budgets,
every connection shares one count, and a refused request does nothing at all."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from foundation import ratelimit
from foundation.models import IdempotencyRecord, RateLimitBucket
from fulfillment import services as fulfillment
from orders.models import EventKind, OrderEvent
from tenants.scope import tenant_context
from tests.api.test_schema import schema_of
from tests.support.api import assert_problem

# A window far longer than any test: GCRA frees one request per window / limit seconds (20 min
# here), so no request of a test is freed by time passing.
WINDOW = 3600
ORDERS = "/api/v1/orders/"


@pytest.fixture
def limits(settings):
    def set_limits(read: int = 1_000_000, write: int = 1_000_000) -> None:
        settings.KEELSON_API_RATE_LIMITS = {"read": (read, WINDOW), "write": (write, WINDOW)}

    return set_limits


@pytest.fixture
def fulfillment_order(two_merchants, make_order):
    merchant = two_merchants[0]
    # The merchant's own service holds the default location the order is fulfilled from.
    fulfillment.create_fulfillment_service(name="Alpha 3PL", merchant=merchant)
    with tenant_context(merchant):
        order = make_order(merchant)
        (fo,) = fulfillment.prepare_fulfillment_orders(order)
    return fo


def notes_of(fo) -> list[str]:
    """The notes' texts ("Note from API key ... (fulfillment order #2): <text>")."""
    with tenant_context(fo.merchant_id):
        messages = OrderEvent.objects.filter(order_id=fo.order_id, kind=EventKind.NOTE)
        return sorted(m.rsplit(": ", 1)[-1] for m in messages.values_list("message", flat=True))


@pytest.mark.django_db
def test_the_limit_trips_at_exactly_n_plus_one_with_429_retry_after_and_headers(
    call, limits, two_merchants, make_api_key
):
    limits(read=3)
    key = make_api_key(merchant=two_merchants[0])

    answers = [call("get", ORDERS, key=key) for _ in range(4)]

    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert [a["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    for answer in answers:
        assert answer["RateLimit-Limit"] == "3"
        assert answer["RateLimit-Policy"] == f"3;w={WINDOW}"
        assert 0 < int(answer["RateLimit-Reset"]) <= WINDOW
    refused = answers[3]
    body = assert_problem(refused, 429, "rate_limited")
    assert refused["RateLimit-Remaining"] == "0"
    # The next read is free when one interval (3600 / 3 s) has passed since the first.
    retry_after = int(refused["Retry-After"])
    assert 0 < retry_after <= WINDOW // 3
    assert body["detail"] == (
        f"Too many reads with this API key: 3 are allowed every {WINDOW} seconds. "
        f"Retry in {retry_after} seconds."
    )


@pytest.mark.django_db
def test_reads_and_writes_have_separate_budgets(call, limits, make_api_key, fulfillment_order):
    limits(read=1, write=1)
    key = make_api_key(merchant=fulfillment_order.merchant)
    notes_url = f"/api/v1/fulfillment-orders/{fulfillment_order.pk}/notes/"

    assert call("get", ORDERS, key=key).status_code == 200
    assert_problem(call("get", ORDERS, key=key), 429, "rate_limited")
    written = call("post", notes_url, key=key, data={"message": "Packed"})
    assert written.status_code == 201, written.content
    assert written["RateLimit-Policy"] == f"1;w={WINDOW}"
    assert_problem(call("post", notes_url, key=key, data={"message": "Again"}), 429, "rate_limited")


@pytest.mark.django_db
def test_two_keys_of_one_merchant_have_separate_budgets(call, limits, two_merchants, make_api_key):
    limits(read=2)
    first, second = (make_api_key(merchant=two_merchants[0], name=n) for n in ("a", "b"))

    assert [call("get", ORDERS, key=first).status_code for _ in range(3)] == [200, 200, 429]
    fresh = call("get", ORDERS, key=second)
    assert fresh.status_code == 200
    assert fresh["RateLimit-Remaining"] == "1"


@pytest.mark.django_db
def test_a_refused_request_runs_no_use_case_and_leaves_its_idempotency_key_unused(
    call, limits, make_api_key, fulfillment_order
):
    limits(write=1)
    key = make_api_key(merchant=fulfillment_order.merchant)
    url = f"/api/v1/fulfillment-orders/{fulfillment_order.pk}/notes/"

    first = call("post", url, key=key, data={"message": "One"}, headers={"Idempotency-Key": "a"})
    refused = call("post", url, key=key, data={"message": "Two"}, headers={"Idempotency-Key": "b"})

    assert first.status_code == 201
    assert_problem(refused, 429, "rate_limited")
    assert notes_of(fulfillment_order) == ["One"]
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["a"]
    # Once the budget is back (time passes: the bucket's time is moved back a window), the
    # same request under the same key runs: the 429 kept nothing.
    RateLimitBucket.objects.update(tat=timezone.now() - timedelta(seconds=WINDOW))
    retried = call("post", url, key=key, data={"message": "Two"}, headers={"Idempotency-Key": "b"})
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert notes_of(fulfillment_order) == ["One", "Two"]


@pytest.mark.django_db
def test_requests_refused_before_counting_carry_no_budget(
    call, limits, two_merchants, make_api_key
):
    limits(read=1)
    key = make_api_key(merchant=two_merchants[0], scopes=["fulfillments:read"])

    assert_problem(call("get", ORDERS), 401, "not_authenticated")
    lacking = call("get", ORDERS, key=key)  # orders:read is missing
    assert_problem(lacking, 403, "permission_denied")
    assert "RateLimit-Limit" not in lacking
    # Neither used the key's one read.
    assert call("get", "/api/v1/fulfillment-orders/", key=key).status_code == 200


@pytest.mark.django_db
def test_a_404_carries_the_budget_only_when_an_endpoint_counted_it(
    call, limits, two_merchants, make_api_key
):
    """Found by the fuzzer: the schema required the headers on every 404, but a path whose id
    is not a number matches no endpoint and is answered before any key is looked at."""
    limits(read=5)
    key = make_api_key(merchant=two_merchants[0])

    counted = call("get", f"{ORDERS}999999/", key=key)
    unmatched = call("get", f"{ORDERS}null,null/", key=key)

    assert_problem(counted, 404, "not_found")
    assert counted["RateLimit-Remaining"] == "4"
    assert_problem(unmatched, 404, "not_found")
    assert "RateLimit-Limit" not in unmatched


@pytest.mark.django_db(transaction=True)
def test_every_connection_counts_against_one_budget(limits, two_merchants, make_api_key):
    """Two clients at once, each on its own thread and so its own database connection (as two
    gunicorn workers would be): together they get exactly the budget, not twice it."""
    limits(read=10)
    key = make_api_key(merchant=two_merchants[0])
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def client() -> None:
        try:
            browser = Client(headers={"Authorization": f"Bearer {key}"})
            barrier.wait()
            for _ in range(10):
                status = browser.get(ORDERS).status_code
                with lock:
                    statuses[status] += 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == {200: 10, 429: 10}
    assert RateLimitBucket.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_on_one_bucket_are_each_counted_once():
    policy = ratelimit.Policy(limit=25, window=WINDOW)
    allowed: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(5)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                decision = ratelimit.consume("test:bucket", policy)
                with lock:
                    allowed.append(decision.allowed)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert allowed.count(True) == 25
    assert allowed.count(False) == 25


def test_what_a_bucket_tells_the_client():
    policy = ratelimit.Policy(limit=600, window=60)  # one request per 0.1 s
    fresh = ratelimit.decision(policy, allowed=True, ahead=0.1)
    assert (fresh.remaining, fresh.reset, fresh.retry_after) == (599, 1, 0)
    full = ratelimit.decision(policy, allowed=False, ahead=59.95)
    assert (full.remaining, full.reset, full.retry_after) == (0, 60, 1)
    assert full.headers() == {
        "RateLimit-Limit": "600",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
        "RateLimit-Policy": "600;w=60",
        "Retry-After": "1",
    }
    slow = ratelimit.Policy(limit=2, window=3600)  # one request per 30 minutes
    refused = ratelimit.decision(slow, allowed=False, ahead=3600 - 60)
    assert refused.retry_after == 1800 - 60
    with pytest.raises(ValueError):
        ratelimit.Policy(limit=0, window=60)


@pytest.mark.django_db
def test_full_buckets_are_purged_and_busy_ones_kept():
    policy = ratelimit.Policy(limit=5, window=WINDOW)
    ratelimit.consume("test:busy", policy)
    RateLimitBucket.objects.create(key="test:idle", tat=timezone.now() - timedelta(seconds=1))

    assert ratelimit.purge_idle() == 1
    assert list(RateLimitBucket.objects.values_list("key", flat=True)) == ["test:busy"]


@pytest.mark.django_db
def test_the_schema_documents_the_limit_and_its_headers_on_every_operation(client, settings):
    settings.KEELSON_API_RATE_LIMITS = {"read": (600, 60), "write": (120, 60)}
    schema = schema_of(client)
    counted = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if "security" in operation and not operation["security"]:
                continue
            if "x-required-scope" not in operation:
                continue  # public (the schema itself)
            kind = "read" if method == "get" else "write"
            expected = {"read": 600, "write": 120}[kind]
            assert operation["x-rate-limit"] == {"class": kind, "limit": expected, "window": 60}
            assert f"Rate limit: {expected} requests every 60 seconds" in operation["description"]
            responses = operation["responses"]
            too_many = responses["429"]
            assert "application/problem+json" in too_many["content"], (path, method)
            assert set(too_many["headers"]) == {
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "RateLimit-Policy",
                "Retry-After",
            }
            for status, response in responses.items():
                if status.startswith("2"):
                    assert "RateLimit-Remaining" in response["headers"], (path, method, status)
                if status in ("401", "403"):
                    assert "headers" not in response, (path, method, status)
                if status == "404":  # see test_a_404_carries_the_budget_only_when_...
                    assert not response["headers"]["RateLimit-Limit"]["required"]
            counted += 1
    assert counted >= 18
    assert "RateLimitPolicy" in schema["components"]["headers"]
