"""Every periodic django-q2 schedule, in one place. Applied after each `migrate` (post_migrate)
and by `manage.py setup_schedules`; idempotent (keyed by name)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Periodic:
    name: str
    func: str
    minutes: int = 1


SCHEDULES: list[Periodic] = [
    Periodic("amazon order sync", "orders.tasks.sync_due_amazon_accounts", minutes=1),
    Periodic("amazon order changes", "orders.tasks.receive_amazon_order_changes", minutes=1),
    Periodic("outbox sweep", "integrations.outbox.tasks.sweep", minutes=1),
    Periodic("policy sweep", "orders.tasks.sweep_deadlines", minutes=1),
    Periodic("notification e-mails", "notifications.tasks.send_digests", minutes=1),
    Periodic("idempotency purge", "foundation.tasks.purge_idempotency_records", minutes=60),
    Periodic("rate limit purge", "foundation.tasks.purge_rate_limit_buckets", minutes=60),
    Periodic("amazon refund check", "refunds.tasks.sweep_external_refunds", minutes=10),
    Periodic("shopify webhooks sweep", "integrations.shopify.inbound.sweep_received", minutes=1),
    Periodic("shopify reconcile", "orders.tasks.reconcile_shopify_mirrors", minutes=10),
    Periodic("bulk jobs requeue", "portal.tasks.requeue_stuck_bulk_jobs", minutes=1),
]


def ensure_schedules(using: str = "owner") -> list[str]:
    """Create or update the schedules; remove none we don't know (operators may add theirs)."""
    from django_q.models import Schedule

    names = []
    for periodic in SCHEDULES:
        Schedule.objects.using(using).update_or_create(
            name=periodic.name,
            defaults={
                "func": periodic.func,
                "schedule_type": Schedule.MINUTES,
                "minutes": periodic.minutes,
                "repeats": -1,
            },
        )
        names.append(periodic.name)
    return names


def on_post_migrate(sender=None, using: str = "owner", **kwargs) -> None:
    # Once per migrate run: after django_q (whose tables hold the schedules) is migrated.
    if sender is not None and sender.label == "django_q" and using == "owner":
        ensure_schedules(using=using)
