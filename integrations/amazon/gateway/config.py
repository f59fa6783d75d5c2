"""Where and as whom the gateway calls: a seller's credentials, the region's endpoint (or the
emulator's), and the LWA client pointed at the same host.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import httpx
from sp_api.auth import AccessTokenClient

REGION_ENDPOINTS = {
    "NA": "https://sellingpartnerapi-na.amazon.com",
    "EU": "https://sellingpartnerapi-eu.amazon.com",
    "FE": "https://sellingpartnerapi-fe.amazon.com",
}
LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"  # noqa: S105 (a URL)


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AmazonCredentials:
    selling_partner_id: str
    region: str
    marketplace_ids: tuple[str, ...]
    refresh_token: str
    client_id: str
    client_secret: str
    endpoint: str
    lwa_token_url: str

    @classmethod
    def from_account(cls, account) -> AmazonCredentials:
        from django.conf import settings

        return cls(
            selling_partner_id=account.selling_partner_id,
            region=account.region,
            marketplace_ids=tuple(account.marketplace_ids),
            refresh_token=account.lwa_refresh_token,
            client_id=account.lwa_client_id or getattr(settings, "AMAZON_LWA_CLIENT_ID", ""),
            client_secret=account.lwa_client_secret
            or getattr(settings, "AMAZON_LWA_CLIENT_SECRET", ""),
            endpoint=(account.endpoint_override or REGION_ENDPOINTS[account.region]).rstrip("/"),
            lwa_token_url=account.lwa_endpoint_override or LWA_TOKEN_URL,
        )


@dataclass(frozen=True)
class _Marketplace:
    """What sp_api's Client reads from a marketplace: endpoint, marketplace_id, region."""

    endpoint: str
    marketplace_id: str
    region: str


@cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every SP-API and LWA client of this process, made once. Given
    nothing, each sp_api client makes two httpx clients that each load the whole CA bundle:
    about 100 ms of CPU per client, and the gateway makes one client per call. It is httpx's own
    default (``SSL_CERT_FILE``, ``SSL_CERT_DIR``, else certifi's bundle); a context is safe to
    share between threads."""
    return httpx.create_ssl_context()


def _lwa_client_class(token_url: str) -> type[AccessTokenClient]:
    if token_url == LWA_TOKEN_URL:
        return AccessTokenClient
    parts = urlsplit(token_url)
    return type(
        "EndpointAccessTokenClient",
        (AccessTokenClient,),
        {"scheme": f"{parts.scheme}://", "host": parts.netloc, "path": parts.path},
    )
