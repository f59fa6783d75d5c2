"""Handlers, one per message kind. Apps register theirs in an `outbox_handlers` module, which
the integrations app imports at start-up (see IntegrationsConfig.ready)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations.outbox.errors import UnknownMessageKind

if TYPE_CHECKING:
    from integrations.outbox.errors import DeliveryError
    from integrations.outbox.models import OutboxMessage

Result = dict[str, Any]


@dataclass(frozen=True)
class Handler:
    kind: str
    # Performs the external call; returns a JSON-able result or raises a DeliveryError.
    send: Callable[[OutboxMessage], Result]
    # The destination's name on the timeline ("Amazon", "Shopify", a service's name).
    destination: str = "partner"
    # Run in the transaction that records the outcome, to update domain state.
    on_sent: Callable[[OutboxMessage, Result], None] | None = None
    on_failed: Callable[[OutboxMessage, DeliveryError], None] | None = None
    # Timeline text; return None to write no event (e.g. when on_sent writes its own).
    describe_sent: Callable[[OutboxMessage, Result], str | None] | None = None
    describe_failed: Callable[[OutboxMessage, DeliveryError], str | None] | None = None


_handlers: dict[str, Handler] = {}


def register(handler: Handler) -> Handler:
    existing = _handlers.get(handler.kind)
    if existing is not None and existing.send is not handler.send:
        raise ValueError(f"outbox kind {handler.kind!r} has a handler already")
    _handlers[handler.kind] = handler
    return handler


def handler_for(kind: str) -> Handler:
    try:
        return _handlers[kind]
    except KeyError:
        raise UnknownMessageKind(f"no outbox handler for {kind!r}") from None


def registered_kinds() -> list[str]:
    return sorted(_handlers)


# Who records a delivery's outcome where a person reads it (the order timeline is orders',
# above this app): listeners called in the transaction that records the outcome, with the
# message, the text (the handler's describe_*) and the data of the outcome.
OutcomeListener = Callable[["OutboxMessage", str, dict[str, Any]], None]
_outcome_listeners: list[OutcomeListener] = []


def on_outcome(listener: OutcomeListener) -> None:
    """Register a listener for delivery outcomes (once; registering it again is a no-op)."""
    if listener not in _outcome_listeners:
        _outcome_listeners.append(listener)


def outcome_listeners() -> list[OutcomeListener]:
    return list(_outcome_listeners)
