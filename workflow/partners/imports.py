"""Import partner CSV files (people, events, supervision, assessments, flags).

Contract of :func:`import_csv`:

* The header is checked first: an unknown, repeated or missing column raises
  :class:`InvalidInput` naming it, and nothing is written.
* Rows are numbered as in a spreadsheet: the header is row 1, the first data row is
  row 2 (blank lines keep their number and are skipped).
* Each bad row is refused whole and reported once per bad field as
  ``{"row", "field", "reason"}`` (``field`` is null when the row as a whole is wrong,
  e.g. its number of fields). Good rows are applied. A row is never half-applied: it is
  one record, inserted or updated by one statement.
* Records are keyed by ``partner_ref``: a new ref is created; a known ref with the same
  content is unchanged; with different content it is updated. Re-importing a file
  therefore changes nothing. A ref may appear once per file: a repeat is rejected and
  the first occurrence wins. (Repeats are found without remembering every ref: records
  this import created have ids above the table's maximum id when it started, and the
  older records it matched are marked in a bitmap of those ids.)
* ``person_ref`` must name a person already in the database (import people first).
* One :class:`ImportBatch` row and one audit entry (kind ``import``) record the counts.
* On PostgreSQL, an import that wrote at least :data:`ANALYZE_ROWS` rows and a tenth of
  the table refreshes the table's planner statistics in the same transaction.
* The file is streamed in chunks of :data:`CHUNK_ROWS` rows: per chunk, existing refs
  and people are looked up with one statement each, new rows are inserted in bulk
  (:mod:`workflow.partners.bulk`: COPY on PostgreSQL, executemany elsewhere) and changed
  rows updated with one executemany. On PostgreSQL a chunk's COPY runs on a background
  thread while the next chunk is read and checked; the import returns only once it is
  in. Memory is bounded whatever the file size (two chunks, capped caches of person ids
  and parsed values, one bit per record that existed before the import), except for
  the error list, which holds the first :data:`ERRORS_LISTED` errors by row and a count
  of the rest (``errors_omitted``).

The function flushes and never commits; if it raises (e.g. undecodable bytes halfway
through), the caller must roll back so that nothing of the file remains.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import heapq
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import BinaryIO, TextIO

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from db.bulk import refresh_statistics
from db.models import ImportBatch, Person
from workflow import audit
from workflow.errors import InvalidInput
from workflow.guards import mark_guard_due
from workflow.partners.bulk import ChunkInserter, ref_lookup
from workflow.partners.formats import FORMATS, Column, Format

CHUNK_ROWS = 5000
PERSON_CACHE = 200_000  # person ids remembered across chunks (~25 MB at most; then cleared)
VALUE_CACHE = 10_000  # parsed values remembered per column (then forgotten)
_UNSEEN = object()
ERRORS_LISTED = 1000  # errors listed by a report (the first by row); the rest are counted
ERRORS_KEPT = ERRORS_LISTED  # errors stored on the ImportBatch row
ANALYZE_ROWS = 10_000  # refresh planner statistics after writing this many rows (and 10%)

Layout = list[tuple[int | None, Column]]


@dataclass
class ImportReport:
    """Counts of one import; ``total`` = created + updated + unchanged + rejected."""

    kind: str
    filename: str
    batch_id: int | None = None
    sha256: str = ""
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)  # in row order, once finished
    errors_omitted: int = 0  # errors beyond the first ERRORS_LISTED, counted only
    _kept: list = field(default_factory=list, repr=False)  # heap: the lowest rows so far
    _found: int = 0

    def reject(self, row: int, problems: list[tuple[str | None, str]]) -> None:
        """Count a refused row; keep its errors if they are among the first by row."""
        self.rejected += 1
        for f, r in problems:
            self._found += 1  # later-found errors of one row sort after earlier ones
            item = (-row, -self._found, {"row": row, "field": f, "reason": r})
            if len(self._kept) < ERRORS_LISTED:
                heapq.heappush(self._kept, item)
            elif item > self._kept[0]:
                heapq.heapreplace(self._kept, item)
                self.errors_omitted += 1
            else:
                self.errors_omitted += 1

    def finish_errors(self) -> None:
        """Set ``errors`` to the kept errors in row order (a row's fields in order)."""
        self.errors = [e for _, _, e in sorted(self._kept, reverse=True)]

    @property
    def counts(self) -> dict:
        return {"total": self.total, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "rejected": self.rejected}

    def as_dict(self) -> dict:
        return {"kind": self.kind, "filename": self.filename, "batch_id": self.batch_id,
                "sha256": self.sha256, **self.counts, "errors": list(self.errors),
                "errors_omitted": self.errors_omitted}

    def summary(self) -> str:
        return (f"{self.kind} {self.filename}: {self.total} rows, {self.created} created, "
                f"{self.updated} updated, {self.unchanged} unchanged, "
                f"{self.rejected} rejected")


def format_for(kind: str) -> Format:
    fmt = FORMATS.get(kind)
    if fmt is None:
        raise InvalidInput(f"unknown import kind {kind!r}; expected one of "
                           f"{', '.join(FORMATS)}", details={"field": "kind"})
    return fmt


_LONE_CR = re.compile(r"(?<=\r)(?!\n)")  # split after a CR not followed by LF


def _lines(stream: BinaryIO | TextIO, hasher, filename: str) -> Iterator[str]:
    """The text lines of ``stream``, hashing what they hold (a leading BOM excluded).

    A binary stream is decoded as UTF-8 one physical line at a time, so undecodable
    bytes raise :class:`InvalidInput` naming their exact line and byte; lines end at
    LF, CRLF or a lone CR as with ``newline=""``. A text stream is taken as decoded.
    """
    for number, line in enumerate(stream, start=1):
        if isinstance(line, str):
            hasher.update(line.encode("utf-8"))
            yield line
            continue
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8):]
        hasher.update(line)
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{filename}: unreadable line {number}: byte {exc.start + 1} "
                f"(0x{line[exc.start]:02x}) is not UTF-8; save the file as UTF-8 and "
                "import it again", details={"line": number, "byte": exc.start + 1}
            ) from None
        if "\r" in text[:-2]:
            yield from _LONE_CR.split(text)
        else:
            yield text


