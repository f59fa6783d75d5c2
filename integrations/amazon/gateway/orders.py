"""Orders: pages of Orders v0 and Orders 2026-01-01, one order and its items, and
confirmShipment (R3).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sp_api.api import OrdersV0, OrdersV20260101

from integrations.amazon.gateway.core import GatewayCore
from integrations.amazon.gateway.errors import AmazonTransientError
from integrations.amazon.gateway.parsing import (
    SEARCH_ORDERS_DATA,
    amazon_timestamp,
    parse_datetime,
    parse_item,
    parse_order,
    parse_order_2026,
)
from integrations.amazon.records import AmazonOrder, AmazonOrderItem, OrdersPage


class OrdersApi(GatewayCore):
    """Orders v0 and 2026-01-01."""

    # --- Orders v0 ---------------------------------------------------------------------------

    def get_orders_page(
        self,
        *,
        last_updated_after: datetime | None = None,
        last_updated_before: datetime | None = None,
        created_after: datetime | None = None,
        next_token: str | None = None,
        max_results: int = 100,
    ) -> OrdersPage:
        """One page of getOrders; the caller keeps the NextToken in its cursor."""
        params: dict[str, Any] = {"MarketplaceIds": list(self.credentials.marketplace_ids)}
        if next_token:
            params["NextToken"] = next_token
        else:
            params["MaxResultsPerPage"] = max_results
            if last_updated_after is not None:
                params["LastUpdatedAfter"] = amazon_timestamp(last_updated_after)
            if last_updated_before is not None:
                params["LastUpdatedBefore"] = amazon_timestamp(last_updated_before)
            if created_after is not None:
                params["CreatedAfter"] = amazon_timestamp(created_after)

        def fetch() -> OrdersPage:
            client = self._client(OrdersV0)
            try:
                payload = self._payload(
                    self._invoke(client.get_orders, **params), "getOrders", "Orders"
                )
            finally:
                client.close()
            try:
                orders = tuple(parse_order(o) for o in payload.get("Orders", []))
            except (KeyError, TypeError) as exc:
                raise AmazonTransientError(f"getOrders: malformed order ({exc})") from exc
            return OrdersPage(
                orders=orders,
                next_token=payload.get("NextToken") or None,
                last_updated_before=parse_datetime(payload.get("LastUpdatedBefore")),
            )

        return self.call("getOrders", fetch)

    def get_order_items(self, amazon_order_id: str) -> tuple[AmazonOrderItem, ...]:
        items: list[AmazonOrderItem] = []
        next_token: str | None = None
        while True:

            def fetch(token: str | None = next_token) -> dict:
                client = self._client(OrdersV0)
                try:
                    kwargs = {"NextToken": token} if token else {}
                    response = self._invoke(client.get_order_items, amazon_order_id, **kwargs)
                    return self._payload(response, "getOrderItems", "OrderItems")
                finally:
                    client.close()

            payload = self.call("getOrderItems", fetch)
            try:
                items.extend(parse_item(i) for i in payload.get("OrderItems", []))
            except (KeyError, TypeError, ValueError) as exc:
                raise AmazonTransientError(f"getOrderItems: malformed item ({exc})") from exc
            next_token = payload.get("NextToken") or None
            if not next_token:
                return tuple(items)

    def get_order(self, amazon_order_id: str) -> AmazonOrder:
        def fetch() -> AmazonOrder:
            client = self._client(OrdersV0)
            try:
                payload = self._payload(self._invoke(client.get_order, amazon_order_id), "getOrder")
            finally:
                client.close()
            return parse_order(payload)

        return self.call("getOrder", fetch)

    # --- Orders 2026-01-01 --------------------------------------------------------------------

    def search_orders_page(
        self,
        *,
        last_updated_after: datetime | None = None,
        last_updated_before: datetime | None = None,
        created_after: datetime | None = None,
        pagination_token: str | None = None,
        max_results: int = 100,
        personal_data: bool = False,
    ) -> OrdersPage:
        """One page of searchOrders (Orders 2026-01-01), items included in each record.

        ``personal_data`` asks for the buyer too and keeps the full address; it needs a
        restricted data token on real Amazon. The caller keeps the pagination token.
        """
        included = [*SEARCH_ORDERS_DATA, *(["BUYER"] if personal_data else [])]
        params: dict[str, Any] = {
            "marketplaceIds": list(self.credentials.marketplace_ids),
            "includedData": included,
        }
        if pagination_token:
            params["paginationToken"] = pagination_token
        else:
            params["maxResultsPerPage"] = max_results
            if last_updated_after is not None:
                params["lastUpdatedAfter"] = amazon_timestamp(last_updated_after)
            if last_updated_before is not None:
                params["lastUpdatedBefore"] = amazon_timestamp(last_updated_before)
            if created_after is not None:
                params["createdAfter"] = amazon_timestamp(created_after)

        def fetch() -> OrdersPage:
            client = self._client(OrdersV20260101)
            try:
                response = self._invoke(client.search_orders, **params)
            finally:
                client.close()
            payload = self._payload(response, "searchOrders", "orders")
            try:
                orders = tuple(
                    parse_order_2026(o, personal_data=personal_data) for o in payload["orders"]
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise AmazonTransientError(f"searchOrders: malformed order ({exc!r})") from exc
            pagination = getattr(response, "pagination", None) or payload.get("pagination") or {}
            return OrdersPage(
                orders=orders,
                next_token=pagination.get("nextToken") or None,
                last_updated_before=parse_datetime(payload.get("lastUpdatedBefore")),
            )

        return self.call("searchOrders", fetch)

    def confirm_shipment(
        self,
        amazon_order_id: str,
        *,
        marketplace_id: str,
        package_reference_id: str,
        carrier_code: str,
        tracking_number: str,
        ship_date: datetime,
        items: list[tuple[str, int]],
        carrier_name: str = "",
        shipping_method: str = "",
    ) -> None:
        """confirmShipment for one package: the order items and quantities in it (rule R3)."""
        body = {
            "packageDetail": {
                "packageReferenceId": package_reference_id,
                "carrierCode": carrier_code,
                "trackingNumber": tracking_number,
                "shipDate": amazon_timestamp(ship_date),
                "orderItems": [
                    {"orderItemId": item_id, "quantity": quantity} for item_id, quantity in items
                ],
            },
            "marketplaceId": marketplace_id,
        }
        if carrier_name:
            body["packageDetail"]["carrierName"] = carrier_name
        if shipping_method:
            body["packageDetail"]["shippingMethod"] = shipping_method

        def send() -> None:
            client = self._client(OrdersV0, marketplace_id)
            try:
                self._invoke(client.confirm_shipment, amazon_order_id, **body)
            finally:
                client.close()

        self.call("confirmShipment", send)
