"""Fulfillment services set up in the portal (issue 13, "Self-service connections"): a merchant
admin or agency admin creates a service with its locations, gets its scoped key (and signing
secret) once, tests its callback URL with a signed test callback, chooses each merchant's
default service, and deactivates it, never stranding a request that is with it (F1, F3, F8).
Staff and viewers see the pages without buttons; a forged POST is a 403."""

from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fulfillment import services
from fulfillment.callbacks import sign
from fulfillment.models import ConnectionStatus, FulfillmentLocation, FulfillmentService
from orders.models import OrderEvent
from sandbox.bot.bot import BotConfig, FulfillmentBot
from tenants.models import ApiKey, ApiKeyOwner, hash_api_key
from tenants.scope import tenant_context
from tests.support.api import assert_problem
from tests.support.orders import create_order

pytestmark = pytest.mark.django_db

LIST = "/fulfillment/fulfillmentservice/"
ADD = f"{LIST}add/"


def change_url(service) -> str:
    return f"{LIST}{service.pk}/change/"


def act_url(service, action: str) -> str:
    return f"{LIST}{service.pk}/act/{action}/"


def secret_on(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*value="([^"]+)"', page)
    assert match, f"no {element_id} on the page"
    return match.group(1)


def create_form(owner: str, **overrides) -> dict:
    data = {
        "name": "Harbor 3PL",
        "owner": owner,
        "workflow": "fulfillment_order",
        "callback_url": "https://3pl.example.com/keelson/callbacks",
        "make_default": "on",
        "skus": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def service_actions(page: str) -> set[str]:
    return set(re.findall(r'class="service-action[^"]*" data-action="([a-z_]+)"', page))


class Partner:
    """A tiny callback receiver answering a fixed status; it keeps what it received."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.received: list[tuple[dict, bytes]] = []
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                partner.received.append((dict(self.headers), raw))
                payload = b'{"error": "our warehouse system is down"}'
                self.send_response(partner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callbacks"

    def __enter__(self) -> Partner:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bot():
    """The sandbox's fulfillment bot, as a partner would run it: it checks the signature."""
    running = FulfillmentBot(
        BotConfig(api="http://127.0.0.1:9/api/v1", key="kls_x", secret="", poll_interval=1e9)
    )
    threading.Thread(target=running.server.serve_forever, daemon=True).start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- creating a service: key and secret once, hashed; the key works with its scope ------------


def test_a_merchant_admin_creates_a_service_whose_key_is_shown_once_stored_hashed_and_scoped(
    tenancy, login, call
):
    client = login(tenancy.merchant_admin)
    assert ADD in client.get(LIST).content.decode()  # the add button, for an admin

    response = client.post(
        ADD, create_form(f"merchant:{tenancy.a1.pk}", skus="GIFT-WRAP, MUG-1\nMUG-1")
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    raw_key = secret_on(page, "raw-api-key")
    secret = secret_on(page, "signing-secret")
    assert "shown only this once" in page
    service = FulfillmentService.objects.get(name="Harbor 3PL")
    assert service.merchant == tenancy.a1 and service.agency is None
    assert service.workflow == "fulfillment_order"
    assert service.callback_url == "https://3pl.example.com/keelson/callbacks"
    assert service.signing_secret == secret
    assert service.connection_status == ConnectionStatus.NOT_TESTED
    location = FulfillmentLocation.objects.get(service=service)
    assert (location.merchant, location.is_default, location.skus) == (
        tenancy.a1,
        True,
        ["GIFT-WRAP", "MUG-1"],
    )
    key = ApiKey.objects.get(pk=service.api_key_id)
    assert key.owner_type == ApiKeyOwner.FULFILLMENT_SERVICE and key.merchant == tenancy.a1
    assert key.scopes == ["fulfillments:read", "fulfillments:write"]
    assert key.key_hash == hash_api_key(raw_key) and raw_key.startswith(key.prefix)
    # Never shown again: not in the list, not on the service's page, not in the session.
    for url in (LIST, change_url(service)):
        later = client.get(url).content.decode()
        assert raw_key not in later and secret not in later
    assert raw_key not in str(dict(client.session))

    # The key works on the partner API, with the service's scope only.
    order = create_order(tenancy.a1)
    with tenant_context(tenancy.a1):
        (fo,) = services.prepare_fulfillment_orders(order)
    merchants = call("get", "/api/v1/merchants/", key=raw_key).json()["results"]
    assert [m["id"] for m in merchants] == [tenancy.a1.pk]
    listed = call("get", "/api/v1/fulfillment-orders/", key=raw_key).json()["results"]
    assert [row["id"] for row in listed] == [fo.pk]
    assert_problem(call("get", "/api/v1/orders/", key=raw_key), 403, "permission_denied")

    # "Revoke key": 401 from then on.
    revoked = client.post(act_url(service, "revoke_key"), follow=True)
    assert any("is revoked" in text for text in messages_of(revoked))
    assert_problem(
        call("get", "/api/v1/fulfillment-orders/", key=raw_key), 401, "not_authenticated"
    )

    # "Issue a new key": shown once; the new one works, the old one stays refused.
    issued = client.post(act_url(service, "issue_key"))
    assert "no-store" in issued["Cache-Control"]
    new_key = secret_on(issued.content.decode(), "raw-api-key")
    assert new_key != raw_key
    assert call("get", "/api/v1/fulfillment-orders/", key=new_key).status_code == 200
    assert call("get", "/api/v1/fulfillment-orders/", key=raw_key).status_code == 401


def test_a_service_that_polls_gets_no_signing_secret_on_the_page(tenancy, login):
    client = login(tenancy.merchant_admin)

    page = client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}", callback_url="")).content
    page = page.decode()

    assert secret_on(page, "raw-api-key")
    assert 'id="signing-secret"' not in page
    service = FulfillmentService.objects.get(name="Harbor 3PL")
    assert service.callback_url == ""
    assert "polls the API" in login(tenancy.merchant_admin).get(LIST).content.decode()


def test_an_http_callback_url_is_refused_outside_debug_and_nothing_is_saved(tenancy, login):
    client = login(tenancy.merchant_admin)

    response = client.post(
        ADD, create_form(f"merchant:{tenancy.a1.pk}", callback_url="http://3pl.example.com/cb")
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "must start with https://" in " ".join(form.errors["callback_url"])
    assert not FulfillmentService.objects.exists()
    assert not FulfillmentLocation.objects.exists()
    assert not ApiKey.objects.exists()

    not_a_url = client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}", callback_url="3pl"))
    assert "callback_url" in not_a_url.context["adminform"].form.errors
    assert not FulfillmentService.objects.exists()


def test_an_http_callback_url_is_accepted_in_debug(tenancy, login, settings):
    settings.DEBUG = True
    client = login(tenancy.merchant_admin)

    client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}", callback_url="http://127.0.0.1:9/"))

    assert FulfillmentService.objects.get().callback_url == "http://127.0.0.1:9/"


