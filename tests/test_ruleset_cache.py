"""Published rule sets are cached per process and re-read when any process publishes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert

from db.models import RuleSetPublication, RuleSetVersion
from rules.document import load_document
from rules.library import shipped_documents
from workflow.rulesets import published_document, published_row


@pytest.mark.usefixtures("published")
def test_a_publication_by_another_process_is_seen_at_the_next_transaction(
        session, db_engine, now):
    """The cache is checked against the publication table once a transaction: a row
    committed by another connection (as another process would, without touching this
    process's cache) is in force at this session's next transaction, and an ``on`` date
    before it still sees the earlier version."""
    before = published_document(session, "mappa-exclusion", on=now)
    assert before.version == published_row(session, "mappa-exclusion", on=now).version
    session.commit()
    doc = shipped_documents()["mappa-exclusion"]
    text = doc.text.replace("MAPPA level 2 and 3 exclusion", "MAPPA 2/3 exclusion (v2)")
    new = load_document(text, file="v2")
    with db_engine.begin() as conn:  # another "process": plain SQL, no cache call
        version_id = conn.execute(insert(RuleSetVersion).values(
            name="mappa-exclusion", version=new.version, stage="exclusion", document=text,
            status="published", reason="test", created_by="tl", created_at=now)
            .returning(RuleSetVersion.id)).scalar_one()
        conn.execute(insert(RuleSetPublication).values(
            name="mappa-exclusion", version_id=version_id, kind="publish",
            published_at=now + timedelta(hours=1), recorded_at=now, actor="tl",
            reason="test"))
    later = now + timedelta(hours=2)
    assert published_document(session, "mappa-exclusion", on=later).version == new.version
    assert published_document(session, "mappa-exclusion", on=now).version == before.version
    assert published_document(session, "mappa-exclusion").version == new.version
    session.commit()
