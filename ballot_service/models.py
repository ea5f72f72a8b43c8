"""Tables of the disclosure side: regions, departments, offices, people, duties.

Nothing is ever deleted that a past round may need: people and offices are deactivated
(`active = False`), and foreign keys refuse deletes of rows still referenced.
"""

import datetime as dt
import hashlib
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    false as sa_false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .domain.access import UserRole
from .domain.review import Decision
from .domain.roles import Role
from .domain.roster import DUTY_CATEGORY_LABELS, LIMITS
from .domain.round_states import RoundStatus
from .extensions import db

REGION_KINDS = ("city", "county", "zone")
BALLOT_CHANNELS = ("online", "paper")
DUTY_CATEGORIES = tuple(DUTY_CATEGORY_LABELS)
GUIDELINE_KINDS = ("work_rule", "service_phrase")


def _one_of(column: str, values) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=f"{column}_valid")


class Region(db.Model):
    """The city itself, its counties and districts, and development zones."""

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    sort_order: Mapped[int] = mapped_column(default=0)

    departments: Mapped[list["Department"]] = relationship(
        back_populates="region", order_by="Department.sort_order, Department.id"
    )

    __table_args__ = (_one_of("kind", REGION_KINDS),)


class Department(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    # 驻荷单位: stationed in the city by a higher authority, whose name is kept to notify it.
    is_stationed: Mapped[bool] = mapped_column(default=False)
    superior_authority: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    region: Mapped[Region] = relationship(back_populates="departments")
    offices: Mapped[list["Office"]] = relationship(
        back_populates="department", order_by="Office.sort_order, Office.id"
    )
    people: Mapped[list["Person"]] = relationship(
        back_populates="department", order_by="Person.sort_order, Person.id"
    )

    __table_args__ = (UniqueConstraint("region_id", "name"),)


leader_office = Table(
    "leader_office",
    db.metadata,
    Column("person_id", Integer, ForeignKey("person.id"), primary_key=True),
    Column("office_id", Integer, ForeignKey("office.id"), primary_key=True),
)


class Office(db.Model):
    """A 科室, 窗口 or 执法大队: the unit a QR code and a ballot belong to."""

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    # Public, stable code the QR encodes; see domain.office_codes.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    department: Mapped[Department] = relationship(back_populates="offices")
    people: Mapped[list["Person"]] = relationship(
        back_populates="office", order_by="Person.sort_order, Person.id"
    )
    service_items: Mapped[list["ServiceItem"]] = relationship(
        back_populates="office", order_by="ServiceItem.sort_order, ServiceItem.id"
    )

    __table_args__ = (UniqueConstraint("department_id", "name"),)


class Person(db.Model):
    """One row of 附件1. Leaders have no office; a leader-in-charge oversees offices."""

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("office.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(LIMITS["name"]))
    post: Mapped[str] = mapped_column(String(LIMITS["post"]))  # 职务
    phone: Mapped[str] = mapped_column(String(LIMITS["phone"]))
    business: Mapped[str | None] = mapped_column(Text)  # 从事业务
    duties: Mapped[str | None] = mapped_column(Text)  # 岗位职责
    oversees_field: Mapped[str | None] = mapped_column(String(LIMITS["oversees_field"]))  # 分管领域
    # Content hash of the processed photo under MEDIA_ROOT/photos/; None shows a placeholder.
    photo: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    department: Mapped[Department] = relationship(back_populates="people")
    office: Mapped[Office | None] = relationship(back_populates="people")
    overseen_offices: Mapped[list[Office]] = relationship(
        secondary=leader_office, order_by="Office.sort_order, Office.id"
    )

    __table_args__ = (_one_of("role", [r.value for r in Role]),)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class PostDuty(db.Model):
    """One row of 附件2: a post and its duties (a leader's post, or an office's post)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("office.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    post_name: Mapped[str] = mapped_column(String(LIMITS["post_name"]))
    duties: Mapped[str] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(default=0)

    department: Mapped[Department] = relationship()
    office: Mapped[Office | None] = relationship()

    __table_args__ = (_one_of("category", DUTY_CATEGORIES),)


class ServiceItem(db.Model):
    """An entry of an office's 事项清单 with its procedure and time limits."""

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), index=True)
    name: Mapped[str] = mapped_column(String(LIMITS["item_name"]))
    procedure: Mapped[str | None] = mapped_column(Text)  # 办理流程
    statutory_limit: Mapped[str | None] = mapped_column(String(LIMITS["statutory_limit"]))  # 法定时限
    promised_limit: Mapped[str | None] = mapped_column(String(LIMITS["promised_limit"]))  # 承诺时限
    materials: Mapped[str | None] = mapped_column(Text)  # 申请材料
    sort_order: Mapped[int] = mapped_column(default=0)

    office: Mapped[Office] = relationship(back_populates="service_items")

    __table_args__ = (UniqueConstraint("office_id", "name"),)