def read_header(reader: Iterator[list[str]], fmt: Format) -> tuple[Layout, int]:
    """Map each format column to its position (None = optional column left out).

    Raises :class:`InvalidInput` naming unknown, repeated and missing columns.
    """
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("the file is empty: expected a header row",
                           details={"row": 1}) from None
    names = [h.lstrip("\ufeff").strip().lower() for h in header]
    known = {c.name: c for c in fmt.columns}
    unknown = [n for n in names if n not in known]
    repeated = sorted({n for n in names if names.count(n) > 1})
    missing = [c.name for c in fmt.columns if c.in_header and c.name not in names]
    if unknown or repeated or missing:
        parts = [f"{label} column{'s' if len(cols) > 1 else ''} {', '.join(map(repr, cols))}"
                 for label, cols in (("unknown", unknown), ("repeated", repeated),
                                     ("missing", missing)) if cols]
        raise InvalidInput(
            f"{fmt.kind} header (row 1): {'; '.join(parts)}; expected "
            f"{', '.join(c.name for c in fmt.columns)}",
            details={"row": 1, "unknown": unknown, "repeated": repeated,
                     "missing": missing})
    layout = [(names.index(c.name) if c.name in names else None, c) for c in fmt.columns]
    return layout, len(names)


class RowParser:
    """Turns one CSV record into stored values, or None and every ``(field, reason)``.

    Parsed values of columns whose values repeat (kinds, dates, categories, person refs)
    are remembered per column, up to :data:`VALUE_CACHE` distinct values, so most
    fields of a large file cost one dictionary lookup.
    """

    def __init__(self, fmt: Format, layout: Layout, width: int, today: date,
                 row_check: Callable[[dict], tuple[str, str] | None] | None = None):
        self.fmt, self.width, self.today, self.row_check = fmt, width, today, row_check
        self.columns = [(index, c.name, c.parse, {} if c.repeats else None)
                        for index, c in layout]

    def __call__(self, record: list[str]) -> tuple[dict | None, list[tuple[str | None, str]]]:
        if len(record) != self.width:
            return None, [(None, f"has {len(record)} fields, the header has {self.width}")]
        values: dict = {}
        problems: list[tuple[str | None, str]] = []
        for index, name, parse, cache in self.columns:
            raw = record[index].strip() if index is not None else ""
            if cache is not None:
                value = cache.get(raw, _UNSEEN)
                if value is not _UNSEEN:
                    values[name] = value
                    continue
            try:
                values[name] = value = parse(raw, self.today)
            except ValueError as exc:
                problems.append((name, str(exc)))
                continue
            if cache is not None:
                if len(cache) >= VALUE_CACHE:
                    cache.clear()
                cache[raw] = value
        for check in (self.fmt.check, self.row_check):
            if not problems and check is not None:
                problem = check(values)
                if problem:
                    problems.append(problem)
        return (None if problems else values), problems


