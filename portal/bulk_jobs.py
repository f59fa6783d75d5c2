"""Bulk jobs: an action over many selected orders ("Confirm shipment on Amazon", A7; "Request
fulfillment", F1), run by a django-q2 worker one order at a time, with its progress kept in the
database so the job page survives a reload.

The job calls the use cases of two apps (fulfillment's ``confirm_shipments`` and
``request_fulfillment``, which build on orders'), so it lives in the portal, the one app above
them all. Per order, one transaction: the item is locked (``SKIP LOCKED``, so two workers never
take the same order), the service runs in a savepoint, and the outcome (done, or refused with the
rule's own words) is written with the job's counts. A refusal, or an unexpected error, never
stops the other orders. An item once done or refused is never run again: a task retried after a
worker died (django-q2 delivers it again) takes up the waiting items only, so nothing is done
twice and nothing is lost. The role is checked again when the worker runs the order, so access
taken away after the job was queued stops it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from foundation.api.errors import DomainError
from foundation.i18n import localize
from fulfillment import services as fulfillment_services
from orders.models import Order
from portal.models import BulkJob, BulkJobItem, BulkJobItemStatus, BulkJobKind, BulkJobStatus
from tenants.db import session_try_lock
from tenants.models import User
from tenants.policy import Access, Capability
from tenants.scope import tenant_context
from tenants.selectors import access_for_user

logger = logging.getLogger(__name__)

RUN_TASK = "portal.tasks.run_bulk_job"
MAX_ORDERS = 500  # as many as the A7 confirmation page lists
# A job still waiting to start this long after it was queued, or started and without progress
# for as long (its worker killed while the Redis broker, which has no redelivery, had handed
# the task out), is queued again.
STUCK_AFTER = timedelta(minutes=5)
# Advisory lock keys of running jobs: this base plus the job's id ("keelbulk" + id).
JOB_LOCK_BASE = 0x6B65_656C_0000_0000


class TooManyOrders(ValueError):
    pass


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str


# --- starting a job ------------------------------------------------------------------------------


def start_job(
    kind: BulkJobKind | str, *, user: User, orders: Sequence[Order], payload: dict | None = None
) -> BulkJob:
    """Record a job over ``orders`` (already limited to what the user may change) and queue it
    once the transaction commits. ``payload`` is what each order's call needs besides the order
    (the shipment for A7, a note for F1); it is stored with the items, which are tenant-owned."""
    if len(orders) > MAX_ORDERS:
        raise TooManyOrders(
            _("Select at most %(max)d orders at once: narrow the list with its filters.")
            % {"max": MAX_ORDERS}
        )
    merchant_ids = sorted({order.merchant_id for order in orders})
    with transaction.atomic():
        job = BulkJob.objects.create(
            kind=kind, created_by=user, merchant_ids=merchant_ids, total=len(orders)
        )
        with tenant_context(merchant_ids):
            BulkJobItem.objects.bulk_create(
                BulkJobItem(
                    merchant_id=order.merchant_id,
                    job=job,
                    order=order,
                    order_number=order.external_id,
                    position=position,
                    payload=payload or {},
                )
                for position, order in enumerate(orders)
            )
        if not orders:
            _finish(job.pk, merchant_ids)
        else:
            transaction.on_commit(lambda: queue_job(job.pk))
    job.refresh_from_db()
    return job


def queue_job(job_id: int) -> bool:
    """Ask a worker to run the job. If the queue refuses, the job page says it is waiting and
    the schedule hands it again (``requeue_stuck_jobs``). True when the queue took it."""
    from django_q.tasks import async_task

    try:
        async_task(RUN_TASK, job_id, group="bulk-jobs")
    except Exception:  # the broker being down must not fail the committed request
        logger.exception("could not queue bulk job %s", job_id)
        return False
    BulkJob.objects.filter(pk=job_id).update(queued_at=timezone.now())
    return True


def requeue_stuck_jobs(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Every minute (portal/schedules.py): hand the queue again the jobs whose task was refused
    or lost: still waiting to start ``STUCK_AFTER`` after they were queued (or recorded, when
    the queue refused them), or started with orders waiting and no progress for as long. Safe
    when the first task turns up after all: a job runs under its lock, one at a time, and takes
    up only its waiting orders. Returns the jobs handed again."""
    cutoff = (now or timezone.now()) - STUCK_AFTER
    waiting = (
        BulkJob.objects.filter(status=BulkJobStatus.QUEUED, started_at__isnull=True)
        .filter(Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, created_at__lt=cutoff))
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    stuck = list(waiting) + [job.pk for job in _stalled_jobs(cutoff, limit)]
    handed = []
    for job_id in dict.fromkeys(stuck):
        logger.warning("bulk job %s is stuck: queueing it again", job_id)
        if queue_job(job_id):
            handed.append(job_id)
    return handed


