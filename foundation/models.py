"""Tables of the shared base."""

from __future__ import annotations

from django.db import models


class IdempotencyRecord(models.Model):
    """The first successful answer to a POST sent with an `Idempotency-Key` (api.md).

    Keyed by (API key, idempotency key), so one partner's keys never meet another's. Not a
    tenant-owned table: an agency key's request may concern any of its merchants, and which one
    is known only after the view ran; every read goes through the authenticated API key instead
    (the only lookup is by this unique pair), like ApiKey itself. The stored body is what that
    same key was already sent. Rows live `foundation.api.idempotency.RETENTION` (24 hours) and are
    purged by the "idempotency purge" schedule; an expired row counts as absent.
    """

    # Named by string: the base imports no app above it; the partner API's keys are tenants'.
    api_key = models.ForeignKey("tenants.ApiKey", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # sha256 of method, path and the canonical JSON body: the same key with another request
    # is refused (409 idempotency_key_reused).
    request_fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2048)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.BinaryField(default=b"")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_unique_key")
        ]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires")]
        # The table was created when the model lived in the portal app (portal 0001).
        db_table = "portal_idempotencyrecord"

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class RateLimitBucket(models.Model):
    """One rate-limit bucket (``foundation.ratelimit``: GCRA), e.g. an API key's writes.

    Not a tenant-owned table: it is keyed by an opaque name (``api-key:<id>:write``) that the
    caller builds, and only ever read by that name. A row whose ``tat`` has passed is a full
    bucket, the same as no row; the "rate limit purge" schedule deletes those.
    """

    key = models.CharField(max_length=200, primary_key=True)
    # Theoretical arrival time: when the bucket is full again.
    tat = models.DateTimeField()
    # Whether the last request was allowed (lets one statement decide and report).
    allowed = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["tat"], name="ratelimit_tat")]

    def __str__(self) -> str:
        return self.key
