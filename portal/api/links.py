"""OpenAPI links between the partner API's operations (a drf-spectacular post-processing hook).

A link says where a response's values go next: the first order of a list is read with
``GET /orders/{id}/``, its first line is refunded with ``POST /orders/{id}/refunds/``, the
refund made is read with ``GET /refunds/{id}/``. Clients and docs show them as "what you can do
with this"; a stateful fuzzer (schemathesis) follows them to reach the routes behind real ids
(tests/api/test_fuzz.py).

Operations are named as ``"METHOD /path/"`` under ``/api/v1``; a link whose operations are not
in the schema (another URLconf in a test) is left out, and tests/api/test_schema.py checks that
every link here resolves in the real schema. ``request_body`` values may hold runtime
expressions inside the object (schemathesis evaluates them; other tools see a literal example).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

API_PREFIX = "/api/v1"
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Link:
    source: str
    status: str
    name: str
    target: str
    parameters: dict[str, str]
    request_body: dict[str, Any] | None = None
    description: str = ""

    def definition(self, operation_id: str) -> dict[str, Any]:
        link: dict[str, Any] = {"operationId": operation_id, "parameters": dict(self.parameters)}
        if self.request_body is not None:
            link["requestBody"] = self.request_body
        if self.description:
            link["description"] = self.description
        return link


def _first(list_path: str) -> str:
    return f"$response.body#/{list_path}/0/id"


ID = "$response.body#/id"
FULFILLMENT_ORDER_ACTIONS = (
    "submit-request",
    "cancel-request",
    "accept-request",
    "reject-request",
    "accept-cancellation",
    "reject-cancellation",
    "revert-to-unfulfilled",
    "notes",
)


def _links() -> list[Link]:
    links = [
        # Merchants.
        Link(
            "GET /merchants/", "200", "Merchant", "GET /merchants/{id}/", {"id": _first("results")}
        ),
        Link("GET /merchants/{id}/", "200", "Orders", "GET /orders/", {"merchant": ID}),
        Link(
            "GET /merchants/{id}/",
            "200",
            "FulfillmentOrders",
            "GET /fulfillment-orders/",
            {"merchant": ID},
        ),
        # Orders.
        Link("GET /orders/", "200", "Order", "GET /orders/{id}/", {"id": _first("results")}),
        Link(
            "GET /orders/", "200", "Events", "GET /orders/{id}/events/", {"id": _first("results")}
        ),
        Link(
            "GET /orders/", "200", "Refunds", "GET /orders/{id}/refunds/", {"id": _first("results")}
        ),
        Link("GET /orders/{id}/", "200", "Events", "GET /orders/{id}/events/", {"id": ID}),
        Link("GET /orders/{id}/", "200", "Refunds", "GET /orders/{id}/refunds/", {"id": ID}),
        Link(
            "GET /orders/{id}/",
            "200",
            "RefundFirstLine",
            "POST /orders/{id}/refunds/",
            {"id": ID},
            {"lines": [{"line": _first("lines"), "quantity": 1}]},
            "Refund one unit of the order's first line.",
        ),
        Link(
            "GET /orders/{id}/",
            "200",
            "CancelFirstLine",
            "POST /orders/{id}/cancel/",
            {"id": ID},
            {"lines": [{"line": _first("lines")}]},
            "Cancel what is open of the order's first line.",
        ),
        Link(
            "GET /orders/{id}/",
            "200",
            "FulfilFirstLine",
            "POST /orders/{id}/fulfillments/",
            {"id": ID},
            {"lines": [{"line": _first("lines"), "quantity": 1}]},
            "Fulfil one unit of the order's first line.",
        ),
        Link(
            "GET /orders/{id}/",
            "200",
            "FulfillmentOrder",
            "GET /fulfillment-orders/{id}/",
            {"id": _first("fulfillment_orders")},
        ),
        Link("GET /orders/{id}/", "200", "Refund", "GET /refunds/{id}/", {"id": _first("refunds")}),
        Link(
            "GET /orders/{id}/",
            "200",
            "Merchant",
            "GET /merchants/{id}/",
            {"id": "$response.body#/merchant"},
        ),
        Link(
            "POST /orders/{id}/fulfillments/",
            "201",
            "Order",
            "GET /orders/{id}/",
            {"id": "$response.body#/order"},
        ),
        # Refunds and cancellations.
        Link(
            "GET /orders/{id}/refunds/",
            "200",
            "Refund",
            "GET /refunds/{id}/",
            {"id": _first("results")},
        ),
        Link(
            "GET /refunds/{id}/",
            "200",
            "Order",
            "GET /orders/{id}/",
            {"id": "$response.body#/order"},
        ),
    ]
    for created_by in ("POST /orders/{id}/refunds/", "POST /orders/{id}/cancel/"):
        links += [
            Link(created_by, "201", "Refund", "GET /refunds/{id}/", {"id": ID}),
            Link(created_by, "201", "Order", "GET /orders/{id}/", {"id": "$response.body#/order"}),
        ]
    # Fulfillment orders: from the list or the detail to every action, and from every action's
    # answer (the fulfillment order) back to the detail, so a scenario walks the workflow.
    detail = "GET /fulfillment-orders/{id}/"
    links.append(
        Link(
            "GET /fulfillment-orders/", "200", "FulfillmentOrder", detail, {"id": _first("results")}
        )
    )
    links.append(Link(detail, "200", "Order", "GET /orders/{id}/", {"id": "$response.body#/order"}))
    for action in FULFILLMENT_ORDER_ACTIONS:
        target = f"POST /fulfillment-orders/{{id}}/{action}/"
        name = "".join(part.title() for part in action.split("-"))
        body = {"lines": [{"line": _first("lines")}]} if action == "revert-to-unfulfilled" else None
        links.append(
            Link("GET /fulfillment-orders/", "200", name, target, {"id": _first("results")})
        )
        links.append(Link(detail, "200", name, target, {"id": ID}, body))
        if action != "notes":  # a note answers with the timeline event
            links.append(Link(target, "200", "FulfillmentOrder", detail, {"id": ID}))
    shipment = "POST /fulfillment-orders/{id}/fulfillments/"
    links += [
        Link(
            detail,
            "200",
            "ReportShipment",
            shipment,
            {"id": ID},
            {"lines": [{"line": _first("lines"), "quantity": 1}]},
            "Report one unit of the first line shipped.",
        ),
        Link(
            shipment, "201", "FulfillmentOrder", detail, {"id": "$response.body#/fulfillment_order"}
        ),
    ]
    return links


LINKS = _links()


def operations_by_key(result: dict) -> dict[str, dict]:
    """The schema's operations by ``"METHOD /path/"`` (without the /api/v1 prefix)."""
    found = {}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method in METHODS:
                found[f"{method.upper()} {path.removeprefix(API_PREFIX)}"] = operation
    return found


def add_links(result: dict, generator, request, public) -> dict:
    operations = operations_by_key(result)
    for link in LINKS:
        source, target = operations.get(link.source), operations.get(link.target)
        if source is None or target is None:
            continue
        response = source.get("responses", {}).get(link.status)
        if response is None:
            continue
        links = response.setdefault("links", {})
        assert link.name not in links, f"two links named {link.name} from {link.source}"
        links[link.name] = link.definition(target["operationId"])
    return result
