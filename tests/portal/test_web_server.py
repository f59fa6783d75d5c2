"""The WSGI server the demo and production run (portal/gunicorn_conf.py; issue 14): 50 API
clients at once, over real HTTP, are all served: no connection reset, no 5xx, every refund
made once (Django's development server reset connections under the same load)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import requests

from refunds.models import Refund
from tenants.scope import tenant_context
from tests.refunds.conftest import Shop
from tests.support.processes import web_server

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLIENTS = 50


@pytest.fixture
def web(tmp_path):
    with web_server(tmp_path / "gunicorn.log") as base:
        yield base


def test_fifty_concurrent_api_clients_are_all_served_without_a_reset_or_a_5xx(
    web, make_merchant, make_amazon_account, make_order, make_api_key
):
    merchant = make_merchant(name="Busy merchant")
    shop = Shop(merchant, make_amazon_account(merchant), make_order)
    order = shop.order([("BULK", 50, "100.00", 50)])
    (line,) = shop.lines(order)
    key = make_api_key(merchant=merchant, scopes=["orders:read", "refunds:write"])
    barrier = threading.Barrier(CLIENTS)
    outcomes: list[tuple[str, int | str]] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        barrier.wait()
        for kind, call in (
            (
                "refund",
                lambda: session.post(
                    f"{web}/api/v1/orders/{order.pk}/refunds/",
                    json={"lines": [{"line": line.pk, "amount": "1.00"}]},
                    headers={"Idempotency-Key": f"fifty-{n}"},
                    timeout=60,
                ),
            ),
            ("list", lambda: session.get(f"{web}/api/v1/orders/", timeout=60)),
        ):
            try:
                status: int | str = call().status_code
            except requests.RequestException as exc:  # a reset, a refused connection
                status = type(exc).__name__
            with lock:
                outcomes.append((kind, status))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    print({kind: sorted({str(s) for k, s in outcomes if k == kind}) for kind in ("refund", "list")})
    assert sorted(s for k, s in outcomes if k == "refund") == [201] * CLIENTS
    assert sorted(s for k, s in outcomes if k == "list") == [200] * CLIENTS
    with tenant_context(merchant):
        refunds = Refund.objects.filter(order=order)
        assert refunds.count() == CLIENTS
        assert sum(r.total for r in refunds) == Decimal("50.00")
