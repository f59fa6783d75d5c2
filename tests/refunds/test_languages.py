"""A refusal in the reader's language (issue 13): the rules' message (refunds.policy, marked
with N_) is translated where it is shown, with its amounts in the reader's conventions; the
API's problem ``detail`` follows Accept-Language while its ``code`` never changes."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils.html import escape

from foundation.i18n import format_money
from refunds import selectors
from tenants.models import Role
from tenants.scope import tenant_context
from tests.support.api import assert_problem
from tests.support.translations import ensure_compiled, translated

pytestmark = pytest.mark.django_db

TOO_MUCH = "%(line)s: %(amount)s is more than the %(left)s left to refund on it."


@pytest.fixture(autouse=True)
def catalogues(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ensure_compiled()


def expected(shop, order, line, language: str) -> str:
    with tenant_context(shop.merchant):
        label = selectors.order_money(order).lines[line.pk].label
    return translated(language, TOO_MUCH) % {
        "line": label,
        "amount": format_money("60.00", "USD", language),
        "left": format_money("50.00", "USD", language),
    }


def test_a_refused_refund_is_explained_in_the_readers_language(shop, make_user):
    order = shop.order([("TENT", 1, "50.00", 1)])
    (line,) = shop.lines(order)
    client = Client()
    client.force_login(make_user(Role.MERCHANT_ADMIN, merchant=shop.merchant, language="sv"))
    response = client.post(
        f"/refunds/refund/order/{order.pk}/new/",
        {f"amount_{line.pk}": "60.00", "token": "t1"},
        follow=True,
    )
    html = response.content.decode()
    assert escape(expected(shop, order, line, "sv")) in html
    assert "left to refund on it" not in html


def test_the_api_detail_follows_accept_language_and_the_code_stays(shop, make_api_key, call):
    key = make_api_key(merchant=shop.merchant)
    order = shop.order([("TENT", 1, "50.00", 1)])
    (line,) = shop.lines(order)
    data = {"lines": [{"line": line.pk, "amount": "60.00"}]}
    url = f"/api/v1/orders/{order.pk}/refunds/"

    swedish = assert_problem(
        call("post", url, key=key, data=data, headers={"Accept-Language": "sv"}),
        422,
        "refund_exceeds_balance",
    )
    english = assert_problem(call("post", url, key=key, data=data), 422, "refund_exceeds_balance")
    assert swedish["detail"] == expected(shop, order, line, "sv")
    with tenant_context(shop.merchant):
        label = selectors.order_money(order).lines[line.pk].label
    assert english["detail"] == TOO_MUCH % {
        "line": label,
        "amount": format_money("60.00", "USD", "en-us"),
        "left": format_money("50.00", "USD", "en-us"),
    }
    assert swedish["detail"] != english["detail"]
    assert swedish["title"] == english["title"] and swedish["type"] == english["type"]


def test_an_orders_refused_actions_are_explained_in_the_readers_language(shop, make_api_key, call):
    key = make_api_key(merchant=shop.merchant)
    pending = shop.order(status="Pending", financial_status="pending")
    english = call("get", f"/api/v1/orders/{pending.pk}/", key=key).json()
    swedish = call(
        "get", f"/api/v1/orders/{pending.pk}/", key=key, headers={"Accept-Language": "sv"}
    ).json()
    refusals = {a["action"]: a for a in english["actions"]}
    for action in swedish["actions"]:
        before = refusals[action["action"]]
        assert (action["code"], action["allowed"], action["rule"]) == (
            before["code"],
            before["allowed"],
            before["rule"],
        )
        if before["reason"]:
            assert action["reason"] != before["reason"]
            assert re.sub(r"\W", "", action["reason"])  # not empty


WAITING = (
    "%(line)s: Amazon has not yet told Keelson how this item's tax divides between the item "
    "and its shipping, so Keelson cannot tell how much of each a refund may take back without "
    "Amazon refusing it. Keelson is asking Amazon now: try again in a few minutes."
)


@pytest.mark.parametrize("language", ["sv", "th", "zh-hans", "vi"])
def test_a_refund_waiting_for_amazons_tax_split_is_explained_in_the_readers_language(
    shop, make_api_key, call, language
):
    key = make_api_key(merchant=shop.merchant)
    order = shop.order([("TENT", 1, "40.00", 1, {"item_tax": "3.60", "shipping_price": "5.00"})])
    (line,) = shop.lines(order)
    shop.run(lambda: type(line).objects.filter(pk=line.pk).update(tax_split_pending=True))
    data = {"lines": [{"line": line.pk, "quantity": 1}]}
    url = f"/api/v1/orders/{order.pk}/refunds/"
    response = call("post", url, key=key, data=data, headers={"Accept-Language": language})
    problem = assert_problem(response, 409, "tax_split_pending")
    with tenant_context(shop.merchant):
        label = selectors.order_money(order).lines[line.pk].label
    catalogue = "zh_Hans" if language == "zh-hans" else language
    assert problem["detail"] == translated(catalogue, WAITING) % {"line": label}
    assert response["Retry-After"] == "60"
