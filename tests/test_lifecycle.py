"""The declarative lifecycle: every legal move works, every other is refused."""

from __future__ import annotations

import pytest

from workflow.errors import IllegalTransition
from workflow.lifecycle import STATES, TABLE, TERMINAL, transition_for

LEGAL = sorted({(t.event, s, t.target) for t in TABLE for s in t.sources})
EVENTS = sorted({t.event for t in TABLE})
ILLEGAL = [(e, s) for e in EVENTS for s in STATES if (e, s) not in
           {(ev, src) for ev, src, _ in LEGAL}]


@pytest.mark.parametrize(("event", "source", "target"), LEGAL)
def test_legal_transitions_reach_their_target(event, source, target):
    assert transition_for(source, event).target == target


@pytest.mark.parametrize(("event", "source"), ILLEGAL)
def test_other_moves_are_refused_with_the_allowed_list(event, source):
    with pytest.raises(IllegalTransition) as err:
        transition_for(source, event)
    assert err.value.details["state"] == source
    assert event not in err.value.details["allowed"]


def test_terminal_states_have_no_way_out():
    for state in TERMINAL:
        assert not any(state in t.sources for t in TABLE)


@pytest.mark.parametrize("state", ["mapping", "matrixing", "panel", "allocated"])
def test_fire_moves_state_and_audits(session, make_case, now, state):
    from workflow.history import history_rows
    from workflow.lifecycle import fire

    case = make_case(state=state)
    event = {"mapping": "close", "matrixing": "transfer", "panel": "accept",
             "allocated": "review_due"}[state]
    transition = fire(session, case, event, now=now, actor="lead1",
                      cause={"kind": "human", "reason": "test"})
    session.commit()
    assert case.state == transition.target
    entry = history_rows(session, case.id)[-1]
    assert entry.kind == "case.transition"
    assert entry.payload["from"] == state and entry.payload["to"] == transition.target
    assert entry.actor == "lead1"
    if transition.target in TERMINAL:
        assert case.closed_at == now
