"""Stage policy as published data (issue 11, "done when" bullet 1), through the API and
the scheduler pass, with cases that are NOT due: a rule added to a set no stage uses is
warned about at preview and publish and moves nothing; adding the set to the mapping
stage's policy previews the cases, a second team lead approves, publishing makes exactly
those due, the very next pass moves them (audit names rule-set and policy versions), and
rolling the policy back stops it at the next pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import select

from db.models import AuditEntry, Case
from rules.library import shipped_documents
from scheduler.jobs import advance_due
from workflow.audit import verify
from workflow.explain import explain_case

NEW_RULE = """  - id: local-violence-ogrs-60
    principles: [2]
    description: "Local priority: violence with an OGRS 2-year score of 60-74."
    priority: 25
    when:
      all:
        - {fact: offence_category, eq: violence}
        - {fact: ogrs_2yr, gte: 60}
        - {fact: ogrs_2yr, lt: 75}
    then:
      action: select
      params: {reason: "Barnet local priority: violence, OGRS 60-74", cohort: flex}
"""


@pytest.fixture
def now():
    """Real time: publication happens now (API), so the pass runs after it."""
    return datetime.now(UTC).replace(microsecond=0)


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def flex_with_new_rule() -> str:
    text = shipped_documents()["barnet-local-flex"].text
    head, tail = text.split("\nexamples:", 1)
    return head.rstrip("\n") + "\n" + NEW_RULE + "examples:" + tail


def not_due_cases(make_case, session, now):
    """Mapping cases next due in four days: A, B would be selected by the new rule, C
    is under its threshold, D is MAPPA 2 (excluded whatever is selected)."""
    cases = [make_case(ogrs=62, offence="violence"), make_case(ogrs=70, offence="violence"),
             make_case(ogrs=40, offence="violence"),
             make_case(ogrs=65, offence="violence", mappa=2)]
    for case in cases:
        case.next_due_at = now + timedelta(days=4)
    session.commit()
    return cases


def policy_with(document: str, purpose: str, name: str) -> str:
    data = yaml.safe_load(document)
    data["purposes"][purpose]["rulesets"].append(name)
    return yaml.safe_dump(data, sort_keys=False)


def _lifecycle(client, name, document, *, author, approver, reason):
    """Draft, test, preview (returned), approve by the other lead; returns
    ``(version, preview json)``."""
    r = client.post("/api/v1/rulesets", json={"document": document, "reason": reason},
                    headers=_auth(author))
    assert r.status_code == 201, r.get_json()
    version = r.get_json()["version"]
    base = f"/api/v1/rulesets/{name}/versions/{version[:12]}"
    assert client.post(base + "/test", headers=_auth(author)).get_json()["passed"] is True
    preview = client.post(base + "/preview", headers=_auth(author)).get_json()
    assert client.post(base + "/approve", json={"reason": "ok"},
                       headers=_auth(author)).status_code == 403  # four eyes
    assert client.post(base + "/approve", json={"reason": "agreed"},
                       headers=_auth(approver)).status_code == 200
    return version, preview, base


@pytest.mark.usefixtures("published")
def test_done_when_through_the_api(client, make_user, make_case, runtime, session, now):
    _, lead1 = make_user("lead1", role="team_lead")
    _, lead2 = make_user("lead2", role="team_lead", agency="police")
    make_user("om1", role="offender_manager", agency="NPS")
    a, b, c, d = not_due_cases(make_case, session, now)

    # 1. A rule added to a set no stage uses: preview and publish say so; nothing moves.
    flex, preview, base = _lifecycle(client, "barnet-local-flex", flex_with_new_rule(),
                                     author=lead1, approver=lead2, reason="violence 60+")
    warning = "not evaluated by any stage: add it to the stage policy"
    assert any(warning in w for w in preview["warnings"])
    assert preview["changed"] == [] and preview["moves_at_next_pass"] == []
    published = client.post(base + "/publish", json={"reason": "board"},
                            headers=_auth(lead1)).get_json()
    assert any(warning in w for w in published["warnings"])
    assert published["moves_at_next_pass"] == []
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.kind == "ruleset.published").order_by(AuditEntry.seq.desc())).first()
    assert entry.payload["ruleset"] == "barnet-local-flex"
    assert any(warning in w for w in entry.payload["warnings"]) and warning in entry.summary
    session.commit()  # end the read: on SQLite every transaction takes the write lock
    assert advance_due(runtime, now=datetime.now(UTC)).evaluated == 0  # nothing due

    # 2. The team lead adds the set to the mapping stage's policy.
    policies = client.get("/api/v1/rulesets/stage-policy", headers=_auth(lead1)).get_json()
    [old] = [v for v in policies["versions"] if v["status"] == "published"]
    old_doc = client.get(f"/api/v1/rulesets/stage-policy/versions/{old['version'][:12]}",
                         headers=_auth(lead1)).get_json()["document"]
    new_doc = policy_with(old_doc, "mapping", "barnet-local-flex")
    policy, preview, base = _lifecycle(client, "stage-policy", new_doc, author=lead1,
                                       approver=lead2, reason="use Barnet local flex")
    assert sorted(c["case_id"] for c in preview["changed"]) == sorted([a.id, b.id])
    assert preview["moves_at_next_pass"] == sorted([a.id, b.id])
    assert "next scheduler pass" in preview["note"]
    published = client.post(base + "/publish", json={"reason": "board"},
                            headers=_auth(lead1)).get_json()
    assert published["status"] == "published"
    assert published["moves_at_next_pass"] == sorted([a.id, b.id])
    assert "move at the next scheduler pass" in published["note"]
    session.expire_all()
    published_at = datetime.now(UTC)
    assert all(session.get(Case, x.id).next_due_at <= published_at for x in (a, b))
    assert all(session.get(Case, x.id).next_due_at > published_at + timedelta(days=3)
               for x in (c, d))  # no stampede
    session.commit()  # end the read: on SQLite every transaction takes the write lock

    # 3. The very next pass moves exactly the previewed cases, naming both versions.
    report = advance_due(runtime, now=datetime.now(UTC))
    assert sorted(m.case_id for m in report.moved) == sorted([a.id, b.id])
    assert report.evaluated == 2
    for case in (a, b):
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.case_id == case.id, AuditEntry.kind == "case.transition")).one()
        cause = entry.payload["cause"]
        assert f"barnet-local-flex@{flex}" in cause["versions"]
        assert cause["policy"] == policy
        assert f"stage policy {policy[:12]}" in entry.summary and flex[:12] in entry.summary
        [line] = [x for x in explain_case(session, case.id) if x.kind == "case.transition"]
        assert f"Stage policy in force: version {policy[:12]}" in line.text
    session.expire_all()
    assert {session.get(Case, x.id).state for x in (c, d)} == {"mapping"}
    url = f"/api/v1/cases/{a.id}/as-of"
    session.commit()  # end the read: on SQLite every transaction takes the write lock

    # As of before the policy was published, the old policy (no local flex) applied.
    before = (datetime.fromisoformat(old["published_at"]) if old["published_at"]
              else now).isoformat()
    asof = client.get(url, query_string={
        "on": before, "stage": "mapping"}, headers=_auth(lead1)).get_json()
    assert asof.get("outcome", "missing") is None, asof

    # 4. Rolling the policy back stops it at the next pass.
    e = make_case(ogrs=63, offence="violence")
    e.next_due_at = datetime.now(UTC) + timedelta(days=4)
    session.flush()
    e_id = e.id
    session.commit()
    rolled = client.post("/api/v1/rulesets/stage-policy/rollback",
                         json={"reason": "too many"}, headers=_auth(lead2)).get_json()
    assert rolled["version"] == old["version"]
    assert rolled["moves_at_next_pass"] == [e_id]
    report = advance_due(runtime, now=datetime.now(UTC))
    assert e_id not in {m.case_id for m in report.moved}  # evaluated, no longer selected
    session.expire_all()
    e = session.get(Case, e_id)
    assert e.last_outcome is None and e.state == "mapping"
    assert e.next_due_at > datetime.now(UTC) + timedelta(days=6)  # evaluated: recheck
    assert session.get(Case, e.id).state == "mapping"
    assert verify(session).ok


def _cli_json(capsys, *argv, tokens=None) -> dict:
    import json

    from cli_helpers import run_as

    assert run_as(tokens or {}, list(argv)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _cli_lifecycle(capsys, iom, path, *, reason, tokens):
    """draft, test-stored, preview --json, approve (lead2); returns (ref, preview)."""
    from functools import partial

    from cli_helpers import run_as

    main = partial(run_as, tokens)  # each --as user with their own token

    assert main([*iom, "draft", str(path), "--as", "lead1", "--reason", reason]) == 0
    ref = capsys.readouterr().out.split()[1]
    assert main([*iom, "test-stored", ref, "--as", "lead1"]) == 0
    capsys.readouterr()
    preview = _cli_json(capsys, *iom, "preview", ref, "--as", "lead1", "--json", tokens=tokens)
    assert main([*iom, "approve", ref, "--as", "lead1", "--reason", "mine"]) == 2
    assert main([*iom, "approve", ref, "--as", "lead2", "--reason", "agreed"]) == 0
    capsys.readouterr()
    return ref, preview


def _tick_moves(capsys, config) -> dict[int, str]:
    """``iom tick``: {case id: "source -> target"} of the cases it moved."""
    from cli.main import main

    assert main(["--config", config, "tick"]) == 0
    moves = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  case ") and " -> " in line and "FAILED" not in line:
            head, _, rest = line.strip().partition(": ")
            moves[int(head.split()[1])] = rest.split(" (")[0]
    return moves


@pytest.mark.usefixtures("published")
def test_done_when_through_the_cli(db_url, make_user, make_case, session, tmp_path,
                                   monkeypatch, capsys, now, user_tokens):
    from cli_helpers import run_as

    from cli.main import main

    make_user("lead1", role="team_lead")
    make_user("lead2", role="team_lead", agency="police")
    make_user("om1", role="offender_manager", agency="NPS")
    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    config = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "config.toml")
    iom = ["--config", config, "rules"]
    a, b, c, d = not_due_cases(make_case, session, now)
    warning = "not evaluated by any stage: add it to the stage policy"

    flex = tmp_path / "flex.yaml"
    flex.write_text(flex_with_new_rule())
    ref, preview = _cli_lifecycle(capsys, iom, flex, reason="violence 60+",
                                  tokens=user_tokens)
    assert any(warning in w for w in preview["warnings"]) and preview["changed"] == []
    published = _cli_json(capsys, *iom, "publish", ref, "--as", "lead1", "--reason", "board",
                          "--json", tokens=user_tokens)
    assert any(warning in w for w in published["warnings"])
    assert published["moves_at_next_pass"] == []
    assert _tick_moves(capsys, config) == {}

    assert main([*iom, "show", "stage-policy", "--raw"]) == 0
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(policy_with(capsys.readouterr().out, "mapping",
                                       "barnet-local-flex"))
    policy_ref, preview = _cli_lifecycle(capsys, iom, policy_file, reason="use local flex",
                                         tokens=user_tokens)
    assert preview["moves_at_next_pass"] == sorted([a.id, b.id])
    assert run_as(user_tokens, [*iom, "publish", policy_ref, "--as", "lead1", "--reason",
                                "board"]) == 0
    out = capsys.readouterr().out
    assert "is now published" in out and "move at the next scheduler pass" in out
    assert f"cases {', '.join(str(i) for i in sorted([a.id, b.id]))}" in out

    assert _tick_moves(capsys, config) == {a.id: "mapping -> matrixing",
                                           b.id: "mapping -> matrixing"}
    session.expire_all()
    policy_version = session.scalars(select(AuditEntry.payload).where(
        AuditEntry.kind == "ruleset.published").order_by(AuditEntry.seq.desc())
    ).first()["version"]
    assert policy_version.startswith(policy_ref.split("@")[1])
    for case in (a, b):
        cause = session.scalars(select(AuditEntry).where(
            AuditEntry.case_id == case.id, AuditEntry.kind == "case.transition")
        ).one().payload["cause"]
        assert cause["policy"] == policy_version
        assert any(v.startswith("barnet-local-flex@" + ref.split("@")[1])
                   for v in cause["versions"])

    e = make_case(ogrs=63, offence="violence")
    e.next_due_at = datetime.now(UTC) + timedelta(days=4)
    session.commit()
    rolled = _cli_json(capsys, *iom, "rollback", "stage-policy", "--as", "lead2",
                       "--reason", "too many", "--json", tokens=user_tokens)
    assert rolled["moves_at_next_pass"] == [e.id]
    moves = _tick_moves(capsys, config)
    assert e.id not in moves
    session.expire_all()
    assert session.get(Case, e.id).state == "mapping"
    assert session.get(Case, e.id).next_due_at > datetime.now(UTC) + timedelta(days=6)
