"""The emulator's virtual clock: real UTC time plus an offset stored in ``SandboxState``.

The offset only grows (``advance``), so virtual time never runs backwards. Every virtual time
is truncated to whole seconds: Amazon renders second precision, and storing exactly what is
rendered keeps date filters exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction

from sandbox.amazon.models import SandboxState


def real_now() -> datetime:
    return datetime.now(UTC)


def whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def virtual_now(state: SandboxState | None = None) -> datetime:
    state = state or SandboxState.load()
    return whole_seconds(real_now() + timedelta(seconds=state.clock_offset_seconds))


def current_offset() -> timedelta:
    """How far virtual time is ahead of real time (0 before the emulator has any state).
    Read only: it never creates the state row, so the product's clock can call it freely."""
    seconds = (
        SandboxState.objects.filter(pk=1).values_list("clock_offset_seconds", flat=True).first()
    )
    return timedelta(seconds=seconds or 0)


def advance(seconds: int = 0, *, to: datetime | None = None) -> datetime:
    """Move virtual time forward by ``seconds`` or up to ``to``; returns the new virtual now."""
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    with transaction.atomic():
        SandboxState.load()
        state = SandboxState.objects.select_for_update().get(pk=1)
        current = virtual_now(state)
        if to is not None:
            if to.tzinfo is None:
                to = to.replace(tzinfo=UTC)
            delta = int((to - current).total_seconds())
            if delta < 0:
                raise ValueError(f"{to.isoformat()} is in the emulator's past (now {current})")
            seconds = delta
        state.clock_offset_seconds += int(seconds)
        state.save(update_fields=["clock_offset_seconds", "updated_at"])
        return virtual_now(state)


def isoformat(moment: datetime | None) -> str | None:
    """Amazon's rendering: ``2024-05-01T12:00:00Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    """ISO 8601 as Amazon accepts it (``Z`` or an offset; a bare date is midnight UTC)."""
    text = value.strip()
    if not text:
        raise ValueError("empty date")
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