def _chunks(records: Iterable[list[str]], parse: RowParser, report: ImportReport
            ) -> Iterator[list[tuple[int, dict]]]:
    """Good rows as ``(row number, values)`` per chunk; bad rows go to ``report``."""
    chunk: list[tuple[int, dict]] = []
    seen = 0
    for row, record in enumerate(records, start=2):
        if not any(record):
            continue
        report.total += 1
        seen += 1
        values, problems = parse(record)
        if values is None:
            report.reject(row, problems)
        else:
            chunk.append((row, values))
        if seen >= CHUNK_ROWS:
            yield chunk
            chunk, seen = [], 0
    if seen:
        yield chunk


class _Writer:
    """Applies chunks of good rows for one format: bulk lookups, then executemany."""

    def __init__(self, session: Session, fmt: Format, now: datetime):
        self.session, self.fmt = session, fmt
        table = fmt.table
        self.table = table
        self.lookup = [table.c.id, table.c.partner_ref, *(table.c[c] for c in fmt.compare)]
        self.update = (update(table).where(table.c.id == bindparam("b_id"))
                       .values({c: bindparam(f"b_{c}") for c in fmt.compare}))
        self.insert_extra = dict(fmt.constants)
        if fmt.stamp:
            self.insert_extra[fmt.stamp] = now
        self.derive = fmt.deriver(session) if fmt.deriver else None
        self.content = itemgetter(*fmt.compare)
        self.person_ids: dict[str, int] = {}
        # Records this import met: ids above the watermark were created by it, older
        # ones it matched are set in the bitmap (one bit per id, not per row).
        self.watermark = session.scalar(select(func.max(table.c.id))) or 0
        self.seen = bytearray((self.watermark >> 3) + 1)
        self.updated_any = False
        self.inserter = ChunkInserter(session, table)
        self.touched: set[int] = set()  # people whose data this import created or changed

    def apply(self, chunk: list[tuple[int, dict]], report: ImportReport) -> None:
        """Apply one chunk; its new rows may still be going in when this returns."""
        self.inserter.wait()  # the previous chunk's rows are in: the session is ours
        if self.fmt.has_person:
            chunk = self._link_people(chunk, report)
        if self.derive is not None:
            for _, values in chunk:
                self.derive(values)
        existing = {r[1]: (r[0], tuple(r[2:])) for r in self.session.execute(
            select(*self.lookup).where(ref_lookup(self.session, self.table.c.partner_ref,
                                                  {v["partner_ref"] for _, v in chunk}))
        ).all()} if chunk else {}
        inserts, updates = self._classify(chunk, existing, report)
        if updates:
            self.session.execute(self.update, updates)
            self.updated_any = True
        self.inserter.insert(list(inserts.values()))

    def _link_people(self, chunk, report: ImportReport) -> list[tuple[int, dict]]:
        ids = self.person_ids
        if len(ids) > PERSON_CACHE:
            ids.clear()
        missing = {v["person_ref"] for _, v in chunk} - ids.keys()
        if missing:
            ids.update(self.session.execute(
                select(Person.partner_ref, Person.id).where(
                    ref_lookup(self.session, Person.partner_ref, missing))).all())
        kept = []
        for row, values in chunk:
            ref = values.pop("person_ref")
            person_id = ids.get(ref)
            if person_id is None:
                report.reject(row, [("person_ref", f"unknown person_ref {ref!r}: no such "
                                     "person (import the people file first)")])
                continue
            values["person_id"] = person_id
            kept.append((row, values))
        return kept

    def _met(self, record_id: int) -> bool:
        """Whether this import already created or matched the record ``record_id``."""
        if record_id > self.watermark:
            return True
        byte, bit = record_id >> 3, 1 << (record_id & 7)
        met = bool(self.seen[byte] & bit)
        self.seen[byte] |= bit
        return met

    def _classify(self, chunk, existing: dict, report: ImportReport
                  ) -> tuple[dict[str, dict], list[dict]]:
        """Decide created / updated / unchanged / repeat for each row, in file order."""
        compare, content, extra = self.fmt.compare, self.content, self.insert_extra
        inserts: dict[str, dict] = {}
        updates: dict[int, dict] = {}
        first_row: dict[str, int] = {}
        for row, values in chunk:
            ref = values["partner_ref"]
            found = existing.get(ref)
            if ref in first_row or (found is not None and self._met(found[0])):
                where = f"row {first_row[ref]}" if ref in first_row else "an earlier row"
                report.reject(row, [("partner_ref", f"{ref!r} repeats {where} of this "
                                     "file (the first occurrence is kept)")])
                continue
            first_row[ref] = row
            if found is None:
                values.update(extra)
                inserts[ref] = values
                report.created += 1
            elif found[1] == content(values):
                report.unchanged += 1
                continue
            else:
                updates[found[0]] = {"b_id": found[0],
                                     **{f"b_{c}": values[c] for c in compare}}
                report.updated += 1
            if "person_id" in values:
                self.touched.add(values["person_id"])
            elif found is not None and not self.fmt.has_person:  # a person row changed
                self.touched.add(found[0])
        return inserts, list(updates.values())


