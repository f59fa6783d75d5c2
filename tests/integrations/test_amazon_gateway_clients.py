"""The gateway makes one SP-API client per call; what every client needs that is costly to make
(the TLS context, with the CA bundle loaded) is made once per process and shared."""

from __future__ import annotations

import ssl

from sp_api.api import FeedsV20210630, OrdersV0

from integrations.amazon.gateway import AmazonGateway
from integrations.amazon.gateway.config import AmazonCredentials, tls_context


def credentials() -> AmazonCredentials:
    return AmazonCredentials(
        selling_partner_id="A1SELLER",
        region="NA",
        marketplace_ids=("ATVPDKIKX0DER",),
        refresh_token="Atzr|refresh",
        client_id="amzn1.application-oa2-client.test",
        client_secret="secret",
        endpoint="https://sellingpartnerapi-na.amazon.com",
        lwa_token_url="https://api.amazon.com/auth/o2/token",
    )


def test_every_client_and_its_token_client_share_one_tls_context_that_verifies():
    gateway = AmazonGateway(credentials())
    orders, feeds = gateway._client(OrdersV0), gateway._client(FeedsV20210630)

    shared = tls_context()
    assert isinstance(shared, ssl.SSLContext)
    assert orders.verify is shared and feeds.verify is shared
    assert orders._auth.verify is shared  # the LWA token exchange too
    # Shared, not weakened: certificates and host names are checked as by default.
    assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname
    assert shared.cert_store_stats()["x509_ca"] > 0
