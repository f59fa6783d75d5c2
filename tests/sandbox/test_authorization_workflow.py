"""Seller Central's website authorization workflow, emulated: a developer application, the
consent page (Amazon's MD1000 and MD5101 refusals), the one-time code, LWA's
``authorization_code`` grant, and the refresh token it issues, which then stands for the seller
with the application's client (the real python-amazon-sp-api client reads the seller's orders
with it) and is revoked like the seller's own tokens."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sp_api.api import Notifications, Orders

from sandbox.amazon import sqs
from sandbox.amazon.clock import isoformat, parse_iso
from sandbox.amazon.control import SandboxControlError, sp_api_client_kwargs
from sandbox.amazon.models import AmazonAuthorization
from tests.sandbox.helpers import SpApi

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

US = "ATVPDKIKX0DER"
REDIRECT = "https://keelson.example.com/amazon/callback/"


def consent(sandbox, **params) -> requests.Response:
    return requests.get(
        f"{sandbox.base_url}/apps/authorize/consent",
        params=params,
        timeout=30,
        allow_redirects=False,
    )


def decide(sandbox, application: dict, seller_id: str, *, decision: str = "confirm", **extra):
    form = {
        "application_id": application["application_id"],
        "state": "state-123",
        "redirect_uri": REDIRECT,
        "version": "beta",
        "selling_partner_id": seller_id,
        "decision": decision,
        **extra,
    }
    return requests.post(
        f"{sandbox.base_url}/apps/authorize/consent", data=form, timeout=30, allow_redirects=False
    )


def code_from(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(sandbox, application: dict, code: str, **overrides) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": application["client_id"],
        "client_secret": application["client_secret"],
        **overrides,
    }
    return requests.post(application["lwa_token_url"], data=form, timeout=30)


def authorized_seller(seller: dict, application: dict, refresh_token: str) -> dict:
    """The seller as the application sees it: the application's client, the new token."""
    return {
        **seller,
        "client_id": application["client_id"],
        "client_secret": application["client_secret"],
        "refresh_token": refresh_token,
    }


@pytest.fixture
def application(amazon_sandbox_unlimited):
    return amazon_sandbox_unlimited.control.create_application(
        [REDIRECT, "https://keelson.example.com/other/"], name="Keelson"
    )


def test_a_seller_consents_and_the_application_reads_its_orders_with_the_new_token(
    amazon_sandbox_unlimited, application
):
    sandbox = amazon_sandbox_unlimited
    seller = sandbox.seller
    now = parse_iso(sandbox.control.now())
    placed = sandbox.control.place_order(
        seller["selling_partner_id"],
        items=[{"quantity": 1}],
        purchase_date=isoformat(now - timedelta(hours=2)),
    )

    page = consent(
        sandbox,
        application_id=application["application_id"],
        state="state-123",
        redirect_uri=REDIRECT,
        version="beta",
    )
    assert page.status_code == 200
    html = page.text
    assert "Seller Central (emulated)" in html and "Keelson" in html
    assert seller["selling_partner_id"] in html  # the seller who may sign in
    assert "Confirm" in html and "Cancel" in html

    answer = code_from(decide(sandbox, application, seller["selling_partner_id"]))
    assert answer["state"] == "state-123"
    assert answer["selling_partner_id"] == seller["selling_partner_id"]

    token = exchange(sandbox, application, answer["spapi_oauth_code"])
    assert token.status_code == 200, token.text
    grant = token.json()
    assert grant["token_type"] == "bearer" and grant["expires_in"] == 3600
    assert grant["refresh_token"].startswith("Atzr|")
    assert grant["refresh_token"] != seller["refresh_token"]

    # The new refresh token, with the application's client, reads the seller's orders.
    as_app = authorized_seller(seller, application, grant["refresh_token"])
    orders = Orders(**sp_api_client_kwargs(as_app, US)).get_orders(
        CreatedAfter=isoformat(now - timedelta(days=1))
    )
    assert [o["AmazonOrderId"] for o in orders.payload["Orders"]] == [placed["amazon_order_id"]]
    # It is the application's: the seller's own client cannot use it, nor the app the seller's.
    wrong_client = requests.post(
        seller["lwa_token_url"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": grant["refresh_token"],
            "client_id": seller["client_id"],
            "client_secret": seller["client_secret"],
        },
        timeout=30,
    )
    assert wrong_client.status_code == 400 and wrong_client.json()["error"] == "invalid_grant"
    own_token_with_app = requests.post(
        seller["lwa_token_url"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": seller["refresh_token"],
            "client_id": application["client_id"],
            "client_secret": application["client_secret"],
        },
        timeout=30,
    )
    assert own_token_with_app.json()["error"] == "invalid_grant"


def test_a_code_is_good_once_for_five_minutes_for_its_application_and_redirect_uri(
    amazon_sandbox_unlimited, application
):
    sandbox = amazon_sandbox_unlimited
    seller_id = sandbox.seller["selling_partner_id"]
    other_app = sandbox.control.create_application([REDIRECT])

    first = code_from(decide(sandbox, application, seller_id))["spapi_oauth_code"]
    wrong_secret = exchange(sandbox, application, first, client_secret="nope")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    other = exchange(sandbox, other_app, first)
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    moved = exchange(sandbox, application, first, redirect_uri="https://keelson.example.com/other/")
    assert moved.json()["error"] == "invalid_grant"
    assert exchange(sandbox, application, first).status_code == 200
    again = exchange(sandbox, application, first)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert "already been used" in again.json()["error_description"]

    late = code_from(decide(sandbox, application, seller_id))["spapi_oauth_code"]
    sandbox.control.advance_clock(minutes=5, seconds=1)
    expired = exchange(sandbox, application, late)
    assert expired.status_code == 400 and "expired" in expired.json()["error_description"]

    # Without redirect_uri (python-amazon-sp-api's own exchange sends none) a code is accepted.
    bare = code_from(decide(sandbox, application, seller_id))["spapi_oauth_code"]
    form = {"grant_type": "authorization_code", "code": bare}
    form |= {"client_id": application["client_id"], "client_secret": application["client_secret"]}
    assert requests.post(application["lwa_token_url"], data=form, timeout=30).status_code == 200
    assert exchange(sandbox, application, "AN-unknown").json()["error"] == "invalid_grant"
    assert AmazonAuthorization.objects.filter(seller__selling_partner_id=seller_id).count() == 2