class Guideline(db.Model):
    """Work rules (工作制度) and standard service phrases (行业服务用语).

    Department-wide when office_id is empty, otherwise for one office.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("office.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(default=0)

    department: Mapped[Department] = relationship()

    __table_args__ = (_one_of("kind", GUIDELINE_KINDS),)


class Round(db.Model):
    """An evaluation round for one region's departments (the city's, or one county's).

    Opening freezes the roster (RoundRoster), snapshots the ballot configuration and makes the
    round's keys: the secrets live in the key store (services.keys) under `key_id`, never here;
    `public_key` seals the round's ballots to `sealed_size` bytes each. `unsealed` is set by
    the tally's first step, which opens them all. Times are UTC.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    opens_at: Mapped[dt.datetime]
    closes_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16), default=RoundStatus.DRAFT)  # domain.round_states
    require_wechat: Mapped[bool] = mapped_column(default=False)
    key_id: Mapped[str | None] = mapped_column(String(32))
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    sealed_size: Mapped[int | None]
    unsealed: Mapped[bool] = mapped_column(default=False)
    config: Mapped[dict | None] = mapped_column(JSON)
    # Hash of the canonical tally results, shown on the report card.
    digest: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[dt.datetime | None]

    region: Mapped[Region] = relationship()

    __table_args__ = (_one_of("status", [s.value for s in RoundStatus]),)


class RoundRoster(db.Model):
    """Who is on an office's ballot in a round, in which role: frozen when the round opens."""

    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    position: Mapped[int]

    person: Mapped[Person] = relationship()


class SealKey(db.Model):
    """A web process's key for sealing a round's ballots, itself HPKE-sealed to the round's
    public key (domain.sealing): only the round's private key opens it. Gone at the tally."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)


class SealedBallot(db.Model):
    """A ballot as cast, until the tally: ciphertext only (domain.sealing), every one of a round
    the same size, with a random id. Its office, ratings and channel are inside (A1)."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    seal_key_id: Mapped[str] = mapped_column(ForeignKey("seal_key.id"))
    box: Mapped[bytes] = mapped_column(LargeBinary)


