"""Full scenarios through the partner API over real HTTP, with the fulfillment-service bot
(sandbox/bot, its own process) as the counterpart, a real qcluster delivering the outbox
(signed callbacks to the bot, confirmations to Amazon), and the SP-API emulator as Amazon.

1. request -> accepted -> two partial shipments -> the order is fulfilled; Amazon shows it
   Shipped with the same ship dates (F5, F6, F7, R3);
2. request -> rejected -> unfulfilled, with the bot's note (F6);
3. accepted -> cancellation requested -> rejected -> shipped (F9).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests

from fulfillment import services
from sandbox.amazon.testing import running_amazon_sandbox
from tests.fulfillment.amazon import connect, emulated, import_orders, place, ship_dates
from tests.support.processes import child_database_env, qcluster, running

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WAIT = 120  # seconds; generous for a loaded machine (nothing here measures time)


def wait_for(what: str, check: Callable[[], object], timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


@dataclass
class World:
    api: str
    merchant_key: str
    sandbox: object
    account: object
    bot_log: object

    def get(self, path: str) -> dict:
        response = requests.get(self.api + path, headers=self.auth, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        return requests.post(self.api + path, json=body or {}, headers=self.auth, timeout=30)

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.merchant_key}"}

    def order_and_fo(self, items: list[dict]) -> tuple[str, int, int]:
        amazon_id = place(self.sandbox, items)
        (order,) = import_orders(self.account, amazon_id)
        fos = self.get(f"/fulfillment-orders/?order={order.pk}")["results"]
        assert len(fos) == 1, fos
        return amazon_id, order.pk, fos[0]["id"]

    def events(self, order_id: int) -> list[dict]:
        return self.get(f"/orders/{order_id}/events/?limit=200")["results"]


@pytest.fixture
def world(live_server, make_merchant, make_api_key):
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        merchant = make_merchant(name="Scenario merchant")
        account = connect(merchant, sandbox)
        creds = services.create_fulfillment_service(name="Bot 3PL", merchant=merchant)
        api = live_server.url + "/api/v1"
        env = child_database_env(
            KEELSON_BOT_KEY=creds.api_key, KEELSON_BOT_SECRET=creds.signing_secret
        )
        bot_args = [
            "run_fulfillment_bot",
            "--api",
            api,
            # Port 0: the bot binds a free port itself and prints its callback URL. A port
            # picked here and handed over could be taken meanwhile by a parallel test worker.
            "--port",
            "0",
            "--ship-delay",
            "4",
            "--second-package-delay",
            "1",
            "--poll-interval",
            "10",
        ]
        with qcluster(), running(bot_args, env=env, log_name="bot") as bot:
            callback_url = wait_for("the bot", lambda: _callback_url(bot), timeout=60)
            creds.service.callback_url = callback_url
            creds.service.save(update_fields=["callback_url"])
            yield World(api, make_api_key(merchant=merchant), sandbox, account, bot)


def _callback_url(bot) -> str | None:
    """The callback URL the bot printed (its first stdout line, a JSON object) once it serves."""
    assert bot.poll() is None, f"the bot exited: {bot.log_path.read_text(errors='replace')}"
    for line in bot.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{") and "callback_url" in line:
            return json.loads(line)["callback_url"]
    return None


def test_request_accept_two_partial_shipments_fulfilled_and_shipped_on_amazon(world):
    amazon_id, order_id, fo_id = world.order_and_fo([{"quantity": 3, "seller_sku": "TENT-2P"}])

    submitted = world.post(f"/fulfillment-orders/{fo_id}/submit-request/", {"note": "Thanks!"})
    assert submitted.status_code == 200, submitted.text
    assert world.get(f"/orders/{order_id}/")["fulfillment_status"] == "in_progress"

    def confirmed_everywhere():
        order = world.get(f"/orders/{order_id}/")
        done = order["fulfillment_status"] == "fulfilled" and all(
            f["amazon_confirmation"] == "confirmed" for f in order["fulfillments"]
        )
        return order if done else None

    order = wait_for("the order fulfilled and confirmed on Amazon", confirmed_everywhere)
    packages = order["fulfillments"]
    assert len(packages) == 2  # the bot shipped 3 units in two packages
    assert sorted(line["quantity"] for p in packages for line in p["lines"]) == [1, 2]
    assert all(p["tracking_number"].startswith("1ZKLS") for p in packages)
    fo = world.get(f"/fulfillment-orders/{fo_id}/")
    assert (fo["status"], fo["request_status"]) == ("closed", "closed")

    state = emulated(world.sandbox, amazon_id)
    assert state["status"] == "Shipped"
    from integrations.amazon.gateway import parse_datetime

    assert ship_dates(state) == sorted(parse_datetime(p["ship_date"]) for p in packages)
    assert {p["tracking_number"] for p in state["packages"]} == {
        p["tracking_number"] for p in packages
    }

    kinds = [e["kind"] for e in world.events(order_id)]
    for kind in ("fulfillment_requested", "fulfillment_accepted", "shipment_confirmed"):
        assert kind in kinds, kinds
    assert kinds.count("fulfilled") == 2 and kinds.count("shipment_confirmed") == 2
    accepted = next(e for e in world.events(order_id) if e["kind"] == "fulfillment_accepted")
    assert accepted["actor_type"] == "fulfillment_service" and accepted["actor"] == "Bot 3PL"
    # The bot received the request as a signed callback, delivered by the outbox.
    outbox = [e for e in world.events(order_id) if e["kind"] == "outbox"]
    assert any("received the fulfillment request" in e["message"] for e in outbox)


def test_request_rejected_returns_the_order_to_unfulfilled_with_the_note(world):
    _amazon_id, order_id, fo_id = world.order_and_fo(
        [{"quantity": 1, "seller_sku": "UNKNOWN-LANTERN"}]
    )
    assert world.post(f"/fulfillment-orders/{fo_id}/submit-request/").status_code == 200

    fo = wait_for(
        "the bot's rejection",
        lambda: (
            (f := world.get(f"/fulfillment-orders/{fo_id}/"))["request_status"] == "rejected" and f
        ),
    )
    assert "UNKNOWN-LANTERN" in fo["response_message"]
    order = world.get(f"/orders/{order_id}/")
    assert order["fulfillment_status"] == "unfulfilled"
    assert "request_fulfillment" in order["allowed_actions"]
    rejected = [e for e in world.events(order_id) if e["kind"] == "fulfillment_rejected"]
    assert len(rejected) == 1 and "UNKNOWN-LANTERN" in rejected[0]["message"]
    # The lines wait in a new fulfillment order, ready to be requested again.
    fresh = world.get(f"/fulfillment-orders/?order={order_id}&request_status=unsubmitted")
    assert len(fresh["results"]) == 1


def test_accepted_then_cancellation_requested_rejected_and_shipped(world):
    amazon_id, order_id, fo_id = world.order_and_fo(
        [{"quantity": 1, "seller_sku": "CUSTOM-ENGRAVED-MUG"}]
    )
    assert world.post(f"/fulfillment-orders/{fo_id}/submit-request/").status_code == 200
    wait_for(
        "the bot's acceptance",
        lambda: world.get(f"/fulfillment-orders/{fo_id}/")["request_status"] == "accepted",
    )

    asked = world.post(f"/fulfillment-orders/{fo_id}/cancel-request/", {"note": "Buyer asked"})
    assert asked.status_code == 200, asked.text
    assert asked.json()["request_status"] == "cancellation_requested"

    fo = wait_for(
        "the bot's answer",
        lambda: (
            (f := world.get(f"/fulfillment-orders/{fo_id}/"))["request_status"]
            != "cancellation_requested"
            and f
        ),
    )
    assert fo["request_status"] == "cancellation_rejected"
    assert "in production" in fo["cancellation_response"]

    order = wait_for(
        "the shipment",
        lambda: (
            (o := world.get(f"/orders/{order_id}/"))["fulfillment_status"] == "fulfilled"
            and all(f["amazon_confirmation"] == "confirmed" for f in o["fulfillments"])
            and o
        ),
    )
    assert len(order["fulfillments"]) == 1
    assert emulated(world.sandbox, amazon_id)["status"] == "Shipped"
    kinds = [e["kind"] for e in world.events(order_id)]
    assert kinds.index("cancellation_requested") < kinds.index("cancellation_rejected")
    assert kinds.index("cancellation_rejected") < kinds.index("fulfilled")
