"""Paper ballots (附件3): forms collected at a hall, typed in twice by two different users.

A coordinator writes a serial number (编号) on each collected form. Each user's typing is kept
as a PaperEntry, its checked ratings sealed under the round's secret (the web process opens them
to compare two typings and show where they differ; after the tally nobody can). When a second user's typing of the same
(round, office, serial) is identical to another user's, the form is counted: in one
transaction the PaperForm row refuses counting that serial again (its primary key also settles
two matching typings racing), the agreed ratings are sealed to the round's public key and put
in the sealed box exactly like an online ballot (channel "paper" inside), and every typing of
the serial is deleted. The tally unseals them with the others, shuffled, with fresh ids — so
nothing stored links a ballot to who typed it (A1). A typing by the same user again only
replaces their own entry. The audit trail records the typist and the outcome (pending /
mismatch / counted) per round, never the office, serial, ratings or ballot id (A1, A4).
"""

import re
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..domain import sealing
from ..domain.access import Place
from ..domain.ballots import BallotConfig, Rating, check_ballot
from ..domain.roles import Role
from ..domain.round_states import UNTALLIED
from ..extensions import db, redis_ext
from ..models import Office, PaperEntry, PaperForm, Round, RoundRoster, User
from . import audit, ballot_box, keys, rounds
from .access import MAX_ID, condition
from .users import scope_of

SERIAL = re.compile(r"[A-Za-z0-9-]{1,32}")
TALLIED = "该评价轮次已统计，不能再录入纸质选票"
ENTRY_STATUSES = UNTALLIED
LOCK_SECONDS = 30
ALREADY_COUNTED = "该编号的选票已计入，不能重复录入"
KEY_MISSING = "本轮次的密钥缺失，暂时不能录入纸质选票，请联系系统管理员"


class PaperError(ValueError):
    """A typing refused; the message is for people. `field` names the bad input; `errors`
    holds the ballot's problems per person id (None: the form as a whole)."""

    def __init__(self, message: str, field: str | None = None, errors: dict | None = None):
        super().__init__(message)
        self.field = field
        self.errors = errors or {}


@dataclass(frozen=True)
class Difference:
    """One person whose two typings differ: the other user's typing and this one."""

    person_id: int
    name: str
    first: dict | None
    second: dict | None
    first_text: str
    second_text: str


@dataclass
class EntryResult:
    result: str  # pending | mismatch | counted
    differences: list[Difference] = field(default_factory=list)


@dataclass
class PaperBallot:
    """What the entry form needs: the round, the office, its frozen roster and the config."""

    round: Round
    office: Office
    roster: list[RoundRoster]
    config: BallotConfig

    @property
    def people(self) -> list[tuple[int, Role]]:
        return [(e.person_id, Role(e.role)) for e in self.roster]


def rounds_for_entry(user: User) -> list[Round]:
    """Rounds the user may type paper ballots into: in their scope, open or closed."""
    return db.session.scalars(select(Round).where(Round.status.in_(ENTRY_STATUSES),
                                                  condition("round", scope_of(user)))
                              .order_by(Round.id.desc())).all()


def paper_ballot(round_id: int | None, office_code: str | None, user: User) -> PaperBallot:
    """The round and office a form belongs to, checked against the user's scope."""
    user_scope = scope_of(user)
    round_ = db.session.get(Round, round_id) if isinstance(round_id, int) and 0 < round_id <= MAX_ID else None
    if round_ is None or not user_scope.covers(Place(round_.region_id)):
        raise PaperError("评价轮次不存在，或不在您的管理范围内", "round_id")
    if round_.status not in ENTRY_STATUSES:
        raise PaperError("只有进行中或已结束（尚未统计）的评价轮次可以录入纸质选票", "round_id")
    code = (office_code or "").strip().upper()
    office = db.session.scalar(select(Office).where(Office.code == code)) if 0 < len(code) <= 16 else None
    if office is None or not user_scope.covers(Place(office.department.region_id, office.department_id, office.id)):
        raise PaperError(f"找不到编码为“{code}”的科室，或不在您的管理范围内", "office_code")
    roster = rounds.frozen_roster(round_.id, office)
    if not roster:
        raise PaperError("该科室在本轮次没有冻结的评价名单，不能录入", "office_code")
    return PaperBallot(round_, office, roster, BallotConfig.from_snapshot(round_.config))


def check_serial(serial: str | None) -> str:
    serial = (serial or "").strip()
    if not SERIAL.fullmatch(serial):
        raise PaperError("编号须为1至32个字母、数字或连字符“-”", "serial")
    return serial


