"""What a team lead reads before approving or publishing a version: the rule sets and
the stage policy at a glance, a version against the one in force (a line diff), its
rules' principles, its examples' results, and the approvals queue.

Read only: examples are run through the engine without recording anything (recording a
test is :func:`workflow.ruleset_admin.check_examples`). Pages and commands call these;
nothing here knows about HTTP.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import RuleSetVersion, User
from rules.engine import RuleEngine, default_engine
from rules.errors import RuleSetError
from rules.examples import ExampleResult, run_examples
from workflow.errors import NotFound
from workflow.policy.document import POLICY_NAME, PURPOSES
from workflow.policy.store import policy_document_of, policy_row
from workflow.rulesets import document_of, publication_note, published_row


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff: ``kind`` is ``same``, ``added`` or ``removed``; line numbers
    in the version in force (``old``) and in this version (``new``)."""

    kind: str
    old: int | None
    new: int | None
    text: str


@dataclass(frozen=True)
class RuleSummary:
    id: str
    description: str
    principles: tuple[int, ...]
    action: str


@dataclass
class VersionReview:
    row: RuleSetVersion
    in_force: RuleSetVersion | None
    provenance: str  # who put it in force and when, or "never published"
    diff: list[DiffLine] = field(default_factory=list)
    added: int = 0
    removed: int = 0
    rules: list[RuleSummary] = field(default_factory=list)
    examples: list[ExampleResult] = field(default_factory=list)
    problem: str | None = None  # the stored text no longer loads


@dataclass(frozen=True)
class RuleSetLine:
    name: str
    title: str
    stages: str
    in_force: RuleSetVersion | None
    drafts: int
    used_for: tuple[str, ...]  # purposes of the stage policy that evaluate it


def diff_lines(old: str, new: str, *, context: int = 3) -> list[DiffLine]:
    """The changed lines of ``new`` against ``old`` with ``context`` lines around each
    change (``same`` lines with ``text == "..."`` mark skipped stretches)."""
    a, b = old.splitlines(), new.splitlines()
    out: list[DiffLine] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(
            context):
        if out:
            out.append(DiffLine("same", None, None, "..."))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [DiffLine("same", i + 1, j1 + k + 1, a[i])
                        for k, i in enumerate(range(i1, i2))]
                continue
            out += [DiffLine("removed", i + 1, None, a[i]) for i in range(i1, i2)]
            out += [DiffLine("added", None, j + 1, b[j]) for j in range(j1, j2)]
    return out


def in_force_row(session: Session, name: str) -> RuleSetVersion | None:
    """The version of ``name`` in force now, or None."""
    try:
        return published_row(session, name)
    except NotFound:
        return None


def review_version(session: Session, row: RuleSetVersion, *,
                   engine: RuleEngine | None = None) -> VersionReview:
    """``row`` against the version in force: diff, rules and principles, examples."""
    current = in_force_row(session, row.name)
    review = VersionReview(row, current, publication_note(session, row))
    if current is not None and current.id != row.id:
        review.diff = diff_lines(current.document, row.document)
        review.added = sum(d.kind == "added" for d in review.diff)
        review.removed = sum(d.kind == "removed" for d in review.diff)
    if row.name == POLICY_NAME:
        return review
    try:
        doc = document_of(row)
    except RuleSetError as exc:
        review.problem = str(exc)
        return review
    review.rules = [RuleSummary(r.id, r.description, r.principles, r.action)
                    for r in doc.rules]
    review.examples = run_examples(doc, engine or default_engine())
    return review


def rule_sets(session: Session, *, now: datetime) -> list[RuleSetLine]:
    """Every stored rule-set name (the stage policy apart) with its version in force,
    its open drafts and the policy purposes that evaluate it."""
    rows = session.scalars(select(RuleSetVersion).where(RuleSetVersion.name != POLICY_NAME)
                           .order_by(RuleSetVersion.name, RuleSetVersion.id.desc())).all()
    policy = policy_row(session, on=now)
    doc = policy_document_of(policy) if policy is not None else None
    out, seen = [], set()
    for row in rows:
        if row.name in seen:
            continue
        seen.add(row.name)
        mine = [r for r in rows if r.name == row.name]
        current = next((r for r in mine if r.status == "published"), None)
        shown = current or row
        title = _title(shown)
        used = tuple(p for p in PURPOSES if doc and row.name in doc.rulesets_for(p))
        out.append(RuleSetLine(row.name, title, shown.stage.replace(",", ", "), current,
                               sum(r.status in ("draft", "approved") for r in mine), used))
    return out


def _title(row: RuleSetVersion) -> str:
    try:
        return document_of(row).title
    except RuleSetError:
        return row.name


def stage_policy(session: Session, *, now: datetime):
    """``(row, {purpose: rule-set names})`` of the stage policy in force (None, {} when
    none is stored), purposes in the order of :data:`PURPOSES`."""
    row = policy_row(session, on=now)
    if row is None:
        return None, {}
    doc = policy_document_of(row)
    return row, {p: doc.rulesets_for(p) for p in PURPOSES}


def approvals_queue(session: Session, viewer: User) -> tuple[list, list]:
    """``(for you, waiting)``: drafts ``viewer`` may approve now (tested, previewed, not
    written by them) and the other drafts with what each still needs."""
    drafts = session.scalars(select(RuleSetVersion).where(RuleSetVersion.status == "draft")
                             .order_by(RuleSetVersion.created_at)).all()
    ready, waiting = [], []
    for row in drafts:
        needs = []
        if row.created_by == viewer.username:
            needs.append("a team lead other than you must approve it")
        if not row.tested_ok:
            needs.append("its examples must be run and pass")
        if row.previewed_at is None:
            needs.append("its impact must be previewed")
        (waiting if needs else ready).append((row, needs))
    return ready, waiting


@dataclass(frozen=True)
class LocatedProblem:
    """A validation problem with the 1-based line of the text it concerns (or None)."""

    line: int | None
    path: str
    rule_id: str | None
    reason: str

    def __str__(self) -> str:
        where = f"Line {self.line}: " if self.line else ""
        rule = f" (rule {self.rule_id})" if self.rule_id else ""
        return f"{where}{self.path}{rule}: {self.reason}"


def save_draft(session: Session, text: str, *, user: User, now: datetime, reason: str
               ) -> tuple[RuleSetVersion | None, list[LocatedProblem]]:
    """:func:`workflow.ruleset_admin.save_draft` for an editor: ``(row, [])`` when saved,
    ``(None, problems)`` with each problem's line in ``text`` when refused."""
    from rules.locate import line_of
    from workflow import ruleset_admin as admin

    try:
        return admin.save_draft(session, text, file="draft", user=user, now=now,
                                reason=reason), []
    except RuleSetError as exc:
        return None, [LocatedProblem(line_of(text, p.path), p.path, p.rule_id, p.reason)
                      for p in exc.problems]
