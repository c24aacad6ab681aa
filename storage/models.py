"""SQLAlchemy 2 models. Every row belongs to an organisation (a Slack workspace, later a Teams tenant)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    LargeBinary,
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


class OrganisationLink(Base):
    """Another chat platform's name for an organisation: a Teams tenant that is the same organisation as a
    Slack workspace. Its people are then the same people whichever client they use."""

    __tablename__ = "organisation_links"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
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
    __table_args__ = (UniqueConstraint("org_id", "slack_user_id"), UniqueConstraint("org_id", "email"),
                      UniqueConstraint("org_id", "teams_user_id"), UniqueConstraint("org_id", "aad_object_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    locale: Mapped[str | None] = mapped_column(String(16))
    tz: Mapped[str | None] = mapped_column(String(64))
    dm_channel_id: Mapped[str | None] = mapped_column(String(32))
    # Microsoft Teams: the account (29:…), the Entra object id, and where a proactive message goes.
    teams_user_id: Mapped[str | None] = mapped_column(String(128))
    aad_object_id: Mapped[str | None] = mapped_column(String(64))
    teams_conversation_id: Mapped[str | None] = mapped_column(String(256))
    teams_service_url: Mapped[str | None] = mapped_column(String(300))
    teams_tenant_id: Mapped[str | None] = mapped_column(String(64))
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
        # The review counts by status and severity from the index alone (migration 0006).
        Index("ix_incidents_org_reported_status", "org_id", "reported_at", "status", "severity"),
        Index("ix_incidents_org_closed", "org_id", "closed_at"),
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
    # Set (committed) before a send, cleared once its outcome is certain: set on a claimed row, Slack may
    # already have the message, so it is looked up there before it is sent again.
    attempted_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class TeamsConversation(Base):
    """A Teams conversation the bot has seen (a channel, a group chat, a personal chat): where to send to it."""

    __tablename__ = "teams_conversations"

    conversation_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[str | None] = mapped_column(String(16))  # personal / channel / groupChat
    service_url: Mapped[str] = mapped_column(String(300))
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class ProcessedEvent(Base):
    """Event ids already handled, so Slack's retries change nothing."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime]


# ---- training (issue 4) -------------------------------------------------------------


class TrainingCampaign(Base):
    """One year's mandatory e-learning: which courses, by when, for whom."""

    __tablename__ = "training_campaigns"
    __table_args__ = (UniqueConstraint("org_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    courses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    deadline: Mapped[date] = mapped_column(Date)
    joiner_days: Mapped[int] = mapped_column(Integer, default=30)  # a newcomer's own deadline
    remind_every_days: Mapped[int] = mapped_column(Integer, default=7)
    max_reminders: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active / closed
    started_at: Mapped[datetime]
    started_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class TrainingAssignment(Base):
    """A person in a campaign's audience, and where their answer stands."""

    __tablename__ = "training_assignments"
    __table_args__ = (UniqueConstraint("campaign_id", "person_id"), Index("ix_training_due", "status", "next_reminder_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("training_campaigns.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))  # at the time of the campaign
    deadline: Mapped[date] = mapped_column(Date)
    # pending / not_yet / done / exemption_requested / exempt
    status: Mapped[str] = mapped_column(String(24), default="pending")
    completed_on: Mapped[date | None] = mapped_column(Date)
    exemption_reason: Mapped[str | None] = mapped_column(Text)
    exemption_decided_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    exemption_rejected: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_reminder_at: Mapped[datetime | None]
    manager_told_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class TrainingCompletion(Base):
    """Evidence that someone completed the courses, and where it came from (self, manager, import)."""

    __tablename__ = "training_completions"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("training_assignments.id", ondelete="CASCADE"), index=True)
    completed_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(12))  # self / manager / import
    course: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    recorded_at: Mapped[datetime]


# ---- information assets and classification (issue 5) -------------------------------------


class Asset(Base):
    """An information asset: a system, an information set or a service, with its object owner."""

    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="system")  # system / information / service
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)  # objektledare
    information_owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    supplier: Mapped[str | None] = mapped_column(String(200))
    personal_data: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    special_categories: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    ropa_reference: Mapped[str | None] = mapped_column(String(200))  # registerförteckningen, GDPR Art. 30
    continuity_relevant: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    next_review: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Classification(Base):
    """A KLASSA classification (K/R/T 0–4). New ones are added; old ones stay as history."""

    __tablename__ = "classifications"
    __table_args__ = (Index("ix_classifications_asset", "asset_id", "classified_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    confidentiality: Mapped[int] = mapped_column(Integer)
    integrity: Mapped[int] = mapped_column(Integer)
    availability: Mapped[int] = mapped_column(Integer)
    classified_on: Mapped[date] = mapped_column(Date)
    classified_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    method: Mapped[str | None] = mapped_column(String(100))
    method_version: Mapped[str | None] = mapped_column(String(50))
    next_review: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(12))  # round / import / edit
    round_id: Mapped[int | None] = mapped_column(ForeignKey("classification_rounds.id"))
    created_at: Mapped[datetime]


class ActionItem(Base):
    """A requirement from a classification's action plan (handlingsplan)."""

    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    classification_id: Mapped[int | None] = mapped_column(ForeignKey("classifications.id"))
    requirement: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    due: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="not_started")  # not_started / in_progress / done / risk_accepted
    updated_at: Mapped[datetime]


