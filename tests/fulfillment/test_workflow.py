"""The transition table itself (pure): complete, unambiguous, and read the same way for every
action, side, workflow, state and fact. tests/fulfillment/test_transitions.py walks the same
table through the services."""

from __future__ import annotations

import itertools

import pytest

from fulfillment import workflow
from fulfillment.workflow import (
    ALL_STATES,
    TABLE,
    Action,
    Facts,
    Side,
    Workflow,
    decide,
    order_fulfillment_status,
    route_lines,
    rows_for,
)

ALL_FACTS = [Facts(shipped=s, remains=r) for s in (False, True) for r in (False, True)]
COMBOS = list(itertools.product(Action, Workflow, sorted(ALL_STATES), ALL_FACTS))


def test_states_partition_into_not_requested_active_and_terminal():
    groups = [
        workflow.NOT_REQUESTED_STATES,
        workflow.ACTIVE_REQUEST_STATES,
        workflow.TERMINAL_STATES,
    ]
    assert sum(len(g) for g in groups) == len(ALL_STATES)
    every_pair = {workflow.State(s, r) for s in workflow.Status for r in workflow.RequestStatus}
    assert ALL_STATES <= every_pair


def test_rows_never_overlap():
    for action, wf, state, facts in COMBOS:
        assert len(rows_for(action, wf, state, facts)) <= 1, (action, wf, state, facts)


@pytest.mark.parametrize("wf", list(Workflow))
def test_every_row_is_reachable_in_its_workflow(wf):
    reached = {workflow.ON_HOLD, workflow.READY}  # where fulfillment orders start
    rows = [r for r in TABLE if wf in r.workflows]
    changed = True
    while changed:
        changed = False
        for row in rows:
            if row.to is not None and row.sources & reached and row.to not in reached:
                reached.add(row.to)
                changed = True
    for row in rows:
        assert row.sources <= reached, f"{row} starts from states {wf} never reaches"


def test_every_state_is_reached_by_some_workflow():
    reached = {workflow.ON_HOLD, workflow.READY} | {r.to for r in TABLE if r.to is not None}
    assert reached == ALL_STATES, ALL_STATES - reached


@pytest.mark.parametrize("row", TABLE, ids=lambda r: f"{r.action}-{r.rule}-{r.to or r.refusal}")
def test_every_row_decides_as_written(row):
    side = sorted(row.sides)[0]
    for wf, state in itertools.product(row.workflows, row.sources):
        facts = Facts(
            shipped=bool(row.shipped), remains=True if row.remains is None else row.remains
        )
        decision = decide(row.action, side, wf, state, facts, service_name="Acme 3PL")
        if row.refusal:
            assert not decision.allowed
            assert decision.code == row.refusal
            assert "Acme 3PL" in decision.reason
        else:
            assert decision.allowed, (row, wf, state)
            assert decision.to == row.to
        assert decision.rule == row.rule


def test_everything_not_in_the_table_is_refused_with_a_code():
    for action, wf, state, facts in COMBOS:
        for side in Side:
            decision = decide(action, side, wf, state, facts)
            if side not in workflow.SIDES[action]:
                assert not decision.allowed and decision.code == "permission_denied"
                continue
            rows = rows_for(action, wf, state, facts)
            if not rows:
                assert not decision.allowed, (action, wf, state, facts)
                assert decision.code == "invalid_transition"
                assert decision.reason
            else:
                assert decision.allowed == (rows[0].refusal is None)


def test_terminal_states_allow_nothing():
    for action, wf, state, facts in COMBOS:
        if state in workflow.TERMINAL_STATES:
            for side in workflow.SIDES[action]:
                assert not decide(action, side, wf, state, facts).allowed


def test_a_legacy_request_cannot_be_cancelled_F4():
    decision = decide(
        Action.CANCEL,
        Side.MERCHANT,
        Workflow.LEGACY,
        workflow.SUBMITTED_LEGACY,
        service_name="OldShip",
    )
    assert not decision.allowed
    assert decision.code == "legacy_request_not_cancellable"
    assert "Contact OldShip" in decision.reason


def test_merchants_cannot_answer_for_the_service_and_services_cannot_request():
    assert decide(
        Action.ACCEPT, Side.MERCHANT, Workflow.FULFILLMENT_ORDER, workflow.SUBMITTED
    ).code == ("permission_denied")
    assert decide(Action.SUBMIT, Side.SERVICE, Workflow.FULFILLMENT_ORDER, workflow.READY).code == (
        "permission_denied"
    )
    assert decide(
        Action.CANCEL, Side.SERVICE, Workflow.FULFILLMENT_ORDER, workflow.ACCEPTED
    ).code == ("permission_denied")


@pytest.mark.parametrize(
    ("lines", "in_progress", "expected"),
    [
        ([(2, 0), (1, 0)], False, "unfulfilled"),
        ([(2, 0), (1, 0)], True, "in_progress"),
        ([(2, 1), (1, 0)], False, "partially_fulfilled"),
        ([(2, 1), (1, 0)], True, "in_progress"),  # F3: locked while the request lasts
        ([(2, 2), (1, 0)], False, "partially_fulfilled"),
        ([(2, 2), (1, 1)], False, "fulfilled"),  # F7: every line
        ([(2, 2), (1, 1)], True, "fulfilled"),
        ([(2, 3), (0, 0)], False, "fulfilled"),
        ([], False, "unfulfilled"),
    ],
)
def test_the_order_status_is_derived_from_its_lines_F7(lines, in_progress, expected):
    assert order_fulfillment_status(lines, in_progress) == expected


def test_lines_go_to_their_assigned_service_then_the_default():
    routed = route_lines([(1, "A"), (2, "B"), (3, "C")], {"B": 20}, 10)
    assert routed == {1: 10, 2: 20, 3: 10}
    assert route_lines([(1, "A"), (2, "B")], {"B": 20}, None) == {2: 20}
