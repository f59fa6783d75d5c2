"""Finances v0: an order's financial events (refunds Amazon made, R6)."""

from __future__ import annotations

from sp_api.api import FinancesV0

from integrations.amazon.gateway.core import GatewayCore


class FinancesApi(GatewayCore):
    """Finances v0."""

    # --- Finances v0 -------------------------------------------------------------------------

    def financial_events_for_order(self, amazon_order_id: str) -> dict:
        """listFinancialEventsByOrderId, all pages merged: {"ShipmentEventList": [...], ...}."""
        merged: dict[str, list] = {}
        next_token: str | None = None
        while True:

            def fetch(token: str | None = next_token) -> dict:
                client = self._client(FinancesV0)
                try:
                    kwargs = {"NextToken": token} if token else {}
                    response = self._invoke(
                        client.get_financial_events_for_order, amazon_order_id, **kwargs
                    )
                    return self._payload(response, "listFinancialEventsByOrderId")
                finally:
                    client.close()

            payload = self.call("listFinancialEventsByOrderId", fetch)
            for name, events in (payload.get("FinancialEvents") or {}).items():
                if isinstance(events, list):
                    merged.setdefault(name, []).extend(events)
            next_token = payload.get("NextToken") or None
            if not next_token:
                return merged
