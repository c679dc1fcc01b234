"""Listings by keyset: cursor walks, filters on indexes, one query a page whatever its size."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, text

from db.models import Case, Task
from workflow.case_list import case_query

pytestmark = pytest.mark.usefixtures("published")


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _walk(client, path, token, per_page):
    """Every item of a listing, following ``next``; the pages' sizes."""
    items, sizes, after = [], [], None
    while True:
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}per_page={per_page}" + (f"&after={after}" if after else "")
        response = client.get(url, headers=_auth(token))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["total"] is None  # counted only when asked
        items += body["items"]
        sizes.append(len(body["items"]))
        after = body["next"]
        if after is None:
            return items, sizes


@pytest.fixture
def borough(session, make_case, make_user, now):
    """Eleven cases in several states, streams, leads of two agencies and due dates."""
    om, _ = make_user("om1", role="offender_manager", agency="NPS")
    pc, _ = make_user("pc1", role="police", agency="police")
    _, lead = make_user("lead1", role="team_lead", agency="NPS")
    lead_ids = {"om": om.id, "pc": pc.id}
    states = ("mapping", "matrixing", "panel", "allocated", "review")
    spec = []
    for i in range(11):
        case = make_case(state=states[i % 5], ogrs=30 + i)
        case.cohort = ("fixed", "flex", "free")[i % 3]
        case.lead_user_id = (om.id, pc.id, None)[i % 3] if i % 5 else None
        case.next_due_at = now + timedelta(days=i)
        spec.append((case.id, case.state, case.cohort, case.lead_user_id,
                     case.next_due_at))
    session.commit()
    return lead, lead_ids, spec


def test_cursor_walk_sees_every_case_once_newest_first(client, borough, make_case, session):
    lead, _, spec = borough
    items, sizes = _walk(client, "/api/v1/cases", lead, per_page=4)
    assert [c["id"] for c in items] == sorted((s[0] for s in spec), reverse=True)
    assert sizes == [4, 4, 3]
    assert all(c["person_ref"] and c["name"].startswith("Alex ") for c in items)
    # A case opened between two pages does not shift the rest of the walk.
    first = client.get("/api/v1/cases?per_page=4", headers=_auth(lead)).get_json()
    newer = make_case(state="mapping").id
    session.commit()
    second = client.get(f"/api/v1/cases?per_page=4&after={first['next']}",
                        headers=_auth(lead)).get_json()
    assert [c["id"] for c in second["items"]] == [c["id"] for c in items[4:8]]
    assert newer not in [c["id"] for c in first["items"] + second["items"]]
    counted = client.get("/api/v1/cases?per_page=2&total=true", headers=_auth(lead)).get_json()
    assert counted["total"] == len(spec) + 1 and len(counted["items"]) == 2


def test_filters_state_stream_lead_agency_due(client, borough, now):
    lead, leads, spec = borough

    def ids(query):
        items, _ = _walk(client, f"/api/v1/cases?{query}", lead, per_page=2)
        return [c["id"] for c in items]

    def expect(pred):
        return sorted((s[0] for s in spec if pred(s)), reverse=True)

    assert ids("state=panel") == expect(lambda s: s[1] == "panel")
    assert ids("stream=flex") == expect(lambda s: s[2] == "flex")
    assert ids(f"lead={leads['pc']}") == expect(lambda s: s[3] == leads["pc"])
    assert ids("agency=NPS") == expect(lambda s: s[3] == leads["om"])
    due = (now + timedelta(days=4)).isoformat()
    soonest_first = sorted((s[4], s[0]) for s in spec if s[4] <= now + timedelta(days=4))
    assert ids(f"due_before={due.replace('+', '%2B')}") == [i for _, i in soonest_first]
    both = ids("stream=fixed&agency=NPS")
    assert both == expect(lambda s: s[2] == "fixed" and s[3] == leads["om"]) and both


def test_bad_cursors_and_mixed_forms_are_one_error_shape(client, borough):
    lead, _, _ = borough
    for bad in ("nope", "W10", "WyJ4Il0", "e30"):  # junk, [], ["x"], {}
        response = client.get(f"/api/v1/cases?after={bad}", headers=_auth(lead))
        assert response.status_code in (400, 422), (bad, response.get_json())
        assert response.get_json()["error"]["details"] == {"field": "after"}
    page = client.get("/api/v1/cases?per_page=2", headers=_auth(lead)).get_json()
    mixed = client.get(f"/api/v1/cases?page=2&after={page['next']}", headers=_auth(lead))
    assert mixed.status_code in (400, 422)
    # The older numbered form still answers, in the same order.
    numbered = client.get("/api/v1/cases?page=2&per_page=2", headers=_auth(lead)).get_json()
    cursor = client.get(f"/api/v1/cases?per_page=2&after={page['next']}",
                        headers=_auth(lead)).get_json()
    assert [c["id"] for c in numbered["items"]] == [c["id"] for c in cursor["items"]]
    assert numbered["page"] == 2


