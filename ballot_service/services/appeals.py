"""Appeals (申诉): a department asks, within the round's appeal window after publication, that a
person's ratings or an office's ballots be left out of its results (a person not on duty that
round; ratings at one office that look solicited). The coordinator decides with a written
reason; an upheld appeal is applied as an exclusion in a re-tally (services.tally.retally),
which makes a new version of the round's results and keeps the earlier ones. Nothing is deleted.

One function per use case, for the admin, the API and the CLI alike.
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from ..domain import review as review_rules
from ..domain.tally import APPEAL_CONFIG, EXCLUSION_KINDS
from ..domain.visibility import Audience
from ..extensions import db
from ..models import (
    Appeal,
    AppealAttachment,
    ConsequenceRecord,
    Department,
    Office,
    Person,
    Round,
    RoundRoster,
    TallyRun,
)
from . import audit, rectification, results, rounds, tally
from .rounds import RoundError, utcnow

REASONS_MIN, REASONS_MAX = 10, 2000
DECISION_MIN, DECISION_MAX = 4, 1000
MAX_ATTACHMENTS, MAX_ATTACHMENT_BYTES = 5, 5 * 1024 * 1024
ATTACHMENT_TYPES = {
    ".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
KIND_LABELS = {"person": "排除该人员本轮的全部评价", "office": "排除该科室本轮的全部选票"}
STATUS_LABELS = {"pending": "待复核", "upheld": "申诉成立", "rejected": "申诉不成立"}


class AppealError(RoundError):
    """An appeal that cannot be filed or decided as given; the message is for people."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes


def appeal_days(round_: Round) -> int:
    return int((round_.config or {}).get("appeal_days", APPEAL_CONFIG["appeal_days"]))


def appeal_deadline(round_: Round) -> dt.datetime | None:
    """The last moment (UTC) a department may appeal the round's results: `appeal_days` days
    after publication."""
    return round_.published_at + dt.timedelta(days=appeal_days(round_)) if round_.published_at else None


def subject_name(appeal: Appeal) -> str:
    model = Person if appeal.kind == "person" else Office
    row = db.session.get(model, appeal.subject_id)
    return row.name if row else f"#{appeal.subject_id}"


def subjects_open_to(round_: Round, department_id: int) -> tuple[list[Person], list[Office]]:
    """The people and offices of the department on the round's frozen roster: what it may appeal."""
    rows = db.session.execute(
        select(Person, Office).join(RoundRoster, RoundRoster.person_id == Person.id)
        .join(Office, Office.id == RoundRoster.office_id)
        .where(RoundRoster.round_id == round_.id, Office.department_id == department_id)).all()
    people = sorted({p.id: p for p, _ in rows}.values(), key=lambda p: p.id)
    offices = sorted({o.id: o for _, o in rows}.values(), key=lambda o: o.id)
    return people, offices


def file_appeal(round_id: int, department_id: int, kind: str, subject_id: int, reasons: str,
                attachments: list[Attachment] = (), now: dt.datetime | None = None) -> Appeal:
    """A department's appeal against a published round's result, checked whole before anything
    is written."""
    round_ = db.session.get(Round, round_id)
    if round_ is None or round_.published_at is None:
        raise AppealError("只能对已发布的评价结果提出申诉")
    if (now or utcnow()) > appeal_deadline(round_):
        raise AppealError(f"申诉期已过：须在结果发布后{appeal_days(round_)}日内提出"
                          f"（截至{rounds.china_time(appeal_deadline(round_))}）")
    if db.session.get(Department, department_id) is None:
        raise AppealError("没有这个部门")
    if kind not in EXCLUSION_KINDS:
        raise AppealError("申诉事项只能是“排除某人员的评价”或“排除某科室的选票”")
    people, offices = subjects_open_to(round_, department_id)
    if subject_id not in {x.id for x in (people if kind == "person" else offices)}:
        raise AppealError("申诉对象不在本部门本轮的评价名单中")
    reasons = reasons.strip()
    if not REASONS_MIN <= len(reasons) <= REASONS_MAX:
        raise AppealError(f"申诉理由须为{REASONS_MIN}至{REASONS_MAX}个字（现有{len(reasons)}个字），请写明事实和依据")
    if len(attachments) > MAX_ATTACHMENTS:
        raise AppealError(f"附件最多{MAX_ATTACHMENTS}个")
    for a in attachments:
        _check_attachment(a)
    _refuse_if_it_would_expose(round_, department_id, kind, subject_id)
    if db.session.scalar(select(Appeal.id).where(
            Appeal.round_id == round_id, Appeal.kind == kind, Appeal.subject_id == subject_id,
            Appeal.status.in_(("pending", "upheld")))):
        raise AppealError("对同一对象已有待复核或已成立的申诉，不能重复提出")
    appeal = Appeal(round_id=round_id, department_id=department_id, kind=kind, subject_id=subject_id,
                    reasons=reasons, filed_by=audit.actor_name(), filed_at=now or utcnow(), status="pending")
    appeal.attachments = [AppealAttachment(filename=a.filename, content_type=_content_type(a.filename), data=a.data)
                          for a in attachments]
    db.session.add(appeal)
    db.session.flush()
    audit.note("appeal.file", f"appeal:{appeal.id}", {"round": round_id, "kind": kind, "subject": subject_id,
                                                      "attachments": len(attachments)})
    return appeal