def test_a_merchant_admin_may_only_create_services_for_its_merchant(tenancy, login):
    client = login(tenancy.merchant_admin)
    form = client.get(ADD).context["adminform"].form
    assert [value for value, _ in form.fields["owner"].choices] == [f"merchant:{tenancy.a1.pk}"]
    assert list(form.fields["serves"].queryset) == [tenancy.a1]

    for forged in (f"merchant:{tenancy.a2.pk}", f"merchant:{tenancy.b1.pk}", "agency:1"):
        response = client.post(ADD, create_form(forged))
        assert "owner" in response.context["adminform"].form.errors
    response = client.post(
        ADD, {**create_form(f"merchant:{tenancy.a1.pk}"), "serves": [tenancy.b1.pk]}
    )
    assert "serves" in response.context["adminform"].form.errors
    assert not FulfillmentService.objects.exists()


# --- Test connection: a signed test callback, the outcome stored and shown ---------------------


def test_test_connection_says_connected_when_the_bot_verifies_the_signature_and_answers_200(
    tenancy, login, bot, settings
):
    settings.DEBUG = True  # the bot listens on http://127.0.0.1
    client = login(tenancy.merchant_admin)
    page = client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}", callback_url=bot.callback_url))
    bot.config.secret = secret_on(page.content.decode(), "signing-secret")
    service = FulfillmentService.objects.get()
    assert "test_connection" in service_actions(client.get(change_url(service)).content.decode())

    response = client.post(act_url(service, "test_connection"), follow=True)

    assert any(
        "Connected" in text and "answered HTTP 200" in text for text in messages_of(response)
    ), messages_of(response)
    service.refresh_from_db()
    assert service.connection_status == ConnectionStatus.CONNECTED
    assert service.connection_error == "" and service.connection_checked_at is not None
    assert bot.events.empty()  # a test callback is nothing to act on
    listing = client.get(LIST).content.decode()
    assert "Connected" in listing

    # The same service, a wrong secret on the partner's side: refused signature, failing.
    bot.config.secret = "not-the-secret"
    refused = client.post(act_url(service, "test_connection"), follow=True)
    assert any("HTTP 401" in t and "signing secret" in t for t in messages_of(refused))
    service.refresh_from_db()
    assert service.connection_status == ConnectionStatus.FAILING


