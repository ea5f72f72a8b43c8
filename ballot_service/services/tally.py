"""Tallying a closed round: unseal the ballots, aggregate in the database, grade, store.

The first step opens the round's sealed ballots into plaintext rows (fresh random ids, random
order, no day or time, one transaction that also empties the box and drops the dedup records)
and only once that has committed destroys the round's key files; a tally killed before the
commit starts again from the sealed box, one killed after it finds the box empty and the keys
to destroy. Re-tallies read the plaintext rows.

The database does the counting (one GROUP BY over the round's ratings per office and person,
with a count per level, and one per tag); domain.tally, a pure function, makes the results of
those few aggregate rows, and domain.consequences what follows from them.

Every tally is kept as a version (TallyRun): the original, and after each upheld appeal a
re-tally (`retally`) of the published round with the appeals' exclusions, which keeps the
earlier versions and refuses a round counted under other rules (domain.tally.RULES_VERSION).

The counting writes in one transaction, so a tally killed half-way leaves the round "closed"
and the retried job counts from scratch. Re-running gives identical rows and digest.
"""

import gc
import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice

from sqlalchemy import JSON, delete, func, or_, select

from ..domain import consequences as rules
from ..domain import round_states
from ..domain import tally as rules_tally
from ..domain.review import Decision
from ..domain.roles import Role
from ..extensions import db
from ..models import (
    Appeal,
    Ballot,
    ConsequenceRecord,
    Department,
    LedgerEntry,
    Office,
    Rating,
    RatingTag,
    Receipt,
    Result,
    Round,
    RoundRoster,
    TallyRun,
)
from . import ballot_box, keys, paper_ballots, rounds, solicitation, verification
from .results import current_run
from .rounds import ROW_LOCK, RoundError, check_move, utcnow

RETALLY_ACTOR = "系统（申诉复核后重新统计）"


class TallyStep(StrEnum):
    """The tally's steps, as its job reports them (the value is the job meta's `step`)."""

    UNSEALING = "unsealing ballots"
    AGGREGATING = "aggregating ratings"
    SCORING = "scoring"
    WRITING = "writing results"
    CONSEQUENCES = "consequences"
    DONE = "done"

    @property
    def label(self) -> str:
        return _STEP_LABELS[self][0]

    @property
    def percent(self) -> int:
        """How far the tally is when this step starts (unsealing is most of the work)."""
        return _STEP_LABELS[self][1]


_STEP_LABELS = {
    TallyStep.UNSEALING: ("正在开启密封选票", 0), TallyStep.AGGREGATING: ("正在汇总各项评价", 60),
    TallyStep.SCORING: ("正在计算得分和等次", 75), TallyStep.WRITING: ("正在保存统计结果", 85),
    TallyStep.CONSEQUENCES: ("正在确定结果运用", 95), TallyStep.DONE: ("统计完成", 100),
}


