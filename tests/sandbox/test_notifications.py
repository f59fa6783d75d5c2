"""The emulator's Notifications API and its SQS: ORDER_CHANGE for every change of a subscribed
seller's orders, in the shape of Amazon's schema, read with the real boto3 SQS client and
subscribed with the real python-amazon-sp-api ``Notifications`` client."""

from __future__ import annotations

import json
from functools import cache

import boto3
import pytest
from jsonschema import Draft7Validator
from sp_api.api import Notifications

from sandbox.amazon import sqs
from tests.sandbox import spapi_models

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@cache
def order_change_validator() -> Draft7Validator:
    schema = spapi_models._closed(spapi_models.load("OrderChangeNotification.json"))
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def assert_order_change(body: str) -> dict:
    data = json.loads(body)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in order_change_validator().iter_errors(data)
    ]
    assert not errors, errors
    return data


def sqs_client(sandbox):
    return boto3.session.Session().client(
        "sqs",
        endpoint_url=sandbox.base_url + sqs.PREFIX,
        region_name=sqs.REGION,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )


def subscribe(sandbox, seller: dict, queue_name: str = sqs.DEFAULT_QUEUE) -> str:
    client = Notifications(**sandbox.client_kwargs(seller))
    destination = client.create_destination(name="tests", arn=sqs.queue_arn(queue_name)).payload
    subscription = client.create_subscription(
        "ORDER_CHANGE", destination_id=destination["destinationId"]
    ).payload
    assert subscription["destinationId"] == destination["destinationId"]
    return subscription["subscriptionId"]


def receive(client, url: str, wait: int = 0, visibility: int = 30) -> list[dict]:
    answer = client.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=wait,
        VisibilityTimeout=visibility,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )
    return answer.get("Messages", [])


def changes(messages: list[dict]) -> list[tuple[str, str, str]]:
    out = []
    for m in messages:
        change = assert_order_change(m["Body"])["Payload"]["OrderChangeNotification"]
        out.append(
            (change["AmazonOrderId"], change["OrderChangeType"], change["Summary"]["OrderStatus"])
        )
    return out


def test_every_change_of_a_subscribed_sellers_order_is_notified_once_R1_B1(
    amazon_sandbox_unlimited,
):
    sandbox, control = amazon_sandbox_unlimited, amazon_sandbox_unlimited.control
    seller = control.create_seller(name="Notified", marketplace_ids=["ATVPDKIKX0DER"])
    sid = seller["selling_partner_id"]
    before = control.place_order(sid, items=[{"quantity": 1}])  # placed before subscribing
    subscribe(sandbox, seller)
    client, url = sqs_client(sandbox), sandbox.queue_url

    placed = control.place_order(sid, items=[{"quantity": 2}, {"quantity": 1}])
    order_id = placed["amazon_order_id"]
    messages = receive(client, url, wait=5)
    # The history before the subscription is not sent; the new order is, as Pending (A1).
    assert changes(messages) == [(order_id, "OrderStatusChange", "Pending")]
    data = json.loads(messages[0]["Body"])
    assert data["Payload"]["OrderChangeNotification"]["SellerId"] == sid
    assert len(data["Payload"]["OrderChangeNotification"]["Summary"]["OrderItems"]) == 2
    client.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    assert receive(client, url) == []  # deleted, and nothing else changed

    # A1: both leave Pending; the older order's change comes after the subscription, so it is
    # notified too.
    control.advance_clock(minutes=31)
    assert sorted(changes(receive(client, url, wait=5))) == sorted(
        [
            (before["amazon_order_id"], "OrderStatusChange", "Unshipped"),
            (order_id, "OrderStatusChange", "Unshipped"),
        ]
    )

    control.request_buyer_cancellation(sid, order_id, "Ordered by mistake.")
    messages = receive(client, url, wait=5, visibility=1)
    assert changes(messages) == [(order_id, "BuyerRequestedChange", "Unshipped")]
    items = json.loads(messages[0]["Body"])["Payload"]["OrderChangeNotification"]["Summary"]
    assert all(item["IsBuyerRequestedCancel"] for item in items["OrderItems"])

    # Not deleted: SQS hands it out again once its visibility timeout is over.
    again = receive(client, url, wait=5)
    assert [m["MessageId"] for m in again] == [messages[0]["MessageId"]]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    client.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": "1", "ReceiptHandle": again[0]["ReceiptHandle"]}]
    )
    assert receive(client, url) == []


def test_a_seller_without_subscription_sends_nothing_and_deleting_it_stops_them(
    amazon_sandbox_unlimited,
):
    sandbox, control = amazon_sandbox_unlimited, amazon_sandbox_unlimited.control
    quiet = control.create_seller(name="Quiet", marketplace_ids=["ATVPDKIKX0DER"])
    loud = control.create_seller(name="Loud", marketplace_ids=["ATVPDKIKX0DER"])
    subscription_id = subscribe(sandbox, loud, "loud-queue")
    client = sqs_client(sandbox)
    url = client.get_queue_url(QueueName="loud-queue")["QueueUrl"]
    assert url == sqs.queue_url(sandbox.base_url, "loud-queue")

    control.place_order(quiet["selling_partner_id"], items=[{"quantity": 1}])
    placed = control.place_order(loud["selling_partner_id"], items=[{"quantity": 1}])
    assert [c[0] for c in changes(receive(client, url, wait=5))] == [placed["amazon_order_id"]]
    assert receive(client, sandbox.queue_url) == []  # the default queue has no subscriber

    Notifications(**sandbox.client_kwargs(loud)).delete_notification_subscription(
        "ORDER_CHANGE", subscription_id
    )
    control.place_order(loud["selling_partner_id"], items=[{"quantity": 1}])
    assert receive(client, url, wait=1) == []


def test_sqs_refuses_unsigned_requests_and_unknown_queues(amazon_sandbox_unlimited):
    import requests

    sandbox = amazon_sandbox_unlimited
    unsigned = requests.post(
        sandbox.base_url + sqs.PREFIX + "/",
        data=json.dumps({"QueueUrl": sandbox.queue_url}),
        headers={"X-Amz-Target": "AmazonSQS.ReceiveMessage"},
        timeout=10,
    )
    assert unsigned.status_code == 400
    assert unsigned.json()["__type"].endswith("MissingAuthenticationToken")
    client = sqs_client(sandbox)
    with pytest.raises(client.exceptions.QueueDoesNotExist):
        client.receive_message(QueueUrl=sandbox.base_url + "/sqs/not-a-queue")
