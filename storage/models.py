"""SQLAlchemy 2 models. Every row belongs to an organisation (a Slack workspace, later a Teams tenant)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on SQLite (which drops the zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Department(Base):
    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(200))


class Person(Base):
    """Someone in the organisation: from Slack, from the HR file, or both (matched by e-mail)."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("org_id", "slack_user_id"), UniqueConstraint("org_id", "email"))

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    locale: Mapped[str | None] = mapped_column(String(16))
    tz: Mapped[str | None] = mapped_column(String(64))
    dm_channel_id: Mapped[str | None] = mapped_column(String(32))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    employment: Mapped[str | None] = mapped_column(String(16))  # employee / consultant
    start_date: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    in_hr_file: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    deactivated_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PersonRole(Base):
    """A role a person holds: chef, objektledare, informationssäkerhetssamordnare, dataskyddsombud, …"""

    __tablename__ = "person_roles"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class ReferenceCounter(Base):
    """The last number handed out per series and year: INC-2026-0042 comes from (INC, 2026) = 42."""

    __tablename__ = "reference_counters"

    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    series: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("org_id", "reference"),
        UniqueConstraint("org_id", "source_key"),
        Index("ix_incidents_org_reported", "org_id", "reported_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    reference: Mapped[str] = mapped_column(String(32))
    reporter_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    status: Mapped[str] = mapped_column(String(24), default="new")
    description: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime | None]
    discovered_at: Mapped[datetime]
    reported_at: Mapped[datetime]
    asset_text: Mapped[str | None] = mapped_column(String(500))
    personal_data: Mapped[str | None] = mapped_column(String(8))  # yes / no / unknown
    sensitive_data: Mapped[str | None] = mapped_column(String(8))  # yes / no / unknown
    people_affected: Mapped[int | None] = mapped_column(BigInteger)
    injury: Mapped[str | None] = mapped_column(String(16))  # injured / near_miss / none
    source_key: Mapped[str] = mapped_column(String(200))  # idempotency: one submission, one incident
    source_link: Mapped[str | None] = mapped_column(String(500))
    # Follow-up (issue 3)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))  # the reporter's, at report time
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    severity: Mapped[int | None] = mapped_column(Integer)  # 1 låg … 4 allvarlig
    last_activity_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(Text)  # why it was not an incident
    cause: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text)
    lessons: Mapped[str | None] = mapped_column(Text)
    serious_work_env: Mapped[bool | None] = mapped_column(Boolean)
    awv_reported_at: Mapped[datetime | None]  # reported to Arbetsmiljöverket

    kinds: Mapped[list[IncidentKind]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="IncidentKind.kind"
    )

    @property
    def kind_codes(self) -> list[str]:
        return [k.kind for k in self.kinds]


class IncidentKind(Base):
    """One row per kind that applies (information security, personal data, work environment, other)."""

    __tablename__ = "incident_kinds"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)


class IncidentEvent(Base):
    """The case's timeline: who did what, when. Rows are only ever added."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))  # None: the bot itself
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class BreachRecord(Base):
    """GDPR Art. 33: the facts of a personal-data breach and the decision on notifying IMY."""

    __tablename__ = "breach_records"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    nature: Mapped[list[Any]] = mapped_column(JSON, default=list)  # confidentiality / integrity / availability
    subject_categories: Mapped[str | None] = mapped_column(Text)
    subjects_approx: Mapped[int | None] = mapped_column(BigInteger)
    records_approx: Mapped[int | None] = mapped_column(BigInteger)
    special_categories: Mapped[str | None] = mapped_column(String(8))  # yes / no / unknown
    consequences: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text)
    notify_imy: Mapped[str | None] = mapped_column(String(8))  # yes / no; None: not decided
    notify_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    notified_at: Mapped[datetime | None]
    imy_reference: Mapped[str | None] = mapped_column(String(100))
    inform_subjects: Mapped[str | None] = mapped_column(String(8))  # Art. 34: yes / no
    inform_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class OutboxMessage(Base):
    """A message waiting to be delivered. Written in the same transaction as the fact it announces."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("org_id", "dedupe_key"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    recipient_kind: Mapped[str] = mapped_column(String(16))  # user (a DM) / channel
    recipient: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending / sent / failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class ProcessedEvent(Base):
    """Event ids already handled, so Slack's retries change nothing."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime]