def tally_round(round_id: int, progress: Callable[[TallyStep], None] = lambda step: None) -> str:
    """Tally a closed (or re-tally a tallied) round; return the results' digest.

    The cycle collector is off meanwhile: the tally makes tens of thousands of small acyclic
    objects and keeps them to the end, and each collection would walk them and the whole app
    again for nothing (a fifth of the tally's time in bench/tally.py). Reference counting
    still frees what is dropped; any cycles are collected once it is back on.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _tally(round_id, progress)
    finally:
        if collecting:
            gc.enable()


def _tally(round_id: int, progress: Callable[[str], None]) -> str:
    round_ = db.session.get(Round, round_id)
    if round_ is None:
        raise RoundError(f"没有编号为{round_id}的评价轮次")
    check_move(round_, round_states.Move.TALLY)

    progress(TallyStep.UNSEALING)
    _unseal(round_)

    progress(TallyStep.AGGREGATING)
    inputs = _inputs(round_)

    progress(TallyStep.SCORING)
    counted = _counted(round_, inputs)

    progress(TallyStep.WRITING)
    # Locked until the commit, and checked again: a publish that came meanwhile (it waits for this
    # lock, and refuses once it sees fresh pending consequences) must not be overwritten.
    db.session.refresh(round_, with_for_update=ROW_LOCK)
    check_move(round_, round_states.Move.TALLY)
    for model in (LedgerEntry, ConsequenceRecord, Result, TallyRun):
        db.session.execute(delete(model).where(model.round_id == round_id))
    rows = _write_results(round_id, counted.rows)
    solicitation.flag_uniform(round_id)

    progress(TallyStep.CONSEQUENCES)
    canonical = [_canonical_result(row) for row in rows]
    for record in _consequences(round_id, rows, inputs.roster, inputs.previous):
        db.session.add(record)
        canonical.append(_canonical_consequence(record))
    digest = _record_run(round_, 1, canonical, counted.removed_ratings).digest
    round_.status = round_states.RoundStatus.TALLIED
    paper_ballots.forget_typings(round_id)
    db.session.commit()
    ballot_box.forget_claims(round_id)
    progress(TallyStep.DONE)
    return digest


@dataclass
class _Inputs:
    roster: list[rules_tally.RosterRow]
    pairs: list[rules_tally.Counts]
    office_ballots: dict[int, int]
    previous: dict[tuple[str, int], tuple[str, bool]]


def _inputs(round_: Round) -> _Inputs:
    """What the tally's rules count, from the database: the frozen roster, the ratings per
    (office, person) with their tags, the ballots per office, and the subjects' previous grades."""
    round_id = round_.id
    roster = [rules_tally.RosterRow(*row) for row in db.session.execute(
        select(RoundRoster.office_id, RoundRoster.person_id, RoundRoster.role, Office.department_id)
        .join(Office, Office.id == RoundRoster.office_id)
        .where(RoundRoster.round_id == round_id))]
    tags = defaultdict(dict)
    for office_id, person_id, tag, n in _tag_counts(round_id):
        tags[office_id, person_id][tag] = n
    levels = [code for code, _label, _points in round_.config["levels"]]
    pairs = [rules_tally.Counts(office_id, person_id, counts, tags.get((office_id, person_id), {}))
             for office_id, person_id, counts in _level_counts(round_id, levels)]
    office_ballots = dict(db.session.execute(
        select(Ballot.office_id, func.count()).where(Ballot.round_id == round_id).group_by(Ballot.office_id)).all())
    subjects = {("region", round_.region_id)}
    for r in roster:
        subjects |= {("person", r.person_id), ("office", r.office_id), ("department", r.department_id)}
    return _Inputs(roster, pairs, office_ballots, _previous_grades(round_, subjects))


def _counted(round_: Round, inputs: _Inputs, exclusions: tuple[rules_tally.Exclusion, ...] = ()) -> rules_tally.Tally:
    return rules_tally.tally(round_.config, round_.region_id, inputs.roster, inputs.pairs, inputs.office_ballots,
                             {key: grade for key, (grade, _fail) in inputs.previous.items()}, exclusions)


def _write_results(round_id: int, counted: list[dict]) -> list[dict]:
    rows = [dict(round_id=round_id, **row) for row in counted]
    _insert_rows(Result.__table__, rows)
    return rows


def _record_run(round_: Round, version: int, canonical: list, removed: int,
                exclusions: tuple[rules_tally.Exclusion, ...] = (), appeal_id: int | None = None) -> TallyRun:
    """Keep this version of the round's results (TallyRun) and make it the round's current one."""
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    run = TallyRun(
        round_id=round_.id, version=version, rules_version=rules_tally.RULES_VERSION,
        exclusions=[[e.kind, e.subject_id, e.appeal_id] for e in exclusions], removed_ratings=removed,
        results=canonical, digest=digest,
        appeal_id=appeal_id, made_at=utcnow())
    db.session.add(run)
    round_.digest = digest
    return run


