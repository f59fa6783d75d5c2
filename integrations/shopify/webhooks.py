"""Verifying Shopify webhooks. ShopifyAPI verifies only the OAuth query-string HMAC, so the
webhook signature is ours: ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 of the raw
request body (the bytes as received, before any JSON parsing) keyed with the app's client
secret. Compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac


def webhook_hmac(raw_body: bytes, secret: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_webhook_hmac(raw_body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` (the ``X-Shopify-Hmac-Sha256`` value) signs ``raw_body`` with
    ``secret``. A missing header or secret is never valid."""
    if not header or not secret or not isinstance(raw_body, bytes | bytearray):
        return False
    expected = webhook_hmac(bytes(raw_body), secret).encode("ascii")
    return hmac.compare_digest(expected, header.strip().encode("ascii", "replace"))
