"""Partner data in: CSV imports (:mod:`.imports`); reports live in :mod:`workflow.reports`."""

from workflow.partners.formats import FORMATS, KINDS
from workflow.partners.imports import ImportReport, import_csv

__all__ = ["FORMATS", "KINDS", "ImportReport", "import_csv"]
