"""The product's clock: what time it is for Amazon's timelines (rules A1, A2, A8, A9).

Every decision that depends on "now" (the policy sweep, the allowed actions, the at-risk and late
filters, the dashboard's counts) asks ``foundation.clock.now()`` instead of the system clock, so the
whole product can be run on another clock without patching anything:

- ``KEELSON_CLOCK=system`` (the default, production): the system clock, ``timezone.now()``; no
  query.
- ``KEELSON_CLOCK=sandbox`` (tests, the demo): the Amazon emulator's virtual clock (real time
  plus the offset its control API advances, ``sandbox.amazon.clock``). The base imports no app
  above it, so the portal hands the offset reader in at start-up (``use_sandbox_offset``, in
  ``PortalConfig.ready``). The offset is read from the database
  so that every process (web, ``qcluster``, the emulator, a test) agrees. Advancing the
  emulator by 23 days then brings the A9 warnings due, as it would on Amazon's own calendar.
  Each call reads the offset (one small query): take ``now()`` once per request, task or loop
  and pass it down, as the policy functions expect. The emulator renders whole seconds; this
  clock keeps the microseconds, so it is at most a second ahead of what the emulator shows.

Timestamps that record when something happened (``created_at``/``updated_at`` columns, leases,
the sync's bookkeeping) keep the system clock.
"""

from __future__ import annotations

from collections.abc import Callable
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


OffsetSource = Callable[[], timedelta]
_sandbox_offset_source: OffsetSource | None = None


def use_sandbox_offset(source_function: OffsetSource) -> None:
    """Install the reader of the emulator's clock offset (called once, at start-up)."""
    global _sandbox_offset_source
    _sandbox_offset_source = source_function


def sandbox_offset() -> timedelta:
    """How far the emulator's virtual clock is ahead of real time."""
    if _sandbox_offset_source is None:
        raise ImproperlyConfigured(
            'KEELSON_CLOCK is "sandbox" but no emulator clock is installed: the portal app '
            "installs it when it starts (PortalConfig.ready)."
        )
    return _sandbox_offset_source()