def _stalled_jobs(cutoff: datetime, limit: int) -> list[BulkJob]:
    """Started, unfinished jobs with orders waiting whose last sign of life (started, queued
    again, an order done) is older than ``cutoff``. Items are read in the job's own scope."""
    stalled = []
    started = BulkJob.objects.exclude(status=BulkJobStatus.FINISHED).filter(started_at__lt=cutoff)
    for job in started.order_by("id")[:limit]:
        with tenant_context(job.merchant_ids):
            items = BulkJobItem.objects.filter(job_id=job.pk)
            if not items.filter(status=BulkJobItemStatus.PENDING).exists():
                continue
            last_item = items.aggregate(last=Max("finished_at"))["last"]
        signs = (job.started_at, job.queued_at, last_item)
        if max(t for t in signs if t) < cutoff:
            stalled.append(job)
    return stalled


def job_lock(job_id: int) -> AbstractContextManager[bool]:
    """A PostgreSQL advisory lock per job, held by the session while a worker runs it (True),
    or False while another runs the job. A worker that dies lets go with its connection."""
    return session_try_lock(JOB_LOCK_BASE + job_id)


# --- running it (portal.tasks.run_bulk_job) ------------------------------------------------------


def run_job(job_id: int) -> dict:
    """Process the job's waiting items, merchant by merchant, one order per transaction; never
    twice at once (a task handed again while the first runs leaves at once)."""
    with job_lock(job_id) as got:
        if not got:
            return {"job": job_id, "busy": True}
        return _run_job(job_id)


def _run_job(job_id: int) -> dict:
    job = BulkJob.objects.filter(pk=job_id).first()
    if job is None:
        return {"job": job_id, "missing": True}
    BulkJob.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=timezone.now())
    BulkJob.objects.filter(pk=job_id, status=BulkJobStatus.QUEUED).update(
        status=BulkJobStatus.RUNNING
    )
    user = job.created_by
    access = access_for_user(user)
    actor = fulfillment_services.Actor.user(user)
    handler = HANDLERS[job.kind]
    processed = 0
    # Only the person who started the job reads its outcomes: write them in their language.
    with translation.override(user.language or settings.LANGUAGE_CODE):
        for merchant_id in job.merchant_ids:
            with tenant_context(merchant_id):
                waiting = list(
                    BulkJobItem.objects.filter(job_id=job_id, status=BulkJobItemStatus.PENDING)
                    .order_by("position")
                    .values_list("pk", flat=True)
                )
            for item_id in waiting:
                if process_item(job_id, item_id, merchant_id, handler, actor, access) is not None:
                    processed += 1
    _finish(job_id, job.merchant_ids)
    job.refresh_from_db()
    return {"job": job_id, "processed": processed, "done": job.done, "failed": job.failed}


def process_item(
    job_id: int,
    item_id: int,
    merchant_id: int,
    handler: Callable[[BulkJobItem, fulfillment_services.Actor], Outcome],
    actor: fulfillment_services.Actor,
    access: Access,
) -> str | None:
    """Run one waiting item in its own transaction; its new status, or None when it was not
    waiting any more (done by an earlier run, or being run by another worker right now)."""
    with tenant_context(merchant_id), transaction.atomic():
        item = (
            BulkJobItem.objects.select_for_update(skip_locked=True)
            .filter(pk=item_id, job_id=job_id, status=BulkJobItemStatus.PENDING)
            .first()
        )
        if item is None:
            return None
        outcome = _run(item, handler, actor, access)
        item.status = BulkJobItemStatus.DONE if outcome.ok else BulkJobItemStatus.FAILED
        item.message = outcome.message[:2000]
        item.finished_at = timezone.now()
        item.save(update_fields=["status", "message", "finished_at"])
        counter = "done" if outcome.ok else "failed"
        BulkJob.objects.filter(pk=job_id).update(**{counter: F(counter) + 1})
        return item.status