def _normalised(ratings) -> tuple[Rating, ...]:
    return tuple(sorted((Rating(r.person_id, r.level, tuple(sorted(r.tags)), r.note) for r in ratings),
                        key=lambda r: r.person_id))


class _Typings:
    """Seals and opens the typings of one form (round, office, serial) under the round's secret."""

    def __init__(self, ballot: "PaperBallot", serial: str):
        try:
            self.secret = keys.round_secret(ballot.round.key_id)
        except keys.KeyMissing:
            raise PaperError(KEY_MISSING, "round_id") from None
        self.round_, self.office_id, self.serial = ballot.round, ballot.office.id, serial

    def seal(self, typist_id: int, ratings: tuple[Rating, ...]) -> bytes:
        return sealing.seal_typing(self.secret, self.round_.id, self.round_.sealed_size, self.office_id, self.serial,
                                   typist_id, sealing.encode(self.office_id, "paper", ratings))

    def open(self, entry: PaperEntry) -> tuple[Rating, ...]:
        plaintext = sealing.open_typing(self.secret, self.round_.id, self.office_id, self.serial, entry.entered_by,
                                        entry.box)
        return tuple(sealing.decode(plaintext)[2])


def describe(config: BallotConfig, role: Role, rating: Rating | None) -> str:
    """A typing of one person in words: 基本满意；问题：服务意识差、其他；意见：…"""
    if rating is None:
        return "（未填）"
    text = config.levels.get(rating.level, (rating.level, None))[0]
    tags = config.tags_for(role)
    if rating.tags:
        text += "；问题：" + "、".join(tags.get(t, t) for t in rating.tags)
    if rating.note:
        text += "；意见：" + rating.note
    return text


def _as_dict(rating: Rating | None) -> dict | None:
    return None if rating is None else {"level": rating.level, "tags": list(rating.tags), "note": rating.note}


def _differences(ballot: PaperBallot, first: tuple[Rating, ...], second: tuple[Rating, ...]) -> list[Difference]:
    firsts, seconds = ({r.person_id: r for r in typing} for typing in (first, second))
    found = []
    for entry in ballot.roster:
        a, b = firsts.get(entry.person_id), seconds.get(entry.person_id)
        if a != b:
            role = Role(entry.role)
            found.append(Difference(entry.person_id, entry.person.name, _as_dict(a), _as_dict(b),
                                    describe(ballot.config, role, a), describe(ballot.config, role, b)))
    return found


def enter(round_id: int, office_id_or_code, serial: str, form, user: User) -> EntryResult:
    """Record `user`'s typing of a paper form; count it when another user's typing agrees.

    `form` has the public ballot form's fields (r<person id>: level, t<person id>: tags,
    n<person id>: note) as lists of values. Commits; raises PaperError (nothing written).
    """
    office_code = office_id_or_code
    if isinstance(office_id_or_code, int):
        office = db.session.get(Office, office_id_or_code)
        office_code = office.code if office is not None else ""
    ballot = paper_ballot(round_id, office_code, user)
    serial = check_serial(serial)
    checked = check_ballot(ballot.config, ballot.people, form)
    if not checked.ok:
        raise PaperError("选票填写有误，请按提示修改", "ratings", checked.errors)
    ratings = _normalised(checked.ratings)
    round_id, office_id = ballot.round.id, ballot.office.id
    lock = redis_ext.client.lock(f"paper:lock:{round_id}:{office_id}:{serial}", timeout=LOCK_SECONDS,
                                 blocking_timeout=LOCK_SECONDS)
    if not lock.acquire():
        raise PaperError("该编号正由其他用户录入，请稍后重试", "serial")
    try:
        return _record(ballot, serial, ratings, user)
    finally:
        lock.release()