def test_the_consent_page_shows_amazons_error_codes(amazon_sandbox_unlimited, application):
    sandbox = amazon_sandbox_unlimited
    app_id = application["application_id"]

    unknown = consent(sandbox, application_id="amzn1.sp.solution.nope", state="s", version="beta")
    assert unknown.status_code == 400 and "MD1000" in unknown.text
    draft = consent(sandbox, application_id=app_id, state="s", redirect_uri=REDIRECT)
    assert "MD1000" in draft.text  # a draft needs version=beta
    foreign = consent(
        sandbox, application_id=app_id, state="s", version="beta", redirect_uri="https://evil.test/"
    )
    assert foreign.status_code == 400 and "MD5101" in foreign.text
    no_state = consent(sandbox, application_id=app_id, version="beta", redirect_uri=REDIRECT)
    assert no_state.status_code == 400 and "state" in no_state.text
    # A forged form post is checked the same way.
    assert "MD5101" in decide(sandbox, application, "X", redirect_uri="https://evil.test/").text

    # Without redirect_uri the first registered one is used; published apps need no beta.
    sandbox.control.update_application(app_id, draft=False)
    default = consent(sandbox, application_id=app_id, state="s")
    assert default.status_code == 200 and REDIRECT in default.text


def test_cancel_sends_the_seller_back_with_access_denied(amazon_sandbox_unlimited, application):
    sandbox = amazon_sandbox_unlimited
    answer = code_from(
        decide(sandbox, application, sandbox.seller["selling_partner_id"], decision="cancel")
    )
    assert answer["error"] == "access_denied"
    assert answer["state"] == "state-123"
    assert "spapi_oauth_code" not in answer
    unknown_seller = decide(sandbox, application, "ANOSUCHSELLER")
    assert unknown_seller.status_code == 400 and "ANOSUCHSELLER" in unknown_seller.text


def test_revoking_ends_an_authorizations_tokens(amazon_sandbox_unlimited, application):
    sandbox = amazon_sandbox_unlimited
    seller = sandbox.seller
    seller_id = seller["selling_partner_id"]
    code = code_from(decide(sandbox, application, seller_id))["spapi_oauth_code"]
    refresh = exchange(sandbox, application, code).json()["refresh_token"]
    as_app = SpApi(authorized_seller(seller, application, refresh))
    orders = {"MarketplaceIds": US, "CreatedAfter": sandbox.control.now()}
    assert as_app.get("/orders/v0/orders", **orders).status_code == 200

    # The seller's tokens are revoked (existing control API): this access token too.
    sandbox.control.revoke_tokens(seller_id)
    refused = as_app.get("/orders/v0/orders", **orders)
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "Unauthorized"
    assert (
        SpApi(authorized_seller(seller, application, refresh))
        .get("/orders/v0/orders", **orders)
        .status_code
        == 200
    )  # a new access token from the refresh token works again

    # The seller removes the app in Manage Your Apps: its refresh token is refused.
    assert sandbox.control.revoke_authorizations(seller_id, application["application_id"]) == 1
    refreshed = requests.post(
        application["lwa_token_url"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": application["client_id"],
            "client_secret": application["client_secret"],
        },
        timeout=30,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert SpApi(seller).get("/orders/v0/orders", **orders).status_code == 200  # its own token


def test_the_application_subscribes_an_authorizing_seller_to_its_own_destination(
    amazon_sandbox_unlimited, application
):
    sandbox = amazon_sandbox_unlimited
    seller = sandbox.seller
    code = code_from(decide(sandbox, application, seller["selling_partner_id"]))
    refresh = exchange(sandbox, application, code["spapi_oauth_code"]).json()["refresh_token"]
    client = Notifications(**sp_api_client_kwargs(authorized_seller(seller, application, refresh)))
    destination = client.create_destination(name="app", arn=sqs.queue_arn("app-queue")).payload
    subscription = client.create_subscription(
        "ORDER_CHANGE", destination_id=destination["destinationId"]
    ).payload
    assert subscription["destinationId"] == destination["destinationId"]


def test_the_control_api_registers_applications(amazon_sandbox_unlimited):
    control = amazon_sandbox_unlimited.control
    app = control.create_application([REDIRECT], application_id="amzn1.sp.solution.fixed")
    assert app["client_id"].startswith("amzn1.application-oa2-client.")
    assert app["draft"] is True and app["redirect_uris"] == [REDIRECT]
    assert app["consent_url"].endswith("/apps/authorize/consent")
    assert control.application("amzn1.sp.solution.fixed")["client_secret"] == app["client_secret"]
    for bad in ([], ["ftp://x"]):
        with pytest.raises(SandboxControlError) as caught:
            control.create_application(bad)
        assert caught.value.status == 400
    with pytest.raises(SandboxControlError) as caught:
        control.create_application([REDIRECT], application_id="amzn1.sp.solution.fixed")
    assert caught.value.status == 409
    with pytest.raises(SandboxControlError) as caught:  # a seller's client is not an app's
        control.create_application(
            [REDIRECT], client_id=amazon_sandbox_unlimited.seller["client_id"]
        )
    assert caught.value.status == 409