class ContinuityPlan(Base):
    __tablename__ = "continuity_plans"

    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    has_plan: Mapped[bool] = mapped_column(Boolean, default=False)
    last_exercised: Mapped[date | None] = mapped_column(Date)
    next_exercise_due: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime]


class ClassificationRound(Base):
    """A round of asking object owners for the status of their assets."""

    __tablename__ = "classification_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(12))  # scheduled / manual
    due: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime]
    started_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class RoundRequest(Base):
    """One asset asked about in a round: when its owner was asked and when they answered."""

    __tablename__ = "round_requests"
    __table_args__ = (UniqueConstraint("round_id", "asset_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("classification_rounds.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    answered_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_reminder_at: Mapped[datetime | None]


# ---- facts for the management review and the review itself (issue 6) ---------------------------


class ControlResult(Base):
    """Internal control (IKP): one routine checked in a year — what, how, the result, the findings."""

    __tablename__ = "control_results"
    __table_args__ = (UniqueConstraint("org_id", "year", "routine"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    routine: Mapped[str] = mapped_column(String(100))  # a code of the five mandatory routines, or a name
    checked: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(16))  # ok / deficiency / serious
    findings: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    updated_at: Mapped[datetime]


class DpoFinding(Base):
    """The data-protection officer's annual finding in one of the six areas, graded on four levels."""

    __tablename__ = "dpo_findings"
    __table_args__ = (UniqueConstraint("org_id", "year", "area"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    area: Mapped[str] = mapped_column(String(32))
    grade: Mapped[int] = mapped_column(Integer)  # 1 allvarliga brister … 4 inga brister av nämnvärd betydelse
    findings: Mapped[str | None] = mapped_column(Text)
    recommendations: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    updated_at: Mapped[datetime]


class RiskAnalysis(Base):
    """The risk and vulnerability analysis (RSA) as it stands in a year."""

    __tablename__ = "risk_analyses"
    __table_args__ = (UniqueConstraint("org_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    cycle: Mapped[str | None] = mapped_column(String(50))  # e.g. 2024–2025
    summary: Mapped[str | None] = mapped_column(Text)
    processes_with_risks: Mapped[int | None] = mapped_column(Integer)
    action_plans: Mapped[int | None] = mapped_column(Integer)
    continuity_plans: Mapped[int | None] = mapped_column(Integer)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    updated_at: Mapped[datetime]


class AuditFinding(Base):
    """A finding from an audit, a review or a workshop, with its corrective action."""

    __tablename__ = "audit_findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(100))
    finding: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))  # low / medium / high / serious
    corrective_action: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open / in_progress / done
    due: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime]


class PlanActivity(Base):
    """An activity in the three-year plan: prioritised, owned, with a status and where it came from."""

    __tablename__ = "plan_activities"
    __table_args__ = (Index("ix_plan_activities_org_year", "org_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))  # a role or a function, not a person's name
    priority: Mapped[int] = mapped_column(Integer, default=2)  # 1 high … 3 low
    status: Mapped[str] = mapped_column(String(16), default="planned")  # planned / in_progress / done / postponed
    origin: Mapped[str] = mapped_column(String(32), default="coordinator")  # coordinator / review_decision / dpo / audit
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("review_decisions.id"))
    updated_at: Mapped[datetime]


class ContextNote(Base):
    """ISO 27001 9.3.2 b, c, e: changes in external and internal issues, interested parties' needs, feedback."""

    __tablename__ = "context_notes"
    __table_args__ = (Index("ix_context_notes_org_year", "org_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))  # external / internal / interested_parties / feedback
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ImprovementProposal(Base):
    """An improvement any employee sends to the bot; the coordinator triages it."""

    __tablename__ = "improvement_proposals"
    __table_args__ = (UniqueConstraint("org_id", "source_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    submitted_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    text: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="new")  # new / accepted / rejected / done
    triage_note: Mapped[str | None] = mapped_column(Text)
    triaged_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    triaged_at: Mapped[datetime | None]
    source_key: Mapped[str] = mapped_column(String(200))


class Review(Base):
    """A compiled management review. A published one is frozen: its inputs and documents never change."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_org_year", "org_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="draft")  # draft / published
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)  # every figure and fact the documents were made from
    markdown: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    docx: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    published_at: Mapped[datetime | None]
    published_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class ReviewDecision(Base):
    """A decision leadership recorded on a published review; it becomes an activity in next year's plan."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    decision: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))
    due: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    recorded_at: Mapped[datetime]
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
