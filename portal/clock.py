"""The product's clock: what time it is for Amazon's timelines (rules A1, A2, A8, A9).

Every decision that depends on "now" (the policy sweep, the allowed actions, the at-risk and late
filters, the dashboard's counts) asks ``portal.clock.now()`` instead of the system clock, so the
whole product can be run on another clock without patching anything:

- ``KEELSON_CLOCK=system`` (the default, production): the system clock, ``timezone.now()``; no
  query.
- ``KEELSON_CLOCK=sandbox`` (tests, the demo): the Amazon emulator's virtual clock (real time
  plus the offset its control API advances, ``sandbox.amazon.clock``), read from the database
  so that every process (web, ``qcluster``, the emulator, a test) agrees. Advancing the
  emulator by 23 days then brings the A9 warnings due, as it would on Amazon's own calendar.
  Each call reads the offset (one small query): take ``now()`` once per request, task or loop
  and pass it down, as the policy functions expect. The emulator renders whole seconds; this
  clock keeps the microseconds, so it is at most a second ahead of what the emulator shows.

Timestamps that record when something happened (``created_at``/``updated_at`` columns, leases,
the sync's bookkeeping) keep the system clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

SYSTEM = "system"
SANDBOX = "sandbox"
SOURCES = (SYSTEM, SANDBOX)


def source() -> str:
    """The configured clock (``settings.KEELSON_CLOCK``); anything else is refused."""
    value = getattr(settings, "KEELSON_CLOCK", SYSTEM)
    if value not in SOURCES:
        raise ImproperlyConfigured(f'KEELSON_CLOCK must be "system" or "sandbox", not {value!r}.')
    return value


def now() -> datetime:
    """The current time (aware, UTC) on the configured clock."""
    if source() == SANDBOX:
        return timezone.now() + sandbox_offset()
    return timezone.now()


def sandbox_offset() -> timedelta:
    """How far the Amazon emulator's virtual clock is ahead of real time (0 before it has any
    state). Read only: it never creates the emulator's state row."""
    from sandbox.amazon.models import SandboxState

    seconds = (
        SandboxState.objects.filter(pk=1).values_list("clock_offset_seconds", flat=True).first()
    )
    return timedelta(seconds=seconds or 0)
