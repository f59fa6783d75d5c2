"""Feeds 2021-06-30: feed documents, feeds and their status (refunds and cancellations)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from sp_api.api import FeedsV20210630

from integrations.amazon.gateway.core import GatewayCore
from integrations.amazon.gateway.errors import AmazonTransientError


class FeedsApi(GatewayCore):
    """Feeds 2021-06-30."""

    # --- Feeds 2021-06-30 --------------------------------------------------------------------

    def create_feed_document(self, content: bytes, content_type: str) -> str:
        """createFeedDocument, then the upload of ``content`` to the presigned URL Amazon gave
        (the library's own upload, in the same attempt). Returns the feedDocumentId."""

        def send() -> str:
            client = self._client(FeedsV20210630)
            try:
                response = self._invoke(
                    client.create_feed_document, io.BytesIO(content), content_type
                )
                payload = self._payload(response, "createFeedDocument", "feedDocumentId")
            finally:
                client.close()
            return str(payload["feedDocumentId"])

        return self.call("createFeedDocument", send)

    def create_feed(self, feed_type: str, document_id: str, marketplace_ids: list[str]) -> str:
        """createFeed for an uploaded document. Returns the feedId."""

        def send() -> str:
            client = self._client(FeedsV20210630, marketplace_ids[0] if marketplace_ids else None)
            try:
                response = self._invoke(
                    client.create_feed, feed_type, document_id, marketplaceIds=marketplace_ids
                )
                payload = self._payload(response, "createFeed", "feedId")
            finally:
                client.close()
            return str(payload["feedId"])

        return self.call("createFeed", send)

    def get_feed(self, feed_id: str) -> FeedStatus:
        def fetch() -> FeedStatus:
            client = self._client(FeedsV20210630)
            try:
                payload = self._payload(
                    self._invoke(client.get_feed, feed_id), "getFeed", "processingStatus"
                )
            finally:
                client.close()
            return FeedStatus(
                feed_id=str(payload.get("feedId") or feed_id),
                processing_status=str(payload["processingStatus"]),
                result_document_id=payload.get("resultFeedDocumentId") or None,
            )

        return self.call("getFeed", fetch)

    def get_feed_document(self, document_id: str) -> str:
        """getFeedDocument and the download of its content (a processing report)."""

        def fetch() -> str:
            client = self._client(FeedsV20210630)
            try:
                text = self._invoke(client.get_feed_document, document_id)
            finally:
                client.close()
            if not isinstance(text, str) or not text.strip():
                raise AmazonTransientError("getFeedDocument: empty document")
            return text

        return self.call("getFeedDocument", fetch)


@dataclass(frozen=True)
class FeedStatus:
    """getFeed: where a feed is (IN_QUEUE, IN_PROGRESS, DONE, CANCELLED, FATAL)."""

    feed_id: str
    processing_status: str
    result_document_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.processing_status in FEED_FINISHED


FEED_FINISHED = frozenset({"DONE", "CANCELLED", "FATAL"})
