"""The Amazon gateway: python-amazon-sp-api's real client classes, unpatched, behind our types.

Pointing at the sandbox emulator is configuration, through the library's own injection points:
the client takes any marketplace-like object (we pass our own with the `endpoint`), and an
`auth_token_client_class` (we pass an LWA client class whose scheme/host are the emulator's).

Pitfalls handled here (architecture.md):
- The library's `throttle_retry`/`load_all_pages` decorators do not retry a 429 raised while
  pages are iterated and share their counter across threads, so we page ourselves: one call
  per page, the NextToken in the caller's cursor, each page through our own rate limiter.
- The library sends `host: endpoint[8:]` (it assumes https://); the emulator ignores Host.
- A 5xx or truncated body without JSON comes back as an empty response, not an exception:
  a missing payload is therefore a transient error here.

The gateway is one class, ``AmazonGateway``, assembled from the API groups (``orders``,
``finances``, ``notifications``, ``feeds``: each a mixin on ``core.GatewayCore``); errors,
configuration and parsing have their own modules. Import from here.
"""

from __future__ import annotations

from integrations.amazon.gateway.config import LWA_TOKEN_URL, REGION_ENDPOINTS, AmazonCredentials
from integrations.amazon.gateway.errors import (
    AmazonAuthFailed,
    AmazonError,
    AmazonPermanentError,
    AmazonThrottled,
    AmazonTransientError,
)
from integrations.amazon.gateway.feeds import FEED_FINISHED, FeedsApi, FeedStatus
from integrations.amazon.gateway.finances import FinancesApi
from integrations.amazon.gateway.notifications import NotificationsApi
from integrations.amazon.gateway.orders import OrdersApi
from integrations.amazon.gateway.parsing import (
    NON_PII_ADDRESS_FIELDS,
    SEARCH_ORDERS_DATA,
    STATUS_FROM_2026,
    amazon_timestamp,
    parse_datetime,
    parse_item,
    parse_item_2026,
    parse_money,
    parse_money_2026,
    parse_order,
    parse_order_2026,
)


class AmazonGateway(OrdersApi, FinancesApi, NotificationsApi, FeedsApi):
    """One seller's SP-API, with our rate limiting, retries and error mapping."""


__all__ = [
    "FEED_FINISHED",
    "LWA_TOKEN_URL",
    "NON_PII_ADDRESS_FIELDS",
    "REGION_ENDPOINTS",
    "SEARCH_ORDERS_DATA",
    "STATUS_FROM_2026",
    "AmazonAuthFailed",
    "AmazonCredentials",
    "AmazonError",
    "AmazonGateway",
    "AmazonPermanentError",
    "AmazonThrottled",
    "AmazonTransientError",
    "FeedStatus",
    "amazon_timestamp",
    "parse_datetime",
    "parse_item",
    "parse_item_2026",
    "parse_money",
    "parse_money_2026",
    "parse_order",
    "parse_order_2026",
]
