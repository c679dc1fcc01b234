"""Partner CSV imports: good rows in, every bad row reported, idempotent, one audit entry."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from db.models import (
    AuditEntry,
    ImportBatch,
    OffendingEvent,
    PartnerFlag,
    Person,
    Supervision,
)
from workflow import audit
from workflow.errors import InvalidInput
from workflow.partners import imports
from workflow.partners.imports import import_csv
from workflow.users import create_user

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = """partner_ref,given_name,family_name,sex,date_of_birth,first_sanction_on
P1,Ann,Smith,F,1990-01-01,2005-01-01
P2,Bob,Jones,M,1985-02-03,
P3,Cat,Brown,X,1985-02-03,
P4,Dan,Evans,M,1985-02-30,
P5,Eve,Hall,F,2000-01-01,2005-01-01

P6,Finn,Khan,M,1999-09-09,2012-01-01
,Gus,Nowak,M,2030-01-01,
P7,Hal,Ray,M,1980-01-01,2010-01-01,extra
"""
EVENTS = """partner_ref,person_ref,kind,occurred_on,offence_category
E1,P1,arrest,2024-01-10,theft
E2,P1,conviction,2024-05-01,theft
E3,P2,arrest,2024-02-01,robbery
E4,P9,arrest,2024-02-01,robbery
E5,P2,warning,2024-02-01,burglary
E6,P2,arrest,2026-01-01,violence
"""


def _import(session, kind, text, now, **kw):
    return import_csv(session, kind, io.StringIO(text), filename=f"{kind}.csv",
                      actor="tester", now=now, **kw)


def test_mixed_people_file_imports_good_rows_and_reports_each_bad_one(session, now):
    report = _import(session, "people", PEOPLE, now)

    assert report.counts == {"total": 8, "created": 3, "updated": 0, "unchanged": 0,
                             "rejected": 5}
    assert report.errors == [
        {"row": 4, "field": "sex", "reason": "'X' is not one of M, F"},
        {"row": 5, "field": "date_of_birth", "reason": "'1985-02-30' is not a valid date"},
        {"row": 6, "field": "first_sanction_on", "reason": "2005-01-01 is before the "
         "person's 10th birthday (age of criminal responsibility)"},
        # row 7 is blank: skipped, not counted
        {"row": 9, "field": "partner_ref", "reason": "is empty (a value is required)"},
        {"row": 9, "field": "date_of_birth", "reason": "2030-01-01 is after the import "
         "date 2025-03-03"},
        {"row": 10, "field": None, "reason": "has 7 fields, the header has 6"},
    ]
    stored = session.execute(select(Person.partner_ref, Person.sex, Person.first_sanction_on)
                             .order_by(Person.partner_ref)).all()
    assert [tuple(r) for r in stored] == [("P1", "F", date(2005, 1, 1)), ("P2", "M", None),
                                          ("P6", "M", date(2012, 1, 1))]


def test_events_reject_unknown_person_and_bad_values_then_reimport_changes_nothing(
        session, now):
    _import(session, "people", PEOPLE, now)
    first = _import(session, "events", EVENTS, now)

    assert (first.created, first.rejected) == (3, 3)
    assert first.errors == [
        {"row": 5, "field": "person_ref", "reason": "unknown person_ref 'P9': no such "
         "person (import the people file first)"},
        {"row": 6, "field": "kind", "reason": "'warning' is not one of arrest, charge, "
         "conviction, caution"},
        {"row": 6, "field": "offence_category", "reason": "'burglary' is not one of "
         + ", ".join(__import__("rules.catalogue").catalogue.OFFENCE_CATEGORIES)},
        {"row": 7, "field": "occurred_on", "reason": "2026-01-01 is after the import "
         "date 2025-03-03"},
    ]
    session.commit()
    before = session.execute(select(OffendingEvent.id, OffendingEvent.partner_ref,
                                    OffendingEvent.occurred_on)).all()

    again = _import(session, "events", EVENTS, now)

    assert again.counts == {"total": 6, "created": 0, "updated": 0, "unchanged": 3,
                            "rejected": 3}
    assert again.errors == first.errors
    assert session.execute(select(OffendingEvent.id, OffendingEvent.partner_ref,
                                  OffendingEvent.occurred_on)).all() == before


def test_changed_content_is_updated_and_counted(session, now):
    _import(session, "people", PEOPLE, now)
    _import(session, "events", EVENTS, now)
    changed = EVENTS.replace("E1,P1,arrest,2024-01-10,theft", "E1,P2,arrest,2024-01-11,fraud")

    report = _import(session, "events", changed, now)

    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    e1 = session.scalars(select(OffendingEvent).where(OffendingEvent.partner_ref == "E1")).one()
    assert (e1.person.partner_ref, e1.occurred_on, e1.offence_category) == (
        "P2", date(2024, 1, 11), "fraud")
    assert session.scalar(select(func.count()).select_from(OffendingEvent)) == 3


def test_people_update_is_seen_by_loaded_objects(session, now, make_person):
    person = make_person("P1", given="Ann", family="Old", dob=date(1990, 1, 1), sex="F")
    report = _import(session, "people", PEOPLE, now)
    assert (report.created, report.updated) == (2, 1)
    assert (person.family_name, person.first_sanction_on) == ("Smith", date(2005, 1, 1))


@pytest.mark.parametrize("header, message, details", [
    ("partner_ref,person_ref,kind,occurred_on,offence_category,colour",
     "unknown column 'colour'", {"unknown": ["colour"], "repeated": [], "missing": []}),
    ("partner_ref,person_ref,kind,occurred_on",
     "missing column 'offence_category'",
     {"unknown": [], "repeated": [], "missing": ["offence_category"]}),
    ("partner_ref,person_ref,kind,kind,occurred_on,offence_category",
     "repeated column 'kind'", {"unknown": [], "repeated": ["kind"], "missing": []}),
])
def test_header_errors_name_the_column_and_import_nothing(session, now, make_person, header,
                                                          message, details):
    make_person("P1")
    body = header + "\nE1,P1,arrest,2024-01-10,theft,x\n"
    with pytest.raises(InvalidInput, match=message) as caught:
        _import(session, "events", body, now)
    assert caught.value.details == {"row": 1, **details}
    assert session.scalar(select(func.count()).select_from(OffendingEvent)) == 0
    assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_empty_file_and_unknown_kind_are_file_errors(session, now):
    with pytest.raises(InvalidInput, match="empty"):
        _import(session, "people", "", now)
    with pytest.raises(InvalidInput, match="unknown import kind 'cats'"):
        _import(session, "cats", PEOPLE, now)


def test_optional_columns_may_be_left_out_and_header_is_case_insensitive(session, now,
                                                                          make_person):
    make_person("P1")
    report = _import(session, "assessments", "\ufeffPartner_Ref, person_ref ,ASSESSED_ON,"
                     "ogrs_2yr\nA1,P1,2024-05-01,81\n", now)
    assert report.created == 1
    session.commit()


def test_batch_and_audit_entry_record_the_counts(session, now):
    report = _import(session, "people", PEOPLE, now)
    batch = session.get(ImportBatch, report.batch_id)
    assert (batch.kind, batch.filename, batch.actor, batch.rows_total, batch.rows_created,
            batch.rows_rejected) == ("people", "people.csv", "tester", 8, 3, 5)
    assert batch.errors == report.errors and len(batch.sha256) == 64
    entry = session.scalars(select(AuditEntry).where(AuditEntry.kind == "import")).one()
    assert entry.payload == {"batch_id": report.batch_id, "kind": "people",
                             "filename": "people.csv", "sha256": batch.sha256, "total": 8,
                             "created": 3, "updated": 0, "unchanged": 0, "rejected": 5}
    session.commit()
    assert audit.verify(session).ok


def test_repeated_ref_is_rejected_in_and_across_chunks(session, now, make_person,
                                                       monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    make_person("P1")
    rows = ["E1,P1,arrest,2024-01-01,theft",  # rows 2-3: chunk 1
            "E1,P1,arrest,2024-01-05,theft",  # a repeat in the same chunk
            "E2,P1,arrest,2024-01-02,theft", "E3,P1,arrest,2024-01-04,theft",  # chunk 2
            "E2,P1,arrest,2024-01-03,theft"]  # row 6, chunk 3: a repeat across chunks
    body = "partner_ref,person_ref,kind,occurred_on,offence_category\n" + "\n".join(rows)
    calls = []
    report = _import(session, "events", body, now, progress=calls.append)

    assert (report.created, report.rejected) == (3, 2)
    assert [(e["row"], e["reason"]) for e in report.errors] == [
        (3, "'E1' repeats row 2 of this file (the first occurrence is kept)"),
        (6, "'E2' repeats an earlier row of this file (the first occurrence is kept)")]
    assert calls == [2, 4, 5]
    stored = dict(session.execute(select(OffendingEvent.partner_ref,
                                         OffendingEvent.occurred_on)).all())
    assert stored == {"E1": date(2024, 1, 1), "E2": date(2024, 1, 2), "E3": date(2024, 1, 4)}
    # Re-import: the same rows are unchanged and the repeats refused again.
    again = _import(session, "events", body, now)
    assert (again.unchanged, again.rejected, again.updated) == (3, 2, 0)


def test_flag_values_are_validated_per_kind_and_normalised(session, now, make_person):
    make_person("P1")
    body = """partner_ref,person_ref,kind,value,recorded_on