def _refuse_if_it_would_expose(round_: Round, department_id: int, kind: str, subject_id: int) -> None:
    """Refuse an exclusion that would show what k hides: taking out ratings of a subject the
    public is not shown (below k ballots, or a complement), the department's score before and
    after would give its score. For an office, its people count too."""
    affected = {(kind, subject_id)}
    if kind == "office":
        affected |= {("person", p) for p in db.session.scalars(select(RoundRoster.person_id).where(
            RoundRoster.round_id == round_.id, RoundRoster.office_id == subject_id))}
    if affected & results.hidden_results(round_, Audience.PUBLIC, department_id):
        raise AppealError(f"{'该人员' if kind == 'person' else '该科室或其中的人员'}本轮评价票不足"
                          f"{results.k_of(round_)}张，结果不公开；排除其评价后，部门得分的变化即可推算出其得分。"
                          "为保护评价人，不能以排除评价的方式处理，请在结果运用审核中说明情况")


def _content_type(filename: str) -> str:
    return ATTACHMENT_TYPES["." + filename.rsplit(".", 1)[-1].lower()]


def _check_attachment(a: Attachment) -> None:
    suffix = "." + a.filename.rsplit(".", 1)[-1].lower() if "." in a.filename else ""
    if suffix not in ATTACHMENT_TYPES:
        raise AppealError(f"附件“{a.filename}”的格式不支持：只接受 PDF、JPG、PNG、Word（.docx）和 Excel（.xlsx）文件")
    if not a.data:
        raise AppealError(f"附件“{a.filename}”是空文件")
    if len(a.data) > MAX_ATTACHMENT_BYTES:
        raise AppealError(f"附件“{a.filename}”超过 {MAX_ATTACHMENT_BYTES // 1024 // 1024} MB")
    if len(a.filename) > 200:
        raise AppealError("附件文件名过长（最多200个字）")


def decide_appeal(appeal_id: int, decision: str, reason: str) -> Appeal:
    """The coordinator's decision with its written reason. An upheld appeal is applied at once: the
    round is counted again with every upheld exclusion, in this same transaction (a re-tally reads
    the unsealed rows and takes seconds at most), so the decision and the new results land together
    or not at all."""
    appeal = db.session.get(Appeal, appeal_id, with_for_update=True, populate_existing=True)  # one decision
    if appeal is None:
        raise AppealError("没有这项申诉")
    if appeal.status != "pending":
        raise AppealError(f"这项申诉已复核（{STATUS_LABELS[appeal.status]}），不能再改")
    if decision not in ("upheld", "rejected"):
        raise AppealError("复核结论只能是“申诉成立”或“申诉不成立”")
    reason = reason.strip()
    if not DECISION_MIN <= len(reason) <= DECISION_MAX:
        raise AppealError(f"复核意见须为{DECISION_MIN}至{DECISION_MAX}个字，写明采纳或不采纳的理由")
    if decision == "upheld":
        _refuse_if_it_would_expose(appeal.round, appeal.department_id, appeal.kind, appeal.subject_id)
    appeal.status, appeal.decision_reason = decision, reason
    appeal.decided_by, appeal.decided_at = audit.actor_name(), utcnow()
    db.session.flush()
    if decision == "upheld":
        run = tally.retally(appeal.round_id, appeal.id)
        before = _removed_before(appeal.round_id, run.version)
        appeal.tally_version, appeal.removed_ratings = run.version, run.removed_ratings - before
        rectification.follow_retally(appeal.round_id, run.version)
    audit.note("appeal.decide", f"appeal:{appeal.id}", {"round": appeal.round_id, "decision": decision,
                                                        "reason": reason, "version": appeal.tally_version})
    db.session.flush()
    return appeal


def _removed_before(round_id: int, version: int) -> int:
    """Ratings the exclusions of the version before `version` already removed."""
    return db.session.scalar(select(TallyRun.removed_ratings).where(
        TallyRun.round_id == round_id, TallyRun.version == version - 1)) or 0


def appeals(round_id: int | None = None, department_id: int | None = None,
            status: str | None = None) -> list[Appeal]:
    query = select(Appeal).order_by(Appeal.id.desc())
    for column, value in ((Appeal.round_id, round_id), (Appeal.department_id, department_id),
                          (Appeal.status, status)):
        if value is not None:
            query = query.where(column == value)
    return db.session.scalars(query).all()


def pending_consequences(round_id: int) -> int:
    """Consequences waiting for the coordinator's review (after a re-tally, a published round's new ones)."""
    return review_rules.undecided(db.session.scalars(
        select(ConsequenceRecord.decision).where(ConsequenceRecord.round_id == round_id)))


def versions(round_id: int) -> list[TallyRun]:
    return db.session.scalars(select(TallyRun).where(TallyRun.round_id == round_id)
                              .order_by(TallyRun.version)).all()
