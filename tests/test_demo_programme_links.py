"""Principle 4 in the demo borough: with programme-links in the shipped stage policy,
flagged cohort members (drug test on arrest, PPO, MARAC, YOS at 18) get referral tasks
after a few scheduler passes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from db.models import PartnerFlag, Person, Task
from scheduler.jobs import run_all
from workflow.demo import load_demo


@pytest.mark.usefixtures("published")
def test_demo_borough_raises_programme_referrals(session, runtime, now, tmp_path):
    load_demo(session, people=400, seed=3, now=now, actor="demo", workdir=tmp_path)
    session.commit()
    for hours in (0, 1, 2, 26, 50):
        run_all(runtime, now=now + timedelta(hours=hours))
    session.expire_all()
    referrals = session.scalars(select(Task).where(Task.template.like("referral_%"))).all()
    kinds = {t.template for t in referrals}
    # Drug test on arrest (DTOA) -> DIP/DRR; PPO. (Under-18s never reach the adult
    # cohort since the youth age floor; their YOS transition is youth-age-floor's task.)
    assert {"referral_dip", "referral_drr"} & kinds and "referral_ppo" in kinds, kinds
    assert all(t.ruleset == "programme-links" for t in referrals)
    # Each referral is for a person the partners flagged for that programme.
    needs = {"referral_yos": "yos_referral", "referral_marac": "marac_repeat",
             "referral_ppo": "ppo"}
    for task in (t for t in referrals if t.template in needs):
        flags = session.scalars(select(PartnerFlag.kind).join(Person).where(
            Person.id == task.case.person_id)).all()
        assert needs[task.template] in flags