def test_test_connection_says_failing_with_the_status_when_the_service_answers_500(
    tenancy, login, settings
):
    settings.DEBUG = True
    client = login(tenancy.merchant_admin)
    with Partner(500) as partner:
        client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}", callback_url=partner.url))
        service = FulfillmentService.objects.get()

        response = client.post(act_url(service, "test_connection"), follow=True)

        ((headers, raw),) = partner.received
    text = " ".join(messages_of(response))
    assert "answered HTTP 500" in text and "our warehouse system is down" in text
    assert "failing" in text
    # Signed like a real callback: the same body bytes, signature and headers.
    assert headers["X-Keelson-Signature"] == sign(service.signing_secret, raw)
    assert headers["X-Keelson-Delivery"].startswith("test-")
    assert b'"kind":"connection_test"' in raw
    service.refresh_from_db()
    assert service.connection_status == ConnectionStatus.FAILING
    assert "HTTP 500" in service.connection_error and service.connection_checked_at
    listing = client.get(LIST).content.decode()
    assert "Failing" in listing and "HTTP 500" in listing


def test_test_connection_names_a_refused_connection_and_an_http_url_outside_debug(
    tenancy, login, settings
):
    settings.DEBUG = True
    client = login(tenancy.merchant_admin)
    url = f"http://127.0.0.1:{closed_port()}/callbacks"
    client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}", callback_url=url))
    service = FulfillmentService.objects.get()

    refused = client.post(act_url(service, "test_connection"), follow=True)
    assert any("Could not connect to 127.0.0.1" in t for t in messages_of(refused))

    settings.DEBUG = False
    not_https = client.post(act_url(service, "test_connection"), follow=True)
    assert any("must start with https://" in t for t in messages_of(not_https))
    service.refresh_from_db()
    assert service.connection_status == ConnectionStatus.FAILING
    assert "https://" in service.connection_error


def test_changing_the_callback_url_makes_the_connection_untested_again(tenancy, login, settings):
    settings.DEBUG = True
    client = login(tenancy.merchant_admin)
    with Partner(200) as partner:
        client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}", callback_url=partner.url))
        service = FulfillmentService.objects.get()
        client.post(act_url(service, "test_connection"))
    service.refresh_from_db()
    assert service.connection_status == ConnectionStatus.CONNECTED

    client.post(
        change_url(service),
        {"name": "Harbor 3PL", "workflow": "legacy", "callback_url": "https://new.example.com/"},
    )

    service.refresh_from_db()
    assert service.workflow == "legacy" and service.callback_url == "https://new.example.com/"
    assert service.connection_status == ConnectionStatus.NOT_TESTED

    settings.DEBUG = False
    response = client.post(
        change_url(service),
        {"name": "Harbor 3PL", "workflow": "legacy", "callback_url": "http://new.example.com/"},
    )
    assert "callback_url" in response.context["adminform"].form.errors
    service.refresh_from_db()
    assert service.callback_url == "https://new.example.com/"


# --- the default service per merchant -----------------------------------------------------------


def test_a_merchant_admin_chooses_its_default_service_and_new_orders_go_to_it(tenancy, login):
    client = login(tenancy.merchant_admin)
    client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}", name="First 3PL"))
    client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}", name="Second 3PL", make_default=None))
    first = FulfillmentService.objects.get(name="First 3PL")
    second = FulfillmentService.objects.get(name="Second 3PL")
    rows = {s.name: s for s in client.get(LIST).context["cl"].result_list}
    admin_ = client.get(LIST).context["cl"].model_admin
    assert admin_.default_for(rows["First 3PL"]) == tenancy.a1.name
    assert admin_.default_for(rows["Second 3PL"]) == "-"
    location = FulfillmentLocation.objects.get(service=second)
    assert "make_default" in service_actions(client.get(change_url(second)).content.decode())

    response = client.post(act_url(second, "make_default"), {"location": location.pk}, follow=True)

    assert any("now the default service of" in t for t in messages_of(response))
    defaults = FulfillmentLocation.objects.filter(merchant=tenancy.a1, is_default=True)
    assert [loc.service for loc in defaults] == [second]
    order = create_order(tenancy.a1)
    with tenant_context(tenancy.a1):
        (fo,) = services.prepare_fulfillment_orders(order)
    assert fo.service == second and first.is_active