def _record_batch(session: Session, report: ImportReport, *, actor: str, now: datetime
                  ) -> None:
    batch = ImportBatch(kind=report.kind, filename=report.filename[:260],
                        sha256=report.sha256, actor=actor, started_at=now,
                        rows_total=report.total, rows_created=report.created,
                        rows_updated=report.updated, rows_unchanged=report.unchanged,
                        rows_rejected=report.rejected, errors=report.errors[:ERRORS_KEPT])
    session.add(batch)
    session.flush()
    report.batch_id = batch.id
    audit.record(session, kind="import", actor=actor, occurred_at=now,
                 summary=f"Imported {report.summary()}",
                 payload={"batch_id": batch.id, "kind": report.kind,
                          "filename": report.filename, "sha256": report.sha256,
                          **report.counts})


def _kept_by(agency: str) -> Callable[[dict], tuple[str, str] | None]:
    from workflow.permissions import FLAG_OWNERS, flag_kinds_kept_by

    kept = flag_kinds_kept_by(agency)

    def check(values: dict) -> tuple[str, str] | None:
        if values["kind"] in kept:
            return None
        return "kind", (f"{agency} does not keep the {values['kind']} list (kept by "
                        f"{', '.join(FLAG_OWNERS[values['kind']])})")
    return check


def import_csv(session: Session, kind: str, stream: BinaryIO | TextIO, *, filename: str,
               actor: str, now: datetime, progress: Callable[[int], None] | None = None,
               agency: str | None = None) -> ImportReport:
    """Import one partner CSV of ``kind`` (see the module docstring for the contract).

    ``agency``: the importing user's agency; a ``flags`` row of a list that agency does
    not keep is refused like any bad row (``workflow.permissions.FLAG_OWNERS``). None
    (the host's administrator) imports every kind.

    ``stream`` is a binary stream of UTF-8 (a BOM is dropped; undecodable bytes are
    reported with their line) or a text stream (open files with ``newline=""``; its
    decoding errors can only be placed near a line); ``progress`` is called
    with the number of rows read so far after each chunk. Raises :class:`InvalidInput`
    for a bad kind, a bad header or an unreadable file.
    """
    fmt = format_for(kind)
    hasher = hashlib.sha256()
    reader = csv.reader(_lines(stream, hasher, filename))
    try:
        layout, width = read_header(reader, fmt)
        session.flush()
        report = ImportReport(kind=kind, filename=filename)
        writer = _Writer(session, fmt, now)
        with writer.inserter:  # the next chunk is parsed while the last one is copied
            row_check = _kept_by(agency) if agency is not None and kind == "flags" else None
            for chunk in _chunks(reader, RowParser(fmt, layout, width, now.date(), row_check),
                                 report):
                writer.apply(chunk, report)
                if progress is not None:
                    progress(report.total)
    except csv.Error as exc:
        raise InvalidInput(f"{filename}: unreadable line {reader.line_num}: {exc}",
                           details={"line": reader.line_num}) from exc
    except UnicodeDecodeError as exc:  # a text stream decodes ahead of the lines read
        raise InvalidInput(f"{filename}: unreadable after line {reader.line_num}: {exc}",
                           details={"line": reader.line_num + 1}) from exc
    if report.created + report.updated >= max(ANALYZE_ROWS, writer.watermark // 10):
        refresh_statistics(session, fmt.table)  # as autovacuum would, but now
    report.finish_errors()
    if writer.updated_any:  # rows changed behind the ORM's back: reload on next access
        for obj in list(session.identity_map.values()):
            if isinstance(obj, fmt.model):
                session.expire(obj)
    report.sha256 = hasher.hexdigest()
    _record_batch(session, report, actor=actor, now=now)
    # New partner data may make an open case excluded: the next pass's guards check it.
    mark_guard_due(session, writer.touched, now=now)
    return report
