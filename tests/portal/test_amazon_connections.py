"""Connecting an Amazon seller account from the portal (issue 13) through Seller Central's
website authorization workflow, against the real SP-API emulator over HTTP: the portal sends
the browser to the emulated consent page, the seller confirms there, Amazon's answer comes
back to our callback, which checks the state, exchanges the code, reads once, and only then
saves the account. Disconnecting and reconnecting keep the sync cursor and send nothing to
Amazon (rule R8); only admins connect or disconnect; another tenant's account is never touched.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connections as db_connections

from integrations.amazon.connections import SESSION_KEY
from orders import sync
from orders.models import AmazonSyncState, Order
from refunds import services as refunds
from refunds.models import AmazonSync
from sandbox.amazon.models import AmazonAuthorization, AmazonAuthorizationCode, AmazonFeed
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.models import AccountStatus, AmazonAccount
from tenants.scope import system_context, tenant_context
from tests.refunds.amazon import deliver_all, fast_feeds, place
from tests.support.amazon_sync import (
    amazon_now,
    cursor_of,
    differences,
    emulated_orders,
    imported_events_per_order,
    iso,
    run_sync,
    sync_until_caught_up,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LIST = "/tenants/amazonaccount/"
CONNECT = "/tenants/amazonaccount/connect/"
CALLBACK = "http://testserver/tenants/amazonaccount/connect/callback/"
US, BRAZIL = "ATVPDKIKX0DER", "A2Q3Y263D00KWC"
ACTOR = refunds.Actor("user", "Merchant admin")


@pytest.fixture
def amazon(settings):
    """The emulator, Keelson's application registered in it (a draft, our callback as its
    redirect URI) and Keelson configured for it, as an operator would."""
    settings.KEELSON_AMAZON_RATE_LIMITS = False
    settings.KEELSON_SYNC_MAX_WAIT = 0.2
    settings.KEELSON_PUBLIC_URL = "http://testserver"
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        fast_feeds(sandbox)
        app = sandbox.control.create_application([CALLBACK], name="Keelson")
        settings.KEELSON_AMAZON_APPLICATION_ID = app["application_id"]
        settings.AMAZON_LWA_CLIENT_ID = app["client_id"]
        settings.AMAZON_LWA_CLIENT_SECRET = app["client_secret"]
        settings.KEELSON_AMAZON_APP_DRAFT = True
        settings.KEELSON_AMAZON_CONSENT_BASE_URL = sandbox.base_url
        settings.KEELSON_AMAZON_LWA_TOKEN_URL = app["lwa_token_url"]
        settings.KEELSON_AMAZON_SPAPI_ENDPOINT = sandbox.base_url
        sandbox.application = app
        yield sandbox


def start(client, merchant, marketplaces=(US,), name="Amazon US") -> str:
    """The admin fills in the connect form; Keelson sends the browser to Seller Central."""
    response = client.post(
        CONNECT,
        {"merchant": merchant.pk, "name": name, "region": "NA", "marketplace_ids": marketplaces},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def seller_central(consent_url: str, seller_id: str, decision: str = "confirm") -> str:
    """The browser at the emulated Seller Central: the page's form submitted as the seller
    chose; returns where Amazon sends the browser back (a path on our test server)."""
    page = requests.get(consent_url, timeout=30)
    assert page.status_code == 200, page.text
    assert "Seller Central (emulated)" in page.text
    action = re.search(r"<form method='post' action='([^']+)'", page.text).group(1)
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(
            r"<input type='hidden' name='(\w+)' value='([^']*)'>", page.text
        )
    }
    parts = urlsplit(consent_url)
    answer = requests.post(
        f"{parts.scheme}://{parts.netloc}{action}",
        data={**fields, "selling_partner_id": seller_id, "decision": decision},
        timeout=30,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK)
    return location[len("http://testserver") :]


def connect_through_amazon(client, merchant, sandbox, seller_id=None, **form) -> AmazonAccount:
    back = seller_central(
        start(client, merchant, **form), seller_id or sandbox.seller["selling_partner_id"]
    )
    response = client.get(back)
    assert response.status_code == 302, response.content.decode()[:3000]
    account_id = int(response["Location"].rstrip("/").split("/")[-2])
    with tenant_context(merchant):
        return AmazonAccount.objects.get(pk=account_id)


def accounts() -> list[AmazonAccount]:
    """Every Amazon account of every merchant (row-level security would hide them otherwise)."""
    with system_context("tests: every Amazon account"):
        return list(AmazonAccount.objects.order_by("id"))


def feeds(seller_id: str) -> int:
    return AmazonFeed.objects.filter(seller__selling_partner_id=seller_id).count()


def place_orders(sandbox, count: int) -> list[str]:
    return [
        place(sandbox, sandbox.seller, [{"quantity": 1, "unit_price": "25.00"}])
        for _ in range(count)
    ]


# --- the round trip ----------------------------------------------------------------------------


def test_a_merchant_admin_connects_an_account_through_seller_central_and_its_orders_sync_R8(
    tenancy, login, amazon
):
    seller_id = amazon.seller["selling_partner_id"]
    placed = place_orders(amazon, 3)
    client = login(tenancy.merchant_admin)
    listing = client.get(LIST).content.decode()
    assert CONNECT in listing and "Connect an Amazon account" in listing
    form = client.get(CONNECT)
    assert form.status_code == 200 and "Continue to Amazon Seller Central" in form.content.decode()

    consent_url = start(client, tenancy.a1)
    query = parse_qs(urlsplit(consent_url).query)
    assert consent_url.startswith(f"{amazon.base_url}/apps/authorize/consent?")
    assert query["application_id"] == [amazon.application["application_id"]]
    assert query["redirect_uri"] == [CALLBACK] and query["version"] == ["beta"]
    assert not accounts()  # nothing is saved before Amazon answered

    response = client.get(seller_central(consent_url, seller_id), follow=True)
    page = response.content.decode()
    assert "is connected (seller" in page and "nothing was sent to Amazon" in page

    (account,) = accounts()
    assert (account.merchant_id, account.selling_partner_id) == (tenancy.a1.pk, seller_id)
    assert (account.name, account.region, account.marketplace_ids) == ("Amazon US", "NA", [US])
    assert account.status == AccountStatus.ACTIVE
    (authorization,) = AmazonAuthorization.objects.all()
    assert account.lwa_refresh_token == authorization.refresh_token  # the authorization's own
    assert account.lwa_refresh_token != amazon.seller["refresh_token"]
    assert account.lwa_client_id == ""  # Keelson's application's client, from the settings
    with db_connections["owner"].cursor() as cursor:
        cursor.execute(
            "select lwa_refresh_token from tenants_amazonaccount where id = %s", [account.pk]
        )
        (stored,) = cursor.fetchone()
    assert authorization.refresh_token not in stored  # encrypted at rest

    # The real sync reads the seller's orders with the new authorization.
    sync_until_caught_up(account)
    problems, compared, _ = differences(account, emulated_orders(seller_id))
    assert not problems and compared == 3
    with tenant_context(tenancy.a1):
        assert set(Order.objects.values_list("external_id", flat=True)) == set(placed)

    tested = client.post(
        LIST, {"action": "test_connection", "_selected_action": [account.pk]}, follow=True
    )
    assert "Amazon answered: Keelson can read the orders of seller" in tested.content.decode()
    assert feeds(seller_id) == 0  # connecting sent Amazon nothing (R8)


def test_an_agency_owner_chooses_the_merchant_and_an_unknown_one_is_refused(tenancy, login, amazon):
    client = login(tenancy.agency_owner)
    form = client.get(CONNECT).content.decode()
    assert tenancy.a1.name in form and tenancy.a2.name in form and tenancy.b1.name not in form

    account = connect_through_amazon(client, tenancy.a2, amazon)
    assert account.merchant_id == tenancy.a2.pk

    refused = client.post(
        CONNECT, {"merchant": tenancy.b1.pk, "region": "NA", "marketplace_ids": [US]}
    )
    assert refused.status_code == 400 and "merchant" in refused.context["form"].errors
    europe = client.post(
        CONNECT,
        {"merchant": tenancy.a1.pk, "region": "EU", "marketplace_ids": [US]},
    )
    assert europe.status_code == 400 and "not in the Europe region" in europe.content.decode()


# --- refusals: nothing saved -------------------------------------------------------------------


def test_an_expired_state_is_refused_before_the_code_is_used(tenancy, login, amazon):
    client = login(tenancy.merchant_admin)
    back = seller_central(start(client, tenancy.a1), amazon.seller["selling_partner_id"])
    session = client.session
    entries = session[SESSION_KEY]
    for entry in entries.values():  # 11 minutes ago (a state lives 10)
        entry["created_at"] = (
            datetime.fromisoformat(entry["created_at"]) - timedelta(minutes=11)
        ).isoformat()
    session[SESSION_KEY] = entries
    session.save()

    response = client.get(back)
    assert response.status_code == 400
    assert "expired: more than 10 minutes" in response.content.decode()
    assert not accounts()
    assert AmazonAuthorizationCode.objects.get().used_at is None  # never exchanged


def test_a_replayed_answer_is_refused_and_connects_nothing_more(tenancy, login, amazon):
    client = login(tenancy.merchant_admin)
    back = seller_central(start(client, tenancy.a1), amazon.seller["selling_partner_id"])
    assert client.get(back).status_code == 302

    replay = client.get(back)
    assert replay.status_code == 400
    assert "already used" in replay.content.decode()
    assert len(accounts()) == 1
    assert AmazonAuthorization.objects.count() == 1


def test_a_state_from_another_session_is_refused_and_the_right_one_still_works(
    tenancy, login, amazon
):
    admin = login(tenancy.merchant_admin)
    back = seller_central(start(admin, tenancy.a1), amazon.seller["selling_partner_id"])

    other = login(tenancy.agency_owner)  # may connect for a1 too, but did not start this
    refused = other.get(back)
    assert refused.status_code == 400
    assert "did not start this Amazon authorization in your session" in refused.content.decode()
    assert not accounts()
    assert AmazonAuthorizationCode.objects.get().used_at is None

    assert admin.get(back).status_code == 302  # the session that started it completes it
    assert len(accounts()) == 1


def test_a_state_kept_for_another_user_is_refused(tenancy, login, amazon):
    client = login(tenancy.merchant_admin)
    back = seller_central(start(client, tenancy.a1), amazon.seller["selling_partner_id"])
    session = client.session
    entries = session[SESSION_KEY]
    for entry in entries.values():
        entry["user_id"] = tenancy.agency_owner.pk
    session[SESSION_KEY] = entries
    session.save()

    response = client.get(back)
    assert response.status_code == 400 and "started by another user" in response.content.decode()
    assert not accounts()


def test_a_code_amazon_refuses_connects_nothing(tenancy, login, amazon):
    client = login(tenancy.merchant_admin)
    back = seller_central(start(client, tenancy.a1), amazon.seller["selling_partner_id"])
    code = parse_qs(urlsplit(back).query)["spapi_oauth_code"][0]
    app = amazon.application
    first_use = requests.post(  # the code is used elsewhere first (it is good once)
        app["lwa_token_url"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
        timeout=30,
    )
    assert first_use.status_code == 200

    response = client.get(back)
    assert response.status_code == 400
    assert "its code was already used or has expired" in response.content.decode()
    assert not accounts()


def test_cancelling_in_seller_central_connects_nothing(tenancy, login, amazon):
    client = login(tenancy.merchant_admin)
    back = seller_central(
        start(client, tenancy.a1), amazon.seller["selling_partner_id"], decision="cancel"
    )
    response = client.get(back)
    assert response.status_code == 400
    assert "was not given in Seller Central" in response.content.decode()
    assert not accounts() and not AmazonAuthorization.objects.exists()


def test_a_failed_check_saves_nothing(tenancy, login, amazon):
    client = login(tenancy.merchant_admin)
    # The seller does not sell in Brazil: Amazon refuses to read orders there.
    back = seller_central(
        start(client, tenancy.a1, marketplaces=[BRAZIL]), amazon.seller["selling_partner_id"]
    )
    response = client.get(back)
    assert response.status_code == 400
    page = response.content.decode()
    assert "choose the marketplaces this seller account sells on" in page
    assert not accounts()


def test_without_keelsons_application_the_form_says_so(tenancy, login, amazon, settings):
    settings.KEELSON_AMAZON_APPLICATION_ID = ""
    client = login(tenancy.merchant_admin)
    page = client.get(CONNECT).content.decode()
    assert "not set up on this Keelson yet" in page
    response = client.post(
        CONNECT, {"merchant": tenancy.a1.pk, "region": "NA", "marketplace_ids": [US]}
    )
    assert response.status_code == 400 and SESSION_KEY not in client.session


# --- disconnect, test, reconnect ---------------------------------------------------------------


def test_disconnecting_and_reconnecting_keep_the_cursor_and_send_nothing_to_amazon_R8(
    tenancy, login, amazon
):
    seller_id = amazon.seller["selling_partner_id"]
    unshipped, other = place_orders(amazon, 2)
    client = login(tenancy.merchant_admin)
    account = connect_through_amazon(client, tenancy.a1, amazon)
    sync_until_caught_up(account)
    cursor = cursor_of(account)
    with tenant_context(tenancy.a1):
        backfill_started = AmazonSyncState.objects.get(account=account).backfill_started_at
        order = Order.objects.get(external_id=unshipped)

    running = sync.new_lease_owner()
    with tenant_context(tenancy.a1):
        assert sync.claim_lease(account.pk, running)  # a sync run holds the account

    response = client.post(
        LIST, {"action": "disconnect", "_selected_action": [account.pk]}, follow=True
    )
    assert "is disconnected" in response.content.decode()
    with tenant_context(tenancy.a1):  # the run lost its lease: it stops at its next page
        assert not sync.release_lease(account.pk, running, None)
    with tenant_context(tenancy.a1):
        account.refresh_from_db()
    assert account.status == AccountStatus.DISCONNECTED
    assert account.lwa_refresh_token == ""  # forgotten
    assert account.sync_cursor == cursor
    assert run_sync(account).ran is False  # the sync stops
    tested = client.post(
        LIST, {"action": "test_connection", "_selected_action": [account.pk]}, follow=True
    )
    assert "is disconnected: connect it again" in tested.content.decode()
    # Setting it active again on its page, without a new token, is refused.
    change_url = f"{LIST}{account.pk}/change/"
    form = client.get(change_url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields} | {"status": "active"}
    refused = client.post(change_url, data)
    assert "instead of changing its status" in refused.content.decode()
    with tenant_context(tenancy.a1):
        assert AmazonAccount.objects.get(pk=account.pk).status == AccountStatus.DISCONNECTED

    # Meanwhile the merchant cancels an order in Keelson, and a new order arrives on Amazon.
    with tenant_context(tenancy.a1):
        cancellation = refunds.cancel_order(
            order.pk, actor=ACTOR, reason="NoInventory", refund=Decimal("25.00")
        )
    deliver_all(tenancy.a1)
    # Placed now (after the cursor), and two minutes pass so Amazon lists it.
    now = amazon_now(amazon)
    new_order = amazon.control.place_order(
        seller_id, items=[{"quantity": 1}], purchase_date=iso(now)
    )["amazon_order_id"]
    amazon.control.advance_clock(minutes=3)

    reconnected = connect_through_amazon(client, tenancy.a1, amazon, name="")
    assert reconnected.pk == account.pk  # the same account, reconnected
    assert reconnected.status == AccountStatus.ACTIVE and reconnected.lwa_refresh_token
    assert reconnected.name == "Amazon US"  # kept: the form left it empty
    assert reconnected.sync_cursor == cursor  # kept: nothing is read twice
    with tenant_context(tenancy.a1):
        assert AmazonSyncState.objects.get(account=account).backfill_started_at == backfill_started

    sync_until_caught_up(reconnected)
    deliver_all(tenancy.a1)
    with tenant_context(tenancy.a1):
        assert set(Order.objects.values_list("external_id", flat=True)) == {
            unshipped,
            other,
            new_order,
        }
        cancellation.refresh_from_db()
    assert set(imported_events_per_order(tenancy.a1).values()) == {1}  # nothing doubled
    assert cancellation.amazon_sync == AmazonSync.ON_HOLD  # waits for a person (R8)
    assert feeds(seller_id) == 0  # Amazon received no refund and no cancellation
    state = amazon.control.order(seller_id, unshipped)
    assert state["status"] == "Unshipped" and state["refunds"] == []


def test_test_connection_says_when_amazon_no_longer_accepts_the_authorization(
    tenancy, login, amazon
):
    client = login(tenancy.merchant_admin)
    account = connect_through_amazon(client, tenancy.a1, amazon)
    amazon.control.revoke_authorizations(account.selling_partner_id)  # removed in Seller Central

    response = client.post(
        LIST, {"action": "test_connection", "_selected_action": [account.pk]}, follow=True
    )
    assert (
        "Amazon no longer accepts Keelson&#x27;s authorization: connect the account again"
        in response.content.decode()
    )
    reconnected = connect_through_amazon(client, tenancy.a1, amazon)
    assert reconnected.pk == account.pk
    response = client.post(
        LIST, {"action": "test_connection", "_selected_action": [account.pk]}, follow=True
    )
    assert "Amazon answered" in response.content.decode()


# --- roles and tenants ---------------------------------------------------------------------------


def test_staff_and_viewers_see_no_connect_button_and_a_forged_post_is_refused(
    tenancy, login, amazon, make_amazon_account
):
    account = make_amazon_account(tenancy.a1)
    for user in (tenancy.merchant_staff, tenancy.viewer):
        client = login(user)
        listing = client.get(LIST)
        assert listing.status_code == 200 and CONNECT not in listing.content.decode()
        assert client.get(CONNECT).status_code == 403
        forged = client.post(
            CONNECT, {"merchant": tenancy.a1.pk, "region": "NA", "marketplace_ids": [US]}
        )
        assert forged.status_code == 403 and SESSION_KEY not in client.session
        client.post(LIST, {"action": "disconnect", "_selected_action": [account.pk]})
        with tenant_context(tenancy.a1):
            account.refresh_from_db()
        assert account.status == AccountStatus.ACTIVE and account.lwa_refresh_token
    # The staff may test the connection (it reads, changes nothing).
    tested = login(tenancy.merchant_staff).post(
        LIST, {"action": "test_connection", "_selected_action": [account.pk]}, follow=True
    )
    assert tested.status_code == 200 and "Test connection" in tested.content.decode()


def test_another_tenants_account_is_never_reachable(tenancy, login, amazon, make_amazon_account):
    seller_id = amazon.seller["selling_partner_id"]
    theirs = make_amazon_account(
        tenancy.b1, selling_partner_id=seller_id, lwa_refresh_token="Atzr|theirs"
    )
    client = login(tenancy.merchant_admin)

    for action in ("disconnect", "test_connection"):
        client.post(LIST, {"action": action, "_selected_action": [theirs.pk]})
    assert client.get(f"{LIST}{theirs.pk}/change/").status_code == 404

    # The same seller, connected by a1's admin: a1's own account; b1's is left as it was.
    ours = connect_through_amazon(client, tenancy.a1, amazon)
    assert ours.pk != theirs.pk and ours.merchant_id == tenancy.a1.pk
    with tenant_context(tenancy.b1):
        theirs.refresh_from_db()
    assert theirs.status == AccountStatus.ACTIVE
    assert theirs.lwa_refresh_token == "Atzr|theirs"
    assert theirs.name == "" and theirs.sync_cursor is None
