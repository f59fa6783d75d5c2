"""The portal's own tables: a person's saved views of a list, and bulk jobs over selected orders.

Tenancy, chosen per table:

- ``SavedListView`` belongs to a *user*, not to a merchant. It holds a name and a query string
  limited to the list's own filter parameters (``portal.saved_views``), never rows; the rows are
  read when the link is opened, through the scoped, row-level-secured list, so a saved view can
  show nothing its user may not see then. It is kept per merchant scope: ``merchant`` is the one
  merchant the view was saved for, or empty for "All my merchants" (which no single merchant
  owns, so the table cannot be tenant-owned without splitting such a view). A user lists only
  their own, and only those of the scope they are in.
- ``BulkJob`` belongs to the user who started it and may span merchants ("All my merchants"):
  it holds only counts, its state and the ids of the merchants involved. What touches a
  merchant's data, the orders and each one's outcome (and the tracking number given), is in
  ``BulkJobItem``, a tenant-owned table with row-level security like every other.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from tenants.models import Merchant, TenantForeignKey, TenantModel

SAVED_VIEW_NAME_LENGTH = 80
SAVED_VIEW_QUERY_LENGTH = 1000


class SavedListView(models.Model):
    """A named query string of a portal list ("Save this view"), one user's, per scope."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="+"
    )
    # The list's URL name without the view ("orders_order" for the order list).
    page = models.CharField(verbose_name=_("page"), max_length=64)
    # The merchant chosen in the switcher when saved; empty: "All my merchants".
    merchant = models.ForeignKey(
        Merchant,
        verbose_name=_("merchant"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    name = models.CharField(_("name"), max_length=SAVED_VIEW_NAME_LENGTH)
    query = models.CharField(
        verbose_name=_("query"), max_length=SAVED_VIEW_QUERY_LENGTH, blank=True
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("saved list view")
        verbose_name_plural = _("saved list views")
        constraints = [
            models.UniqueConstraint(
                "user", "page", Lower("name"), name="saved_view_unique_name_per_user"
            )
        ]
        indexes = [models.Index(fields=["user", "page", "merchant"], name="saved_view_user")]

    def __str__(self) -> str:
        return self.name


class BulkJobKind(models.TextChoices):
    CONFIRM_SHIPMENTS = "confirm_shipments", _("Confirm shipment on Amazon")
    REQUEST_FULFILLMENT = "request_fulfillment", _("Request fulfillment")


class BulkJobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")


class BulkJob(models.Model):
    """An action over many orders, run by a worker one order at a time (portal.bulk_jobs)."""

    kind = models.CharField(verbose_name=_("kind"), max_length=32, choices=BulkJobKind.choices)
    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=BulkJobStatus.choices,
        default=BulkJobStatus.QUEUED,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    merchant_ids = ArrayField(
        models.BigIntegerField(), verbose_name=_("merchant ids"), default=list
    )
    total = models.PositiveIntegerField(verbose_name=_("total"), default=0)
    done = models.PositiveIntegerField(verbose_name=_("done"), default=0)
    failed = models.PositiveIntegerField(verbose_name=_("failed"), default=0)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    # When it was last handed to the task queue (None: the queue refused it); a job still
    # queued long after is handed again by a schedule (portal.bulk_jobs.requeue_stuck_jobs).
    queued_at = models.DateTimeField(verbose_name=_("queued at"), null=True, blank=True)
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk job")
        verbose_name_plural = _("bulk jobs")
        indexes = [
            models.Index(fields=["created_by", "-id"], name="bulk_job_user"),
            models.Index(
                fields=["created_at"],
                name="bulk_job_waiting",
                condition=models.Q(status="queued", started_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def processed(self) -> int:
        return self.done + self.failed

    @property
    def is_finished(self) -> bool:
        return self.status == BulkJobStatus.FINISHED


class BulkJobItemStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    DONE = "done", _("Done")
    FAILED = "failed", _("Refused")


class BulkJobItem(TenantModel):
    """One order of a bulk job: its outcome in plain words, once it is processed."""

    job = models.ForeignKey(
        BulkJob, verbose_name=_("job"), on_delete=models.CASCADE, related_name="items"
    )
    order = TenantForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    order_number = models.CharField(
        verbose_name=_("order number"), max_length=64
    )  # shown even if the order is gone
    position = models.PositiveIntegerField(verbose_name=_("position"))
    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=BulkJobItemStatus.choices,
        default=BulkJobItemStatus.PENDING,
    )
    message = models.TextField(verbose_name=_("message"), blank=True)
    # What the action needs besides the order (a tracking number, a note to the service).
    payload = models.JSONField(verbose_name=_("payload"), default=dict, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk job item")
        verbose_name_plural = _("bulk job items")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "job", "order"], name="bulk_job_item_unique_order"
            )
        ]
        indexes = [models.Index(fields=["job", "status", "position"], name="bulk_job_item_queue")]

    def __str__(self) -> str:
        return f"{self.order_number} ({self.get_status_display()})"
