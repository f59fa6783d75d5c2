"""The emulator checks every uploaded feed against Amazon's XSDs, message by message, as Amazon
does (issue 14): a message that breaks the schema fails alone (5000, with its line), a MessageID
used twice applies once (the second fails, 18041), a broken header fails the feed (FATAL)."""

from __future__ import annotations

from io import BytesIO

import pytest
from sp_api.api import Feeds

from tests.sandbox.test_feeds_and_finances import refund, report_of, ship_all, submit

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_message_breaking_the_schema_fails_alone_and_a_repeated_message_id_applies_once(
    amazon_sandbox_unlimited,
):
    sandbox = amazon_sandbox_unlimited
    control, sid = sandbox.control, sandbox.seller["selling_partner_id"]
    placed = control.place_order(sid, items=[{"quantity": 2, "unit_price": "10.00"}])
    order_id, item_id = placed["amazon_order_id"], placed["items"][0]["order_item_id"]
    control.advance_clock(minutes=31)
    ship_all(sandbox, placed)
    messages = [
        refund(1, order_id, item_id, "5.00", key="KLS-1-1"),
        refund(2, order_id, item_id, "3.00", key="KLS-2-1").replace('currency="USD"', ""),
        refund(1, order_id, item_id, "4.00", key="KLS-3-1"),  # MessageID 1 again
        refund(4, order_id, item_id, "2.00", key="KLS-4-1"),
    ]
    feed_id = submit(sandbox, "POST_PAYMENT_ADJUSTMENT_DATA", "OrderAdjustment", messages)
    control.advance_clock(minutes=2)

    report = report_of(sandbox, feed_id)
    assert (report["processed"], report["successful"], report["with_error"]) == (4, 2, 2)
    by_code = {r["message_code"]: r for r in report["results"]}
    assert set(by_code) == {5000, 18041}
    assert by_code[5000]["message_id"] == "2"
    assert "XML Parsing Error" in by_code[5000]["description"]
    assert "currency" in by_code[5000]["description"]
    assert by_code[18041]["message_id"] == "1"
    refunded = sorted(r["amount"] for r in control.order(sid, order_id)["refunds"])
    assert refunded == ["2.00", "5.00"]  # messages 1 and 4; not 2 (invalid), not the second 1


def test_a_feed_whose_header_breaks_the_schema_fails_as_a_whole(amazon_sandbox_unlimited):
    sandbox = amazon_sandbox_unlimited
    control, sid = sandbox.control, sandbox.seller["selling_partner_id"]
    placed = control.place_order(sid, items=[{"quantity": 1, "unit_price": "10.00"}])
    control.advance_clock(minutes=31)
    ship_all(sandbox, placed)
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><AmazonEnvelope><Header>'
        f"<MerchantIdentifier>{sid}</MerchantIdentifier></Header>"
        "<MessageType>OrderAdjustment</MessageType>"
        + refund(1, placed["amazon_order_id"], placed["items"][0]["order_item_id"], "1.00")
        + "</AmazonEnvelope>"
    )
    feeds = Feeds(**sandbox.client_kwargs())
    _, feed = feeds.submit_feed(
        "POST_PAYMENT_ADJUSTMENT_DATA", BytesIO(xml.encode()), content_type="text/xml"
    )
    control.advance_clock(minutes=2)
    status = feeds.get_feed(feed.payload["feedId"]).payload
    assert status["processingStatus"] == "FATAL"
    text = feeds.get_feed_document(status["resultFeedDocumentId"])
    assert "XML Parsing Error" in text and "DocumentVersion" in text
    assert control.order(sid, placed["amazon_order_id"])["refunds"] == []
