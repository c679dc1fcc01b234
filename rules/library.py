"""The rule sets shipped with the service (``rules/sets/*.yaml``)."""

from __future__ import annotations

from pathlib import Path

from rules.document import RuleSetDocument, load_document

SETS_DIR = Path(__file__).resolve().parent / "sets"


def load_file(path: str | Path) -> RuleSetDocument:
    """Load and validate one document file (:class:`rules.errors.RuleSetError`)."""
    path = Path(path)
    return load_document(path.read_text(encoding="utf-8"), file=str(path))


def shipped_documents() -> dict[str, RuleSetDocument]:
    """Every shipped document by name; a broken shipped file raises at once."""
    docs = {}
    for path in sorted(SETS_DIR.glob("*.yaml")):
        doc = load_document(path.read_text(encoding="utf-8"), file=f"rules/sets/{path.name}")
        docs[doc.name] = doc
    return docs
