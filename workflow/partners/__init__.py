"""Partner data in: CSV imports (:mod:`.imports`) and partner reports (:mod:`.reports`)."""

from workflow.partners.formats import FORMATS, KINDS
from workflow.partners.imports import ImportReport, import_csv
from workflow.partners.reports import top_arrested

__all__ = ["FORMATS", "KINDS", "ImportReport", "import_csv", "top_arrested"]