def _first_run(round_: Round) -> TallyRun:
    """Version 1 of a round tallied before results were versioned, from its stored rows, so that a
    re-tally keeps it (its digest, recomputed the way the tally made it, is the round's own)."""
    columns = [c.key for c in Result.__table__.columns]
    rows = [{name: getattr(r, name) for name in columns} for r in db.session.scalars(
        select(Result).where(Result.round_id == round_.id).order_by(Result.id))]
    canonical = [_canonical_result(row) for row in rows]
    canonical += [_canonical_consequence(c) for c in db.session.scalars(
        select(ConsequenceRecord).where(ConsequenceRecord.round_id == round_.id).order_by(ConsequenceRecord.id))]
    run = _record_run(round_, 1, canonical, 0)
    run.rules_version = rules_tally.FIRST_RULES_VERSION  # what it was counted under, whatever the rules now
    db.session.flush()
    return run


def _unseal(round_: Round) -> None:
    """Open the round's sealed ballots into plaintext rows, empty the box, then destroy the
    round's keys (A1, A2). Holds every other writer of the box out (waiting for those already
    writing) until its commit, from which on the round takes no ballot (`unsealed`); a second
    tally waits, then finds the round unsealed.

    The opened ballots' receipt codes (domain.receipts) go into `receipt` in the same
    transaction, alone and sorted by code: the codes being keyed hashes, code order is a random
    order that says nothing of the ballots' (nor of the order they were cast or opened in), and
    a receipt row holds nothing but its round and code. Two ballots of one code (a chance of one
    in two million for a round of a million ballots) share its row."""
    if not round_.unsealed:
        ballot_box.lock_box()
        db.session.refresh(round_)
    if not round_.unsealed:
        round_id = round_.id
        rosters = defaultdict(set)
        for office_id, person_id in db.session.execute(
                select(RoundRoster.office_id, RoundRoster.person_id).where(RoundRoster.round_id == round_id)):
            rosters[office_id].add(person_id)
        opened = ballot_box.unseal(round_)
        try:
            ballots = iter(opened)
            unsealed = 0
            # Written _UNSEALED_BATCH ballots at a time (their ratings, then the ballots, then the tags),
            # so that memory holds one batch, not the round: the order stays unseal's random one.
            while True:
                written, tags = [], []
                _copy_rows(Rating.__table__, ("ballot_id", "round_id", "office_id", "person_id", "level", "note"),
                           _plaintext(round_id, rosters, islice(ballots, _UNSEALED_BATCH), written, tags))
                if not written:
                    break
                _copy_rows(Ballot.__table__, ("id", "round_id", "office_id", "channel"), written)
                _copy_rows(RatingTag.__table__, ("ballot_id", "person_id", "tag"), tags)
                unsealed += len(written)
            _copy_rows(Receipt.__table__, ("round_id", "code"), ((round_id, code) for code in opened.receipts()))
        finally:
            opened.close()
        if ballot_box.empty_box(round_id) != unsealed:
            raise RoundError("密封票箱在统计过程中发生变化，请重新统计")
        round_.unsealed = True
        db.session.commit()
    if round_.key_id:
        keys.destroy(round_.key_id)


_UNSEALED_BATCH = 10_000


def _plaintext(round_id: int, rosters: dict, opened: Iterable, ballots: list, tags: list) -> Iterator[tuple]:
    """The rating rows of the opened ballots, as each ballot opens (streamed into the COPY, so the
    two overlap), each ballot under a fresh random id; its ballot row and tag rows go into
    `ballots` and `tags`. Every rating is checked against its office's frozen roster."""
    for office_id, channel, ratings in opened:
        ballot_id, roster = secrets.token_hex(16), rosters.get(office_id, ())
        ballots.append((ballot_id, round_id, office_id, channel))
        for person_id, level, person_tags, note in ratings:
            if person_id not in roster:
                raise RoundError("有密封选票的内容与本轮名单不符，无法统计")
            tags.extend((ballot_id, person_id, tag) for tag in person_tags)
            yield ballot_id, round_id, office_id, person_id, level, note