class Ballot(db.Model):
    """One unsealed ballot for one office, made by the tally from a sealed one: a fresh random
    id, the round, the office and the channel; all of a round written in one transaction, in
    random order, with no day or time (A1)."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10), default="online")

    __table_args__ = (_one_of("channel", BALLOT_CHANNELS),)


class Rating(db.Model):
    """One person's rating on a ballot: a level, complaint tags and an optional note.

    It repeats its ballot's round and office, so the tally counts a round's ratings from this
    table alone instead of joining every ballot (bench/tally.py). Ratings, their tags and their
    ballots are written by the tally's unsealing alone, in one transaction that checks every
    rating against the round's frozen roster; the tables carry no foreign keys, whose per-row
    triggers would cost the unsealing more than writing the rows (bench/tally.py), and
    tests/test_ballot.py checks that every rating belongs to its ballot."""

    ballot_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[int] = mapped_column(primary_key=True, index=True)
    round_id: Mapped[int]
    office_id: Mapped[int]
    level: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(String(200))


class RatingTag(db.Model):
    ballot_id: Mapped[str] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(24), primary_key=True)


class DedupRecord(db.Model):
    """One voter has a ballot in this round and office: its dedup key (domain.dedup), written in
    the sealed ballot's own transaction, so the primary key, not Redis, holds one ballot per
    voter (B1). The key is useless without the round's secret, destroyed at the tally, when
    these rows go too (A2)."""

    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)


SUBJECT_KINDS = ("person", "office", "department", "region")


class Result(db.Model):
    """One subject's tallied result in a round (a row of the report card).

    A snapshot written only by the tally: like subject_id, department_id names the catalog
    row without a foreign key (departments are never deleted), which spares the tally a
    per-row trigger on thousands of rows. The round's index is the unique constraint's prefix."""

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"))
    subject_kind: Mapped[str] = mapped_column(String(12))
    subject_id: Mapped[int]
    department_id: Mapped[int | None]
    counts: Mapped[dict] = mapped_column(JSON)  # ratings per level, 不了解情况 included
    tags: Mapped[dict] = mapped_column(JSON)  # complaint tag counts
    scored: Mapped[int]
    unknown: Mapped[int]
    score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    grade: Mapped[str | None] = mapped_column(String(12))
    rank: Mapped[int | None]
    ci_low: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    ci_high: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    low_sample: Mapped[bool]
    uncertain: Mapped[bool]
    previous_grade: Mapped[str | None] = mapped_column(String(12))
    steps: Mapped[int | None]  # grade change vs the previous graded round
    # The ballots behind the figure (domain.visibility): what the k rule counts. Not in the digest.
    ballots: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (
        UniqueConstraint("round_id", "subject_kind", "subject_id"),
        _one_of("subject_kind", SUBJECT_KINDS),
    )


class ConsequenceRecord(db.Model):
    """A consequence the tally derived from a grade, for the coordinator to review (domain.review):
    confirmed or struck, with the reason and who decided. `low_sample`: the grade it rests on has
    fewer scored ratings than the round's minimum. Only confirmed ones are published, and only
    their ledger entries count."""

    __tablename__ = "consequence"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    subject_kind: Mapped[str] = mapped_column(String(12))
    subject_id: Mapped[int]
    people: Mapped[list] = mapped_column(JSON)
    includes_department: Mapped[bool]
    deduction_each: Mapped[int]
    actions: Mapped[list] = mapped_column(JSON)
    authority: Mapped[str | None] = mapped_column(String(100))
    low_sample: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    decision: Mapped[str] = mapped_column(String(12), default=Decision.PENDING, server_default=Decision.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[dt.datetime | None]

    __table_args__ = (_one_of("decision", [d.value for d in Decision]),)


class LedgerEntry(db.Model):
    """Performance-ledger deductions (a yellow card is −10 per recipient); not part of scores."""

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    consequence_id: Mapped[int] = mapped_column(ForeignKey("consequence.id"))
    recipient_kind: Mapped[str] = mapped_column(String(12))  # department | person
    recipient_id: Mapped[int]
    points: Mapped[int]


class WebhookSubscriber(db.Model):
    """A system the coordinator registered to receive published results (signed webhooks)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(128))  # HMAC-SHA256 key shared with the receiver
    active: Mapped[bool] = mapped_column(default=True)


class WebhookDelivery(db.Model):
    """One round's results to one subscriber; its id is the idempotency key the receiver sees."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriber.id"))
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"))
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | delivered
    attempts: Mapped[list["WebhookAttempt"]] = relationship(order_by="WebhookAttempt.id")

    __table_args__ = (UniqueConstraint("subscriber_id", "round_id"),)


class WebhookAttempt(db.Model):
    """Every delivery attempt with its outcome (HTTP status, or the connection error)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_delivery.id"), index=True)
    attempted_at: Mapped[dt.datetime]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(300))


# --- Admin side: users, API tokens, the audit trail, paper ballots being typed in ---------------

user_office = Table(
    "user_office",
    db.metadata,
    Column("user_id", Integer, ForeignKey("user.id"), primary_key=True),
    Column("office_id", Integer, ForeignKey("office.id"), primary_key=True),
)


