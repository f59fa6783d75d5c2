"""Write use cases of the fulfillment app (rules F1-F12, R3, R4, R5, A1, A5-A7).

Each public function is one use case: one transaction, the order and the fulfillment order
locked (``select_for_update``, always the order first), the transition decided by
``fulfillment/workflow.py`` and the order's state by ``orders/policy.py`` (the same decisions
the portal and the API show), a timeline event for everything that happens (F12), and outbox
messages for every external effect: signed callbacks to the service (requests and cancellation
requests) and shipment confirmations to Amazon (R3). Domain errors carry api.md's codes.

Who acts is an ``Actor``: the merchant's side (a portal user, a merchant or agency key), the
fulfillment service (its own key), or Keelson itself (the automatic request of F2).

The use cases live in modules by group (``base``, ``setup``, ``connections``, ``unassign``,
``fulfillment_orders``, ``requests``, ``shipments``, ``confirmations``); this package exports
the public ones.
"""

from __future__ import annotations

from fulfillment.services.base import (
    AMAZON_ACTOR,
    AMAZON_CONFIRM_KIND,
    AUTO_REQUEST_ACTOR,
    CALLBACK_KIND,
    INVENTORY_REMINDER,
    R4_NOTE,
    SERVICE_KEY_SCOPES,
    SHOPIFY_FULFILLMENT_KIND,
    Actor,
    _event,
    refresh_fulfillment_status,
)
from fulfillment.services.confirmations import (
    BulkConfirmation,
    confirm_shipments,
    record_amazon_confirmation,
)
from fulfillment.services.connections import (
    ConnectionCheck,
    Withdrawal,
    deactivate_fulfillment_service,
    reactivate_fulfillment_service,
    record_connection,
    remove_location,
    send_test_callback,
)
from fulfillment.services.fulfillment_orders import (
    SyncReport,
    prepare_fulfillment_orders,
    sync_fulfillment_orders,
)
from fulfillment.services.requests import (
    accept_cancellation,
    accept_request,
    add_note,
    cancel_request,
    reject_cancellation,
    reject_request,
    request_fulfillment,
    revert_to_unfulfilled,
    submit_request,
)
from fulfillment.services.setup import (
    LocationSpec,
    ServiceCredentials,
    add_location,
    check_callback_url,
    clean_skus,
    create_fulfillment_service,
    issue_service_api_key,
    new_signing_secret,
    revoke_service_api_key,
    rotate_signing_secret,
    set_default_service,
    update_fulfillment_service,
)
from fulfillment.services.shipments import (
    AMAZON_CARRIER_CODES,
    ShipmentInput,
    amazon_carrier,
    amazon_confirmation_key,
    fulfil_order,
    report_shipment,
)
from fulfillment.services.shopify import (
    enqueue_shopify_fulfillment,
    reconcile_shopify_fulfillments,
    record_shopify_fulfillment,
    shopify_fulfillment_key,
)

# Who acts is an Actor on a side of the workflow: callers build one with the Side.
from fulfillment.workflow import Side

__all__ = [
    "AMAZON_ACTOR",
    "AMAZON_CARRIER_CODES",
    "AMAZON_CONFIRM_KIND",
    "AUTO_REQUEST_ACTOR",
    "CALLBACK_KIND",
    "INVENTORY_REMINDER",
    "R4_NOTE",
    "SERVICE_KEY_SCOPES",
    "SHOPIFY_FULFILLMENT_KIND",
    "Actor",
    "BulkConfirmation",
    "ConnectionCheck",
    "LocationSpec",
    "ServiceCredentials",
    "ShipmentInput",
    "Side",
    "SyncReport",
    "Withdrawal",
    "_event",
    "accept_cancellation",
    "accept_request",
    "add_location",
    "add_note",
    "amazon_carrier",
    "amazon_confirmation_key",
    "cancel_request",
    "check_callback_url",
    "clean_skus",
    "confirm_shipments",
    "create_fulfillment_service",
    "deactivate_fulfillment_service",
    "enqueue_shopify_fulfillment",
    "fulfil_order",
    "issue_service_api_key",
    "new_signing_secret",
    "prepare_fulfillment_orders",
    "reactivate_fulfillment_service",
    "reconcile_shopify_fulfillments",
    "record_amazon_confirmation",
    "record_connection",
    "record_shopify_fulfillment",
    "refresh_fulfillment_status",
    "reject_cancellation",
    "reject_request",
    "remove_location",
    "report_shipment",
    "request_fulfillment",
    "revert_to_unfulfilled",
    "revoke_service_api_key",
    "rotate_signing_secret",
    "send_test_callback",
    "set_default_service",
    "shopify_fulfillment_key",
    "submit_request",
    "sync_fulfillment_orders",
    "update_fulfillment_service",
]
