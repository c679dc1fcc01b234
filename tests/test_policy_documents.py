"""The stage policy document: limits, schema and references are refused precisely; the
config.toml seed is read once; the policy in force (as of any instant) is what runs;
publishing a rule set makes due exactly the cases whose outcome it changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from rules.errors import RuleSetError
from rules.library import shipped_documents
from workflow.advance import due_case_ids
from workflow.config import load_settings
from workflow.policy.document import MAX_BYTES, is_policy_text, load_policy
from workflow.policy.publishing import preview_version, publish_version
from workflow.policy.store import (
    policy_document_of,
    policy_in_force,
    policy_row,
    reference_problems,
    seed_policy,
)
from workflow.ruleset_admin import approve, check_examples, save_draft


def _seed_text(session):
    return policy_document_of(policy_row(session)).text


def _problems(text):
    with pytest.raises(RuleSetError) as err:
        load_policy(text, file="p.yaml")
    return [(p.rule_id, p.path, p.reason) for p in err.value.problems]


@pytest.mark.usefixtures("published")
def test_shipped_seed_names_every_purpose_and_validates(session, now):
    doc = policy_document_of(policy_row(session))
    assert doc.rulesets_for("mapping") == ("mappa-exclusion", "pan-london-selection")
    assert doc.rulesets_for("programme_links") == ("programme-links",)
    assert doc.rulesets_for("exclusion") == ("mappa-exclusion", "youth-age-floor")
    assert doc.rulesets_for("agenda") == ("agenda-priority",)
    assert doc.rulesets_for("compliance") == ("enforcement-triggers",)
    assert doc.capacity["team_cohort"] == 100 and doc.panel["max_cases"] == 20
    assert reference_problems(session, doc, now=now) == []


@pytest.mark.usefixtures("published")
def test_bad_policies_are_refused_with_purpose_path_and_reason(session, now):
    base = yaml.safe_load(_seed_text(session))
    wrong = {**base, "purposes": {**base["purposes"], "canteen": {"rulesets": []}}}
    assert any(p[1].startswith("purposes.canteen") for p in _problems(yaml.safe_dump(wrong)))
    bad_days = yaml.safe_load(_seed_text(session))
    bad_days["purposes"]["mapping"]["recheck_days"] = 0
    assert ("mapping", "purposes.mapping.value.recheck_days",
            "Must be greater than or equal to 1 and less than or equal to 366."
            ) in _problems(yaml.safe_dump(bad_days))
    no_mapping = yaml.safe_load(_seed_text(session))
    del no_mapping["purposes"]["mapping"]
    assert ("mapping", "purposes.mapping", "required: the scheduler evaluates this stage"
            ) in _problems(yaml.safe_dump(no_mapping))
    assert _problems("kind: stage-policy\n" + "#" * MAX_BYTES)[0][2].startswith("larger than")
    deep = "kind: stage-policy\ndescription: " + "[" * 10 + "]" * 10
    assert "nested deeper" in _problems(deep)[0][2]
    assert "not valid YAML" in _problems("kind: stage-policy\n: : [")[0][2]
    bomb = "kind: stage-policy\na: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    assert "aliases (*name) are not allowed" in _problems(bomb)[0][2]
    assert not is_policy_text(bomb) and not is_policy_text("[" * 5000 + "]" * 5000)
    # References: a rule set must be published and written for a stage of its purpose.
    refs = yaml.safe_load(_seed_text(session))
    refs["purposes"]["mapping"]["rulesets"] += ["no-such-set", "lead-professional"]
    doc = load_policy(yaml.safe_dump(refs), file="p.yaml")
    assert [(p.rule_id, p.path, p.reason) for p in reference_problems(
        session, doc, now=now, file="p.yaml")] == [
        ("mapping", "purposes.mapping.rulesets.2", "rule set 'no-such-set' has no published "
         "version"),
        ("mapping", "purposes.mapping.rulesets.3", "rule set 'lead-professional' is written "
         "for allocated, not for mapping")]


@pytest.mark.usefixtures("published")
def test_a_draft_naming_an_unpublished_set_is_not_stored(session, now, make_user):
    lead, _ = make_user("lead1", role="team_lead")
    refs = yaml.safe_load(_seed_text(session))
    refs["purposes"]["agenda"]["rulesets"] = ["burglary-first"]
    with pytest.raises(RuleSetError, match="burglary-first"):
        save_draft(session, yaml.safe_dump(refs), file="p.yaml", user=lead, now=now,
                   reason="x")
    reserved = shipped_documents()["barnet-local-flex"].text.replace(
        "name: barnet-local-flex", "name: stage-policy")
    with pytest.raises(RuleSetError, match="reserved"):
        save_draft(session, reserved, file="r.yaml", user=lead, now=now, reason="x")


def test_config_seeds_the_first_version_only(session, settings, now, published):
    """After the seed, config.toml no longer decides: a changed config is not read."""
    assert seed_policy(session, settings, now=now) is None  # already seeded
    changed = load_settings(settings.source, env={
        "IOM_DATABASE_URL": settings.database_url,
        "IOM_STAGES_MAPPING_RULESETS": "mappa-exclusion,bromley-selection"})
    policy = policy_in_force(session, changed, now)
    assert policy.rulesets_for("mapping") == ("mappa-exclusion", "pan-london-selection")
    assert policy.version == policy_row(session).version


@pytest.mark.usefixtures("published")
def test_publishing_a_rule_set_makes_due_only_the_cases_it_changes(
        session, settings, make_case, make_user, now):
    lead1, _ = make_user("lead1", role="team_lead")
    lead2, _ = make_user("lead2", role="team_lead")
    later = now + timedelta(days=5)
    moving = make_case(ogrs=70, offence="violence")
    staying = make_case(ogrs=60, offence="violence")
    for case in (moving, staying):
        case.next_due_at = later
    session.commit()
    assert due_case_ids(session, now=now, stages=("mapping",), limit=10) == []
    text = shipped_documents()["pan-london-selection"].text.replace(
        "{fact: ogrs_2yr, gte: 75}", "{fact: ogrs_2yr, gte: 70}")
    head, tail = text.split("- name: boundary 74 with robbery")
    text = head + "- name: boundary 74 with robbery" + tail.replace(
        "rules: [ogrs-50-74-acquisitive]", "rules: [ogrs-50-74-acquisitive, ogrs-75]", 1)
    row = save_draft(session, text, file="pl.yaml", user=lead1, now=now, reason="70+")
    check_examples(session, row, now=now, actor="lead1")
    report = preview_version(session, row, now=now, settings=settings, actor="lead1")
    assert report.case_ids == [moving.id] and report.warnings == []
    approve(session, row, user=lead2, now=now, reason="ok")
    outcome = publish_version(session, row, user=lead1, now=now, reason="go",
                              settings=settings)
    session.commit()
    assert outcome.due_cases == [moving.id]
    assert due_case_ids(session, now=now, stages=("mapping",), limit=10) == [moving.id]
    assert staying.next_due_at == later


@pytest.mark.usefixtures("published")
def test_policy_as_of_and_history(session, settings, now, make_user):
    from policy_helpers import publish_policy

    before = policy_in_force(session, settings, now)
    row, report, _ = publish_policy(session, settings, now=now,
                                    edit=lambda d: d["review_days"].update(high_days=42))
    assert report.not_previewed == ["review.high_days: 56 -> 42"]
    assert report.changed == []
    assert policy_in_force(session, settings, now).review["high_days"] == 42
    assert policy_in_force(session, settings, now - timedelta(seconds=1)).review[
        "high_days"] == before.review["high_days"] == 56
    assert policy_in_force(session, settings, now).version == row.version != before.version


@pytest.mark.usefixtures("published")
def test_only_sets_no_purpose_names_are_warned_about(session, settings, now, make_user):
    """lead-professional (allocation) and enforcement-triggers (compliance) are used by the
    policy though no case stage previews them; bromley-selection is named nowhere."""
    from workflow.policy.store import policy_in_force
    from workflow.preview import preview
    from workflow.rulesets import published_row

    policy = policy_in_force(session, settings, now)
    for name in ("lead-professional", "enforcement-triggers", "programme-links"):
        assert preview(session, published_row(session, name), now=now,
                       policy=policy).warnings == [], name
    [warning] = preview(session, published_row(session, "bromley-selection"), now=now,
                        policy=policy).warnings
    assert warning.startswith("bromley-selection is not evaluated by any stage: add it to "
                              "the stage policy")


@pytest.mark.usefixtures("published")
def test_a_guard_set_is_previewed_in_every_stage(session, settings, now, make_case):
    """youth-age-floor is written for `exclusion` only, yet guards every stage: its
    preview evaluates the open cases of each stage the policy evaluates."""
    from workflow.policy.store import policy_in_force
    from workflow.preview import preview
    from workflow.rulesets import published_row

    make_case(state="matrixing", ogrs=80)
    make_case(state="review", ogrs=80)
    report = preview(session, published_row(session, "youth-age-floor"), now=now,
                     policy=policy_in_force(session, settings, now))
    assert report.evaluated == 2 and report.warnings == []
    assert report.in_config == {"mapping": True, "matrixing": True, "review": True}