class User(db.Model):
    """A person who runs the campaign (never a voter). Scope by role: coordinators and
    auditors a region (the city's region is every region), department admins a department,
    hall managers a set of offices."""

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    display_name: Mapped[str] = mapped_column(String(50))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime]
    # Raised by signing out: every session signed in before it ends, a copied cookie's included.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    region: Mapped[Region] = relationship()
    department: Mapped[Department | None] = relationship()
    offices: Mapped[list[Office]] = relationship(secondary=user_office, order_by="Office.id")

    __table_args__ = (_one_of("role", [r.value for r in UserRole]),)

    # Flask-Login
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    is_anonymous = False

    def get_id(self) -> str:
        """The session's user reference: the id, and a fingerprint of the password hash and the
        session epoch, so a password change or reset, or signing out, ends every session signed
        in before it (on the server: the session cookie itself cannot be taken back)."""
        return f"{self.id}.{self.session_fingerprint}"

    @property
    def session_fingerprint(self) -> str:
        return hashlib.sha256(f"{self.password_hash}\x1f{self.session_epoch}".encode()).hexdigest()[:16]

    @property
    def role_enum(self) -> UserRole:
        return UserRole(self.role)


class ApiToken(db.Model):
    """A user's API token: shown once, stored as a SHA-256 hash, revocable."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # the first characters, to tell tokens apart
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship()


class AuditEntry(db.Model):
    """One admin or API write: who, what, when, and a before/after summary. Append-only; each
    entry's hash covers the previous entry's hash, so an edited or deleted entry breaks the
    chain (`flask audit verify`). Ballots and voter identities never appear here."""

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    actor: Mapped[str] = mapped_column(String(60))  # username, kept if the user is renamed
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(60))  # kind:id
    summary: Mapped[dict] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(db.Model):
    """The chain's last sequence number and hash, in one row: updating it serialises writers,
    and it tells a deleted last entry from an intact chain."""

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))


class PaperEntry(db.Model):
    """One typing of a paper ballot (附件3) by one user, waiting for a second typing by another.

    Kept only until two typings by different users agree: then the ballot is sealed into the box
    like an online one and these rows are deleted. The typing itself is sealed under the round's
    secret (domain.sealing.seal_typing), so nothing readable links a ballot to who typed it.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    serial: Mapped[str] = mapped_column(String(32))  # the number written on the form when collected
    entered_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    box: Mapped[bytes] = mapped_column(LargeBinary)  # the checked ratings, sealed

    __table_args__ = (UniqueConstraint("round_id", "office_id", "serial", "entered_by"),)


class PaperForm(db.Model):
    """A paper form that has been counted (its two typings agreed): refuses counting it twice.
    Holds no link to the ballot it became."""

    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), primary_key=True)
    serial: Mapped[str] = mapped_column(String(32), primary_key=True)


POSTER_BATCH_STATUSES = ("queued", "running", "done", "failed")


class PosterBatch(db.Model):
    """One request for posters: what to print (a scope, a layout, a format), who asked, and how
    far the worker has got. The worker's job takes its id and reloads it; the file it wrote, under
    MEDIA_ROOT/posters/, is named by the hash of its inputs, so the same content is drawn once.
    Kept after the job is gone from Redis."""

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(12))  # office, department, region or all
    value: Mapped[str | None] = mapped_column(String(32))  # the office, department or region code
    # Where the scope sits, for access checks (all None: the whole city).
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("office.id"))
    label: Mapped[str] = mapped_column(String(200))  # 市发展改革委-投资科: the scope in words, for the file name
    template: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # None: from the command line
    requested_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(12), default="queued")
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    inputs_hash: Mapped[str | None] = mapped_column(String(40))
    file: Mapped[str | None] = mapped_column(String(60))  # <inputs hash>.<format>, once written
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (_one_of("status", POSTER_BATCH_STATUSES), _one_of("scope", ("office", "department", "region",
                                                                                    "all")))