def test_a_merchant_admin_may_choose_its_agencys_shared_service_but_not_manage_it(
    tenancy, login, call
):
    owner = login(tenancy.agency_owner)
    page = owner.post(
        ADD,
        create_form(
            f"agency:{tenancy.agency_a.pk}",
            name="Agency 3PL",
            make_default=None,
            serves=[tenancy.a1.pk, tenancy.a2.pk],
        ),
    ).content.decode()
    raw_key = secret_on(page, "raw-api-key")
    shared = FulfillmentService.objects.get(name="Agency 3PL")
    assert shared.agency == tenancy.agency_a and shared.merchant is None
    served = call("get", "/api/v1/merchants/", key=raw_key).json()["results"]
    assert sorted(m["id"] for m in served) == sorted([tenancy.a1.pk, tenancy.a2.pk])

    client = login(tenancy.merchant_admin)
    page = client.get(change_url(shared)).content.decode()
    assert service_actions(page) == {"make_default"}  # its own merchant's default, nothing else
    assert tenancy.a2.name not in page  # the sibling merchant's location is not its business
    for action in ("test_connection", "issue_key", "deactivate", "remove_location"):
        assert client.post(act_url(shared, action)).status_code == 403
    their_location = FulfillmentLocation.objects.get(service=shared, merchant=tenancy.a2)
    forged = client.post(act_url(shared, "make_default"), {"location": their_location.pk})
    assert forged.status_code == 403

    mine = FulfillmentLocation.objects.get(service=shared, merchant=tenancy.a1)
    client.post(act_url(shared, "make_default"), {"location": mine.pk})
    mine.refresh_from_db()
    assert mine.is_default
    their_location.refresh_from_db()
    assert not their_location.is_default
    # Another agency's people do not see it at all.
    assert login(tenancy.other_owner).get(change_url(shared)).status_code == 404
    assert login(tenancy.other_owner).post(act_url(shared, "deactivate")).status_code == 404


# --- who may act ------------------------------------------------------------------------------


def test_staff_and_viewers_see_no_buttons_and_a_forged_post_is_refused(tenancy, login):
    admin_client = login(tenancy.merchant_admin)
    admin_client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}"))
    service = FulfillmentService.objects.get()
    location = FulfillmentLocation.objects.get(service=service)
    key_id = service.api_key_id

    for user in (tenancy.viewer, tenancy.merchant_staff, tenancy.agency_staff):
        client = login(user)
        listing = client.get(LIST)
        assert listing.status_code == 200 and ADD not in listing.content.decode()
        assert "test_connection" not in listing.content.decode()  # no list action either
        page = client.get(change_url(service))
        assert page.status_code == 200
        assert service_actions(page.content.decode()) == set()
        assert client.get(ADD).status_code == 403
        assert client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}")).status_code == 403
        for action in ("test_connection", "issue_key", "revoke_key", "deactivate"):
            assert client.post(act_url(service, action)).status_code == 403
        assert (
            client.post(act_url(service, "make_default"), {"location": location.pk}).status_code
            == 403
        )
        assert (
            client.post(
                change_url(service),
                {"name": "Renamed", "workflow": "legacy", "callback_url": ""},
            ).status_code
            == 403
        )

    service.refresh_from_db()
    assert service.name == "Harbor 3PL" and service.is_active and service.api_key_id == key_id
    assert FulfillmentService.objects.count() == 1


# --- deactivating: never strands a request ----------------------------------------------------