def _level_counts(round_id: int, levels: list[str]) -> list[tuple[int, int, dict[str, int]]]:
    """(office, person, {level: count}) for every pair rated in the round: one row per pair,
    from the rating table alone (a rating carries its ballot's round and office)."""
    rows = db.session.execute(
        select(Rating.office_id, Rating.person_id, func.count(),
               *(func.count().filter(Rating.level == level) for level in levels))
        .where(Rating.round_id == round_id)
        .group_by(Rating.office_id, Rating.person_id)
    ).all()
    counted = []
    for office_id, person_id, total, *per_level in rows:
        if sum(per_level) != total:  # never drop a rating silently
            raise RoundError("有评价的等级不在本轮配置的等级中，无法统计")
        counted.append((office_id, person_id, dict(zip(levels, per_level, strict=True))))
    return counted


def _tag_counts(round_id: int) -> list[tuple[int, int, str, int]]:
    """(office, person, tag, count) over the round's ballots."""
    return db.session.execute(
        select(Ballot.office_id, RatingTag.person_id, RatingTag.tag, func.count())
        .join(Ballot, Ballot.id == RatingTag.ballot_id)
        .where(Ballot.round_id == round_id)
        .group_by(Ballot.office_id, RatingTag.person_id, RatingTag.tag)
    ).all()


def _insert_rows(table, rows: list[dict]) -> None:
    """Insert many rows given as dicts (JSON columns as Python values)."""
    if not rows:
        return
    if db.session.connection().dialect.name != "postgresql":
        db.session.connection().execute(table.insert(), rows)
        return
    columns = tuple(rows[0])
    as_json = {name for name in columns if isinstance(table.c[name].type, JSON)}
    _copy_rows(table, columns, [tuple(json.dumps(row[name]) if name in as_json else row[name] for name in columns)
                                for row in rows])


