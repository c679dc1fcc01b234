"""A nominal (person known to police) and what partners tell us about them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, JSONType, UTCDateTime, utcnow

EVENT_KINDS = ("arrest", "charge", "conviction", "caution")
SUPERVISION_PROVIDERS = ("NPS", "CRC", "none")
FLAG_KINDS = ("mappa_level", "marac_repeat", "dtoa", "ppo", "gang_grade", "yos_referral", "asb",
              "drr", "dip", "treatment", "housing_need")


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_ref: Mapped[str] = mapped_column(String(64), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    sex: Mapped[str] = mapped_column(String(1))  # "M" / "F"
    date_of_birth: Mapped[date] = mapped_column(Date)
    first_sanction_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    events: Mapped[list[OffendingEvent]] = relationship(back_populates="person")
    assessments: Mapped[list[Assessment]] = relationship(back_populates="person")
    flags: Mapped[list[PartnerFlag]] = relationship(back_populates="person")
    supervisions: Mapped[list[Supervision]] = relationship(back_populates="person")


class OffendingEvent(Base):
    """An arrest, charge, conviction or caution (any non-conviction sanction: caution,
    conditional caution, reprimand, final warning), with the date and offence category."""

    __tablename__ = "offending_event"
    __table_args__ = (Index("ix_offending_event_person_date", "person_id", "occurred_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_ref: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    occurred_on: Mapped[date] = mapped_column(Date)
    offence_category: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(40), default="import")

    person: Mapped[Person] = relationship(back_populates="events")


class Assessment(Base):
    """A reconviction score (OGRS) on a date; ``source`` says supplied or computed."""

    __tablename__ = "assessment"
    __table_args__ = (Index("ix_assessment_person_date", "person_id", "assessed_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_ref: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    tool: Mapped[str] = mapped_column(String(16), default="OGRS3")
    assessed_on: Mapped[date] = mapped_column(Date)
    ogrs_1yr: Mapped[int | None] = mapped_column(Integer)
    ogrs_2yr: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16), default="supplied")
    inputs: Mapped[dict | None] = mapped_column(JSONType)

    person: Mapped[Person] = relationship(back_populates="assessments")


class PartnerFlag(Base):
    """A partner list entry (MAPPA level, MARAC repeat, DTOA, PPO, gang grade, YOS, ASB,
    DRR, DIP / NI 38 caseload, drug treatment retention).

    The flag in force for a kind is the latest by ``recorded_on``; ``value`` is text
    ("2", "true", "high") interpreted by the fact builder.
    """

    __tablename__ = "partner_flag"
    __table_args__ = (Index("ix_partner_flag_person_kind", "person_id", "kind", "recorded_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_ref: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(20))
    recorded_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(40), default="import")

    person: Mapped[Person] = relationship(back_populates="flags")


class Supervision(Base):
    """Who supervises the person: NPS, CRC or none (police-led), from ``start_on``."""

    __tablename__ = "supervision"
    __table_args__ = (UniqueConstraint("partner_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_ref: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(8))
    offender_manager: Mapped[str | None] = mapped_column(String(100))
    offender_manager_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date | None] = mapped_column(Date)

    person: Mapped[Person] = relationship(back_populates="supervisions")
