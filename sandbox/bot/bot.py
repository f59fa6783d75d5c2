"""The fulfillment-service bot: a small 3PL that talks to Keelson only through the partner API
(``/api/v1/fulfillment-orders/...`` with its service key) and the signed callbacks Keelson
POSTs to it. It imports nothing from the application, like any partner.

What it does (its "rules"):

- Every callback's ``X-Keelson-Signature`` (hex HMAC-SHA256 of the raw body with the shared
  secret) is checked; a bad or missing one is answered 401. ``X-Keelson-Delivery`` is
  remembered, so a retried delivery is acknowledged without acting twice.
- A fulfillment request is rejected, with the reason, when a line's SKU is unknown to it
  (empty, starting with ``UNKNOWN``, or not in ``known_skus`` when that is given); otherwise
  it is accepted.
- An accepted order ships after ``ship_delay`` seconds with a UPS tracking number; when it has
  two units or more, in two packages (about half each, ``second_package_delay`` apart).
- A cancellation request is accepted, unless a line is made to order (SKU starting with
  ``CUSTOM``): then it is rejected ("already in production") and the order ships as planned.
  A request withdrawn before it was accepted needs no answer.
- Every ``poll_interval`` seconds it also lists its open requests through the API, so a
  callback it missed (down, restarted) is handled anyway.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

logger = logging.getLogger("keelson.bot")

SIGNATURE_HEADER = "X-Keelson-Signature"
DELIVERY_HEADER = "X-Keelson-Delivery"
CALLBACK_PATH = "/callbacks"


@dataclass
class BotConfig:
    api: str  # e.g. http://127.0.0.1:8000/api/v1
    key: str
    secret: str
    port: int = 0
    host: str = "127.0.0.1"
    ship_delay: float = 5.0
    second_package_delay: float = 3.0
    poll_interval: float = 30.0
    known_skus: frozenset[str] | None = None
    carrier: str = "UPS"
    name: str = "Keelson demo 3PL"


def signature(secret: str, raw: bytes) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def is_unknown_sku(sku: str, known: frozenset[str] | None) -> bool:
    if not sku or sku.upper().startswith("UNKNOWN"):
        return True
    return known is not None and sku not in known


def is_made_to_order(sku: str) -> bool:
    return sku.upper().startswith("CUSTOM")


def split_packages(lines: list[dict]) -> list[list[dict]]:
    """One package, or two when there are two units or more: about half the units each."""
    units = [(line["id"], 1) for line in lines for _ in range(line["remaining_quantity"])]
    if len(units) < 2:
        return [_merge(units)] if units else []
    half = (len(units) + 1) // 2
    return [_merge(units[:half]), _merge(units[half:])]


def _merge(units: list[tuple[int, int]]) -> list[dict]:
    merged: dict[int, int] = {}
    for line_id, qty in units:
        merged[line_id] = merged.get(line_id, 0) + qty
    return [{"line": line_id, "quantity": qty} for line_id, qty in merged.items()]


class KeelsonApi:
    """The partner API, as a partner sees it: JSON over HTTP with a Bearer key."""

    def __init__(self, base: str, key: str, timeout: float = 15.0):
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None, key: str | None = None):
        """(status, json). Retries network errors and 5xx with the same Idempotency-Key."""
        headers = {"Idempotency-Key": key} if key else {}
        for attempt in range(5):
            try:
                response = self.session.request(
                    method,
                    path if path.startswith("http") else f"{self.base}{path}",
                    json=body,
                    headers=headers,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                logger.warning("%s %s failed (%s), retrying", method, path, exc)
                time.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code >= 500 or response.status_code == 429:
                time.sleep(0.5 * (attempt + 1))
                continue
            data = response.json() if response.content else None
            return response.status_code, data
        return 599, None

    def fulfillment_order(self, fo_id: int) -> dict | None:
        status, data = self.call("GET", f"/fulfillment-orders/{fo_id}/")
        return data if status == 200 else None

    def open_requests(self, request_status: str) -> list[dict]:
        found, path = [], f"/fulfillment-orders/?request_status={request_status}&limit=200"
        while path:
            status, data = self.call("GET", path)
            if status != 200:
                return found
            found += data["results"]
            path = data.get("next")  # an absolute URL, or None on the last page
        return found

    def act(self, fo_id: int, action: str, body: dict, key: str) -> tuple[int, Any]:
        return self.call("POST", f"/fulfillment-orders/{fo_id}/{action}/", body, key=key)


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    fo_id: int = field(compare=False)
    what: str = field(compare=False)


class FulfillmentBot:
    def __init__(self, config: BotConfig):
        self.config = config
        self.api = KeelsonApi(config.api, config.key)
        self.events: queue.Queue = queue.Queue()
        self.seen_deliveries: set[str] = set()
        self.shipping: set[int] = set()  # fulfillment orders with a shipment scheduled
        self._schedule: list[_Due] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.server = ThreadingHTTPServer((config.host, config.port), self._handler())
        self.server.daemon_threads = True
        self.log: list[dict] = []  # what it did, for people watching the demo

    @property
    def callback_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{CALLBACK_PATH}"

    # -- callbacks --------------------------------------------------------------------------

    def _handler(self):
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer(200, {"ok": True, "name": bot.config.name, "log": bot.log[-50:]})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path != CALLBACK_PATH:
                    self._answer(404, {"error": "not_found"})
                    return
                given = self.headers.get(SIGNATURE_HEADER, "")
                if not hmac.compare_digest(given, signature(bot.config.secret, raw)):
                    logger.warning("callback with a bad signature refused")
                    self._answer(401, {"error": "bad_signature"})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._answer(400, {"error": "not_json"})
                    return
                if body.get("kind") == "connection_test":
                    # The portal's "Test connection": signed like the rest, nothing to do.
                    self._answer(200, {"ok": True, "test": True})
                    return
                delivery = self.headers.get(DELIVERY_HEADER, "")
                with bot._lock:
                    duplicate = delivery in bot.seen_deliveries
                    bot.seen_deliveries.add(delivery)
                if not duplicate:
                    bot.events.put(body)
                self._answer(200, {"ok": True, "duplicate": duplicate})

            def _answer(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    # -- running ----------------------------------------------------------------------------

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        threading.Thread(target=self._work, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def _work(self) -> None:
        next_poll = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_poll:
                self._poll()
                next_poll = now + self.config.poll_interval
            wait = max(0.0, min(next_poll, self._next_due()) - time.monotonic())
            try:
                event = self.events.get(timeout=min(wait, 1.0))
            except queue.Empty:
                event = None
            try:
                if event is not None:
                    self._on_callback(event)
                self._run_due()
            except Exception:  # a partner's bot keeps going
                logger.exception("bot step failed")

    def _next_due(self) -> float:
        with self._lock:
            return self._schedule[0].at if self._schedule else float("inf")

    def _later(self, seconds: float, fo_id: int, what: str) -> None:
        with self._lock:
            self._seq += 1
            heapq.heappush(self._schedule, _Due(time.monotonic() + seconds, self._seq, fo_id, what))

    def _run_due(self) -> None:
        while True:
            with self._lock:
                if not self._schedule or self._schedule[0].at > time.monotonic():
                    return
                due = heapq.heappop(self._schedule)
            if due.what == "ship":
                self._ship(due.fo_id)

    def _poll(self) -> None:
        """Fallback for missed callbacks: what is waiting for an answer, and what it accepted
        but has not shipped (after a restart)."""
        for row in self.api.open_requests("submitted"):
            self._on_request(row["id"])
        for row in self.api.open_requests("cancellation_requested"):
            self._on_cancellation(row["id"])
        for status in ("accepted", "cancellation_rejected"):
            for row in self.api.open_requests(status):
                if row["id"] not in self.shipping:
                    self.shipping.add(row["id"])
                    self._later(self.config.ship_delay, row["id"], "ship")

    # -- decisions --------------------------------------------------------------------------

    def _record(self, fo_id: int, what: str, detail: str = "") -> None:
        entry = {"at": time.time(), "fulfillment_order": fo_id, "did": what, "detail": detail}
        self.log.append(entry)
        logger.info("fulfillment order %s: %s %s", fo_id, what, detail)

    def _on_callback(self, body: dict) -> None:
        fo_id = int(body["fulfillment_order"])
        if body.get("kind") == "fulfillment_request":
            self._on_request(fo_id)
        elif body.get("kind") == "cancellation_request":
            self._on_cancellation(fo_id)

    def _on_request(self, fo_id: int) -> None:
        fo = self.api.fulfillment_order(fo_id)
        if fo is None or "accept_request" not in fo.get("actions", []):
            return  # answered already, withdrawn, or not ours
        unknown = sorted(
            {
                line["sku"] or line["order_item_id"]
                for line in fo["lines"]
                if line["remaining_quantity"]
                and is_unknown_sku(line["sku"], self.config.known_skus)
            }
        )
        if unknown:
            message = f"Unknown SKU(s) {', '.join(unknown)}: we do not stock them."
            self.api.act(fo_id, "reject-request", {"message": message}, key=f"reject-{fo_id}")
            self._record(fo_id, "rejected", message)
            return
        message = f"{self.config.name} accepted: ships in about {self.config.ship_delay:g} s."
        status, _ = self.api.act(fo_id, "accept-request", {"message": message}, f"accept-{fo_id}")
        if status == 200:
            self._record(fo_id, "accepted")
            self.shipping.add(fo_id)
            self._later(self.config.ship_delay, fo_id, "ship")

    def _on_cancellation(self, fo_id: int) -> None:
        fo = self.api.fulfillment_order(fo_id)
        if fo is None or "accept_cancellation" not in fo.get("actions", []):
            return  # a withdrawn request (F8), or answered already
        custom = sorted({line["sku"] for line in fo["lines"] if is_made_to_order(line["sku"])})
        n = uuid.uuid4().hex[:8]
        if custom:
            message = f"Made to order ({', '.join(custom)}): already in production, it ships."
            self.api.act(fo_id, "reject-cancellation", {"message": message}, f"keep-{fo_id}-{n}")
            self._record(fo_id, "refused the cancellation", message)
            return
        message = "Cancelled before shipping; the stock is back on the shelf."
        self.api.act(fo_id, "accept-cancellation", {"message": message}, f"cancel-{fo_id}-{n}")
        self._record(fo_id, "cancelled")

    def _ship(self, fo_id: int) -> None:
        fo = self.api.fulfillment_order(fo_id)
        if fo is None or "report_shipment" not in fo.get("actions", []):
            self.shipping.discard(fo_id)
            return  # cancelled meanwhile
        if fo["request_status"] == "cancellation_requested":
            self._later(1.0, fo_id, "ship")  # answer the cancellation first
            return
        packages = split_packages([line for line in fo["lines"] if line["remaining_quantity"]])
        if not packages:
            self.shipping.discard(fo_id)
            return
        number = len(fo.get("fulfillments", [])) + 1
        tracking = "1ZKLS" + hashlib.sha256(f"{fo_id}-{number}".encode()).hexdigest()[:12].upper()
        body = {"lines": packages[0], "tracking_number": tracking, "carrier": self.config.carrier}
        status, _ = self.api.act(fo_id, "fulfillments", body, key=f"ship-{fo_id}-{number}")
        if status == 201:
            self._record(fo_id, f"shipped package {number}", tracking)
        if len(packages) > 1:
            self._later(self.config.second_package_delay, fo_id, "ship")
        else:
            self.shipping.discard(fo_id)
