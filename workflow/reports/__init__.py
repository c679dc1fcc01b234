"""Board reports computed from case data (issue 14), each with its method printed beside it.

* :mod:`.top_arrested`: seed 002's top repeat arrested suspects table.
* :mod:`.expansion`: what taking on a candidate list would buy (seed 002's estimate).
* :mod:`.effect`: the cohort's change in offending against a comparison group.
* :mod:`.targets`: NI 30 style targets (a % reduction against a baseline), month by month.
* :mod:`.costs`: the Home Office cost of the cohort's crime before / during / after joining.
* :mod:`.caseload` (with :mod:`.flow`): caseload and flow, time in stage, candidate sources.

:mod:`.catalogue` runs any of them by name, :mod:`.boardpack` all of them for a period;
:mod:`.render` makes CSV / text / JSON and :mod:`.pdf` the PDFs, from the same dicts.

Reference data (ratios, borough totals, unit costs, deflators) is dated and editable in
``workflow/reference/``; :mod:`.reference` loads and validates it.
"""

from workflow.reports.top_arrested import top_arrested

__all__ = ["top_arrested"]
