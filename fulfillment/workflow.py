"""The fulfillment-order workflow: every transition, as one table (pure: no ORM, no I/O).

A fulfillment order (FO) is the part of one order that one service is asked to fulfil. Its state
is the pair (``status``, ``request_status``). ``TABLE`` lists, for each action, who may take it
(the merchant's side, the service, or the system), in which workflow, from which states, under
which facts (did anything ship, does anything remain), and where it leads, or the refusal it
meets (rule F4). ``decide`` reads the table; ``fulfillment/services.py`` is the only caller that
changes state, so every rule lives here once and is enforced in one place.

An FO covers one request cycle. When a request ends without shipping everything (rejected F6,
withdrawn F8, cancellation accepted F9, reverted F10), the FO stays in its terminal state for
the record, and the lines it did not ship are put in a new, unsubmitted FO: the order is
unfulfilled again and can be requested again.

States::

    (on_hold, unsubmitted)    the order is still Pending at Amazon (A1): nothing to request yet
    (open, unsubmitted)       ready to be requested
    (open, submitted)         requested, awaiting the service's answer (fulfillment-order wf)
    (in_progress, submitted)  requested from a legacy service, which starts at once (F1)
    (in_progress, accepted)   accepted (F6); shipments come in (F7)
    (in_progress, cancellation_requested | cancellation_rejected)   F9
    terminal: (closed, closed) all shipped; (closed, rejected) F6; (cancelled, closed) F8/F10;
              (cancelled | incomplete, cancellation_accepted) F9; (incomplete, closed) F10 after
              a partial shipment; (closed | cancelled, unsubmitted) never requested
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from foundation.text import N_, Text


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    INCOMPLETE = "incomplete"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    ON_HOLD = "on_hold"


class RequestStatus(StrEnum):
    UNSUBMITTED = "unsubmitted"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLATION_REQUESTED = "cancellation_requested"
    CANCELLATION_ACCEPTED = "cancellation_accepted"
    CANCELLATION_REJECTED = "cancellation_rejected"
    CLOSED = "closed"


class Workflow(StrEnum):
    LEGACY = "legacy"
    FULFILLMENT_ORDER = "fulfillment_order"


class Side(StrEnum):
    """Who acts: the merchant's people and keys, the fulfillment service, or Keelson itself."""

    MERCHANT = "merchant"
    SERVICE = "service"
    SYSTEM = "system"


class Action(StrEnum):
    RELEASE = "release"  # system: the order left Pending (A1), the FO can be requested
    SUBMIT = "submit_request"  # merchant (or F2's automatic request): F1, F5
    ACCEPT = "accept_request"  # service: F6
    REJECT = "reject_request"  # service: F6
    # merchant: F8 (submitted) or F9 (accepted); F4 (legacy). System: Amazon cancelled the order
    # while its request is with the service (F1: the service is told, like the merchant's own).
    CANCEL = "cancel_request"
    ACCEPT_CANCELLATION = "accept_cancellation"  # service: F9
    REJECT_CANCELLATION = "reject_cancellation"  # service: F9
    REPORT_SHIPMENT = "report_shipment"  # service: F7 (partial allowed)
    REVERT = "revert_to_unfulfilled"  # merchant: F10, whole or per line
    FULFILLED_BY_MERCHANT = "fulfilled_by_merchant"  # merchant shipped the lines itself (F11)
    VOID = "void"  # system: Amazon cancelled the order before it was requested
    UNASSIGN = "unassign"  # the service stopped serving the merchant before a request


class State(NamedTuple):
    status: Status
    request_status: RequestStatus

    def __str__(self) -> str:
        return f"{self.status}/{self.request_status}"


S, R = Status, RequestStatus
ON_HOLD = State(S.ON_HOLD, R.UNSUBMITTED)
READY = State(S.OPEN, R.UNSUBMITTED)
SUBMITTED = State(S.OPEN, R.SUBMITTED)
SUBMITTED_LEGACY = State(S.IN_PROGRESS, R.SUBMITTED)
ACCEPTED = State(S.IN_PROGRESS, R.ACCEPTED)
CANCELLATION_REQUESTED = State(S.IN_PROGRESS, R.CANCELLATION_REQUESTED)
CANCELLATION_REJECTED = State(S.IN_PROGRESS, R.CANCELLATION_REJECTED)
FULFILLED = State(S.CLOSED, R.CLOSED)
REJECTED = State(S.CLOSED, R.REJECTED)
WITHDRAWN = State(S.CANCELLED, R.CLOSED)
CANCELLED_BY_SERVICE = State(S.CANCELLED, R.CANCELLATION_ACCEPTED)
INCOMPLETE_CANCELLED = State(S.INCOMPLETE, R.CANCELLATION_ACCEPTED)
INCOMPLETE_REVERTED = State(S.INCOMPLETE, R.CLOSED)
CLOSED_UNREQUESTED = State(S.CLOSED, R.UNSUBMITTED)
VOIDED = State(S.CANCELLED, R.UNSUBMITTED)

