"""`sandbox.webhook`: POSTs a message's body to a URL on this machine. It exercises the outbox
against a real HTTP destination (tests, demo) without any partner's API."""

from __future__ import annotations

import requests

from integrations.outbox.errors import (
    PermanentDeliveryError,
    ThrottledDeliveryError,
    TransientDeliveryError,
)
from integrations.outbox.registry import Handler, register


def _send(message) -> dict:
    url = message.payload["url"]
    try:
        response = requests.post(
            url,
            json=message.payload.get("body", {}),
            headers={"Idempotency-Key": message.idempotency_key},
            timeout=message.payload.get("timeout", 10),
        )
    except requests.RequestException as exc:
        raise TransientDeliveryError(f"{type(exc).__name__}: {exc}", code="network_error") from exc
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = response.headers.get("Retry-After")
        error = ThrottledDeliveryError if response.status_code == 429 else TransientDeliveryError
        raise error(
            f"HTTP {response.status_code}",
            code=f"http_{response.status_code}",
            retry_after=float(retry_after) if retry_after else None,
        )
    if response.status_code >= 400:
        raise PermanentDeliveryError(
            f"HTTP {response.status_code}: {response.text[:200]}",
            code=f"http_{response.status_code}",
        )
    return {"status": response.status_code, "body": response.json() if response.content else None}


register(Handler(kind="sandbox.webhook", send=_send, destination="the sandbox webhook"))