def _statements(engine):
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    return seen, lambda: event.remove(engine, "before_cursor_execute", count)


def test_a_page_costs_the_same_queries_for_3_or_40_cases(client, runtime, borough,
                                                         make_case, session):
    lead, _, _ = borough
    # Warm the process's caches (the published agreement and rule sets are read once,
    # then only checked per transaction), so both counted requests see the same state.
    assert client.get("/api/v1/cases?per_page=1", headers=_auth(lead)).status_code == 200
    seen, stop = _statements(runtime.engine)
    try:
        small = client.get("/api/v1/cases?per_page=3", headers=_auth(lead))
        few = len(seen)
        for _ in range(30):
            make_case(state="review")
        session.commit()
        seen.clear()
        large = client.get("/api/v1/cases?per_page=40", headers=_auth(lead))
        many = len(seen)
    finally:
        stop()
    assert small.status_code == large.status_code == 200
    assert len(large.get_json()["items"]) == 40
    assert many == few, seen  # no query per row (the person comes in the same query)


def test_inbox_cursor_walk_matches_the_urgency_order(client, session, make_case, make_user,
                                                     now):
    om, token = make_user("om1", role="offender_manager", agency="NPS")
    case_id = make_case(state="matrixing").id
    dues = [now + timedelta(days=d) for d in (3, 1, 2, 1, 5)] + [None, None, now]
    for i, due in enumerate(dues):
        session.add(Task(case_id=case_id, template="panel_invite", title=f"t{i}",
                         role="offender_manager", assignee_id=om.id, status="open",
                         due_at=due, created_at=now))
    session.commit()
    items, sizes = _walk(client, "/api/v1/tasks?scope=mine", token, per_page=3)
    order = [(t["due_at"] is None, t["due_at"] or "", t["id"]) for t in items]
    assert order == sorted(order) and len(items) == len(dues) and sizes == [3, 3, 2]
    assert [t["due_at"] is None for t in items][-2:] == [True, True]


def test_import_history_walks_by_cursor(client, make_user):
    _, lead = make_user("pc1", role="police", agency="police")
    header = "partner_ref,given_name,family_name,sex,date_of_birth\n"
    for n in range(5):
        response = client.post(f"/api/v1/imports/people?filename=f{n}.csv",
                               data=f"{header}R{n},A,B,M,1990-01-0{n + 1}\n".encode(),
                               content_type="text/csv", headers=_auth(lead))
        assert response.status_code == 200, response.get_json()
    items, sizes = _walk(client, "/api/v1/imports?kind=people", lead, per_page=2)
    assert [b["filename"] for b in items] == [f"f{n}.csv" for n in range(4, -1, -1)]
    assert sizes == [2, 2, 1]


FILTER_INDEXES = {
    "state": ({"state": "panel"}, "ix_iom_case_state_id"),
    "stream": ({"stream": "flex"}, "ix_iom_case_cohort_id"),
    "lead": ({"lead": 1}, "ix_iom_case_lead_id"),
    "due": ({"due_before": None}, "ix_iom_case_due_id"),
    "agency": ({"leads": (1, 2)}, "ix_iom_case_lead_id"),
}


@pytest.mark.parametrize("name", sorted(FILTER_INDEXES))
def test_each_case_filter_can_use_its_index(session, borough, now, name):
    """EXPLAIN of the listing's query names the filter's index (PostgreSQL with
    sequential and primary-key scans priced out; SQLite's own plan)."""
    filters, index = FILTER_INDEXES[name]
    if name == "due":
        filters = {"due_before": now + timedelta(days=2)}
    order = (Case.next_due_at, Case.id) if name == "due" else (Case.id.desc(),)
    query = case_query(**filters).order_by(*order).limit(51)
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "postgresql":
        # Tiny tables: price out whole-table and primary-key scans, so the plan shows
        # whether the filter has an index (bench.api_bench prints the real 100k plans).
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_indexscan = off"))
        session.execute(text("ANALYZE iom_case"))
        plan = "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))
    else:
        plan = "\n".join(str(r[-1]) for r in session.execute(
            text(f"EXPLAIN QUERY PLAN {compiled}")))
    session.rollback()
    assert index in plan, plan
