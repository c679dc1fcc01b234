"""The rule sets shipped with the service (``rules/sets/*.yaml``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rules.document import RuleSetDocument, load_document

SETS_DIR = Path(__file__).resolve().parent / "sets"


def load_file(path: str | Path) -> RuleSetDocument:
    """Load and validate one document file (:class:`rules.errors.RuleSetError`)."""
    path = Path(path)
    return load_document(path.read_text(encoding="utf-8"), file=str(path))


def shipped_documents() -> dict[str, RuleSetDocument]:
    """Every shipped document by name (a new dict each call; the documents are frozen and
    shared); a broken shipped file raises at once. The files are read on every call, a
    text already parsed in this process is not parsed again (YAML parsing was nearly all
    of the cost)."""
    docs = {}
    for path in sorted(SETS_DIR.glob("*.yaml")):
        doc = _parsed(path.read_text(encoding="utf-8"), f"rules/sets/{path.name}")
        docs[doc.name] = doc
    return docs


@lru_cache(maxsize=64)
def _parsed(text: str, file: str) -> RuleSetDocument:
    """:func:`load_document` of a shipped file's text, once per (text, file)."""
    return load_document(text, file=file)