NOT_REQUESTED_STATES = frozenset({ON_HOLD, READY})
# A request is with the service: the order cannot be edited, refunded or fulfilled here (F3).
ACTIVE_REQUEST_STATES = frozenset(
    {SUBMITTED, SUBMITTED_LEGACY, ACCEPTED, CANCELLATION_REQUESTED, CANCELLATION_REJECTED}
)
TERMINAL_STATES = frozenset(
    {
        FULFILLED,
        REJECTED,
        WITHDRAWN,
        CANCELLED_BY_SERVICE,
        INCOMPLETE_CANCELLED,
        INCOMPLETE_REVERTED,
        CLOSED_UNREQUESTED,
        VOIDED,
    }
)
ALL_STATES = NOT_REQUESTED_STATES | ACTIVE_REQUEST_STATES | TERMINAL_STATES

BOTH = frozenset(Workflow)
FO_ONLY = frozenset({Workflow.FULFILLMENT_ORDER})
LEGACY_ONLY = frozenset({Workflow.LEGACY})
SERVICE_SHIPS_FROM = frozenset({ACCEPTED, CANCELLATION_REQUESTED, CANCELLATION_REJECTED})
FO_ACTIVE = ACTIVE_REQUEST_STATES - {SUBMITTED_LEGACY}

# Stable error codes (api.md).
INVALID_TRANSITION = "invalid_transition"
PERMISSION_DENIED = "permission_denied"
LEGACY_REQUEST_NOT_CANCELLABLE = "legacy_request_not_cancellable"

# A template: ``decide`` fills in the service's name (%(service)s).
LEGACY_CANCEL_REASON = N_(
    "%(service)s uses the legacy workflow: a request sent to it cannot be cancelled from "
    "Keelson. Contact %(service)s directly; once it confirms the cancellation, revert the order "
    "to unfulfilled (F10)."
)


@dataclass(frozen=True)
class Row:
    """One line of the table. ``shipped``/``remains`` (None: either) are facts the row needs:
    whether any of the FO has shipped, and whether anything is left to ship after the action.
    ``to`` None keeps the state. A row with ``refusal`` refuses with that code."""

    action: Action
    sides: frozenset[Side]
    workflows: frozenset[Workflow]
    sources: frozenset[State]
    to: State | None
    rule: str
    shipped: bool | None = None
    remains: bool | None = None
    refusal: str | None = None
    reason: Text | None = None  # a template: decide() adds the service's name


def _row(
    action: Action,
    sides: Iterable[Side],
    workflows: frozenset[Workflow],
    sources: Iterable[State],
    to: State | None,
    rule: str,
    **facts,
) -> Row:
    return Row(action, frozenset(sides), workflows, frozenset(sources), to, rule, **facts)


M, SV, SYS = Side.MERCHANT, Side.SERVICE, Side.SYSTEM

