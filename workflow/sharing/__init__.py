"""Information sharing between agencies: who may see what of a case, decided once.

The **agreement** (:mod:`.agreement`, stored and lived like a rule set under the name
``sharing-agreement``: :mod:`.store`, :mod:`.preview`) says, per agency, role and
purpose, for each field group of a case (:mod:`.groups`: identity, supervision,
offending, risk, partner flags by source, compliance, tasks, notes, audit) ``show``,
``mask`` or ``none``. Per-case **restriction and exclusion lists** (:mod:`.restrictions`)
keep named users or agencies out ("Restricted access", the name as ``*********``).

One **decision** (:mod:`.decide`) combines both; everything that shows case data to a
person applies it at serialisation, and rule evaluation never does (the rules see every
fact). API for callers (pages, views, commands)::

    from workflow.sharing.decide import Viewer, check_purpose, decision_for, decisions
    from workflow.sharing.view import (case_view, case_summaries, panel_rows,
                                       require_unrestricted)
    from workflow.sharing.redact import redact_entry, redact_facts, task_view, event_view
    from workflow.sharing.access import record_read, access_entries

    viewer = Viewer.of(user)                           # id, username, role, agency
    purpose = check_purpose(None, viewer)              # case_management / audit (auditors)
    view = case_view(session, case, viewer=viewer, now=now, purpose=purpose)
    view.data        # dict: groups shown, masked ({"withheld": true, "label", "ask"}) or absent
    view.decision    # Decision: .level(group), .shows(group), .marker(group), .restricted
    require_unrestricted(view.decision)                # 403-type Forbidden for history etc.
    rows = case_summaries(session, cases, viewer=viewer, now=now, purpose=purpose)
    entries = [redact_entry(e, view.decision).as_dict() for e in audit_entries]
    lines = explain_case(session, case.id,
                         redact=lambda e: redact_entry(e, view.decision))
    task = task_view(task_row, view.decision)          # None: tasks withheld
    record_read(session, viewer=viewer, what="detail", purpose=purpose, now=now,
                case_id=case.id, person_ref=case.person.partner_ref, via="page")

Every read is one row of the access log (:mod:`.access`), sealed into the audit chain
in signed batches by the scheduler (``workflow.access_seal``), so ``iom audit verify``
covers it. Nothing here imports Flask; services flush,
never commit. Format and policy: ``docs/sharing.md``.
"""
