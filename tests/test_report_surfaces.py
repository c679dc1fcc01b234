"""Board reports through the HTTP API (JSON and CSV, roles) and the ``iom report`` CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

from report_borough import join

from db.models import OffendingEvent

ROOT = Path(__file__).resolve().parents[1]


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _conv(session, person, *days, kind="conviction", category="robbery"):
    for d in days:
        session.add(OffendingEvent(partner_ref=f"{person.partner_ref}-{kind}-{d}", kind=kind,
                                   person_id=person.id, occurred_on=d,
                                   offence_category=category))


def test_reports_over_http_in_json_and_csv(client, session, make_person, make_user):
    a, b = make_person("A"), make_person("B")
    join(session, a.id, "accept", date(2024, 7, 1))
    join(session, b.id, "reject", date(2024, 7, 1))
    _conv(session, a, date(2024, 1, 1), date(2024, 2, 1), date(2024, 9, 1))
    _conv(session, b, date(2024, 1, 1), date(2024, 9, 1))
    _conv(session, a, date(2024, 3, 1), kind="arrest", category="domestic_burglary")
    session.commit()
    _, token = make_user("lead1", role="team_lead")
    base = "/api/v1/reports"

    effect = client.get(f"{base}/cohort-effect?from=2024-01-01&to=2024-12-31&replicates=20",
                        headers=_auth(token))
    assert effect.status_code == 200, effect.get_json()
    body = effect.get_json()
    assert body["measures"]["count"]["cohort"]["events_before"] == 2
    assert body["measures"]["count"]["comparison"]["people"] == 1
    assert "comparison group" in body["method"].lower() and body["flags"]

    as_csv = client.get(f"{base}/cohort-effect?from=2024-01-01&to=2024-12-31"
                        "&replicates=20&format=csv", headers=_auth(token))
    assert as_csv.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(as_csv.get_data(as_text=True))))
    header = lines[0]
    first = dict(zip(header, lines[1], strict=False))
    assert (first["measure"], first["group"], first["events_before"]) == ("count", "cohort",
                                                                          "2")
    assert lines[-1][0] == "method" and any(row[:1] == ["flag"] for row in lines)

    expansion = client.get(f"{base}/expansion?from=2023-01-01&to=2024-12-31&refs=A&refs=B",
                           headers=_auth(token)).get_json()
    assert [r["arrests"] for r in expansion["rows"]] == [1, 1, 0]
    assert expansion["rows"][1]["offences_per_year_now"] == 5.8  # 0.5 x 11.6

    targets = client.get(f"{base}/targets?from=2024-07-01&to=2025-06-30&reduction-pct=17"
                         "&baseline=153", headers=_auth(token)).get_json()
    assert (targets["allowed"], targets["actual"]) == (127, 1)
    cost = client.get(f"{base}/cost?from=2024-01-01&to=2024-12-31&replicates=20",
                      headers=_auth(token)).get_json()
    assert cost["rows"][0]["cost"] == 2 * 11320

    caseload = client.get(f"{base}/caseload?from=2024-01-01&to=2024-12-31&target-size=200",
                          headers=_auth(token)).get_json()
    assert (caseload["active_cohort"], caseload["target_gap"]) == (1, 199)
    assert caseload["panel_outcomes"] == {"accept": 1, "defer": 0, "reject": 1}

    missing = client.get(f"{base}/targets?from=2024-07-01&to=2025-06-30",
                         headers=_auth(token))
    assert missing.status_code == 422 and "reduction-pct" in str(missing.get_json())
    two = client.get(f"{base}/expansion?stream=flex&refs=A", headers=_auth(token))
    assert two.status_code == 422 and two.get_json()["error"]["details"]["field"] == \
        "candidates"
    _, om = make_user("om1", role="offender_manager")
    assert client.get(f"{base}/cost", headers=_auth(om)).status_code == 403


def test_iom_report_cli_formats_and_errors(tmp_path):
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    env = {**os.environ, "IOM_CONFIG": str(tmp_path / "config.toml"),
           "IOM_DATABASE_URL": f"sqlite:///{tmp_path / 'r.sqlite3'}"}

    def iom(*args, code=0):
        done = subprocess.run([str(Path(sys.executable).with_name("iom")), *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done.stderr
        return done

    iom("db", "upgrade")
    (tmp_path / "people.csv").write_text("partner_ref,given_name,family_name,sex,"
                                         "date_of_birth\nP1,A,B,M,1990-01-01\n")
    (tmp_path / "events.csv").write_text(
        "partner_ref,person_ref,kind,occurred_on,offence_category\n"
        "E1,P1,arrest,2024-01-01,robbery\nE2,P1,arrest,2024-02-01,theft\n")
    iom("import", "people", "people.csv")
    iom("import", "events", "events.csv")
    (tmp_path / "refs.txt").write_text("P1\n")

    out = iom("report", "expansion", "--from", "2023-01-01", "--to", "2024-12-31",
              "--refs", "@refs.txt", "--format", "json").stdout
    report = json.loads(out)
    assert [r["arrests"] for r in report["rows"]] == [2, 0, 1]
    assert report["rows"][0]["offences_per_year_now"] == 5  # 1 a year x 5
    text = iom("report", "expansion", "--from", "2023-01-01", "--to", "2024-12-31",
               "--refs", "P1").stdout
    assert text.startswith("expansion: 2023-01-01 to 2024-12-31") and "method: " in text
    as_csv = iom("report", "targets", "--from", "2024-01-01", "--to", "2024-12-31",
                 "--reduction-pct", "17", "--baseline", "153", "--format", "csv").stdout
    assert as_csv.splitlines()[0] == "month,actual,actual_cumulative,allowed_cumulative," \
                                     "on_track"
    assert as_csv.splitlines()[12].startswith("2024-12,0,0,127")
    bad = iom("report", "expansion", "--refs", "P1", "--reduction", "lots", code=2)
    assert "--reduction: 'lots' is not a number" in bad.stderr
    assert "give exactly one" in iom("report", "expansion", code=2).stderr