TABLE: tuple[Row, ...] = (
    _row(Action.RELEASE, [SYS], BOTH, [ON_HOLD], READY, "A1"),
    _row(Action.SUBMIT, [M, SYS], FO_ONLY, [READY], SUBMITTED, "F5"),
    _row(Action.SUBMIT, [M, SYS], LEGACY_ONLY, [READY], SUBMITTED_LEGACY, "F1"),
    _row(Action.ACCEPT, [SV], FO_ONLY, [SUBMITTED], ACCEPTED, "F6"),
    _row(Action.REJECT, [SV], FO_ONLY, [SUBMITTED], REJECTED, "F6"),
    _row(Action.CANCEL, [M, SYS], FO_ONLY, [SUBMITTED], WITHDRAWN, "F8"),
    _row(
        Action.CANCEL,
        [M, SYS],
        FO_ONLY,
        [ACCEPTED, CANCELLATION_REJECTED],
        CANCELLATION_REQUESTED,
        "F9",
    ),
    Row(
        Action.CANCEL,
        frozenset({M, SYS}),
        LEGACY_ONLY,
        frozenset({SUBMITTED_LEGACY}),
        None,
        "F4",
        refusal=LEGACY_REQUEST_NOT_CANCELLABLE,
        reason=LEGACY_CANCEL_REASON,
    ),
    _row(
        Action.ACCEPT_CANCELLATION,
        [SV],
        FO_ONLY,
        [CANCELLATION_REQUESTED],
        CANCELLED_BY_SERVICE,
        "F9",
        shipped=False,
    ),
    _row(
        Action.ACCEPT_CANCELLATION,
        [SV],
        FO_ONLY,
        [CANCELLATION_REQUESTED],
        INCOMPLETE_CANCELLED,
        "F9",
        shipped=True,
    ),
    _row(
        Action.REJECT_CANCELLATION,
        [SV],
        FO_ONLY,
        [CANCELLATION_REQUESTED],
        CANCELLATION_REJECTED,
        "F9",
    ),
    # A shipment may still come in while a cancellation is asked: the goods have left.
    _row(Action.REPORT_SHIPMENT, [SV], FO_ONLY, SERVICE_SHIPS_FROM, None, "F7", remains=True),
    _row(Action.REPORT_SHIPMENT, [SV], FO_ONLY, SERVICE_SHIPS_FROM, FULFILLED, "F7", remains=False),
    _row(Action.REPORT_SHIPMENT, [SV], LEGACY_ONLY, [SUBMITTED_LEGACY], None, "F7", remains=True),
    _row(
        Action.REPORT_SHIPMENT,
        [SV],
        LEGACY_ONLY,
        [SUBMITTED_LEGACY],
        FULFILLED,
        "F7",
        remains=False,
    ),
    # F10: the merchant takes a request back (after confirming with the service).
    *(
        _row(Action.REVERT, [M], wf, sources, to, "F10", remains=remains, shipped=shipped)
        for wf, sources in ((FO_ONLY, FO_ACTIVE), (LEGACY_ONLY, [SUBMITTED_LEGACY]))
        for to, remains, shipped in (
            (None, True, None),
            (WITHDRAWN, False, False),
            (INCOMPLETE_REVERTED, False, True),
        )
    ),
    _row(
        Action.FULFILLED_BY_MERCHANT,
        [M, SYS],
        BOTH,
        [READY],
        None,
        "F11",
        remains=True,
    ),
    _row(
        Action.FULFILLED_BY_MERCHANT,
        [M, SYS],
        BOTH,
        [READY],
        CLOSED_UNREQUESTED,
        "F11",
        remains=False,
    ),
    _row(Action.VOID, [SYS], BOTH, NOT_REQUESTED_STATES, VOIDED, "A6"),
    # The merchant deactivated the service or removed its location before anything was
    # requested: its part goes back to be routed to a service that serves the merchant (F1).
    # A request already with the service is never unassigned (it must end first).
    _row(Action.UNASSIGN, [M, SYS], BOTH, NOT_REQUESTED_STATES, VOIDED, "F1"),
)

# Who may take each action (the same on every row of the action).
SIDES: dict[Action, frozenset[Side]] = {}
for _r in TABLE:
    assert SIDES.setdefault(_r.action, _r.sides) == _r.sides, _r.action
assert set(SIDES) == set(Action), set(Action) - set(SIDES)

_SIDE_TEXT = {
    Side.MERCHANT: N_("the merchant (a merchant or agency key, or the portal)"),
    Side.SERVICE: N_("the fulfillment service (its own API key)"),
    Side.SYSTEM: N_("Keelson itself"),
}
_ACTION_TEXT = {
    Action.RELEASE: N_("release"),
    Action.SUBMIT: N_("request fulfillment of"),
    Action.ACCEPT: N_("accept the request of"),
    Action.REJECT: N_("reject the request of"),
    Action.CANCEL: N_("cancel the request of"),
    Action.ACCEPT_CANCELLATION: N_("accept a cancellation of"),
    Action.REJECT_CANCELLATION: N_("reject a cancellation of"),
    Action.REPORT_SHIPMENT: N_("report a shipment of"),
    Action.REVERT: N_("revert to unfulfilled"),
    Action.FULFILLED_BY_MERCHANT: N_("fulfil the lines of"),
    Action.VOID: N_("void"),
    Action.UNASSIGN: N_("take the service off"),
}


@dataclass(frozen=True)
class Facts:
    """What a row may depend on besides the state."""

    shipped: bool = False  # some of this FO has shipped (before or with the action)
    remains: bool = True  # something is left to ship after the action


@dataclass(frozen=True)
class Decision:
    action: Action
    allowed: bool
    to: State | None = None  # the new state (when allowed); None keeps it
    code: str | None = None
    reason: str | None = None
    rule: str | None = None


def rows_for(action: Action, workflow: Workflow, state: State, facts: Facts) -> list[Row]:
    return [
        r
        for r in TABLE
        if r.action == action
        and workflow in r.workflows
        and state in r.sources
        and (r.shipped is None or r.shipped == facts.shipped)
        and (r.remains is None or r.remains == facts.remains)
    ]


