"""Notifications v1: the ORDER_CHANGE subscription to our SQS queue, and its destination."""

from __future__ import annotations

from sp_api.api import Notifications

from integrations.amazon.gateway.core import GatewayCore
from integrations.amazon.gateway.errors import AmazonPermanentError, AmazonTransientError


class NotificationsApi(GatewayCore):
    """Notifications v1."""

    # --- Notifications v1 --------------------------------------------------------------------

    def ensure_subscription(
        self, notification_type: str, queue_arn: str, destination_name: str
    ) -> str:
        """Make sure the seller's ``notification_type`` notifications go to the SQS queue
        ``queue_arn``: the application's destination for the queue (grantless; found or
        created), then the seller's subscription to it (found, or created; one pointing
        elsewhere is replaced). Idempotent; returns the subscription id."""
        destination_id = self._destination_for(queue_arn, destination_name)
        current = self._subscription(notification_type)
        if current is not None and current.get("destinationId") == destination_id:
            return str(current["subscriptionId"])
        if current is not None:
            self.delete_subscription(notification_type, str(current["subscriptionId"]))

        def create() -> dict:
            client = self._client(Notifications)
            try:
                response = self._invoke(
                    client.create_subscription, notification_type, destination_id=destination_id
                )
                return self._payload(response, "createSubscription", "subscriptionId")
            finally:
                client.close()

        return str(self.call("createSubscription", create)["subscriptionId"])

    def delete_subscription(self, notification_type: str, subscription_id: str) -> None:
        def delete() -> None:
            client = self._client(Notifications)
            try:
                self._invoke(
                    client.delete_notification_subscription, notification_type, subscription_id
                )
            finally:
                client.close()

        try:
            self.call("deleteSubscriptionById", delete)
        except AmazonPermanentError as exc:
            if exc.status != 404:  # already gone: what we wanted
                raise

    def _subscription(self, notification_type: str) -> dict | None:
        def fetch() -> dict | None:
            client = self._client(Notifications)
            try:
                response = self._invoke(client.get_subscription, notification_type)
                return self._payload(response, "getSubscription", "subscriptionId")
            except AmazonPermanentError as exc:
                if exc.status == 404:
                    return None
                raise
            finally:
                client.close()

        return self.call("getSubscription", fetch)

    def _destination_for(self, queue_arn: str, name: str) -> str:
        def find() -> str | None:
            client = self._client(Notifications)
            try:
                response = self._invoke(client.get_destinations)
                payload = getattr(response, "payload", None)
                # The library turns an empty list into {} (as it does a body that is not
                # JSON): both read as "none"; creating one then answers 409 if there is one.
                if payload == {}:
                    payload = []
                if not isinstance(payload, list):
                    raise AmazonTransientError("getDestinations: response without a payload")
            finally:
                client.close()
            for destination in payload:
                if ((destination.get("resource") or {}).get("sqs") or {}).get("arn") == queue_arn:
                    return str(destination["destinationId"])
            return None

        def create() -> str:
            client = self._client(Notifications)
            try:
                response = self._invoke(client.create_destination, name=name, arn=queue_arn)
                return str(
                    self._payload(response, "createDestination", "destinationId")["destinationId"]
                )
            finally:
                client.close()

        found = self.call("getDestinations", find)
        if found:
            return found
        try:
            return self.call("createDestination", create)
        except AmazonPermanentError as exc:
            # Another worker created it meanwhile (409): it is there now.
            if exc.status != 409:
                raise
            found = self.call("getDestinations", find)
            if not found:
                raise
            return found