def _record(ballot: PaperBallot, serial: str, ratings: tuple[Rating, ...], user: User) -> EntryResult:
    round_id, office_id = ballot.round.id, ballot.office.id
    typings = _Typings(ballot, serial)
    where = (PaperEntry.round_id == round_id, PaperEntry.office_id == office_id, PaperEntry.serial == serial)
    try:
        # Looked at again under the lock: the round may have been tallied meanwhile.
        if db.session.scalar(select(Round.status).where(Round.id == round_id)) not in ENTRY_STATUSES:
            raise PaperError(TALLIED, "round_id")
        if db.session.scalar(select(PaperForm.serial).where(
                PaperForm.round_id == round_id, PaperForm.office_id == office_id, PaperForm.serial == serial)):
            raise PaperError(ALREADY_COUNTED, "serial")
        entries = db.session.scalars(select(PaperEntry).where(*where).order_by(PaperEntry.id)).all()
        mine = next((e for e in entries if e.entered_by == user.id), None)
        others = [e for e in entries if e.entered_by != user.id]
        box = typings.seal(user.id, ratings)
        if mine is None:
            db.session.add(PaperEntry(round_id=round_id, office_id=office_id, serial=serial, entered_by=user.id,
                                      box=box))
        else:
            mine.box = box
        theirs = [typings.open(e) for e in others]
        if ratings in theirs:
            _count(ballot, serial, ratings)
            result = EntryResult("counted")
        elif others:
            result = EntryResult("mismatch", _differences(ballot, theirs[-1], ratings))
        else:
            result = EntryResult("pending")
        # Who typed a form of this round, and with what outcome — not which office or serial:
        # with those, an office with a single paper ballot would tie that ballot to its typists.
        audit.note("paper.entry", f"round:{round_id}", {"result": result.result})
        db.session.commit()
    except IntegrityError:
        # Another matching typing of this serial was counted at the same moment (the form's
        # primary key), or the same user's other typing got in first.
        db.session.rollback()
        counted = db.session.scalar(select(PaperForm.serial).where(
            PaperForm.round_id == round_id, PaperForm.office_id == office_id, PaperForm.serial == serial))
        db.session.rollback()
        raise PaperError(ALREADY_COUNTED if counted else "该编号正由其他用户同时录入，请重试", "serial") from None
    except BaseException:
        db.session.rollback()
        raise
    return result


def _count(ballot: PaperBallot, serial: str, ratings: tuple[Rating, ...]) -> None:
    """Mark the form counted, seal its agreed ratings into the round's box like an online ballot
    (no typist, no serial), and forget every typing of it — all in the caller's transaction."""
    round_ = ballot.round
    db.session.flush()  # this typing too, so the delete below takes it with the others
    connection = db.session.connection()
    # The form's row first: a second counting of this serial stops here, on the primary key.
    connection.execute(PaperForm.__table__.insert(), [{"round_id": round_.id, "office_id": ballot.office.id,
                                                       "serial": serial}])
    if not ballot_box.store(round_, ballot.office.id, ratings, "paper"):
        raise PaperError(TALLIED, "round_id")  # unsealed meanwhile: the tally has begun
    connection.execute(delete(PaperEntry).where(PaperEntry.round_id == round_.id,
                                                PaperEntry.office_id == ballot.office.id,
                                                PaperEntry.serial == serial))
    db.session.expire_all()


def forget_typings(round_id: int) -> None:
    """After the tally: typings that never found a match go (they name their typist)."""
    db.session.execute(delete(PaperEntry).where(PaperEntry.round_id == round_id))


def pending_query(user: User, round_id: int | None = None):
    """Serials typed once (or typed differently) and not yet counted, in rounds in the user's
    scope that still take paper ballots: one PaperEntry row (the first typing) per serial."""
    rounds_ok = select(Round.id).where(Round.status.in_(ENTRY_STATUSES), condition("round", scope_of(user)))
    if round_id is not None:
        rounds_ok = rounds_ok.where(Round.id == round_id)
    first = (select(func.min(PaperEntry.id)).where(PaperEntry.round_id.in_(rounds_ok))
             .group_by(PaperEntry.round_id, PaperEntry.office_id, PaperEntry.serial))
    return (select(PaperEntry).where(PaperEntry.id.in_(first))
            .order_by(PaperEntry.round_id.desc(), PaperEntry.office_id, PaperEntry.serial))


@dataclass(frozen=True)
class Pending:
    """A serial waiting for a (matching) second typing: who typed it, never what they typed
    (so the second typing stays independent)."""

    round: Round
    office: Office
    serial: str
    typists: list[User]


def pending_details(entries: list[PaperEntry]) -> list[Pending]:
    keys = [(e.round_id, e.office_id, e.serial) for e in entries]
    found: dict[tuple[int, int, str], list[User]] = {k: [] for k in keys}
    if not keys:
        return []
    rows = db.session.execute(
        select(PaperEntry.round_id, PaperEntry.office_id, PaperEntry.serial, User)
        .join(User, User.id == PaperEntry.entered_by)
        .where(PaperEntry.round_id.in_({k[0] for k in keys}), PaperEntry.serial.in_({k[2] for k in keys}))
        .order_by(PaperEntry.id)).all()
    for round_id, office_id, serial, typist in rows:
        if (round_id, office_id, serial) in found:
            found[(round_id, office_id, serial)].append(typist)
    return [Pending(db.session.get(Round, k[0]), db.session.get(Office, k[1]), k[2], found[k]) for k in keys]
