"""Feeds through the real client (upload to the emulator's URL, createFeed, getFeed over
emulated time, the processing report), their effects on orders (cancellations, refunds), and
the financial events Amazon reports, including refunds made in Seller Central (rule R6)."""

from __future__ import annotations

from io import BytesIO

import pytest
from sp_api.api import Feeds, Finances, Orders

from sandbox.amazon.feeds import parse_report

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">
 <Header><DocumentVersion>1.01</DocumentVersion><MerchantIdentifier>{seller}</MerchantIdentifier>
 </Header>
 <MessageType>{kind}</MessageType>
 {messages}
</AmazonEnvelope>"""


def cancellation(message_id: int, order_id: str, items: list[tuple[str, str]]) -> str:
    lines = "".join(
        f"<Item><AmazonOrderItemCode>{i}</AmazonOrderItemCode><CancelReason>{r}</CancelReason>"
        "</Item>"
        for i, r in items
    )
    return (
        f"<Message><MessageID>{message_id}</MessageID><OrderAcknowledgement>"
        f"<AmazonOrderID>{order_id}</AmazonOrderID><StatusCode>Failure</StatusCode>{lines}"
        "</OrderAcknowledgement></Message>"
    )


def refund(message_id: int, order_id: str, item_id: str, principal: str, key: str = "") -> str:
    merchant_key = f"<MerchantAdjustmentItemID>{key}</MerchantAdjustmentItemID>" if key else ""
    return (
        f"<Message><MessageID>{message_id}</MessageID><OrderAdjustment>"
        f"<AmazonOrderID>{order_id}</AmazonOrderID><AdjustedItem>"
        f"<AmazonOrderItemCode>{item_id}</AmazonOrderItemCode>{merchant_key}"
        "<AdjustmentReason>CustomerReturn</AdjustmentReason><ItemPriceAdjustments>"
        f'<Component><Type>Principal</Type><Amount currency="USD">{principal}</Amount>'
        "</Component></ItemPriceAdjustments></AdjustedItem></OrderAdjustment></Message>"
    )


def submit(sandbox, feed_type: str, kind: str, messages: list[str]) -> str:
    xml = ENVELOPE.format(
        seller=sandbox.seller["selling_partner_id"], kind=kind, messages="".join(messages)
    )
    feeds = Feeds(**sandbox.client_kwargs())
    _, feed = feeds.submit_feed(feed_type, BytesIO(xml.encode()), content_type="text/xml")
    return feed.payload["feedId"]


def report_of(sandbox, feed_id: str) -> dict:
    feeds = Feeds(**sandbox.client_kwargs())
    feed = feeds.get_feed(feed_id).payload
    assert feed["processingStatus"] in ("DONE", "FATAL"), feed
    return parse_report(feeds.get_feed_document(feed["resultFeedDocumentId"]))


def ship_all(sandbox, placed: dict) -> None:
    Orders(**sandbox.client_kwargs()).confirm_shipment(
        placed["amazon_order_id"],
        marketplaceId="ATVPDKIKX0DER",
        packageDetail={
            "packageReferenceId": "1",
            "carrierCode": "USPS",
            "trackingNumber": "9400",
            "shipDate": sandbox.control.now(),
            "orderItems": [
                {"orderItemId": i["order_item_id"], "quantity": i["quantity_ordered"]}
                for i in placed["items"]
            ],
        },
    )


def test_a_cancellation_feed_moves_through_its_states_and_cancels_as_the_buyer_asked(
    amazon_sandbox,
):
    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    placed = control.place_order(sid, items=[{"quantity": 1}, {"quantity": 2}])
    order_id = placed["amazon_order_id"]
    control.advance_clock(minutes=31)
    pending = control.place_order(sid)
    control.request_buyer_cancellation(sid, order_id, "No longer needed.")
    feed_id = submit(
        amazon_sandbox,
        "POST_ORDER_ACKNOWLEDGEMENT_DATA",
        "OrderAcknowledgement",
        [
            cancellation(
                1, order_id, [(i["order_item_id"], "BuyerCanceled") for i in placed["items"]]
            ),
            cancellation(2, "111-0000000-0000000", [("1", "NoInventory")]),
            cancellation(3, order_id, [(placed["items"][0]["order_item_id"], "Sorry")]),
            cancellation(4, pending["amazon_order_id"], []),
        ],
    )
    feeds = Feeds(**amazon_sandbox.client_kwargs())
    assert feeds.get_feed(feed_id).payload["processingStatus"] == "IN_QUEUE"
    control.advance_clock(seconds=45)
    assert feeds.get_feed(feed_id).payload["processingStatus"] == "IN_PROGRESS"
    orders = Orders(**amazon_sandbox.client_kwargs())
    assert orders.get_order(order_id).payload["OrderStatus"] == "Unshipped"  # not yet
    control.advance_clock(seconds=60)

    report = report_of(amazon_sandbox, feed_id)
    assert (report["processed"], report["successful"], report["with_error"]) == (4, 1, 3)
    errors = {r["message_id"]: (r["message_code"], r["description"]) for r in report["results"]}
    assert errors["2"][0] == 18028 and "cannot be found" in errors["2"][1]
    assert "CancelReason 'Sorry'" in errors["3"][1]
    assert "Pending" in errors["4"][1]  # rule A1: no action on a pending order
    order = orders.get_order(order_id).payload
    assert order["OrderStatus"] == "Canceled"
    state = control.order(sid, order_id)
    assert (state["canceled_by"], state["cancel_reason"]) == ("MERCHANT", "BuyerCanceled")
    detail = Orders(**amazon_sandbox.client_kwargs(), version="2026-01-01").get_order(
        order_id, includedData=["CANCELLATION"]
    )
    cancelled = detail.payload["order"]["orderItems"][0]["cancellation"]
    assert cancelled["cancellationExecution"] == {
        "cancelledBy": "MERCHANT",
        "cancelReason": "BuyerCanceled",
    }
    # Sending the same cancellation again is harmless: a warning, nothing changes.
    again = submit(
        amazon_sandbox,
        "POST_ORDER_ACKNOWLEDGEMENT_DATA",
        "OrderAcknowledgement",
        [cancellation(1, order_id, [(placed["items"][0]["order_item_id"], "BuyerCanceled")])],
    )
    control.advance_clock(minutes=2)
    repeated = report_of(amazon_sandbox, again)
    assert (repeated["successful"], repeated["with_warning"]) == (1, 1)


def test_refunds_by_feed_never_exceed_what_was_paid_and_show_in_financial_events(amazon_sandbox):
    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    placed = control.place_order(sid, items=[{"quantity": 2, "unit_price": "10.00"}])
    order_id, item_id = placed["amazon_order_id"], placed["items"][0]["order_item_id"]
    unshipped = control.place_order(sid)
    control.advance_clock(minutes=31)
    ship_all(amazon_sandbox, placed)
    messages = [
        refund(1, order_id, item_id, "5.00", key="refund-1"),
        refund(2, order_id, item_id, "15.01"),  # 20.00 paid, 5.00 refunded: 15.00 is left
        refund(3, "111-0000000-0000000", item_id, "1.00"),
        refund(4, unshipped["amazon_order_id"], unshipped["items"][0]["order_item_id"], "1.00"),
    ]
    feed_id = submit(amazon_sandbox, "POST_PAYMENT_ADJUSTMENT_DATA", "OrderAdjustment", messages)
    control.advance_clock(minutes=2)
    report = report_of(amazon_sandbox, feed_id)
    assert (report["processed"], report["successful"], report["with_error"]) == (4, 1, 3)
    codes = {r["message_id"]: r["message_code"] for r in report["results"]}
    assert codes == {"2": 18034, "3": 18028, "4": 18035}
    assert "exceeds" in report["results"][0]["description"]

    # The same refund (same MerchantAdjustmentItemID) again: a warning, no second refund.
    again = submit(
        amazon_sandbox,
        "POST_PAYMENT_ADJUSTMENT_DATA",
        "OrderAdjustment",
        [refund(1, order_id, item_id, "5.00", key="refund-1")],
    )
    control.advance_clock(minutes=2)
    assert report_of(amazon_sandbox, again)["with_warning"] == 1

    finances = Finances(**amazon_sandbox.client_kwargs(), version="v0")
    events = finances.get_financial_events_for_order(order_id).payload["FinancialEvents"]
    [shipment] = events["ShipmentEventList"]
    charges = {
        c["ChargeType"]: c["ChargeAmount"]
        for c in shipment["ShipmentItemList"][0]["ItemChargeList"]
    }
    assert charges["Principal"] == {"CurrencyCode": "USD", "CurrencyAmount": 20.0}
    [refunded] = events["RefundEventList"]
    adjustment = refunded["ShipmentItemAdjustmentList"][0]["ItemChargeAdjustmentList"]
    assert adjustment == [
        {"ChargeType": "Principal", "ChargeAmount": {"CurrencyCode": "USD", "CurrencyAmount": -5.0}}
    ]


def test_a_refund_made_in_seller_central_shows_on_amazon_and_limits_what_is_left(amazon_sandbox):
    from sandbox.amazon.control import SandboxControlError

    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    placed = control.place_order(sid, items=[{"quantity": 1, "unit_price": "30.00"}])
    order_id, item_id = placed["amazon_order_id"], placed["items"][0]["order_item_id"]
    control.advance_clock(minutes=31)
    with pytest.raises(SandboxControlError, match="nothing charged"):  # not shipped yet
        control.refund_in_seller_central(sid, order_id)
    ship_all(amazon_sandbox, placed)
    before = Orders(**amazon_sandbox.client_kwargs()).get_order(order_id).payload["LastUpdateDate"]
    control.advance_clock(minutes=1)
    control.refund_in_seller_central(sid, order_id)  # everything that was charged
    with pytest.raises(SandboxControlError, match="nothing charged is left"):
        control.refund_in_seller_central(sid, order_id)
    with pytest.raises(SandboxControlError, match="exceeds"):
        control.refund_in_seller_central(
            sid, order_id, items=[{"order_item_id": item_id, "components": {"Principal": "0.01"}}]
        )
    after = Orders(**amazon_sandbox.client_kwargs()).get_order(order_id).payload["LastUpdateDate"]
    assert after > before
    events = (
        Finances(**amazon_sandbox.client_kwargs(), version="v0")
        .get_financial_events_for_order(order_id)
        .payload["FinancialEvents"]
    )
    [refunded] = events["RefundEventList"]
    amounts = {
        c["ChargeType"]: c["ChargeAmount"]["CurrencyAmount"]
        for c in refunded["ShipmentItemAdjustmentList"][0]["ItemChargeAdjustmentList"]
    }
    assert amounts == {"Principal": -30.0, "Tax": -2.18}


def test_a_feed_that_is_not_a_feed_fails_fatally_and_yen_refunds_have_no_decimals(amazon_sandbox):
    control = amazon_sandbox.control
    feeds = Feeds(**amazon_sandbox.client_kwargs())
    _, feed = feeds.submit_feed(
        "POST_ORDER_ACKNOWLEDGEMENT_DATA", BytesIO(b"order_id\tstatus\n"), content_type="text/tsv"
    )
    control.advance_clock(minutes=2)
    fatal = feeds.get_feed(feed.payload["feedId"]).payload
    assert fatal["processingStatus"] == "FATAL"
    assert "XML Parsing Error" in feeds.get_feed_document(fatal["resultFeedDocumentId"])

    seller = control.create_seller(marketplace_ids=["A1VC38T7YXB528"])
    placed = control.place_order(seller["selling_partner_id"], items=[{"unit_price": "1980"}])
    control.advance_clock(minutes=31)
    from sandbox.amazon.control import SandboxControlError, sp_api_client_kwargs

    Orders(**sp_api_client_kwargs(seller)).confirm_shipment(
        placed["amazon_order_id"],
        marketplaceId="A1VC38T7YXB528",
        packageDetail={
            "packageReferenceId": "1",
            "carrierCode": "Yamato Transport",
            "trackingNumber": "4000",
            "shipDate": control.now(),
            "orderItems": [{"orderItemId": placed["items"][0]["order_item_id"], "quantity": 1}],
        },
    )
    with pytest.raises(SandboxControlError, match="too many decimals"):
        control.refund_in_seller_central(
            seller["selling_partner_id"],
            placed["amazon_order_id"],
            items=[
                {
                    "order_item_id": placed["items"][0]["order_item_id"],
                    "components": {"Principal": "100.50"},
                }
            ],
        )