class TallyRun(db.Model):
    """One version of a round's results: the original tally (1) and each re-tally after an
    upheld appeal (2, 3, …). Nothing is deleted: `results` keeps the version's canonical rows
    (tally._canonical_result) so that the report card can show each earlier result beside the
    current one (Result holds the current version's rows), and `digest` is their hash. The
    rules it was counted under (`rules_version`, domain.tally.RULES_VERSION) and its exclusions
    (domain.tally.Exclusion, as [kind, id, appeal id]) are inputs; `counts_digest` is the hash of
    the published level counts (services.verification). Re-tallies before publication replace
    version 1: nothing of it was public."""

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"))
    version: Mapped[int]
    rules_version: Mapped[str] = mapped_column(String(16))
    exclusions: Mapped[list] = mapped_column(JSON)
    removed_ratings: Mapped[int] = mapped_column(default=0)
    results: Mapped[list] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    counts_digest: Mapped[str | None] = mapped_column(String(64))
    appeal_id: Mapped[int | None]  # the appeal whose decision made this version
    made_at: Mapped[dt.datetime]

    __table_args__ = (UniqueConstraint("round_id", "version"),)


class Receipt(db.Model):
    """A counted ballot's receipt code (domain.receipts): written by the tally's unsealing, in
    code order (which, the codes being keyed hashes, is a random order unrelated to the ballots'),
    with nothing else: no ballot id, office or time. It proves a ballot was counted, never what
    it said."""

    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), primary_key=True)


APPEAL_KINDS = ("person", "office")  # what an upheld appeal excludes: a person's ratings, an office's ballots
APPEAL_STATUSES = ("pending", "upheld", "rejected")


class Appeal(db.Model):
    """A department's appeal (申诉) against a published result, within the round's appeal window:
    what to exclude (a person's ratings in the round, or an office's ballots), why, and the
    coordinator's written decision. An upheld one is an input to a re-tally (`tally_version`)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    kind: Mapped[str] = mapped_column(String(12))
    subject_id: Mapped[int]  # the person or the office
    reasons: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[str] = mapped_column(String(80))
    filed_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(12), default="pending")
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[dt.datetime | None]
    tally_version: Mapped[int | None]
    removed_ratings: Mapped[int | None]

    round: Mapped[Round] = relationship()
    department: Mapped[Department] = relationship()
    attachments: Mapped[list["AppealAttachment"]] = relationship(order_by="AppealAttachment.id")

    __table_args__ = (_one_of("kind", APPEAL_KINDS), _one_of("status", APPEAL_STATUSES))


class AppealAttachment(db.Model):
    """A file filed with an appeal (a duty roster, a leave slip): kept in the database with it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)


RECTIFICATION_STATUSES = ("open", "submitted", "returned", "accepted", "withdrawn")


class Rectification(db.Model):
    """A rectification task (整改) opened when a round is published, for a subject graded 一般 or
    不合格 or an office whose complaint tags passed the round's threshold: what was found (grade,
    level counts, tag counts and comments, pooled over at least k ballots), the deadline, the
    department's measures and completion report, and the coordinator's acceptance or return."""

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    subject_kind: Mapped[str] = mapped_column(String(12))
    subject_id: Mapped[int]
    trigger: Mapped[str] = mapped_column(String(12))  # grade | tags
    findings: Mapped[dict] = mapped_column(JSON)
    opened_at: Mapped[dt.datetime]
    deadline: Mapped[dt.date]
    status: Mapped[str] = mapped_column(String(12), default="open")
    measures: Mapped[str | None] = mapped_column(Text)
    report: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[str | None] = mapped_column(String(80))
    submitted_at: Mapped[dt.datetime | None]
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(String(80))
    accepted_at: Mapped[dt.datetime | None]

    __table_args__ = (
        UniqueConstraint("round_id", "subject_kind", "subject_id", "trigger"),
        _one_of("status", RECTIFICATION_STATUSES),
        _one_of("trigger", ("grade", "tags")),
    )


class RoundFlag(db.Model):
    """A flag for possibly solicited ratings (刷票) at one office in one round, with the aggregate
    numbers behind it (domain.solicitation): a turnout burst, kept when the round closes from
    the live 10-minute counts (which then go), or a share of uniform ballots found at the tally.
    Nothing per ballot or voter. Flags never block a ballot."""

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    kind: Mapped[str] = mapped_column(String(12))
    figures: Mapped[dict] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("round_id", "office_id", "kind"), _one_of("kind", ("burst", "uniform")))