F1,P1,mappa_level,2,2024-01-01
F2,P1,mappa_level,4,2024-01-01
F3,P1,gang_grade,HIGH,2024-01-01
F4,P1,gang_grade,purple,2024-01-01
F5,P1,ppo,Yes,2024-01-01
F6,P1,dtoa,maybe,2024-01-01
F7,P1,curfew,true,2024-01-01
"""
    report = _import(session, "flags", body, now)
    assert [(e["row"], e["field"]) for e in report.errors] == [
        (3, "value"), (5, "value"), (7, "value"), (8, "kind")]
    assert report.errors[0]["reason"] == "'4' is not a MAPPA level 0-3 (kind mappa_level)"
    stored = dict(session.execute(select(PartnerFlag.partner_ref, PartnerFlag.value)).all())
    assert stored == {"F1": "2", "F3": "high", "F5": "true"}


def test_supervision_links_offender_manager_and_checks_dates(session, now, make_person):
    make_person("P1")
    om, _ = create_user(session, username="om1", display_name="Olivia Marsh",
                        role="offender_manager", agency="CRC")
    body = """partner_ref,person_ref,provider,offender_manager,start_on,end_on
S1,P1,CRC,olivia marsh,2024-01-01,2025-01-01
S2,P1,NPS,Olivia Marsh,2024-01-01,
S3,P1,CRC,,2024-01-01,2023-01-01
S4,P1,none,,2025-06-01,
"""
    report = _import(session, "supervision", body, now)
    assert report.errors == [{"row": 4, "field": "end_on",
                              "reason": "2023-01-01 is before start_on 2024-01-01"}]
    links = dict(session.execute(select(Supervision.partner_ref,
                                        Supervision.offender_manager_user_id)).all())
    assert links == {"S1": om.id, "S2": None, "S4": None}  # S2: the agency differs


def test_assessment_one_year_cannot_exceed_two_year(session, now, make_person):
    make_person("P1")
    body = ("partner_ref,person_ref,assessed_on,ogrs_1yr,ogrs_2yr,tool\n"
            "A1,P1,2024-01-01,80,70,\nA2,P1,2024-01-01,x,101,OGRS4\nA3,P1,2024-01-01,,55,\n")
    report = _import(session, "assessments", body, now)
    assert [(e["row"], e["field"], e["reason"]) for e in report.errors] == [
        (2, "ogrs_1yr", "80 is above ogrs_2yr 70 (the 1-year probability cannot exceed "
                        "the 2-year one)"),
        (3, "ogrs_1yr", "'x' is not a whole number"),
        (3, "ogrs_2yr", "101 is outside 0-100")]
    assert report.created == 1


def test_undecodable_bytes_are_a_file_error_and_rollback_removes_every_row(
        session, now, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 100)  # chunks before the bad line are written
    good = "".join(f"G{i},Ann,Lee,F,1990-01-01,\n" for i in range(1000))  # > one 8 KiB read
    data = (PEOPLE.splitlines(keepends=True)[0] + good).encode() + b"X1,Bad,\xff,M,1990-01-01,\n"
    with pytest.raises(InvalidInput, match=r"^p\.csv: unreadable line 1002: byte 8 \(0xff\)"):
        import_csv(session, "people", io.BytesIO(data), filename="p.csv", actor="t", now=now)
    assert session.scalar(select(func.count()).select_from(Person)) > 0  # not committed
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_binary_and_text_streams_import_alike_with_the_same_hash(session, now):
    """CRLF and lone-CR line ends and a BOM: the same rows and file hash either way."""
    data = PEOPLE.replace("\n", "\r\n", 3).replace("\nP5,", "\rP5,")
    as_text = import_csv(session, "people", io.StringIO(data, newline=""),
                         filename="people.csv", actor="tester", now=now)
    session.rollback()
    as_bytes = import_csv(session, "people", io.BytesIO(b"\xef\xbb\xbf" + data.encode()),
                          filename="people.csv", actor="tester", now=now)
    assert as_bytes.total == 8
    assert as_bytes.as_dict() | {"batch_id": None} == as_text.as_dict() | {"batch_id": None}


def test_a_csv_error_names_its_exact_line(session, now):
    data = (PEOPLE + "P8,Long,Name,M,1990-01-01,\n" + f"P9,{'x' * 200_000},Lee,M,1990-01-01,\n"
            ).encode()
    with pytest.raises(InvalidInput, match=r"^people\.csv: unreadable line 12: field larger"):
        import_csv(session, "people", io.BytesIO(data), filename="people.csv", actor="t",
                   now=now)



_REFUSE_REF = {
    "sqlite": ["CREATE TRIGGER refuse_bad BEFORE INSERT ON offending_event "
               "WHEN NEW.partner_ref = 'E_BAD' BEGIN SELECT RAISE(ABORT, 'refused E_BAD'); "
               "END"],
    "postgresql": ["CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN IF NEW.partner_ref = 'E_BAD' THEN RAISE EXCEPTION 'refused E_BAD';"
                   " END IF; RETURN NEW; END $$",
                   "CREATE TRIGGER refuse_bad BEFORE INSERT ON offending_event "
                   "FOR EACH ROW EXECUTE FUNCTION refuse_bad()"]}


@pytest.mark.parametrize("bad_chunk", ["first", "last"])
def test_a_database_failure_inserting_a_chunk_surfaces_and_rollback_keeps_nothing(
        session, now, make_person, monkeypatch, bad_chunk):
    """On PostgreSQL the chunk's COPY runs on a background thread: its failure must
    still reach the caller (at the next chunk, or at the end) and leave nothing."""
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    make_person("P1")
    session.commit()
    for statement in _REFUSE_REF[session.get_bind().dialect.name]:
        session.execute(text(statement))  # PostgreSQL: rolled back with the test
    refs = ["E1", "E2", "E3", "E4", "E5", "E6"]
    refs[0 if bad_chunk == "first" else -1] = "E_BAD"
    body = "partner_ref,person_ref,kind,occurred_on,offence_category\n" + "".join(
        f"{ref},P1,arrest,2024-01-0{i + 1},theft\n" for i, ref in enumerate(refs))
    with pytest.raises(Exception, match="refused E_BAD"):
        _import(session, "events", body, now)
    session.rollback()
    session.execute(text("DROP TRIGGER IF EXISTS refuse_bad"
                         + (" ON offending_event" if session.get_bind().dialect.name
                            == "postgresql" else "")))
    session.commit()
    assert session.scalar(select(func.count()).select_from(OffendingEvent)) == 0
    assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0

# --- the CLI, as a real subprocess against a temporary SQLite database ---------------

@pytest.fixture
def cli_env(tmp_path):
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    env = {**os.environ, "IOM_CONFIG": str(tmp_path / "config.toml"),
           "IOM_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    iom = Path(sys.executable).with_name("iom")

    def run(*args):
        return subprocess.run([str(iom), *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
    assert run("db", "upgrade").returncode == 0
    return run


def test_cli_import_exit_codes_and_bad_rows(cli_env, tmp_path):
    people, events = tmp_path / "people.csv", tmp_path / "events.csv"
    people.write_text(PEOPLE, encoding="utf-8")
    events.write_text(EVENTS.replace("E4,P9", "E4,P2"), encoding="utf-8")

    mixed = cli_env("import", "people", str(people), "--now", "2025-03-03T09:00")
    assert mixed.returncode == 3, mixed.stderr
    lines = mixed.stdout.splitlines()
    assert lines[0] == ("people people.csv: 8 rows, 3 created, 0 updated, 0 unchanged, "
                        "5 rejected")
    assert lines[1:] == [
        "row 4: sex: 'X' is not one of M, F",
        "row 5: date_of_birth: '1985-02-30' is not a valid date",
        "row 6: first_sanction_on: 2005-01-01 is before the person's 10th birthday "
        "(age of criminal responsibility)",
        "row 9: partner_ref: is empty (a value is required)",
        "row 9: date_of_birth: 2030-01-01 is after the import date 2025-03-03",
        "row 10: (row): has 7 fields, the header has 6"]

    good = tmp_path / "good.csv"
    good.write_text("".join(EVENTS.splitlines(keepends=True)[:4]), encoding="utf-8")
    ok = cli_env("import", "events", str(good), "--now", "2025-03-03T09:00")
    assert (ok.returncode, ok.stdout.splitlines()) == (0, [
        "events good.csv: 3 rows, 3 created, 0 updated, 0 unchanged, 0 rejected"])
    assert ok.stderr == ""  # no progress indicator when stderr is not a terminal

    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("partner_ref,who\nE1,P1\n", encoding="utf-8")
    failed = cli_env("import", "events", str(bad_header))
    assert failed.returncode == 2
    assert "unknown column 'who'" in failed.stderr and failed.stdout == ""

    # The history: both imports that ran (the refused file wrote nothing), newest first.
    history = cli_env("imports", "list", "--json")
    assert history.returncode == 0, history.stderr
    batches = json.loads(history.stdout)
    assert [(b["kind"], b["filename"], b["rows_created"], b["rows_rejected"])
            for b in batches] == [("events", "good.csv", 3, 0), ("people", "people.csv", 3, 5)]
    listed = cli_env("imports", "list", "--kind", "people").stdout.splitlines()
    assert listed[0] == "1 of 1 imports, newest first" and "people.csv" in listed[1]
    shown = cli_env("imports", "show", str(batches[1]["id"])).stdout.splitlines()
    assert "row 4: sex: 'X' is not one of M, F" in shown
    assert cli_env("imports", "show", "999").returncode != 0
    assert cli_env("imports", "list", "--limit", "0").returncode == 2
    assert cli_env("import", "events", str(tmp_path / "nope.csv")).returncode == 2


def test_a_large_import_refreshes_planner_statistics_on_postgresql(session, now, db_url):
    """Without it the first scheduler passes after a big import scan whole tables."""
    if not db_url.startswith("postgresql"):
        pytest.skip("planner statistics are a PostgreSQL matter here")
    people = "partner_ref,given_name,family_name,sex,date_of_birth\n" + "".join(
        f"P{i},Ann,Lee,F,1990-01-01\n" for i in range(50))

    def events(first, count):
        return "partner_ref,person_ref,kind,occurred_on,offence_category\n" + "".join(
            f"E{i},P{i % 50},arrest,2024-01-01,theft\n" for i in range(first, first + count))

    def reltuples():
        return session.scalar(text("SELECT reltuples FROM pg_class "
                                   "WHERE relname = 'offending_event'"))
    _import(session, "people", people, now)
    before = reltuples()
    _import(session, "events", events(0, 500), now)  # small: statistics left to autovacuum
    assert reltuples() == before
    _import(session, "events", events(500, imports.ANALYZE_ROWS), now)
    assert reltuples() == imports.ANALYZE_ROWS + 500  # counted inside the transaction


def test_the_error_list_is_capped_to_the_first_rows_with_a_count_of_the_rest(
        session, now, monkeypatch):
    """A file of bad rows gave an error list bigger than the file: now the first
    ERRORS_LISTED errors by row are listed and the rest only counted."""
    monkeypatch.setattr(imports, "CHUNK_ROWS", 300)
    _import(session, "people", PEOPLE, now)
    lines = ["partner_ref,person_ref,kind,occurred_on,offence_category"]
    for i in range(2500):  # row i+2: unknown person (found after parsing) or a bad date
        lines.append(f"E{i},NOBODY,arrest,2024-01-01,theft" if i % 2 else
                     f"E{i},P1,arrest,2024-13-01,theft")
    report = _import(session, "events", "\n".join(lines) + "\n", now)
    assert report.rejected == 2500 and report.created == 0
    assert len(report.errors) == imports.ERRORS_LISTED == 1000
    assert report.errors_omitted == 1500
    assert [e["row"] for e in report.errors] == list(range(2, 1002))
    assert [e["field"] for e in report.errors[:2]] == ["occurred_on", "person_ref"]
    assert report.as_dict()["errors_omitted"] == 1500
    stored = session.get(ImportBatch, report.batch_id)
    assert [e["row"] for e in stored.errors] == list(range(2, 1002))
