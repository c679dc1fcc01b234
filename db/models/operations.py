"""Operations: one heartbeat row per running scheduler process.

Each ``iom scheduler`` (or ``iom serve`` with its in-process scheduler) upserts its row
after every pass: readiness checks that some scheduler beat recently, and ``/metrics``
reads pass counts, durations and cases moved from here, so the figures of every
scheduler process (on any host) are seen by every API process.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime


class SchedulerHeartbeat(Base):
    __tablename__ = "scheduler_heartbeat"

    worker: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid:start
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    passes: Mapped[int] = mapped_column(Integer, default=0)
    pass_seconds_total: Mapped[float] = mapped_column(Float, default=0.0)
    last_pass_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    cases_moved_total: Mapped[int] = mapped_column(BigInteger, default=0)