def decide(
    action: Action,
    side: Side,
    workflow: Workflow | str,
    state: State,
    facts: Facts = Facts(),
    *,
    service_name: str = N_("The service"),
) -> Decision:
    """May ``side`` take ``action`` on an FO of ``workflow`` in ``state``, and where does it
    lead? Who acts is checked first (403 ``permission_denied``), then the state (409)."""
    workflow = Workflow(workflow)
    wrong_side = side_refusal(action, side)
    if wrong_side:
        return Decision(action, False, code=PERMISSION_DENIED, reason=wrong_side)
    rows = rows_for(action, workflow, state, facts)
    if not rows:
        return Decision(
            action,
            False,
            code=INVALID_TRANSITION,
            reason=_invalid_reason(action, workflow, state),
        )
    (row,) = rows  # tests/fulfillment/test_workflow.py: rows never overlap
    if row.refusal:
        text = row.reason.bind(service=service_name) if row.reason else ""
        return Decision(action, False, code=row.refusal, reason=text, rule=row.rule)
    return Decision(action, True, to=row.to, rule=row.rule)


def side_refusal(action: Action, side: Side) -> str | None:
    """Why ``side`` may never take ``action`` (None when it may, in some state)."""
    allowed_sides = SIDES[action]
    if side in allowed_sides:
        return None
    sides = [_SIDE_TEXT[s] for s in sorted(allowed_sides)]
    who = sides[0]
    for other in sides[1:]:
        who = N_("%(one)s or %(other)s", one=who, other=other)
    return N_(
        "Only %(who)s may %(action)s a fulfillment order.", who=who, action=_ACTION_TEXT[action]
    )


def _invalid_reason(action: Action, workflow: Workflow, state: State) -> str:
    if state in TERMINAL_STATES:
        return N_(
            "This fulfillment order is finished (%(state)s): nothing more can happen to it.",
            state=state,
        )
    if action in (Action.ACCEPT, Action.REJECT) and workflow == Workflow.LEGACY:
        return N_("Legacy services do not accept or reject requests: they ship or not (F1).")
    if action == Action.REPORT_SHIPMENT and state == SUBMITTED:
        return N_("Accept the request before reporting a shipment (F6).")
    if action == Action.CANCEL and state in NOT_REQUESTED_STATES:
        return N_("Nothing was requested yet, so there is no request to cancel.")
    if action == Action.SUBMIT and state in ACTIVE_REQUEST_STATES:
        return N_("Fulfillment was already requested for this fulfillment order.")
    if action == Action.SUBMIT and state == ON_HOLD:
        return N_("The order is not ready to ship yet (Amazon is still verifying it: A1).")
    return N_(
        "Cannot %(action)s a fulfillment order that is %(state)s.",
        action=_ACTION_TEXT[action],
        state=state,
    )


# --- the order's fulfillment status, from its lines (rule F7) --------------------------------


class OrderFulfillment(StrEnum):
    """The same values as ``orders.models.FulfillmentStatus``."""

    UNFULFILLED = "unfulfilled"
    IN_PROGRESS = "in_progress"
    PARTIALLY_FULFILLED = "partially_fulfilled"
    FULFILLED = "fulfilled"


def order_fulfillment_status(
    lines: Sequence[tuple[int, int]], request_in_progress: bool
) -> OrderFulfillment:
    """From each line's (ordered, fulfilled) quantities and whether a request is with a service.

    Fulfilled only when every line is (F7). While a request is in progress the order is
    "in progress" even if part of it has shipped: it stays locked against edits, refunds and
    fulfilment here until the request ends (F3, F11). Otherwise, anything shipped makes it
    partially fulfilled.
    """
    counted = [(o, f) for o, f in lines if o > 0]
    if counted and all(f >= o for o, f in counted):
        return OrderFulfillment.FULFILLED
    if request_in_progress:
        return OrderFulfillment.IN_PROGRESS
    if any(f > 0 for _, f in counted):
        return OrderFulfillment.PARTIALLY_FULFILLED
    return OrderFulfillment.UNFULFILLED


def route_lines(
    skus: Sequence[tuple[int, str]], assigned: dict[str, int], default: int | None
) -> dict[int, int]:
    """Which location gets which line: ``skus`` is (line id, SKU); ``assigned`` maps a SKU to
    the location it is explicitly assigned to; ``default`` is the merchant's default location.
    Lines nobody gets are left out (no service is assigned to them)."""
    routed = {}
    for line_id, sku in skus:
        location = assigned.get(sku, default)
        if location is not None:
            routed[line_id] = location
    return routed
