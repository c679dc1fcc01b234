"""Audit exports an auditor can check offline, and one case's chronology for a subject.

* :func:`export_chain` streams the whole chain (or one case's entries) as JSON lines or
  CSV: one entry per line/row with every field, ``hash`` and ``hash_version`` (what the
  hash covers; files without it are read as version 1).
* :func:`verify_export` re-computes every hash of such a file with
  :func:`workflow.audit.entry_hash`; it needs no database (pure function of the file).
* :func:`export_case` writes one case's explained chronology (subject-access request)
  as JSON or text.

CSV cells hold ``payload`` as JSON and write null ``case_id``/``person_ref`` as empty
cells (so an empty-string ``person_ref`` cannot be told from null in CSV; JSON lines
keep the difference). A case extract has gaps by design: only each entry's own hash
and the links between consecutive entries can be checked (``extract=True``).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TextIO

from sqlalchemy.orm import Session

from workflow import audit
from workflow.errors import InvalidInput
from workflow.explain import explain_case, render_text

FIELDS = ("seq", "occurred_at", "recorded_at", "actor", "kind", "case_id", "person_ref",
          "summary", "payload", "prev_hash", "hash", "hash_version", "key_id", "signature")
# Files exported before these existed: version 1 entries, unsigned.
_OPTIONAL = {"hash_version": "1", "key_id": None, "signature": None}
_NULLABLE_IN_CSV = ("case_id", "person_ref", "key_id", "signature")
CHAIN_FORMATS = ("jsonl", "csv")
CASE_FORMATS = ("json", "text")


@dataclass(frozen=True)
class ExportReport:
    count: int
    head: str | None  # "SEQ:HASH" of the last entry written


def _as_dict(row) -> dict:
    data = {name: getattr(row, name) for name in FIELDS}
    data["occurred_at"] = row.occurred_at.isoformat(timespec="microseconds")
    data["recorded_at"] = row.recorded_at.isoformat(timespec="microseconds")
    return data


def export_chain(session: Session, out: TextIO, *, fmt: str, case_id: int | None = None,
                 batch: int = 2000) -> ExportReport:
    """Stream the chain (or ``case_id``'s entries) to ``out``; memory bounded by ``batch``.

    ``fmt`` is ``jsonl`` or ``csv``. Reads only.
    """
    if fmt not in CHAIN_FORMATS:
        raise InvalidInput(f"format {fmt!r}: expected one of {', '.join(CHAIN_FORMATS)}")
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n") if fmt == "csv" else None
    if writer:
        writer.writeheader()
    count, last = 0, None
    for row in audit.iter_chain(session, batch=batch, case_id=case_id):
        data = _as_dict(row)
        if writer:
            data["payload"] = json.dumps(data["payload"], sort_keys=True, ensure_ascii=False)
            writer.writerow({k: "" if v is None else v for k, v in data.items()})
        else:
            out.write(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
        count, last = count + 1, row
    return ExportReport(count, f"{last.seq}:{last.hash}" if last else None)


def export_case(session: Session, case_id: int, out: TextIO, *, fmt: str, now: datetime,
                redact=None) -> int:
    """Write ``case_id``'s explained chronology as ``json`` or ``text``; returns entries.
    ``redact``: as for :func:`workflow.explain.explain_case` (a subject-access export
    passes the sharing agreement's ``subject_access`` decision).

    Raises :class:`NotFound` when the audit holds nothing about the case.
    """
    if fmt not in CASE_FORMATS:
        raise InvalidInput(f"format {fmt!r}: expected one of {', '.join(CASE_FORMATS)}")
    lines = explain_case(session, case_id, redact=redact)
    if fmt == "text":
        out.write(render_text(case_id, lines))
    else:
        doc = {"case_id": case_id, "generated_at": now.isoformat(),
               "person_refs": sorted({x.person_ref for x in lines if x.person_ref}),
               "entries": [x.as_dict() for x in lines]}
        json.dump(doc, out, indent=2, ensure_ascii=False, default=str)
        out.write("\n")
    return len(lines)


class _BadLine(Exception):
    pass


def _entry(data: dict, from_csv: bool) -> SimpleNamespace:
    data = {**_OPTIONAL, **data}
    missing = [f for f in FIELDS if f not in data]
    if missing:
        raise _BadLine(f"missing field(s) {', '.join(missing)}")
    try:
        if from_csv:
            data = {k: (None if v == "" and k in _NULLABLE_IN_CSV else v)
                    for k, v in data.items()}
            data["payload"] = json.loads(data["payload"])
        times = {k: datetime.fromisoformat(data[k]) for k in ("occurred_at", "recorded_at")}
        numbers = {"seq": int(data["seq"]), "hash_version": int(data["hash_version"]),
                   "case_id": None if data["case_id"] is None else int(data["case_id"])}
    except (TypeError, ValueError) as exc:
        raise _BadLine(f"unreadable value: {exc}") from exc
    for name, value in times.items():
        if value.tzinfo is None:
            raise _BadLine(f"{name} has no time zone")
    return SimpleNamespace(**{**data, **times, **numbers})


def _records(fh: TextIO) -> Iterator[tuple[int, dict | None, bool]]:
    """``(line number, raw record, from_csv)``; JSON lines or CSV, told apart by the
    first character of the file."""
    first = fh.readline()
    lines = itertools.chain([first], fh)
    if first.lstrip().startswith("{"):
        for number, line in enumerate(lines, start=1):
            try:
                yield number, (json.loads(line) if line.strip() else None), False
            except json.JSONDecodeError as exc:
                raise _BadLine(f"line {number}: not valid JSON ({exc.msg})") from exc
    else:
        reader = csv.DictReader(lines)
        for row in reader:
            yield reader.line_num, row, True


def _read(fh: TextIO, errors: list[str]) -> Iterator[SimpleNamespace]:
    """Parsed entries; the first unreadable line stops the stream and lands in ``errors``."""
    try:
        for number, data, from_csv in _records(fh):
            if data is None:
                continue
            if not isinstance(data, dict):
                raise _BadLine(f"line {number}: expected a JSON object")
            try:
                entry = _entry(data, from_csv)
            except _BadLine as exc:
                raise _BadLine(f"line {number}: {exc}") from exc
            yield entry
    except _BadLine as exc:
        errors.append(str(exc))
    except csv.Error as exc:
        errors.append(f"not readable as CSV: {exc}")


def walk_extract(entries: Iterable) -> audit.VerifyResult:
    """Check an extract (e.g. one case): each entry's own hash, ascending ``seq``, and the
    link between entries that are consecutive in the chain. Completeness is not provable."""
    prev, checked = None, 0
    for e in entries:
        if prev is not None and e.seq <= prev.seq:
            return audit.VerifyResult(False, checked, e.seq, "entries out of order")
        if prev is not None and e.seq == prev.seq + 1 and e.prev_hash != prev.hash:
            return audit.VerifyResult(False, checked, e.seq, "previous-hash link broken")
        if audit.content_hash(e) != e.hash:
            return audit.VerifyResult(False, checked, e.seq,
                                      "content does not match its hash (entry edited)")
        prev, checked = e, checked + 1
    return audit.VerifyResult(True, checked, head_hash=prev.hash if prev else None)


def verify_export(path: str | Path, *, extract: bool = False,
                  expect_head: str | None = None, checks=None) -> audit.VerifyResult:
    """Verify an exported chain file offline (JSON lines or CSV); streams the file.

    Full chain (default): the same checks as ``iom audit verify`` (missing, reordered,
    edited entries; ``expect_head`` for deletion at the end; ``checks`` for signatures
    and signed checkpoints, see :func:`workflow.audit.walk`). ``extract=True`` for a
    case extract (see :func:`walk_extract`). Raises :class:`InvalidInput` if unreadable.
    """
    errors: list[str] = []
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            entries = _read(fh, errors)
            result = (walk_extract(entries) if extract
                      else audit.walk(entries, expect_head=expect_head, checks=checks))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc
    if errors:  # the stream stopped at an unreadable line: that line is the finding
        bad = None if extract else result.checked + 1
        return audit.VerifyResult(False, result.checked, bad, errors[0])
    return result


def exported_entries(path: str | Path, kind: str) -> list[SimpleNamespace]:
    """The entries of ``kind`` in an exported chain file (e.g. the access log's seals,
    ``access.sealed``), in file order; call after :func:`verify_export` found the file
    intact. Raises :class:`InvalidInput` if it cannot be read."""
    errors: list[str] = []
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            found = [e for e in _read(fh, errors) if e.kind == kind]
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc
    if errors:
        raise InvalidInput(f"{path}: {errors[0]}")
    return found