def test_deactivation_is_refused_while_a_request_is_with_the_service_then_moves_the_rest_F1_F3(
    tenancy, login, call
):
    client = login(tenancy.merchant_admin)
    first_page = client.post(ADD, create_form(f"merchant:{tenancy.a1.pk}", name="Leaving 3PL"))
    old_key = secret_on(first_page.content.decode(), "raw-api-key")
    leaving = FulfillmentService.objects.get(name="Leaving 3PL")
    requested, waiting = create_order(tenancy.a1), create_order(tenancy.a1)
    actor = services.Actor.user(tenancy.merchant_admin)
    with tenant_context(tenancy.a1):
        (fo,) = services.request_fulfillment(requested.pk, actor=actor)
        (unrequested,) = services.prepare_fulfillment_orders(waiting)
    client.post(
        ADD, create_form(f"merchant:{tenancy.a1.pk}", name="Staying 3PL", make_default=None)
    )
    staying = FulfillmentService.objects.get(name="Staying 3PL")
    client.post(
        act_url(staying, "make_default"),
        {"location": FulfillmentLocation.objects.get(service=staying).pk},
    )

    refused = client.post(act_url(leaving, "deactivate"), follow=True)

    text = " ".join(messages_of(refused))
    assert "still has fulfillment requests in progress" in text and requested.external_id in text
    leaving.refresh_from_db()
    assert (
        leaving.is_active
        and call("get", "/api/v1/fulfillment-orders/", key=old_key).status_code == 200
    )

    with tenant_context(tenancy.a1):
        services.cancel_request(fo.pk, actor=actor)  # F8: the request ends
    done = client.post(act_url(leaving, "deactivate"), follow=True)

    text = " ".join(messages_of(done))
    assert "is deactivated" in text and waiting.external_id in text
    leaving.refresh_from_db()
    assert not leaving.is_active and leaving.connection_status == ConnectionStatus.DISCONNECTED
    assert call("get", "/api/v1/fulfillment-orders/", key=old_key).status_code == 401
    with tenant_context(tenancy.a1):
        unrequested.refresh_from_db()
        assert (unrequested.status, unrequested.request_status) == ("cancelled", "unsubmitted")
        moved = waiting.fulfillment_orders.exclude(pk=unrequested.pk).get()
        assert moved.service == staying and moved.request_status == "unsubmitted"
        note = OrderEvent.objects.filter(order=waiting, data__unassigned=True).get()
    assert "Leaving 3PL no longer serves this merchant" in note.message
    assert "Staying 3PL" in note.message
    assert "Disconnected" in client.get(LIST).content.decode()
    assert "reactivate" in service_actions(client.get(change_url(leaving)).content.decode())

    again = client.post(act_url(leaving, "reactivate"))
    new_key = secret_on(again.content.decode(), "raw-api-key")
    leaving.refresh_from_db()
    assert leaving.is_active and leaving.connection_status == ConnectionStatus.NOT_TESTED
    assert call("get", "/api/v1/fulfillment-orders/", key=new_key).status_code == 200


def test_removing_a_location_of_an_agency_service_is_refused_while_that_merchant_has_a_request(
    tenancy, login
):
    client = login(tenancy.agency_owner)
    client.post(
        ADD,
        create_form(f"agency:{tenancy.agency_a.pk}", name="Agency 3PL", serves=[tenancy.a1.pk]),
    )
    shared = FulfillmentService.objects.get(name="Agency 3PL")
    page = client.get(change_url(shared)).content.decode()
    assert "add_location" in service_actions(page)

    added = client.post(
        act_url(shared, "add_location"),
        {"merchant": tenancy.a2.pk, "skus": "A2-ONLY", "make_default": "on"},
        follow=True,
    )
    assert any("now serves" in t for t in messages_of(added))
    a2_location = FulfillmentLocation.objects.get(service=shared, merchant=tenancy.a2)
    assert a2_location.skus == ["A2-ONLY"] and a2_location.is_default
    # A merchant of another agency cannot be added.
    forged = client.post(act_url(shared, "add_location"), {"merchant": tenancy.b1.pk}, follow=True)
    assert not FulfillmentLocation.objects.filter(merchant=tenancy.b1).exists()
    assert messages_of(forged)

    order = create_order(tenancy.a2)
    with tenant_context(tenancy.a2):
        services.request_fulfillment(order.pk, actor=services.Actor.user(tenancy.agency_owner))
    refused = client.post(
        act_url(shared, "remove_location"), {"location": a2_location.pk}, follow=True
    )
    assert any(order.external_id in t for t in messages_of(refused))
    a2_location.refresh_from_db()
    assert a2_location.is_active

    a1_location = FulfillmentLocation.objects.get(service=shared, merchant=tenancy.a1)
    removed = client.post(
        act_url(shared, "remove_location"), {"location": a1_location.pk}, follow=True
    )
    assert any("no longer serves" in t for t in messages_of(removed))
    a1_location.refresh_from_db()
    assert not a1_location.is_active and not a1_location.is_default
