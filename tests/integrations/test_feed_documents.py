"""Every feed document Keelson builds is valid against Amazon's XSDs (integrations/amazon/xsd),
and the validation refuses broken ones with the line and the reason (issue 14). Pure: no
database, no emulator."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from integrations.amazon import feed_documents
from integrations.amazon.feed_documents import FeedMessage, InvalidFeedDocument
from refunds import feeds
from refunds.policy import AdjustmentReason, CancelReason, Components

SELLER = "A2EXAMPLE1SELLER"
ORDER = "112-1234567-7654321"
ITEM_A, ITEM_B = "12345678901234", "98765432109876"


def adjustment(currency="USD", reason="CustomerReturn", quantity=1, **components) -> str:
    parts = {
        "principal": Decimal("20.00"),
        "tax": Decimal(0),
        "shipping": Decimal(0),
        "shipping_tax": Decimal(0),
    }
    parts.update({k: Decimal(v) for k, v in components.items()})
    return feeds.payment_adjustment_body(
        amazon_order_id=ORDER,
        currency=currency,
        items=[
            feeds.AdjustedItem(ITEM_A, "KLS-1-1", reason, Components(**parts), quantity),
            feeds.AdjustedItem(ITEM_B, "KLS-1-2", reason, Components(Decimal("5.5")), 0),
        ],
    )


@pytest.mark.parametrize("reason", [r.value for r in AdjustmentReason])
def test_every_refund_reason_builds_a_valid_payment_adjustment(reason):
    feed_documents.validate(
        feeds.single_message_document(SELLER, feeds.PAYMENT_ADJUSTMENT, adjustment(reason=reason))
    )


@pytest.mark.parametrize("reason", [r.value for r in CancelReason])
def test_every_cancel_reason_builds_a_valid_order_acknowledgement(reason):
    body = feeds.order_cancellation_body(
        amazon_order_id=ORDER,
        items=[feeds.CancelledItem(ITEM_A, reason), feeds.CancelledItem(ITEM_B, reason)],
    )
    feed_documents.validate(
        feeds.single_message_document(SELLER, feeds.ORDER_ACKNOWLEDGEMENT, body)
    )


@pytest.mark.parametrize(
    ("currency", "amounts"),
    [
        ("USD", {"principal": "0.01", "tax": "1.60", "shipping": "2.50", "shipping_tax": "0.20"}),
        ("JPY", {"principal": "1980"}),
        ("EUR", {"principal": "99999999.99"}),
        ("GBP", {"principal": "12.3"}),
        ("CAD", {"principal": "7", "shipping": "0.5"}),
        ("SEK", {"principal": "150.00"}),
    ],
)
def test_amounts_in_every_marketplace_currency_are_valid(currency, amounts):
    body = adjustment(currency=currency, quantity=3, **amounts)
    feed_documents.validate(feeds.single_message_document(SELLER, feeds.PAYMENT_ADJUSTMENT, body))


def test_a_batch_of_many_messages_is_one_valid_document_with_a_message_id_each():
    bodies = [adjustment(quantity=q) for q in range(1, 50)]
    content = feed_documents.envelope(
        SELLER, "OrderAdjustment", [FeedMessage(n, b) for n, b in enumerate(bodies, start=1)]
    )
    feed_documents.validate(content)
    text = content.decode()
    assert text.count("<Message>") == 49
    assert all(f"<MessageID>{n}</MessageID>" in text for n in range(1, 50))
    # One message a line: a report's line number points at one message.
    assert len([line for line in text.splitlines() if line.startswith("<Message>")]) == 49


BROKEN = {
    "an element out of order": adjustment()
    .replace("<ActionType>Refund</ActionType>", "")
    .replace("<AmazonOrderID>", "<ActionType>Refund</ActionType><AmazonOrderID>"),
    "a currency Amazon does not know": adjustment(currency="XXX"),
    "three decimals": adjustment().replace(">20.00<", ">20.005<"),
    "an unknown reason": adjustment(reason="Because"),
    "an order item code that is not Amazon's": adjustment().replace(ITEM_A, "12-34"),
    "no AdjustedItem": f"<OrderAdjustment><AmazonOrderID>{ORDER}</AmazonOrderID></OrderAdjustment>",
    "an unknown component": adjustment().replace("<Type>Principal</Type>", "<Type>Gift</Type>"),
    "a cancellation with no status": feeds.order_cancellation_body(
        amazon_order_id=ORDER, items=[feeds.CancelledItem(ITEM_A, "NoInventory")]
    ).replace("<StatusCode>Failure</StatusCode>", ""),
}


@pytest.mark.parametrize("what", sorted(BROKEN))
def test_a_broken_message_is_refused_with_its_line(what):
    body = BROKEN[what]
    message_type = "OrderAcknowledgement" if "OrderAcknowledgement" in body else "OrderAdjustment"
    content = feed_documents.envelope(
        SELLER, message_type, [FeedMessage(1, adjustment()), FeedMessage(2, body)]
    )
    with pytest.raises(InvalidFeedDocument) as caught:
        feed_documents.validate(content)
    assert caught.value.errors and all(e.startswith("line 6,") for e in caught.value.errors)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c.replace(b"<DocumentVersion>1.01</DocumentVersion>", b""),
        lambda c: c.replace(SELLER.encode(), b""),
        lambda c: c.replace(b"<MessageType>OrderAdjustment</MessageType>", b""),
        lambda c: c.replace(b"<MessageID>1</MessageID>", b"<MessageID>0</MessageID>"),
        lambda c: c.replace(b"</AmazonEnvelope>", b""),
        lambda c: c.replace(
            b"<Header>", b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><Header>"
        ),
    ],
)
def test_a_broken_envelope_is_refused(mangle):
    content = feed_documents.envelope(SELLER, "OrderAdjustment", [FeedMessage(1, adjustment())])
    feed_documents.validate(content)
    assert feed_documents.schema_errors(mangle(content))


def test_the_emulator_reads_the_same_schema_files():
    from sandbox.amazon import xsd

    assert xsd.XSD_DIR.resolve() == feed_documents.XSD_DIR.resolve()
    names = {p.name for p in feed_documents.XSD_DIR.glob("*.xsd")}
    assert names == {
        "amzn-envelope.xsd",
        "amzn-header.xsd",
        "amzn-base.xsd",
        "OrderAcknowledgement.xsd",
        "OrderAdjustment.xsd",
    }


def test_message_ids_and_bodies_are_kept_in_order():
    messages = [FeedMessage(n, adjustment()) for n in itertools.islice(itertools.count(7), 3)]
    text = feed_documents.envelope(SELLER, "OrderAdjustment", messages).decode()
    assert text.index("<MessageID>7<") < text.index("<MessageID>8<") < text.index("<MessageID>9<")
