"""Which rule-set versions are in force.

Publishing a version takes effect at the next evaluation in every process. Parsed
documents are cached by content hash (a stored version never changes), and the
publications of each name are cached per process (:func:`published_document`) against
the publication table's ``(count, max id)``, read once per transaction: a publication
committed by any process changes it, and one made in this transaction clears the cache
(:func:`publications_changed`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import RuleSetPublication, RuleSetVersion
from rules.document import RuleSetDocument, load_document
from rules.library import shipped_documents
from workflow import audit
from workflow.errors import ConfigError, NotFound

# Shipped defaults without an effective_from are treated as in force since this date.
SHIPPED_IN_FORCE_FROM = date(2000, 1, 1)

T = TypeVar("T")

_parsed: dict[str, RuleSetDocument] = {}
_parsed_lock = threading.Lock()


def parsed_once(row: RuleSetVersion, cache: dict, lock: threading.Lock,
                load: Callable[..., T]) -> T:
    """``load(row.document, file=...)`` once per content hash: a stored version never
    changes, so its parse is kept in ``cache`` (guarded by ``lock``)."""
    with lock:
        doc = cache.get(row.version)
        if doc is None:
            doc = load(row.document, file=f"{row.name}@{row.version[:12]}")
            cache[row.version] = doc
        return doc


def document_of(row: RuleSetVersion) -> RuleSetDocument:
    """The parsed document of a stored version (cached by content hash)."""
    return parsed_once(row, _parsed, _parsed_lock, load_document)


def sync_shipped(session: Session, *, now: datetime, actor: str = "system") -> list[str]:
    """Publish each shipped rule set whose name the database does not know yet.

    A shipped default is in force from its ``effective_from`` (else
    :data:`SHIPPED_IN_FORCE_FROM`), so replays and simulations of earlier dates see it;
    ``now`` is when this was recorded. A team lead's later versions are never
    overwritten. Returns the names published.
    """
    known = set(session.scalars(select(RuleSetVersion.name).distinct()))
    published = []
    for name, doc in shipped_documents().items():
        if name in known:
            continue
        in_force = datetime.combine(doc.effective_from or SHIPPED_IN_FORCE_FROM, time(),
                                    tzinfo=UTC)
        publish_shipped(session, name=name, version=doc.version, stage=",".join(doc.stages),
                        text=doc.text, in_force=in_force, now=now, actor=actor,
                        reason="default rule set shipped with the service",
                        summary=f"Rule set {name} version {doc.version[:12]} published "
                                f"(shipped default, in force from {in_force.date()})")
        published.append(name)
    session.flush()
    return published


def publish_shipped(session: Session, *, name: str, version: str, stage: str, text: str,
                    in_force: datetime, now: datetime, actor: str, reason: str,
                    summary: str) -> RuleSetVersion:
    """Store ``text`` as a published shipped default of ``name``, in force from
    ``in_force`` and recorded at ``now``, with its publication and audit entry."""
    row = RuleSetVersion(
        name=name, version=version, stage=stage, document=text, status="published",
        reason=reason, created_by=actor, created_at=now, approved_by=actor,
        approved_at=now, published_by=actor, published_at=now)
    session.add(row)
    session.add(RuleSetPublication(name=name, version=row, kind="shipped",
                                   published_at=in_force, recorded_at=now, actor=actor,
                                   reason=reason))
    audit.record(session, kind="ruleset.published", actor=actor, occurred_at=now,
                 summary=summary, payload={"ruleset": name, "version": version,
                                           "reason": reason,
                                           "in_force_from": in_force.isoformat()})
    publications_changed(session)
    return row


def published_row(session: Session, name: str, *, on: datetime | None = None
                  ) -> RuleSetVersion:
    """The version of ``name`` in force at ``on`` (default: the latest publication).

    Raises :class:`NotFound` when nothing of that name was in force then.
    """
    query = select(RuleSetPublication).where(RuleSetPublication.name == name)
    if on is not None:
        query = query.where(RuleSetPublication.published_at <= on)
    query = query.order_by(RuleSetPublication.published_at.desc(),
                           RuleSetPublication.id.desc())
    publication = session.scalars(query.limit(1)).first()
    if publication is None:
        raise NotFound(f"rule set {name!r} has no published version"
                       + (f" in force on {on.isoformat()}" if on else ""),
                       details={"ruleset": name})
    return publication.version


_MARK = "iom.rulesets.mark"  # session.info: (root transaction, publication-table mark)
_pubs_lock = threading.Lock()
_pubs: dict = {"mark": None, "names": {}}  # name -> [(published_at, id, document)], newest first


def publications_changed(session: Session) -> None:
    """A publication was written in this transaction: every cached lookup is stale."""
    session.info.pop(_MARK, None)
    with _pubs_lock:
        _pubs["mark"], _pubs["names"] = None, {}


# Read once a transaction by every request that uses a published document: built once.
# An ORM statement, so that it autoflushes: a publication added in this transaction is
# counted (the cache below must never hold an uncommitted list under a committed mark).
_MARK_QUERY = select(func.count(), func.max(RuleSetPublication.id))


# The same two figures as columns of another statement: a request's first query (the
# token lookup, ``workflow.users.authenticate``) reads them in its own round trip.
MARK_COLUMNS = (select(func.count()).select_from(RuleSetPublication).scalar_subquery(),
                select(func.max(RuleSetPublication.id)).scalar_subquery())


def note_mark(session: Session, mark: tuple) -> None:
    """``mark``, read by this transaction (in :data:`MARK_COLUMNS`), is the mark
    :func:`_mark` would read: it stands for the rest of the transaction."""
    session.info[_MARK] = (session.get_transaction(), tuple(mark))


def _mark(session: Session) -> tuple:
    """``(count, max id)`` of the publication table, read once per transaction (an
    insert by any process changes it, whatever order ids were taken in), unless this
    transaction already read it with another statement (:func:`note_mark`)."""
    session.connection()  # begins the transaction if none has begun yet
    root = session.get_transaction()
    seen = session.info.get(_MARK)
    if seen is not None and seen[0] is root:
        return seen[1]
    mark = tuple(session.execute(_MARK_QUERY).one())
    session.info[_MARK] = (root, mark)
    return mark


def _publications(session: Session, name: str, parse: Callable = document_of
                  ) -> list[tuple]:
    mark = _mark(session)
    with _pubs_lock:
        if _pubs["mark"] != mark:
            _pubs["mark"], _pubs["names"] = mark, {}
        found = _pubs["names"].get((name, parse))
    if found is None:
        rows = session.execute(
            select(RuleSetPublication.published_at, RuleSetPublication.id,
                   RuleSetVersion.name, RuleSetVersion.version, RuleSetVersion.document)
            .join(RuleSetVersion, RuleSetVersion.id == RuleSetPublication.version_id)
            .where(RuleSetPublication.name == name)).all()
        found = sorted(((r.published_at, r.id, parse(r)) for r in rows),
                       key=lambda p: (p[0], p[1]), reverse=True)
        with _pubs_lock:
            if _pubs["mark"] == mark:
                _pubs["names"][(name, parse)] = found
    return found


def published_document(session: Session, name: str, *, on: datetime | None = None,
                       parse: Callable = document_of) -> RuleSetDocument:
    """The parsed document of the version of ``name`` in force at ``on`` (default: the
    latest publication): what ``parse(published_row(...))`` gives (``parse``: a rule
    set's :func:`document_of`, or another document's parser: the sharing agreement's),
    from the cache, which one query a transaction checks against the publication table.

    Raises :class:`NotFound` when nothing of that name was in force then.
    """
    for published_at, _, doc in _publications(session, name, parse):
        if on is None or published_at <= on:
            return doc
    raise NotFound(f"rule set {name!r} has no published version"
                   + (f" in force on {on.isoformat()}" if on else ""),
                   details={"ruleset": name})


def active_documents(session: Session, stage: str, names: tuple[str, ...], *,
                     now: datetime, any_stage: bool = False) -> list[RuleSetDocument]:
    """The documents of ``names`` in force for ``stage`` at ``now``.

    Raises :class:`ConfigError` when a configured rule set is unpublished or (unless
    ``any_stage``: the exclusion guards run in every state) is not written for
    ``stage``; documents outside their effective dates are skipped.
    """
    docs = []
    for name in names:
        try:
            doc = published_document(session, name, on=now)
        except NotFound as exc:
            raise ConfigError(f"stage {stage}: {exc.message}") from exc
        if not any_stage and stage not in doc.stages:
            raise ConfigError(f"stage {stage}: rule set {name} is written for "
                              f"{', '.join(doc.stages)}")
        if doc.in_force(now.date()):
            docs.append(doc)
    return docs


def optional_documents(session: Session, stage: str, names, *, now: datetime
                       ) -> list[RuleSetDocument]:
    """The documents of ``names`` written for ``stage`` and in force at ``now``; a name
    with no version in force then, or written for other stages, is skipped."""
    docs = []
    for name in names:
        try:
            doc = published_document(session, name, on=now)
        except NotFound:
            continue
        if stage in doc.stages and doc.in_force(now.date()):
            docs.append(doc)
    return docs


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


def publication_note(session: Session, row: RuleSetVersion) -> str:
    """Who put ``row`` in force and when, honestly: a shipped default says when it was
    recorded and from when it is in force (not a made-up publication date)."""
    first = session.scalars(select(RuleSetPublication).where(
        RuleSetPublication.version_id == row.id).order_by(RuleSetPublication.id)
        .limit(1)).first()
    if first is None:
        return "never published"
    if first.kind == "shipped":
        return (f"shipped default recorded by {first.actor} on {_day(first.recorded_at)}, "
                f"in force from {_day(first.published_at)}")
    return f"published by {row.published_by} on {_day(row.published_at or first.recorded_at)}"


def published_count(session: Session) -> int:
    """How many rule-set names have a version in force (the stage policy not counted)."""
    from workflow.policy.document import POLICY_NAME

    return session.scalar(select(func.count(RuleSetPublication.name.distinct())).where(
        RuleSetPublication.name != POLICY_NAME)) or 0