def _copy_rows(table, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """Insert many rows at once: COPY on PostgreSQL (one stream instead of a statement per
    row, written as `rows` yields them), executemany elsewhere."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        rows = [dict(zip(columns, row, strict=True)) for row in rows]
        if rows:
            connection.execute(table.insert(), rows)
        return
    with connection.connection.cursor() as cursor, \
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _canonical_result(row: dict) -> list:
    def text(value):
        return None if value is None else str(value)

    return [row["subject_kind"], row["subject_id"], row["counts"], row["tags"], row["scored"], row["unknown"],
            text(row["score"]), row["grade"], row["rank"], text(row["ci_low"]), text(row["ci_high"]),
            row["low_sample"], row["uncertain"], row["previous_grade"], row["steps"]]


def _previous_grades(round_: Round, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, bool]]:
    """Each subject's grade in its previous graded round of the same region: the last tallied
    one opened before this one (and whether that grade was 不合格, for the consecutive-fail rule)."""
    earlier = select(Round.id).where(
        Round.region_id == round_.region_id, Round.id != round_.id, Round.status.in_(round_states.REVIEWABLE),
        Round.opens_at < round_.opens_at,  # rounds of a region never overlap: however it closed, early or late
    )
    rows = db.session.execute(
        select(Result.subject_kind, Result.subject_id, Result.grade)
        .join(Round, Round.id == Result.round_id)
        .where(Result.round_id.in_(earlier), Result.grade.is_not(None))
        .order_by(Round.opens_at.desc(), Round.id.desc())
    ).all()
    found: dict[tuple[str, int], tuple[str, bool]] = {}
    for kind, subject_id, grade in rows:
        key = (kind, subject_id)
        if key in wanted and key not in found:
            found[key] = (grade, grade == "fail")
    return found


def _consequences(round_id: int, results: list[dict], roster: list[rules_tally.RosterRow],
                  previous) -> list[ConsequenceRecord]:
    """The consequences the results call for (domain.consequences), as unsaved records."""
    graded = {(r["subject_kind"], r["subject_id"]): r for r in results
              if r["subject_kind"] in ("person", "office", "department")}
    stationed = dict(db.session.execute(
        select(Department.id, Department.superior_authority).where(Department.is_stationed)).all())
    office_roster, dept_roster, person_roster = defaultdict(set), defaultdict(set), defaultdict(set)
    for r in roster:
        member = (r.person_id, Role(r.role))
        office_roster[r.office_id].add(member)
        dept_roster[r.department_id].add(member)
        person_roster[r.person_id].add(member)
    members_of = {"person": person_roster, "office": office_roster, "department": dept_roster}
    records = []
    for (kind, subject_id), result in sorted(graded.items()):
        prev = previous.get((kind, subject_id))
        department_id = result["department_id"]
        subject = rules.Subject(kind, subject_id, department_id, result["grade"], result["steps"],
                                bool(prev and prev[1]), stationed.get(department_id) if kind == "department" else None)
        for c in rules.consequences(subject, sorted(members_of[kind][subject_id])):
            records.append(ConsequenceRecord(round_id=round_id, kind=c.kind, subject_kind=c.subject_kind,
                                             subject_id=c.subject_id, people=list(c.people),
                                             includes_department=c.includes_department,
                                             deduction_each=c.deduction_each, actions=list(c.actions),
                                             authority=c.authority, low_sample=result["low_sample"]))
    return records


def _canonical_consequence(c: ConsequenceRecord) -> list:
    return [c.kind, c.subject_kind, c.subject_id, list(c.people), c.includes_department, c.deduction_each,
            list(c.actions), c.authority]


def retally(round_id: int, appeal_id: int) -> TallyRun:
    """Count a published round again with every upheld appeal's exclusion, after `appeal_id` was
    upheld: a new version of its results, in the caller's transaction. The earlier versions stay
    (TallyRun); the consequences follow the new grades: those that still follow keep their
    decision, those that no longer do are struck with the reason, new ones wait for the review;
    the performance ledger is drawn again from the confirmed ones."""
    round_ = rounds.locked(round_id)
    if round_ is None or round_.status != round_states.RoundStatus.PUBLISHED:
        raise RoundError("只有已发布的评价轮次可以按申诉结果重新统计")
    exclusions = tuple(sorted(rules_tally.Exclusion(kind, subject_id, appeal) for kind, subject_id, appeal in
                              db.session.execute(select(Appeal.kind, Appeal.subject_id, Appeal.id).where(
                                  Appeal.round_id == round_id, Appeal.status == "upheld"))))
    last = current_run(round_id) or _first_run(round_)
    if last.rules_version != rules_tally.RULES_VERSION:  # later rules never rewrite a published round
        raise RoundError(f"本轮按统计规则 {last.rules_version} 统计，本程序的规则为 {rules_tally.RULES_VERSION}，"
                         "不能按新规则重新统计已发布的结果")
    inputs = _inputs(round_)
    counted = _counted(round_, inputs, exclusions)
    version = last.version + 1
    db.session.execute(delete(Result).where(Result.round_id == round_id))
    rows = _write_results(round_id, counted.rows)
    canonical = [_canonical_result(row) for row in rows]
    kept = {json.dumps(_canonical_consequence(c)): c for c in db.session.scalars(  # all but those struck here
        select(ConsequenceRecord).where(ConsequenceRecord.round_id == round_id,
                                        or_(ConsequenceRecord.decided_by.is_(None),
                                            ConsequenceRecord.decided_by != RETALLY_ACTOR)))}
    for record in _consequences(round_id, rows, inputs.roster, inputs.previous):
        key = json.dumps(_canonical_consequence(record))
        if kept.pop(key, None) is None:
            db.session.add(record)  # pending: the coordinator reviews it
        canonical.append(_canonical_consequence(record))
    for record in kept.values():
        if record.decision == Decision.STRUCK:
            continue  # struck by the coordinator already: their reason stands
        record.decision, record.decided_by, record.decided_at = Decision.STRUCK, RETALLY_ACTOR, utcnow()
        record.reason = f"申诉复核后重新统计（第{version}版），该项不再适用"
    db.session.flush()
    rounds.redraw_ledger(round_id)
    run = _record_run(round_, version, canonical, counted.removed_ratings, exclusions, appeal_id)
    db.session.flush()
    verification.seal_counts(round_)
    return run
