"""Preview of an agreement version: what each agency and role would see of a sample
case under it, against the agreement in force. Nothing is written but the fact that a
preview was made (``workflow.policy.publishing.preview_version`` records it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Case, PartnerFlag, RuleSetVersion
from workflow.errors import InvalidInput, NotFound
from workflow.sharing.decide import Viewer, decide
from workflow.sharing.groups import AGENCIES, PURPOSES, ROLES
from workflow.sharing.store import agreement_document_of, agreement_in_force
from workflow.sharing.view import case_view

PREVIEW_ROLES = tuple(r for r in ROLES if r != "admin")


@dataclass
class AgreementPreview:
    """Per (agency, role): the levels, what changes against the agreement in force and
    the sample case as they would see it. ``counts``/``warnings``/``case_ids`` are what
    the rule-set life records (no case is made due by an agreement)."""

    ruleset: str
    version: str
    in_force: str
    purpose: str
    sample_case: int | None
    rows: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    case_ids: list[int] = field(default_factory=list)
    policy_version: str | None = None

    def lines(self) -> list[str]:
        """The preview as text: one line per agency/role, changes marked."""
        out = [f"{self.ruleset}@{self.version[:12]} against {self.in_force[:12]} in force "
               f"({self.purpose}); sample case {self.sample_case}"]
        for row in self.rows:
            shown = [g for g, v in row["levels"].items() if v == "show"]
            masked = [g for g, v in row["levels"].items() if v == "mask"]
            out.append(f"  {row['agency'] or '(no agency)'}/{row['role']}: show "
                       f"{', '.join(shown) or '-'}; mask {', '.join(masked) or '-'}")
            out += [f"      CHANGES {g}: {old} -> {new}"
                    for g, (old, new) in row["changes"].items()]
        out += [f"{count:5}  {label}" for label, count in self.counts.items()]
        out += [f"WARNING: {w}" for w in self.warnings]
        return out

    def as_dict(self) -> dict:
        return {"ruleset": self.ruleset, "version": self.version, "in_force": self.in_force,
                "purpose": self.purpose, "sample_case": self.sample_case, "rows": self.rows,
                "counts": self.counts, "warnings": self.warnings,
                "moves_at_next_pass": [], "note": "an agreement moves no case; it changes "
                "what each agency and role is shown from its publication on"}


def sample_case(session: Session, case_id: int | None = None) -> Case | None:
    """``case_id``, else the open case whose person has the most partner flags."""
    if case_id is not None:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"case {case_id} not found", details={"case_id": case_id})
        return case
    flags = (select(PartnerFlag.person_id, func.count().label("n"))
             .group_by(PartnerFlag.person_id).subquery())
    return session.scalars(select(Case).outerjoin(flags, flags.c.person_id == Case.person_id)
                           .where(Case.closed_at.is_(None))
                           .order_by(func.coalesce(flags.c.n, 0).desc(), Case.id)
                           .limit(1)).first()


def preview_agreement(session: Session, row: RuleSetVersion, *, now: datetime,
                      case_id: int | None = None, purpose: str = "case_management"
                      ) -> AgreementPreview:
    """Each agency x role (and no agency) under ``row`` and under the agreement in force."""
    if purpose not in PURPOSES:
        raise InvalidInput(f"unknown purpose {purpose!r} (one of {', '.join(PURPOSES)})",
                           details={"field": "purpose"})
    draft, current = agreement_document_of(row), agreement_in_force(session, now)
    case = sample_case(session, case_id)
    report = AgreementPreview(row.name, row.version, current.version, purpose,
                              case.id if case else None)
    changed = 0
    for agency in (*AGENCIES, None):
        for role in PREVIEW_ROLES:
            viewer = Viewer(None, f"preview:{agency or '-'}:{role}", role, agency)
            new = draft.levels(agency, role, purpose)
            old = current.levels(agency, role, purpose)
            diff = {g: [old[g], new[g]] for g in new if old[g] != new[g]}
            changed += bool(diff)
            entry = {"agency": agency, "role": role, "levels": new, "changes": diff}
            if case is not None:
                decision = decide(draft, viewer, purpose=purpose)
                entry["sample"] = case_view(session, case, viewer=viewer, now=now,
                                            purpose=purpose, decision=decision).data
            report.rows.append(entry)
    report.counts = {"agency/role pairs whose view changes": changed}
    if case is None:
        report.warnings.append("no open case to show as a sample")
    return report
