"""The emulator's WSGI application: SP-API operations, LWA, Seller Central's consent page,
feed documents, Amazon's static sandbox cases and the control API.

It is deliberately not a Django view stack: python-amazon-sp-api sends ``host: endpoint[8:]``
(it assumes ``https://``), which is garbage for ``http://127.0.0.1:PORT``, so nothing here
reads the Host header (no ``request.get_host()``, no ALLOWED_HOSTS check). URLs the emulator
hands out are built from its own base URL.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from django.db import connections, transaction

from sandbox.amazon import (
    api,
    authorization,
    clock,
    consent,
    faults,
    feeds,
    generator,
    lifecycle,
    notifications,
    operations,
    render,
    services,
    sqs,
    static_cases,
)
from sandbox.amazon.errors import ApiError, ControlError, quota_exceeded
from sandbox.amazon.models import (
    AmazonApplication,
    AmazonFeed,
    AmazonFeedDocument,
    AmazonOrder,
    AmazonSeller,
    SandboxState,
)
from sandbox.amazon.ratelimit import TokenBuckets

logger = logging.getLogger("sandbox.amazon")

STATIC_PREFIX = "/sandbox-static"
CONTROL_PREFIX = "/_sandbox"
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return clock.isoformat(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any) -> bytes:
    return json.dumps(data, default=_json_default, ensure_ascii=False).encode("utf-8")


class Response:
    def __init__(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.status = status
        self.headers = dict(headers or {})
        if raw is not None:
            self.body = raw
        elif body is None:
            self.body = b""
        else:
            self.body = dumps(body)
        if self.body or status not in (204,):
            self.headers.setdefault("Content-Type", content_type)


class SandboxApp:
    """One instance per server: it owns the rate-limit buckets and fault counters."""

    def __init__(self, base_url: str, *, log_requests: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.buckets = TokenBuckets()
        self.fault_counters = faults.FaultCounters()
        self.log_requests = log_requests
        self.stopping = threading.Event()
        self._long_polls_active = 0
        self._lock = threading.Lock()

    def stop_long_polls(self, timeout: float = 3.0) -> None:
        self.stopping.set()
        deadline = time.monotonic() + timeout
        while self._long_polls_active and time.monotonic() < deadline:
            time.sleep(0.05)

    # --- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.monotonic()
        try:
            request = self._request(environ)
            response = self.handle(request)
        except Exception:
            logger.error("sandbox error:\n%s", traceback.format_exc())
            response = Response(
                500,
                {
                    "errors": [
                        {
                            "code": "InternalFailure",
                            "message": "We encountered an internal error. Please try again.",
                        }
                    ]
                },
            )
        finally:
            # Each request runs in its own thread: give its connections back.
            connections.close_all()
        headers = [(k, v) for k, v in response.headers.items()]
        headers.append(("Content-Length", str(len(response.body))))
        status = f"{response.status} {STATUS_TEXT.get(response.status, 'Status')}"
        start_response(status, headers)
        if self.log_requests:
            logger.info(
                "%s %s -> %s (%.0f ms)",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
                response.status,
                (time.monotonic() - started) * 1000,
            )
        return [response.body]

    @staticmethod
    def _request(environ: dict) -> api.Request:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        path = environ.get("PATH_INFO") or "/"
        # WSGI hands the path over as latin-1 decoded bytes; order ids are ASCII anyway.
        path = path.encode("latin-1").decode("utf-8", "replace")
        return api.Request(
            method=environ.get("REQUEST_METHOD", "GET").upper(),
            path=path,
            query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
            body=body,
            headers=headers,
        )

    # --- routing -------------------------------------------------------------------------------

    def handle(self, request: api.Request) -> Response:
        path = request.path
        if path.startswith(CONTROL_PREFIX + "/documents/"):
            return self.document(request)
        if path.startswith(CONTROL_PREFIX + "/") or path == CONTROL_PREFIX:
            try:
                return self.control(request)
            except ControlError as exc:
                return Response(exc.status, {"error": exc.code, "message": exc.message})
            except ApiError as exc:
                return Response(exc.status, {"error": exc.code, "message": exc.message})
            except (ValueError, KeyError, TypeError) as exc:
                return Response(400, {"error": "invalid", "message": str(exc)})
        if path == "/auth/o2/token":
            return self.lwa(request)
        if path == consent.PATH:
            page = consent.handle(request.method, request.query, request.body)
            headers = {"Location": page.location} if page.location else {}
            return Response(
                page.status,
                raw=page.html.encode("utf-8"),
                headers=headers,
                content_type="text/html; charset=utf-8",
            )
        if path.startswith(sqs.PREFIX + "/") or path == sqs.PREFIX:
            return self.sqs(request)
        if path.startswith(STATIC_PREFIX + "/"):
            return self.sp_api(request, path[len(STATIC_PREFIX) :], static=True)
        return self.sp_api(request, path, static=False)

    # --- LWA -----------------------------------------------------------------------------------

    def lwa(self, request: api.Request) -> Response:
        if request.method != "POST":
            return Response(405, {"error": "invalid_request", "error_description": "POST only"})
        form: dict[str, str] = {}
        if request.headers.get("content-type", "").startswith("application/json"):
            data = json.loads(request.body or b"{}")
            form = {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        else:
            form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        status, body = authorization.exchange(form)
        return Response(status, body, headers={"x-amzn-RequestId": str(uuid.uuid4())})

    # --- SP-API --------------------------------------------------------------------------------

    def sp_api(self, request: api.Request, path: str, *, static: bool) -> Response:
        request_id = str(uuid.uuid4())
        headers = {"x-amzn-RequestId": request_id}
        matched = operations.match(request.method, path)
        static_op, case = None, None
        if static:
            static_op, case = static_cases.find(
                request.method, path, request.query, _json_or_none(request)
            )
        if matched is None and static_op is None:
            code = 405 if operations.path_allowed(path) else 404
            error = ApiError(
                code,
                "NotFound" if code == 404 else "MethodNotAllowed",
                f"{request.method} {path} is not served by the emulator.",
            )
            return Response(code, error.body(), headers)
        op = matched[0] if matched else None
        if op is not None:
            headers["x-amzn-RateLimit-Limit"] = op.rate
        try:
            caller = services.authenticate(request.headers.get("x-amz-access-token"))
        except ApiError as exc:
            return Response(exc.status, exc.body(), headers)
        state = SandboxState.load()
        seller = caller.seller
        operation_name = op.name if op else static_op.operation_id
        if op is not None:
            refusal = self._token_refusal(op.name, caller)
            if refusal is not None:
                return Response(refusal.status, refusal.body(), headers)
        if op is not None and state.rate_limits_enabled:
            rate, burst = op.rate_per_second, op.burst
            override = (seller.rate_limit_overrides or {}).get(op.name) if seller else None
            if override:
                rate, burst = float(override[0]), int(override[1])
                headers["x-amzn-RateLimit-Limit"] = str(override[0])
            if not self.buckets.take((caller.key, op.name), rate, burst):
                return Response(429, quota_exceeded().body(), headers)
        decision = self.fault_counters.decide(
            faults.active(state.faults or []), operation_name, caller.key
        )
        if decision.latency_ms:
            time.sleep(decision.latency_ms / 1000)
        if decision.kind == "throttle":
            return Response(429, quota_exceeded().body(), headers)
        if decision.kind == "error_500":
            error = ApiError(
                500, "InternalFailure", "We encountered an internal error. Please try again."
            )
            return Response(500, error.body(), headers)
        if decision.kind == "error_503":
            error = ApiError(
                503, "ServiceUnavailable", "Service temporarily unavailable. Please try again."
            )
            return Response(503, error.body(), headers)
        now = clock.virtual_now(state)
        try:
            if static:
                response = self._static(static_op, case, headers)
            else:
                if seller is not None:
                    services.catch_up(seller.pk, now)
                ctx = api.Context(
                    request=request,
                    seller=seller,
                    now=now,
                    base_url=self.base_url,
                    state=state,
                    path_params=matched[1],
                    restricted_resources=caller.restricted_resources,
                    client_id=caller.client_id,
                )
                if caller.restricted_resources is not None and op.name not in api.RDT_OPERATIONS:
                    raise ApiError(
                        403,
                        "Unauthorized",
                        "Access to requested resource is denied.",
                        "A restricted data token only grants its restricted resources.",
                    )
                status, body = api.HANDLERS[op.name](ctx)
                response = Response(status, body, headers)
        except ApiError as exc:
            response = Response(exc.status, exc.body(), headers)
        if decision.kind in ("truncated", "malformed") and response.status < 300:
            response = self._mangle(response, decision.kind)
        if decision.kind == "lost_response" and response.status < 300:
            error = ApiError(
                500, "InternalFailure", "We encountered an internal error. Please try again."
            )
            return Response(500, error.body(), headers)
        return response

    @staticmethod
    def _token_refusal(operation: str, caller: services.Caller) -> ApiError | None:
        """Grantless operations take the application's token; all others a seller's."""
        if operation in operations.GRANTLESS_OR_SELLER:
            return None
        if operation in operations.GRANTLESS and caller.seller is not None:
            return ApiError(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "This operation is grantless: call it with the application's own token.",
            )
        if operation not in operations.GRANTLESS and caller.seller is None:
            return ApiError(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "A grantless token does not authorize a selling partner's operations.",
            )
        return None

    # --- SQS -----------------------------------------------------------------------------------

    def sqs(self, request: api.Request) -> Response:
        with self._lock:
            self._long_polls_active += 1
        try:
            status, body, headers = sqs.handle(
                request.method,
                request.headers,
                request.body,
                self.base_url,
                self._dispatch,
                stopping=self.stopping,
            )
        finally:
            with self._lock:
                self._long_polls_active -= 1
        return Response(status, body, headers=headers, content_type="application/x-amz-json-1.0")

    @staticmethod
    def _dispatch(queue_arn: str) -> None:
        notifications.dispatch(queue_arn, clock.virtual_now())

    @staticmethod
    def _static(op, case, headers: dict[str, str]) -> Response:
        if case is None:
            return Response(400, static_cases.NO_MATCH, headers)
        body = case.response
        if case.status == 204 or body is None:
            return Response(case.status, None, headers)
        return Response(case.status, body, headers)

    @staticmethod
    def _mangle(response: Response, kind: str) -> Response:
        if kind == "truncated":
            cut = max(1, len(response.body) // 2)
            return Response(response.status, raw=response.body[:cut], headers=response.headers)
        raw = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        headers = dict(response.headers)
        headers["Content-Type"] = "text/html"
        return Response(response.status, raw=raw, headers=headers)

    # --- documents -----------------------------------------------------------------------------

    def document(self, request: api.Request) -> Response:
        document_id = request.path[len(CONTROL_PREFIX + "/documents/") :]
        signature = request.param("sig") or ""
        if not api.check_document_signature(document_id, signature):
            return Response(
                403,
                raw=b"<Error><Code>AccessDenied</Code><Message>Request has expired or the "
                b"signature does not match</Message></Error>",
                content_type="application/xml",
            )
        document = AmazonFeedDocument.objects.filter(document_id=document_id).first()
        if document is None:
            return Response(
                404, raw=b"<Error><Code>NoSuchKey</Code></Error>", content_type="application/xml"
            )
        if request.method == "PUT":
            if document.is_result:
                return Response(
                    403,
                    raw=b"<Error><Code>AccessDenied</Code></Error>",
                    content_type="application/xml",
                )
            AmazonFeedDocument.objects.filter(pk=document.pk).update(
                content=request.body,
                uploaded=True,
                content_type=request.headers.get("content-type") or document.content_type,
            )
            return Response(200, raw=b"")
        if request.method == "GET":
            return Response(
                200, raw=bytes(document.content or b""), content_type=document.content_type
            )
        return Response(405, raw=b"")

    # --- control API ---------------------------------------------------------------------------

    def control(self, request: api.Request) -> Response:
        parts = [p for p in request.path[len(CONTROL_PREFIX) :].split("/") if p]
        method = request.method
        data = _json_or_none(request) or {}
        if not isinstance(data, dict):
            raise ControlError(400, "invalid", "the body must be a JSON object")
        if parts == ["health"]:
            return Response(200, {"ok": True, "now": clock.virtual_now()})
        if parts == ["clock"]:
            if method == "POST":
                if data.get("to"):
                    now = clock.advance(to=clock.parse_iso(data["to"]))
                else:
                    seconds = float(data.get("advance_seconds", 0))
                    seconds += 60 * float(data.get("advance_minutes", 0))
                    seconds += 86400 * float(data.get("advance_days", 0))
                    now = clock.advance(int(seconds))
                services.catch_up_all(now)
            state = SandboxState.load()
            return Response(
                200, {"now": clock.virtual_now(state), "offset_seconds": state.clock_offset_seconds}
            )
        if parts == ["rate-limits"]:
            if method == "POST":
                enabled = bool(data.get("enabled", True))
                SandboxState.load()
                SandboxState.objects.filter(pk=1).update(rate_limits_enabled=enabled)
                if data.get("reset_buckets", True):
                    self.buckets.reset()
            return Response(200, {"enabled": SandboxState.load().rate_limits_enabled})
        if parts == ["settings"]:
            state = SandboxState.load()
            if method == "POST":
                for name in ("feed_queue_seconds", "feed_processing_seconds"):
                    if name in data:
                        setattr(state, name, int(data[name]))
                state.save()
            return Response(
                200,
                {
                    "feed_queue_seconds": state.feed_queue_seconds,
                    "feed_processing_seconds": state.feed_processing_seconds,
                    "rate_limits_enabled": state.rate_limits_enabled,
                },
            )
        if parts == ["faults"]:
            return self._faults(method, data)
        if parts == ["reset"] and method == "POST":
            with transaction.atomic():
                AmazonSeller.objects.all().delete()
                AmazonApplication.objects.all().delete()
                SandboxState.objects.all().delete()
            self.buckets.reset()
            self.fault_counters.reset()
            return Response(200, {"ok": True})
        if parts and parts[0] == "sellers":
            return self._sellers(method, parts[1:], data)
        if parts and parts[0] == "applications":
            return self._applications(method, parts[1:], data)
        raise ControlError(404, "not_found", f"no control endpoint {method} {request.path}")

    def application_json(self, application: AmazonApplication) -> dict[str, Any]:
        return {
            "application_id": application.application_id,
            "name": application.name,
            "client_id": application.client_id,
            "client_secret": application.client_secret,
            "redirect_uris": application.redirect_uris,
            "draft": application.draft,
            "consent_url": f"{self.base_url}{consent.PATH}",
            "lwa_token_url": f"{self.base_url}/auth/o2/token",
            "endpoint": self.base_url,
        }

    def _applications(self, method: str, parts: list[str], data: dict) -> Response:
        if not parts:
            if method == "POST":
                application = authorization.create_application(
                    application_id=data.get("application_id"),
                    name=str(data.get("name", "")),
                    client_id=data.get("client_id"),
                    client_secret=data.get("client_secret"),
                    redirect_uris=data.get("redirect_uris"),
                    draft=data.get("draft", True),
                )
                return Response(201, self.application_json(application))
            return Response(
                200,
                {
                    "applications": [
                        self.application_json(a) for a in AmazonApplication.objects.order_by("id")
                    ]
                },
            )
        application = authorization.application_by_id(parts[0])
        if application is None or len(parts) > 1:
            raise ControlError(404, "application_not_found", f"no application {parts[0]}")
        if method == "POST":
            application = authorization.update_application(application, data)
        return Response(200, self.application_json(application))

    def _faults(self, method: str, data: dict) -> Response:
        with transaction.atomic():
            SandboxState.load()
            state = SandboxState.objects.select_for_update().get(pk=1)
            rules = faults.active(state.faults or [])
            if method == "POST":
                rule = faults.make_rule(data)
                rules.append(rule)
            elif method == "DELETE":
                rules = []
                self.fault_counters.reset()
            state.faults = rules
            state.save(update_fields=["faults", "updated_at"])
        hits = self.fault_counters.hits()
        return Response(
            200,
            {
                "faults": [{**r, "hits": hits.get(r["id"], 0)} for r in rules],
                "served": self.fault_counters.served(),
            },
        )

    def seller_json(self, seller: AmazonSeller) -> dict[str, Any]:
        return {
            "selling_partner_id": seller.selling_partner_id,
            "name": seller.name,
            "marketplace_ids": seller.marketplace_ids,
            "client_id": seller.client_id,
            "client_secret": seller.client_secret,
            "refresh_token": seller.refresh_token,
            "endpoint": self.base_url,
            "lwa_token_url": f"{self.base_url}/auth/o2/token",
            "static_sandbox_endpoint": f"{self.base_url}{STATIC_PREFIX}",
            "notifications_queue_url": sqs.queue_url(self.base_url),
            "token_ttl_seconds": seller.token_ttl_seconds,
            "auto_cancel_days": seller.auto_cancel_days,
            "tax_detail_omitted_share": seller.tax_detail_omitted_share,
        }

    def _sellers(self, method: str, parts: list[str], data: dict) -> Response:
        if not parts:
            if method == "POST":
                seller = services.create_seller(
                    selling_partner_id=data.get("selling_partner_id"),
                    name=data.get("name", ""),
                    marketplace_ids=data.get("marketplace_ids"),
                    client_id=data.get("client_id"),
                    client_secret=data.get("client_secret"),
                    refresh_token=data.get("refresh_token"),
                    token_ttl_seconds=int(data.get("token_ttl_seconds", 3600)),
                    auto_cancel_days=int(data.get("auto_cancel_days", 30)),
                    rate_limit_overrides=data.get("rate_limit_overrides"),
                    tax_detail_omitted_share=float(data.get("tax_detail_omitted_share", 0)),
                )
                return Response(201, self.seller_json(seller))
            return Response(
                200, {"sellers": [self.seller_json(s) for s in AmazonSeller.objects.order_by("id")]}
            )
        seller = AmazonSeller.objects.filter(selling_partner_id=parts[0]).first()
        if seller is None:
            raise ControlError(404, "seller_not_found", f"no seller {parts[0]}")
        rest = parts[1:]
        now = clock.virtual_now()
        services.catch_up(seller.pk, now)
        if not rest:
            if method == "POST":
                seller = services.update_seller(seller, data)
            return Response(200, self.seller_json(seller))
        if rest == ["revoke-tokens"] and method == "POST":
            services.revoke_tokens(seller)
            return Response(200, self.seller_json(seller))
        if rest == ["revoke-authorizations"] and method == "POST":
            revoked = authorization.revoke_authorizations(seller, data.get("application_id"))
            return Response(200, {"revoked": revoked})
        if rest == ["orders"] and method == "POST":
            spec = services.order_spec_from_request(seller, data, now)
            if spec["purchase_date"] > now + _days(365):
                raise ControlError(400, "invalid", "purchase_date is too far in the future")
            order = services.create_orders(seller, [spec], now)[0]
            return Response(201, order_state(order, now))
        if rest == ["orders", "generate"] and method == "POST":
            options = generator.GenerationOptions(
                count=int(data.get("count", 10)),
                seed=str(data.get("seed", "0")),
                placed_from=clock.parse_iso(data["placed_from"])
                if data.get("placed_from")
                else None,
                placed_to=clock.parse_iso(data["placed_to"]) if data.get("placed_to") else None,
                **{
                    k: float(data[k])
                    for k in (
                        "afn_share",
                        "business_share",
                        "prime_share",
                        "multi_item_share",
                        "stays_pending_share",
                        "payment_declined_share",
                        "buyer_cancel_share",
                    )
                    if k in data
                },
            )
            if not 1 <= options.count <= 50000:
                raise ControlError(400, "invalid", "count must be between 1 and 50000")
            marketplace_ids = data.get("marketplace_ids") or seller.marketplace_ids
            foreign = [m for m in marketplace_ids if m not in seller.marketplace_ids]
            if foreign:
                raise ControlError(400, "invalid", f"seller does not sell on {foreign}")
            if not data.get("placed_from") and data.get("days") is not None:
                options = generator.GenerationOptions(
                    **{
                        **options.__dict__,
                        "placed_from": (options.placed_to or now) - _days(float(data["days"])),
                    }
                )
            specs = generator.generate(
                options,
                marketplace_ids=marketplace_ids,
                now=now,
                auto_cancel_days=seller.auto_cancel_days,
            )
            for spec in specs:
                spec["generation_seed"] = options.seed
            orders = services.create_orders(seller, specs, now)
            return Response(
                201, {"count": len(orders), "amazon_order_ids": [o.amazon_order_id for o in orders]}
            )
        if rest == ["orders", "ship-older"] and method == "POST":
            shipped = services.ship_older_in_seller_central(seller, data, now)
            return Response(200, {"count": len(shipped), "amazon_order_ids": shipped})
        if len(rest) >= 2 and rest[0] == "orders":
            order_id = rest[1]
            if len(rest) == 2 and method == "GET":
                order = services.get_order(seller, order_id, now)
                return Response(200, order_state(order, now))
            if rest[2:] == ["buyer-cancellation"] and method == "POST":
                order = services.request_buyer_cancel(
                    seller,
                    order_id,
                    data.get("reason", "No longer needed."),
                    now,
                    data.get("order_item_ids"),
                )
                return Response(200, order_state(order, now))
            if rest[2:] == ["ship"] and method == "POST":
                services.ship_in_seller_central(seller, order_id, data, now)
                return Response(200, order_state(services.get_order(seller, order_id, now), now))
            if rest[2:] == ["refunds"] and method == "POST":
                result = services.refund_in_seller_central(seller, order_id, data, now)
                order = services.get_order(seller, order_id, now)
                return Response(
                    201, {"adjustment_id": result.adjustment_id, "order": order_state(order, now)}
                )
        if len(rest) == 2 and rest[0] == "feeds" and method == "GET":
            feed = (
                AmazonFeed.objects.filter(seller=seller, feed_id=rest[1])
                .select_related("result_document", "input_document")
                .first()
            )
            if feed is None:
                raise ControlError(404, "feed_not_found", f"no feed {rest[1]}")
            body = {
                "feed_id": feed.feed_id,
                "feed_type": feed.feed_type,
                "status": feed.status,
                "created_time": feed.created_time,
                "start_at": feed.start_at,
                "end_at": feed.end_at,
                "report": None,
            }
            if feed.result_document is not None:
                text = bytes(feed.result_document.content).decode("utf-8")
                body["report"] = feeds.parse_report(text)
                body["report_xml"] = text
            return Response(200, body)
        raise ControlError(404, "not_found", f"no control endpoint {method} {'/'.join(parts)}")


def _days(days: float):
    from datetime import timedelta

    return timedelta(days=days)


def _json_or_none(request: api.Request) -> Any:
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        return None


def order_state(order: AmazonOrder, now: datetime) -> dict[str, Any]:
    """The emulator's full view of an order (control API; not an Amazon shape)."""
    order.refresh_from_db()
    items = list(order.items.all())
    return {
        "amazon_order_id": order.amazon_order_id,
        "seller_order_id": order.seller_order_id,
        "marketplace_id": order.marketplace_id,
        "currency": order.currency,
        "status": order.status,
        "fulfillment_channel": order.fulfillment_channel,
        "purchase_date": order.purchase_date,
        "last_update_date": order.last_update_date,
        "payment_authorized": order.payment_authorized,
        "canceled_by": order.canceled_by,
        "cancel_reason": order.cancel_reason,
        "is_business_order": order.is_business_order,
        "is_prime": order.is_prime,
        "order_total": lifecycle.order_total(order, items),
        "schedule": {
            "pending_until": order.pending_until,
            "pending_outcome": order.pending_outcome,
            "buyer_cancel_at": order.buyer_cancel_at,
            "afn_ship_at": order.afn_ship_at,
            "auto_cancel_at": order.auto_cancel_at,
        },
        "items": [
            {
                "order_item_id": i.order_item_id,
                "seller_sku": i.seller_sku,
                "asin": i.asin,
                "title": i.title,
                "quantity_ordered": i.quantity_ordered,
                "quantity_shipped": i.quantity_shipped,
                "quantity_canceled": i.quantity_canceled,
                "item_price": render.marketplaces.format_amount(i.item_price, order.currency),
                "item_tax": render.marketplaces.format_amount(i.item_tax, order.currency),
                "shipping_price": render.marketplaces.format_amount(
                    i.shipping_price, order.currency
                ),
                "shipping_tax": render.marketplaces.format_amount(i.shipping_tax, order.currency),
                "buyer_cancel_requested": i.buyer_cancel_requested,
                "buyer_cancel_reason": i.buyer_cancel_reason,
            }
            for i in items
        ],
        "packages": [
            {
                "package_reference_id": p.package_reference_id,
                "carrier_code": p.carrier_code,
                "tracking_number": p.tracking_number,
                "ship_date": p.ship_date,
                "items": p.items,
                "shipped_by": p.shipped_by,
            }
            for p in order.packages.all()
        ],
        "refunds": [
            {
                "adjustment_id": a.adjustment_id,
                "source": a.source,
                "order_item_id": a.item.order_item_id,
                "component": a.component,
                "amount": render.marketplaces.format_amount(a.amount, order.currency),
                "posted_date": a.posted_date,
            }
            for a in order.adjustments.select_related("item")
        ],
    }
