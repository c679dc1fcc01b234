"""The case lifecycle as one declarative table, validated at import.

Every transition is caused either by a rule decision (``by="rule"``), a recorded human
decision (``by="human"``) or a dated condition the scheduler checks (``by="schedule"``).
:func:`fire` is the only way a case changes state; listeners (the audit log first) are
called inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from db.models import Case
from workflow.errors import IllegalTransition

STATES: dict[str, str] = {
    "mapping": "identified; checked against the local selection rule sets",
    "matrixing": "in scope; scored on current activity and ranked for panel",
    "panel": "on the agenda of the next multi-agency panel",
    "deferred": "panel asked for the case to come back on a date",
    "allocated": "accepted; managed by one lead professional (active)",
    "review": "periodic review of intensity and continued selection",
    "suspended": "in custody; management paused until release",
    "rejected": "panel rejected the case (episode closed)",
    "exited": "de-selected or out of scope (episode closed)",
    "transferred": "moved to another area or arrangement (episode closed)",
}
TERMINAL = frozenset({"rejected", "exited", "transferred"})
ACTIVE = ("allocated", "review", "suspended")


@dataclass(frozen=True)
class Transition:
    event: str
    sources: tuple[str, ...]
    target: str
    by: str  # "rule" | "human" | "schedule"
    meaning: str


TABLE: tuple[Transition, ...] = (
    Transition("select", ("mapping",), "matrixing", "rule", "selection rule matched"),
    Transition("forward", ("matrixing",), "panel", "rule", "activity ranks it for panel"),
    Transition("descope", ("matrixing", "panel", "deferred"), "mapping", "rule",
               "an exclusion rule now applies: back to mapping, not yet in the cohort"),
    Transition("accept", ("panel",), "allocated", "human", "panel accepted the case"),
    Transition("defer", ("panel",), "deferred", "human", "panel deferred to a date"),
    Transition("reject", ("panel",), "rejected", "human", "panel rejected the case"),
    Transition("represent", ("deferred",), "panel", "schedule", "deferral date reached"),
    Transition("review_due", ("allocated",), "review", "schedule", "review interval elapsed"),
    Transition("retain", ("review",), "allocated", "rule", "review keeps the case"),
    Transition("deselect", ("review",), "exited", "rule", "de-selection rule matched"),
    Transition("exclude", ACTIVE, "exited", "rule",
               "an exclusion rule now applies: leaves the cohort, lead freed"),
    Transition("custody_in", ACTIVE[:2], "suspended", "human", "remanded or sentenced to custody"),
    Transition("custody_out", ("suspended",), "allocated", "human", "released from custody"),
    Transition("transfer", ("mapping", "matrixing", "panel", "deferred") + ACTIVE,
               "transferred", "human", "moved to another area or arrangement"),
    Transition("close", ("mapping", "matrixing", "panel", "deferred") + ACTIVE, "exited",
               "human", "closed by a team lead with a reason"),
)

# Which rule outcome moves a case in which state (see rules/actions.py for outcomes).
OUTCOME_EVENTS: dict[tuple[str, str], str] = {
    ("mapping", "select"): "select",
    ("matrixing", "forward"): "forward",
    ("review", "retain"): "retain",
    ("review", "deselect"): "deselect",
    # Exclusion guards (workflow/guards.py): every non-terminal state but mapping, where
    # an exclusion only keeps the case from being selected.
    ("matrixing", "exclude"): "descope",
    ("panel", "exclude"): "descope",
    ("deferred", "exclude"): "descope",
    ("allocated", "exclude"): "exclude",
    ("review", "exclude"): "exclude",
    ("suspended", "exclude"): "exclude",
}

_BY_KEY: dict[tuple[str, str], Transition] = {}


def _validate() -> None:
    """Refuse an inconsistent table at import: unknown states, duplicates, dead ends."""
    for t in TABLE:
        for state in (*t.sources, t.target):
            if state not in STATES:
                raise AssertionError(f"transition {t.event}: unknown state {state!r}")
        if t.by not in ("rule", "human", "schedule"):
            raise AssertionError(f"transition {t.event}: bad cause {t.by!r}")
        for source in t.sources:
            if (t.event, source) in _BY_KEY:
                raise AssertionError(f"duplicate transition {t.event} from {source}")
            _BY_KEY[(t.event, source)] = t
    for (state, _outcome), event in OUTCOME_EVENTS.items():
        if (event, state) not in _BY_KEY or _BY_KEY[(event, state)].by != "rule":
            raise AssertionError(f"outcome event {event} is not a rule transition from {state}")
    for state in STATES:
        leaves = any(state in t.sources for t in TABLE)
        if state not in TERMINAL and not leaves:
            raise AssertionError(f"state {state} has no way out")


_validate()


def transition_for(state: str, event: str) -> Transition:
    """The transition ``event`` from ``state``; raises :class:`IllegalTransition`."""
    try:
        return _BY_KEY[(event, state)]
    except KeyError:
        allowed = sorted(e for (e, s) in _BY_KEY if s == state)
        raise IllegalTransition(
            f"cannot {event} a case in state {state}; allowed: {', '.join(allowed) or 'none'}",
            details={"state": state, "event": event, "allowed": allowed},
        ) from None


Listener = Callable[..., None]
LISTENERS: list[Listener] = []


def on_transition(listener: Listener) -> Listener:
    """Register ``listener(session, case, transition, *, source, now, actor, cause)``."""
    LISTENERS.append(listener)
    return listener


def fire(session: Session, case: Case, event: str, *, now: datetime, actor: str,
         cause: dict, flush: bool = True) -> Transition:
    """Move ``case`` by ``event``, call every listener, flush. Never commits.

    ``cause`` says why: rule decisions with facts and versions, or a human decision
    with its reason. Raises :class:`IllegalTransition` when the table forbids it.
    """
    transition = transition_for(case.state, event)
    source = case.state
    case.state = transition.target
    case.state_since = now
    if transition.target in TERMINAL:
        case.closed_at = now
        case.next_due_at = None
    for listener in LISTENERS:
        listener(session, case, transition, source=source, now=now, actor=actor, cause=cause)
    if flush:  # a batch caller (the scheduler's chunk) may flush once for many cases
        session.flush()
    return transition
