"""The emulator's WSGI application: ``POST /admin/api/<version>/graphql.json`` and the control
API under ``/_sandbox``.

Like the Amazon emulator it is its own WSGI application, not a Django view stack: nothing
reads the Host header (the real client sends ``127.0.0.1:PORT``; a real shop is told apart by
its host, the emulator tells stores apart by their access token).
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from django.db import connections, transaction
from graphql import (
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
    validate,
)

from sandbox.amazon import clock
from sandbox.shopify import faults, graphql_api, render, services, webhooks
from sandbox.shopify.cost import SINGLE_QUERY_MAX, CostCalculator
from sandbox.shopify.models import (
    ShopifyOrder,
    ShopifySandboxState,
    ShopifyStore,
    ShopifyWebhookDelivery,
    ShopifyWebhookSubscription,
)
from sandbox.shopify.throttle import LeakyBuckets

logger = logging.getLogger("sandbox.shopify")

CONTROL_PREFIX = "/_sandbox"
GRAPHQL_PATH = re.compile(r"^/admin/api/(?P<version>\d{4}-\d{2}|unstable)/graphql\.json$")
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    423: "Locked",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
THROTTLED_DOCS = "https://shopify.dev/api/usage/rate-limits"


class Response:
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        self.status = status
        self.headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        self.body = b"" if body is None else json.dumps(body, default=str).encode("utf-8")


class ControlError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ShopifySandboxApp:
    """One instance per server: it owns the cost buckets and the fault counters."""

    def __init__(self, base_url: str, *, log_requests: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.buckets = LeakyBuckets()
        self.fault_counters = faults.FaultCounters()
        self.log_requests = log_requests

    # --- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.monotonic()
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = (environ.get("PATH_INFO") or "/").encode("latin-1").decode("utf-8", "replace")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            headers = {
                key[5:].replace("_", "-").lower(): value
                for key, value in environ.items()
                if key.startswith("HTTP_")
            }
            query = parse_qs(environ.get("QUERY_STRING", ""))
            response = self.handle(method, path, headers, body, query)
        except Exception:
            logger.error("shopify sandbox error:\n%s", traceback.format_exc())
            response = Response(500, {"errors": "Internal Server Error"})
        finally:
            connections.close_all()  # each request runs in its own thread
        headers_out = [*response.headers.items(), ("Content-Length", str(len(response.body)))]
        start_response(
            f"{response.status} {STATUS_TEXT.get(response.status, 'Status')}", headers_out
        )
        if self.log_requests:
            logger.info(
                "%s %s -> %s (%.0f ms)",
                method,
                path,
                response.status,
                (time.monotonic() - started) * 1000,
            )
        return [response.body]

    def handle(self, method, path, headers, body, query) -> Response:
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            try:
                return self.control(method, path, body, query)
            except ControlError as exc:
                return Response(exc.status, {"error": exc.code, "message": exc.message})
            except (ValueError, KeyError, TypeError) as exc:
                return Response(400, {"error": "invalid", "message": str(exc)})
        match = GRAPHQL_PATH.match(path)
        if match is None:
            return Response(404, {"errors": "Not Found"})
        if method != "POST":
            return Response(405, {"errors": "Method Not Allowed"})
        return self.graphql(match["version"], headers, body)

    # --- GraphQL -------------------------------------------------------------------------------

    def graphql(self, version: str, headers: dict[str, str], raw: bytes) -> Response:
        out_headers = {
            "X-Shopify-API-Version": version,
            "X-Request-Id": services.secrets.token_hex(8),
        }
        token = headers.get("x-shopify-access-token") or ""
        store = ShopifyStore.objects.filter(access_token=token).first() if token else None
        if store is None:
            status, body = faults.HTTP_FAULTS["unauthorized"]
            return Response(status, body, out_headers)
        try:
            request = json.loads(raw or b"null")
        except ValueError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return Response(
                400, {"errors": {"query": "Required parameter missing or invalid"}}, out_headers
            )
        variables = request.get("variables") or {}
        try:
            document = parse(request["query"])
        except GraphQLError as exc:
            return Response(200, {"errors": [exc.formatted]}, out_headers)
        operation = _operation(document, request.get("operationName"))
        kind = (
            "mutation" if operation and operation.operation == OperationType.MUTATION else "query"
        )
        state = ShopifySandboxState.load()
        decision = self.fault_counters.decide(faults.active(state.faults or []), kind, store.domain)
        if decision.latency_ms:
            time.sleep(decision.latency_ms / 1000)
        if decision.kind in faults.HTTP_FAULTS:
            status, body = faults.HTTP_FAULTS[decision.kind]
            return Response(status, body, out_headers)
        errors = validate(graphql_api.schema(), document)
        if errors:
            return Response(200, {"errors": [e.formatted for e in errors]}, out_headers)
        if operation is None:
            message = "An operation name is required when the document has several operations."
            return Response(200, {"errors": [{"message": message}]}, out_headers)
        fragments = {
            d.name.value: d
            for d in document.definitions
            if d.__class__.__name__ == "FragmentDefinitionNode"
        }
        calculator = CostCalculator(graphql_api.schema(), fragments, variables)
        try:
            requested = calculator.operation(operation)
        except GraphQLError as exc:  # variables that do not coerce
            return Response(200, {"errors": [exc.formatted]}, out_headers)
        if requested > SINGLE_QUERY_MAX:
            return Response(
                200,
                {
                    "errors": [
                        {
                            "message": f"Query cost is {requested}, which exceeds the single "
                            f"query max cost limit ({SINGLE_QUERY_MAX}).",
                            "extensions": {
                                "code": "MAX_COST_EXCEEDED",
                                "cost": requested,
                                "maxCost": SINGLE_QUERY_MAX,
                            },
                        }
                    ]
                },
                out_headers,
            )
        key = store.domain
        maximum, rate = store.bucket_maximum, store.restore_rate
        if decision.kind == "throttle":
            status = self.buckets.drain(key, maximum, rate)
            return self._throttled(requested, status, out_headers)
        if store.throttling_enabled:
            ok, status = self.buckets.take(key, requested, maximum, rate)
            if not ok:
                return self._throttled(requested, status, out_headers)
        context = graphql_api.Context(store=store, now=clock.virtual_now(), search_warnings=[])
        result: ExecutionResult = execute(
            graphql_api.schema(),
            document,
            root_value=graphql_api.root_value(store),
            context_value=context,
            variable_values=variables,
            operation_name=request.get("operationName"),
        )
        actual = calculator.operation(operation, result.data, actual=True)
        if store.throttling_enabled:
            status = self.buckets.give_back(key, requested - actual, maximum, rate)
        else:
            status = self.buckets.status(key, maximum, rate)
        payload: dict[str, Any] = {}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        payload["data"] = result.data
        extensions: dict[str, Any] = {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": status.as_json(),
            }
        }
        if context.search_warnings:
            extensions["search"] = [
                {"path": ["orders"], "query": t, "warnings": [{"message": "Unsupported term"}]}
                for t in context.search_warnings
            ]
        payload["extensions"] = extensions
        return Response(200, payload, out_headers)

    @staticmethod
    def _throttled(requested: int, status, headers) -> Response:
        return Response(
            200,
            {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {"code": "THROTTLED", "documentation": THROTTLED_DOCS},
                    }
                ],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": requested,
                        "actualQueryCost": None,
                        "throttleStatus": status.as_json(),
                    }
                },
            },
            headers,
        )

    # --- control API ---------------------------------------------------------------------------

    def control(self, method: str, path: str, raw: bytes, query: dict) -> Response:
        parts = [p for p in path[len(CONTROL_PREFIX) :].split("/") if p]
        try:
            data = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise ControlError(400, "invalid", "the body must be JSON") from exc
        if not isinstance(data, dict):
            raise ControlError(400, "invalid", "the body must be a JSON object")
        if parts == ["health"]:
            return Response(200, {"ok": True, "now": render.iso(clock.virtual_now())})
        if parts == ["clock"]:
            return self._clock(method, data)
        if parts == ["throttle"]:
            if method == "POST" and "frozen" in data:
                self.buckets.clock.freeze(bool(data["frozen"]))
            return Response(200, {"frozen": self.buckets.clock.frozen})
        if parts == ["faults"]:
            return self._faults(method, data)
        if parts == ["reset"] and method == "POST":
            with transaction.atomic():
                ShopifyStore.objects.all().delete()
                ShopifySandboxState.objects.all().delete()
            self.buckets.reset()
            self.fault_counters.reset()
            return Response(200, {"ok": True})
        if parts == ["webhooks", "settings"]:
            state = ShopifySandboxState.load()
            if method == "POST":
                if "retry_schedule" in data:
                    schedule = data["retry_schedule"]
                    if schedule is not None:
                        schedule = [float(s) for s in schedule]
                        if len(schedule) > 20 or any(s < 0 for s in schedule):
                            raise ControlError(400, "invalid", "at most 20 delays, each >= 0")
                    state.webhook_retry_schedule = schedule
                if "timeout_seconds" in data:
                    state.webhook_timeout_seconds = float(data["timeout_seconds"])
                state.save()
            return Response(
                200,
                {
                    "retry_schedule": webhooks.retry_schedule(state),
                    "timeout_seconds": state.webhook_timeout_seconds,
                },
            )
        if parts == ["webhooks", "deliveries"]:
            rows = ShopifyWebhookDelivery.objects.select_related("store").order_by("id")
            if query.get("store"):
                rows = rows.filter(store__domain=query["store"][0].lower())
            if query.get("topic"):
                rows = rows.filter(topic=query["topic"][0])
            if query.get("status"):
                rows = rows.filter(status=query["status"][0])
            return Response(200, {"deliveries": [_delivery_json(d) for d in rows]})
        if parts == ["webhooks", "deliver"] and method == "POST":
            return Response(200, {"attempted": webhooks.deliver_due(limit=1000)})
        if parts and parts[0] == "stores":
            return self._stores(method, parts[1:], data)
        raise ControlError(404, "not_found", f"no control endpoint {method} {path}")

    def _clock(self, method: str, data: dict) -> Response:
        if method == "POST":
            if data.get("to"):
                before = clock.virtual_now()
                now = clock.advance(to=clock.parse_iso(data["to"]))
                self.buckets.clock.advance((now - before).total_seconds())
            else:
                seconds = float(data.get("advance_seconds", 0))
                if seconds < 0:
                    raise ControlError(400, "invalid", "the clock only moves forward")
                # The virtual clock keeps whole seconds; the buckets take the exact amount.
                clock.advance(int(seconds))
                self.buckets.clock.advance(seconds)
        return Response(200, {"now": render.iso(clock.virtual_now())})

    def _faults(self, method: str, data: dict) -> Response:
        with transaction.atomic():
            ShopifySandboxState.load()
            state = ShopifySandboxState.objects.select_for_update().get(pk=1)
            rules = faults.active(state.faults or [])
            if method == "POST":
                rules.append(faults.make_rule(data))
            elif method == "DELETE":
                rules = []
                self.fault_counters.reset()
            state.faults = rules
            state.save(update_fields=["faults", "updated_at"])
        hits = self.fault_counters.hits()
        return Response(200, {"faults": [{**r, "hits": hits.get(r["id"], 0)} for r in rules]})

    def store_json(self, store: ShopifyStore) -> dict[str, Any]:
        status = self.buckets.status(store.domain, store.bucket_maximum, store.restore_rate)
        return {
            "domain": store.domain,
            "name": store.name,
            "access_token": store.access_token,
            "client_secret": store.client_secret,
            "currency_code": store.currency_code,
            "iana_timezone": store.iana_timezone,
            "base_url": self.base_url,
            "graphql_url": f"{self.base_url}/admin/api/{webhooks.API_VERSION}/graphql.json",
            "api_version": webhooks.API_VERSION,
            "throttle": {
                "enabled": store.throttling_enabled,
                **status.as_json(),
            },
        }

    def _stores(self, method: str, parts: list[str], data: dict) -> Response:
        if not parts:
            if method == "POST":
                domain = (data.get("domain") or "").lower() or None
                if domain and ShopifyStore.objects.filter(domain=domain).exists():
                    raise ControlError(409, "store_exists", f"store {domain} exists")
                store = services.create_store(
                    domain=domain,
                    name=data.get("name", ""),
                    access_token=data.get("access_token"),
                    client_secret=data.get("client_secret"),
                    currency_code=data.get("currency_code", "USD"),
                    iana_timezone=data.get("iana_timezone", "America/New_York"),
                )
                return Response(201, self.store_json(store))
            return Response(
                200, {"stores": [self.store_json(s) for s in ShopifyStore.objects.order_by("id")]}
            )
        store = ShopifyStore.objects.filter(domain=parts[0].lower()).first()
        if store is None:
            raise ControlError(404, "store_not_found", f"no store {parts[0]}")
        rest = parts[1:]
        now = clock.virtual_now()
        if not rest:
            return Response(200, self.store_json(store))
        if rest == ["throttle"] and method == "POST":
            fields = []
            if "enabled" in data:
                store.throttling_enabled = bool(data["enabled"])
                fields.append("throttling_enabled")
            if "maximum_available" in data:
                store.bucket_maximum = float(data["maximum_available"])
                fields.append("bucket_maximum")
            if "restore_rate" in data:
                store.restore_rate = float(data["restore_rate"])
                fields.append("restore_rate")
            if store.bucket_maximum <= 0 or store.restore_rate < 0:
                raise ControlError(400, "invalid", "maximum_available > 0, restore_rate >= 0")
            if fields:
                store.save(update_fields=fields)
            if data.get("reset", bool(fields)):
                self.buckets.reset(store.domain)
            if "currently_available" in data:
                self.buckets.reset(store.domain)
                self.buckets.take(
                    store.domain,
                    max(0, int(store.bucket_maximum - float(data["currently_available"]))),
                    store.bucket_maximum,
                    store.restore_rate,
                )
            return Response(200, self.store_json(store))
        if rest == ["webhooks"] and method == "GET":
            subs = ShopifyWebhookSubscription.objects.filter(store=store)
            return Response(
                200, {"subscriptions": [render.webhook_subscription_view(s) for s in subs]}
            )
        if rest == ["orders"]:
            if method == "POST":
                result = services.create_order(
                    store, data.get("order") or data, data.get("options"), now, created_by="admin"
                )
                if result.order is None:
                    return Response(422, {"error": "user_errors", "user_errors": result.errors})
                return Response(201, render.order_payload(result.order, store))
            orders = ShopifyOrder.objects.filter(store=store).order_by("id")
            return Response(200, {"orders": [render.order_payload(o, store) for o in orders]})
        if len(rest) >= 2 and rest[0] == "orders":
            order = _find_order(store, rest[1])
            action = rest[2:]
            if not action and method == "GET":
                return Response(200, render.order_payload(order, store))
            if action == ["fulfill"] and method == "POST":
                return self._admin_fulfil(store, order, data, now)
            if action == ["refund"] and method == "POST":
                return self._admin_refund(store, order, data, now)
            if action == ["cancel"] and method == "POST":
                errors = services.cancel_order(
                    store,
                    services.gid("Order", order.pk),
                    reason=data.get("reason", "CUSTOMER"),
                    refund=bool(data.get("refund", True)),
                    restock=bool(data.get("restock", True)),
                    notify_customer=bool(data.get("notify_customer", False)),
                    staff_note=data.get("staff_note", ""),
                    now=now,
                    created_by="admin",
                )
                return _admin_result(errors, order, store)
        raise ControlError(
            404, "not_found", f"no control endpoint {method} stores/{'/'.join(parts)}"
        )

    def _admin_fulfil(self, store, order, data, now) -> Response:
        lines = None
        if data.get("lines"):
            lines = [
                {
                    "id": services.gid("FulfillmentOrderLineItem", _line_pk(order, line)),
                    "quantity": int(line["quantity"]),
                }
                for line in data["lines"]
            ]
        fulfillment_input = {
            "lineItemsByFulfillmentOrder": [
                {
                    "fulfillmentOrderId": services.gid("FulfillmentOrder", order.pk),
                    "fulfillmentOrderLineItems": lines,
                }
            ],
            "notifyCustomer": bool(data.get("notify_customer", False)),
            "trackingInfo": data.get("tracking") or None,
        }
        _, errors = services.create_fulfillment(store, fulfillment_input, now, created_by="admin")
        return _admin_result(errors, order, store)

    def _admin_refund(self, store, order, data, now) -> Response:
        refund_input: dict[str, Any] = {
            "orderId": services.gid("Order", order.pk),
            "note": data.get("note", ""),
            "notify": bool(data.get("notify", False)),
            "refundLineItems": [
                {
                    "lineItemId": services.gid("LineItem", _line_pk(order, line)),
                    "quantity": int(line["quantity"]),
                    "restockType": line.get("restock_type", "NO_RESTOCK"),
                }
                for line in data.get("lines") or []
            ],
        }
        if data.get("full_shipping"):
            refund_input["shipping"] = {"fullRefund": True}
        elif data.get("shipping_amount") is not None:
            refund_input["shipping"] = {"amount": str(data["shipping_amount"])}
        if data.get("amount") is not None:
            refund_input["transactions"] = [
                {
                    "amount": str(data["amount"]),
                    "gateway": "manual",
                    "kind": "REFUND",
                    "orderId": services.gid("Order", order.pk),
                }
            ]
        _, errors = services.create_refund(store, refund_input, now, created_by="admin")
        return _admin_result(errors, order, store)


def _operation(document, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        return next((o for o in operations if o.name and o.name.value == name), None)
    return operations[0] if len(operations) == 1 else None


def _find_order(store: ShopifyStore, ref: str) -> ShopifyOrder:
    pk = services.parse_gid(ref, "Order") or (int(ref) if ref.isdigit() else None)
    order = ShopifyOrder.objects.filter(store=store, pk=pk).first() if pk else None
    if order is None:
        raise ControlError(404, "order_not_found", f"no order {ref} in {store.domain}")
    return order


def _line_pk(order: ShopifyOrder, line: dict) -> int:
    if line.get("line_item_id"):
        ref = line["line_item_id"]
        return services.parse_gid(ref, "LineItem") or int(ref)
    item = order.line_items.filter(sku=line.get("sku", "")).first()
    if item is None:
        raise ControlError(
            400, "invalid", f"order {order.name} has no line with sku {line.get('sku')!r}"
        )
    return item.pk


def _admin_result(errors: list[dict], order: ShopifyOrder, store: ShopifyStore) -> Response:
    if errors:
        return Response(422, {"error": "user_errors", "user_errors": errors})
    return Response(200, render.order_payload(order, store))


def _delivery_json(delivery: ShopifyWebhookDelivery) -> dict[str, Any]:
    body = bytes(delivery.body)
    return {
        "webhook_id": delivery.webhook_id,
        "event_id": delivery.event_id,
        "store": delivery.store.domain,
        "topic": delivery.topic,
        "callback_url": delivery.callback_url,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "attempt_log": delivery.attempt_log,
        "triggered_at": delivery.triggered_at.isoformat(),
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        "headers": webhooks.headers_for(delivery, delivery.store),
        "body": body.decode("utf-8"),
    }
