"""Signed callbacks to fulfillment services (api.md, "Outbound calls to fulfillment services").

The raw body, its signature and headers, and the POST itself live here once: the outbox handler
sends real requests and cancellation requests with them, and the portal's "Test connection"
sends its test with them, so a test is signed exactly like the real thing. What went wrong is
said in plain words (``network_problem``, ``http_problem``) for the merchant to read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from django.utils.translation import gettext as _

SIGNATURE_HEADER = "X-Keelson-Signature"
DELIVERY_HEADER = "X-Keelson-Delivery"
USER_AGENT = "Keelson-Callbacks/1"
CALLBACK_TIMEOUT = 10.0

# The kind of the portal's test callback; the other kinds are the real ones (api.md).
TEST_KIND = "connection_test"

# urllib3 2 names a failed DNS lookup; urllib3 1 only wraps the socket's error.
_DNS_ERRORS = (
    socket.gaierror,
    getattr(urllib3.exceptions, "NameResolutionError", socket.gaierror),
)


def callback_body(body: dict) -> bytes:
    """The raw bytes that are signed and sent (stable for a given body)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, raw: bytes) -> str:
    """Hex HMAC-SHA256 of the raw body with the service's signing secret."""
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def post_signed(
    url: str,
    secret: str,
    body: dict,
    delivery: str,
    *,
    timeout: float = CALLBACK_TIMEOUT,
    allow_redirects: bool = True,
) -> requests.Response:
    """POST the body, signed, to the service; raises ``requests.RequestException`` when no
    HTTP answer came back."""
    raw = callback_body(body)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, raw),
        DELIVERY_HEADER: delivery,
        "User-Agent": USER_AGENT,
    }
    return requests.post(
        url, data=raw, headers=headers, timeout=timeout, allow_redirects=allow_redirects
    )


def callback_url_problem(url: str, *, require_https: bool) -> str | None:
    """Why a callback URL cannot be used (None when it can). Callbacks carry order details and
    their signature, so outside a development set-up (DEBUG) they go over https only."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _("Enter a full URL, such as https://3pl.example.com/keelson/callbacks.")
    if require_https and parts.scheme != "https":
        return _(
            "The callback URL must start with https://: callbacks carry order details and "
            "their signature, so Keelson sends them only over TLS (http:// is accepted only in "
            "a development set-up, with DEBUG on)."
        )
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps (requests wraps urllib3, which wraps the socket error)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))


def network_problem(exc: requests.RequestException, url: str, timeout: float) -> tuple[str, str]:
    """(code, plain words) for a callback that got no HTTP answer: TLS, timeout, DNS, refused."""
    parts = urlsplit(url)
    host = parts.hostname or url
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls_error", _(
            "The secure (TLS) connection to %(host)s failed: its certificate could not be "
            "verified, or it does not offer TLS on this port."
        ) % {"host": host}
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout", _("%(host)s did not answer within %(seconds)s seconds (timeout).") % {
            "host": host,
            "seconds": f"{timeout:g}",
        }
    if any(isinstance(e, _DNS_ERRORS) for e in _causes(exc)):
        return "dns_error", _(
            "The host name %(host)s could not be found (DNS): check the callback URL."
        ) % {"host": host}
    if isinstance(exc, requests.exceptions.ConnectionError):
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return "connection_failed", _(
            "Could not connect to %(host)s on port %(port)s (connection refused or "
            "unreachable): is the service running there?"
        ) % {"host": host, "port": port}
    return "network_error", f"{type(exc).__name__}: {exc}"


def http_problem(response: requests.Response) -> str:
    """Plain words for a non-2xx answer, with the start of what the service said."""
    host = urlsplit(response.url or "").hostname or _("The service")
    text = _("%(host)s answered HTTP %(status)s %(reason)s.") % {
        "host": host,
        "status": response.status_code,
        "reason": response.reason or "",
    }
    text = text.replace(" .", ".")
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location", "")
        text += " " + _("It redirects to %(location)s: enter that URL instead.") % {
            "location": location or "?"
        }
    elif response.status_code in (401, 403):
        text += " " + _(
            "It may be checking the signature with another secret: issue a new signing secret "
            "and give it to the service."
        )
    said = " ".join((response.text or "").split())[:200]
    if said:
        text += " " + _("It said: %(said)s") % {"said": said}
    return text
