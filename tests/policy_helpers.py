"""Test helper: change the stage policy the way a team lead does (draft, check, preview,
a second team lead approves, publish), through the real workflow services."""

from __future__ import annotations

import yaml
from sqlalchemy import select

from db.models import User
from workflow.policy.publishing import preview_version, publish_version
from workflow.policy.store import policy_document_of, policy_row
from workflow.ruleset_admin import approve, check_examples, save_draft
from workflow.users import create_user


def lead(session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        user, _ = create_user(session, username=username, display_name=username,
                              role="team_lead")
    return user


def policy_text(session, edit) -> str:
    """The policy in force as a dict, changed by ``edit(dict)``, as YAML text."""
    data = yaml.safe_load(policy_document_of(policy_row(session)).text)
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def publish_policy(session, settings, make_user=None, *, now, edit, reason="test"):
    """Publish an edited policy at ``now``; returns ``(row, preview, outcome)``."""
    author, second = lead(session, "policy-lead1"), lead(session, "policy-lead2")
    row = save_draft(session, policy_text(session, edit), file="policy.yaml", user=author,
                     now=now, reason=reason)
    check_examples(session, row, now=now, actor=author.username)
    report = preview_version(session, row, now=now, settings=settings,
                             actor=author.username)
    approve(session, row, user=second, now=now, reason="agreed")
    outcome = publish_version(session, row, user=author, now=now, reason=reason,
                              settings=settings)
    session.commit()
    return row, report, outcome
