"""The command line acts as someone: ``--as USER`` needs USER's own token, ``--as-admin``
is audited as the host's administrator, and four eyes hold on both paths. Run through
the real ``iom`` executable against a real database."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from db.models import AuditEntry, ImportBatch, RuleSetVersion
from rules.library import shipped_documents

ROOT = Path(__file__).resolve().parents[1]
HOST_ADMIN = f"host-admin:{getpass.getuser()}"


@pytest.fixture
def iom(db_url, audit_files, tmp_path):
    """``iom(*args, token=None)``: the installed executable, stdin not a terminal."""
    env = {k: v for k, v in os.environ.items() if k != "IOM_TOKEN"}
    env.update({"IOM_CONFIG": str(ROOT / "config.toml"), "IOM_DATABASE_URL": db_url,
                **audit_files})

    def run(*args, token=None):
        return subprocess.run([str(Path(sys.executable).with_name("iom")), *args],
                              env={**env, **({"IOM_TOKEN": token} if token else {})},
                              cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    return run


@pytest.mark.usefixtures("published")
def test_rule_set_life_needs_each_team_leads_own_token(iom, make_user, session, tmp_path):
    _, lead1 = make_user("lead1", role="team_lead")
    _, lead2 = make_user("lead2", role="team_lead", agency="police")
    draft = tmp_path / "mappa.yaml"
    draft.write_text(shipped_documents()["mappa-exclusion"].text.replace(
        "description: MAPPA level 2 or 3 cases are out of IOM scope.",
        "description: MAPPA level 2 or 3 cases stay with MAPPA."))

    no_token = iom("rules", "draft", str(draft), "--as", "lead1", "--reason", "r")
    assert no_token.returncode == 2 and "needs lead1's token" in no_token.stderr
    stolen = iom("rules", "draft", str(draft), "--as", "lead1", "--reason", "r", token=lead2)
    assert stolen.returncode == 2 and "not lead1's" in stolen.stderr
    done = iom("rules", "draft", str(draft), "--as", "lead1", "--reason", "r", token=lead1)
    assert done.returncode == 0, done.stderr
    ref = done.stdout.split()[1]
    for step in ("test-stored", "preview"):
        assert iom("rules", step, ref, "--as", "lead1", token=lead1).returncode == 0
        admin = iom("rules", step, ref, "--as-admin")
        assert admin.returncode == 2 and "role admin may not" in admin.stderr

    # Four eyes: the author with a colleague's name, the host administrator, the author.
    as_colleague = iom("rules", "approve", ref, "--as", "lead2", "--reason", "ok",
                       token=lead1)
    assert as_colleague.returncode == 2 and "not lead2's" in as_colleague.stderr
    as_admin = iom("rules", "approve", ref, "--as-admin", "--reason", "ok")
    assert as_admin.returncode == 2 and "second team lead must approve" in as_admin.stderr
    own = iom("rules", "approve", ref, "--as", "lead1", "--reason", "ok", token=lead1)
    assert own.returncode == 2 and "you wrote this draft" in own.stderr
    both = iom("rules", "approve", ref, "--as", "lead2", "--as-admin", "--reason", "ok")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    approved = iom("rules", "approve", ref, "--as", "lead2", "--reason", "ok", token=lead2)
    assert approved.returncode == 0, approved.stderr

    published = iom("rules", "publish", ref, "--as-admin", "--reason", "board")
    assert published.returncode == 0, published.stderr
    session.expire_all()
    row = session.scalars(select(RuleSetVersion).where(
        RuleSetVersion.version.startswith(ref.split("@")[1]))).one()
    assert (row.created_by, row.approved_by, row.published_by) == ("lead1", "lead2",
                                                                  HOST_ADMIN)
    actors = dict(session.execute(select(AuditEntry.kind, AuditEntry.actor).where(
        AuditEntry.kind.in_(("ruleset.drafted", "ruleset.approved", "ruleset.published")))
        .order_by(AuditEntry.seq)).all())
    assert actors == {"ruleset.drafted": "lead1", "ruleset.approved": "lead2",
                      "ruleset.published": HOST_ADMIN}
    session.commit()


def test_users_tokens_and_imports_from_the_command_line(iom, make_user, session, tmp_path):
    _, pc = make_user("pc1", role="police")
    session.commit()
    bad = iom("users", "create", "ro1", "--role", "resettlement_officer", "--agency", "bank")
    assert bad.returncode == 2 and "agency 'bank'" in bad.stderr
    made = iom("users", "create", "ro1", "--role", "resettlement_officer",
               "--agency", "Mental_Health")
    assert made.returncode == 0 and "(resettlement_officer, mental_health)" in made.stdout
    token = made.stdout.split("token: ")[1].split()[0]

    supervision = tmp_path / "supervision.csv"
    supervision.write_text("partner_ref,person_ref,provider,offender_manager,start_on,end_on\n"
                           "S1,P1,NPS,,2025-01-01,\n", encoding="utf-8")
    refused = iom("import", "supervision", str(supervision), "--as", "pc1", token=pc)
    assert refused.returncode == 2 and "imported by NPS, CRC" in refused.stderr
    people = tmp_path / "people.csv"
    people.write_text("partner_ref,given_name,family_name,sex,date_of_birth\n"
                      "P1,Ann,Smith,F,1990-01-01\n", encoding="utf-8")
    assert iom("import", "people", str(people), "--as", "pc1", token=pc).returncode == 0
    assert iom("import", "supervision", str(supervision)).returncode == 0  # host admin
    session.expire_all()
    assert [b.actor for b in session.scalars(select(ImportBatch).order_by(ImportBatch.id))
            ] == ["pc1", HOST_ADMIN]
    session.commit()

    rotated = iom("users", "rotate", "ro1")
    assert rotated.returncode == 0, rotated.stderr
    fresh = rotated.stdout.split("token: ")[1].split()[0]
    draft = ["rules", "test-stored", "mappa-exclusion", "--as", "ro1"]
    assert "invalid or revoked" in iom(*draft, token=token).stderr  # the old token
    refused = iom(*draft, token=fresh)  # rule evidence is team leads' work, as in the API
    assert refused.returncode == 2 and "needs one of team_lead" in refused.stderr
    assert iom("users", "revoke", "ro1").returncode == 0
    assert "invalid or revoked" in iom(*draft, token=fresh).stderr
    session.expire_all()
    kinds = [(e.kind, e.actor) for e in session.scalars(select(AuditEntry).where(
        AuditEntry.kind.like("user.%")).order_by(AuditEntry.seq))]
    assert kinds == [("user.token_rotated", HOST_ADMIN), ("user.token_revoked", HOST_ADMIN)]
    session.commit()