def _run(
    item: BulkJobItem,
    handler: Callable[[BulkJobItem, fulfillment_services.Actor], Outcome],
    actor: fulfillment_services.Actor,
    access: Access,
) -> Outcome:
    if not access.can(Capability.CHANGE, item.merchant_id):
        return Outcome(False, _("Your role on this merchant no longer allows this change."))
    if item.order_id is None or not Order.objects.filter(pk=item.order_id).exists():
        return Outcome(False, _("This order is no longer in Keelson."))
    try:
        with transaction.atomic():  # a refusal undoes only this order's call
            return handler(item, actor)
    except DomainError as exc:
        return Outcome(False, localize(exc.message))
    except Exception:
        logger.exception("bulk job %s: order %s failed", item.job_id, item.order_id)
        return Outcome(
            False,
            _(
                "Something went wrong with this order and nothing was changed. Try it again "
                "from the order's page."
            ),
        )


def _finish(job_id: int, merchant_ids: Sequence[int]) -> None:
    with tenant_context(merchant_ids):
        waiting = BulkJobItem.objects.filter(
            job_id=job_id, status=BulkJobItemStatus.PENDING
        ).exists()
    if not waiting:
        BulkJob.objects.filter(pk=job_id).exclude(status=BulkJobStatus.FINISHED).update(
            status=BulkJobStatus.FINISHED, finished_at=timezone.now()
        )


# --- what each kind does to one order ------------------------------------------------------------


def shipment_payload(shipment: fulfillment_services.ShipmentInput | None) -> dict:
    """The A7 shipment as the items store it (JSON)."""
    if shipment is None or not shipment.tracking_number:
        return {}
    return {
        "tracking_number": shipment.tracking_number,
        "carrier": shipment.carrier,
        "ship_date": shipment.ship_date.isoformat() if shipment.ship_date else None,
        "notify_customer": shipment.notify_customer,
    }


def _shipment(payload: dict) -> fulfillment_services.ShipmentInput | None:
    if not payload.get("tracking_number"):
        return None
    return fulfillment_services.ShipmentInput(
        tracking_number=payload["tracking_number"],
        carrier=payload.get("carrier", ""),
        ship_date=parse_datetime(payload["ship_date"]) if payload.get("ship_date") else None,
        notify_customer=bool(payload.get("notify_customer")),
    )


def confirm_shipment(item: BulkJobItem, actor: fulfillment_services.Actor) -> Outcome:
    """A7 for one order: a failed confirmation is sent again; an order not fulfilled yet is
    fulfilled with the job's tracking number and confirmed (R3)."""
    result = fulfillment_services.confirm_shipments(
        [item.order_id], actor=actor, shipment=_shipment(item.payload)
    )
    if result.skipped:
        return Outcome(False, next(iter(result.skipped.values())))
    parts = []
    if result.queued:
        parts.append(_("Fulfilled and queued for confirmation on Amazon."))
    if result.retried:
        parts.append(_("Failed confirmation sent to Amazon again."))
    if result.already:
        parts.append(_("Already queued or confirmed on Amazon: nothing to do."))
    if not parts:
        return Outcome(False, _("This order is no longer in Keelson."))
    return Outcome(True, " ".join(parts))


def request_fulfillment(item: BulkJobItem, actor: fulfillment_services.Actor) -> Outcome:
    """F1 for one order: every unrequested item goes to its fulfillment service."""
    requested = fulfillment_services.request_fulfillment(
        item.order_id, actor=actor, note=item.payload.get("note", "")
    )
    names = ", ".join(sorted({fo.service.name for fo in requested}))
    return Outcome(True, _("Fulfillment requested from %(services)s.") % {"services": names})


HANDLERS: dict[str, Callable[[BulkJobItem, fulfillment_services.Actor], Outcome]] = {
    BulkJobKind.CONFIRM_SHIPMENTS: confirm_shipment,
    BulkJobKind.REQUEST_FULFILLMENT: request_fulfillment,
}


# --- reads for the job pages ---------------------------------------------------------------------


def job_for_user(user: User, job_id: int) -> BulkJob | None:
    """The user's own job (anyone else's, or none: None)."""
    return BulkJob.objects.filter(pk=job_id, created_by=user).first()


def recent_jobs(user: User, limit: int = 20) -> list[BulkJob]:
    return list(BulkJob.objects.filter(created_by=user).order_by("-id")[:limit])


def job_items(job: BulkJob, merchant_ids: frozenset[int]) -> list[BulkJobItem]:
    """The job's items the user may see now (refused ones first, then in selection order)."""
    visible = frozenset(job.merchant_ids) & merchant_ids
    if not visible:
        return []
    with tenant_context(visible):
        items = list(
            BulkJobItem.objects.filter(job=job).select_related("merchant").order_by("position")
        )
    order = {BulkJobItemStatus.FAILED: 0, BulkJobItemStatus.PENDING: 1, BulkJobItemStatus.DONE: 2}
    return sorted(items, key=lambda item: (order[item.status], item.position))
