"""Faults injected for a while, per store or for all: the next ``count`` requests (or every
request for ``duration_seconds``, or a deterministic ``share`` of them) are answered with an
HTTP error Shopify sends, a THROTTLED storm, or added latency.

Rules live in ``ShopifySandboxState.faults`` (every process sees them); counting is the Amazon
emulator's (``sandbox.amazon.faults.FaultCounters``: exact, reproducible shares), with the
store's domain in the rule's ``seller`` slot and the GraphQL operation type ("query" or
"mutation") as the operation.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sandbox.amazon.faults import Decision, FaultCounters, active  # noqa: F401

# kind -> (HTTP status, Shopify's body for it)
HTTP_FAULTS: dict[str, tuple[int, Any]] = {
    "error_500": (500, {"errors": "Internal Server Error"}),
    "error_502": (502, {"errors": "Bad Gateway"}),
    "error_503": (503, {"errors": "Service Unavailable"}),
    "unauthorized": (
        401,
        {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
    ),
    "forbidden": (403, {"errors": "[API] This action requires merchant approval."}),
    "payment_required": (402, {"errors": "Unavailable Shop"}),
    "not_found": (404, {"errors": "Not Found"}),
    "locked": (423, {"errors": "This shop is unavailable"}),
}
KINDS = (*HTTP_FAULTS, "throttle", "latency")


def make_rule(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a rule from the control API; raises ValueError."""
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    share = float(data.get("share", 1.0))
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    count = data.get("count")
    if count is not None and int(count) < 1:
        raise ValueError("count must be at least 1")
    duration = data.get("duration_seconds")
    latency_ms = int(data.get("latency_ms", 0))
    if kind == "latency" and latency_ms <= 0:
        raise ValueError("a latency fault needs latency_ms > 0")
    operations = data.get("operations") or []
    if not isinstance(operations, list) or set(operations) - {"query", "mutation"}:
        raise ValueError('operations is a list of "query" and/or "mutation"')
    return {
        "id": data.get("id") or secrets.token_hex(6),
        "kind": kind,
        "share": share,
        "until": time.time() + float(duration) if duration is not None else None,
        "count": int(count) if count is not None else None,
        "operations": list(operations),
        "seller": (data.get("store") or "").lower() or None,
        "latency_ms": latency_ms,
    }
