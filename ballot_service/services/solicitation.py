"""Flags for possibly solicited ratings (刷票), per office, from aggregates only (domain.solicitation).

Live turnout: each newly recorded online ballot adds one to its office's count of the current
10-minute bucket, in Redis only:
  turnout:<round>:<office tag>   a hash {bucket: ballots}, expiring a week after the round closes
The office tag is a keyed hash under the round's secret (domain.solicitation.office_tag): the
counts tell the Redis administrator how many ballots came when, as the sealed box's rows tell the
database administrator, but not to which office without the key store. Not against both at
once, though: a Redis snapshot kept from before the close, matched with the offices' ballot
totals after the tally, gives each tag its office, and so an office's ballots their 10-minute
windows (the README's residual risk; the counts live only in Redis, only until the close).
Nothing per ballot or voter is kept, and a count that fails never fails the ballot.

When the round closes, the burst rule runs over the counts once more, its flags are kept as
RoundFlag rows (with the day of the peak, never its time), and the counts go. At the tally,
once the ballots are unsealed, the uniform-ballot share of every office is compared with its
department's and kept likewise. Flags are for the coordinator, the auditor and the discipline
role (the rounds' pages and the dashboard); the rated department never sees them.
"""

import datetime as dt
import logging
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy import delete, distinct, func, select

from ..domain import solicitation as rules
from ..domain.round_states import RoundStatus
from ..extensions import db, redis_ext
from ..models import Department, Office, Rating, Round, RoundFlag, RoundRoster
from . import keys

log = logging.getLogger(__name__)

GRACE = 7 * 24 * 3600  # the counts outlive the round's scheduled close by a week at most


def clock() -> dt.datetime:
    """Now, naive UTC: the moment a ballot is counted (tests replace it)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _key(round_id: int, tag: str) -> str:
    return f"turnout:{round_id}:{tag}"


def count_ballot(round_id: int, office_id: int, now: dt.datetime | None = None, *, secret: bytes,
                 closes_at: dt.datetime) -> None:
    """One more ballot at the office in the bucket of `now`: HINCRBY and the expiry, one round trip.
    Called once per newly recorded online ballot, after its commit; never raises for Redis."""
    key = _key(round_id, rules.office_tag(secret, office_id))
    try:
        pipe = redis_ext.client.pipeline(transaction=False)
        pipe.hincrby(key, str(rules.bucket_of(now or clock())), 1)
        pipe.expireat(key, int(closes_at.replace(tzinfo=dt.UTC).timestamp()) + GRACE)
        pipe.execute()
    except RedisError:
        log.warning("a ballot of round %s was not counted in the live turnout (Redis)", round_id)


@dataclass
class Flag:
    """A flag with its office and department names, for the pages."""

    kind: str  # burst | uniform
    office: str
    office_code: str
    department: str
    figures: dict
    live: bool = False

    @property
    def label(self) -> str:
        return "集中投票" if self.kind == "burst" else "一致选票偏多"

    @property
    def text(self) -> str:
        """The numbers behind the flag, in words."""
        f = self.figures
        if self.kind == "burst":
            day = dt.date.fromisoformat(f["day"])
            when = (f"{day.month}月{day.day}日 {_china_clock(f['bucket'])}起" if self.live and "bucket" in f
                    else f"{day.month}月{day.day}日")
            return (f"最高 {f['peak']} 票/10分钟（{when}），平时约 {_number(f['typical'])} 票；"
                    f"共 {f['ballots']} 票，{f['burst_buckets']} 个10分钟超过平时{_number(f['rule_ratio'])}倍")
        norm = "本部门其他科室" if f["norm_of"] == "department" else "本轮其他科室"
        return (f"一致选票占 {_percent(f['share'])}（{f['uniform']}/{f['eligible']}），"
                f"{norm} {_percent(f['norm'])}（{f['norm_uniform']}/{f['norm_eligible']}），z = {f['z']}")


def _number(x) -> str:
    return f"{x:g}"


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def _china_clock(bucket: int) -> str:
    return f"{rules.bucket_start(bucket).replace(tzinfo=dt.UTC).astimezone(rules.CHINA):%H:%M}"


def _office_tags(round_: Round) -> dict[str, int] | None:
    """{tag: office id} of the round's offices (those with a frozen roster), or None when this host's
    key store has not the round's secret."""
    try:
        secret = keys.round_secret(round_.key_id)
    except keys.KeyMissing:
        log.warning("round %s: its secret is not in this key store; live turnout unread", round_.id)
        return None
    offices = db.session.scalars(select(distinct(RoundRoster.office_id)).where(RoundRoster.round_id == round_.id))
    return {rules.office_tag(secret, office_id): office_id for office_id in offices}


def _counts(round_: Round) -> dict[int, dict[int, int]] | None:
    """{office id: {bucket: ballots}} from Redis, or None when it cannot be read."""
    tags = _office_tags(round_) if round_.key_id else None
    if tags is None:
        return None
    try:
        pipe = redis_ext.client.pipeline(transaction=False)
        for tag in tags:
            pipe.hgetall(_key(round_.id, tag))
        found = pipe.execute()
    except RedisError:
        log.warning("round %s: live turnout unread (Redis)", round_.id)
        return None
    return {office_id: {int(b): int(n) for b, n in counts.items()}
            for office_id, counts in zip(tags.values(), found, strict=True) if counts}


def _bursts(round_: Round) -> dict[int, dict] | None:
    counts = _counts(round_)
    if counts is None:
        return None
    return {office_id: figures for office_id, office_counts in counts.items()
            if (figures := rules.burst(office_counts)) is not None}


def live_flags(round_: Round) -> list[Flag]:
    """The bursts of an open round so far, from the live counts, with names (none if unreadable)."""
    return _named({office_id: ("burst", figures) for office_id, figures in (_bursts(round_) or {}).items()},
                  live=True)


def _purge(round_id: int) -> None:
    r = redis_ext.client
    found = list(r.scan_iter(_key(round_id, "*"), count=1000))
    for start in range(0, len(found), 1000):
        r.delete(*found[start:start + 1000])


def keep_bursts(round_id: int) -> None:
    """At the close: the round's bursts kept as RoundFlag rows (figures with the day only), in the
    caller's transaction, and the round's live counts deleted. Idempotent: once the counts are gone
    the kept flags stay as they are. Redis or the key store away: nothing is kept and the counts
    expire by themselves; the close goes on."""
    round_ = db.session.get(Round, round_id)
    bursts = _bursts(round_)
    if bursts is None:
        return
    if not bursts and not _has_counts(round_id):
        return  # counted already (or no ballot came online): leave what was kept
    db.session.execute(delete(RoundFlag).where(RoundFlag.round_id == round_id, RoundFlag.kind == "burst"))
    db.session.add_all(RoundFlag(round_id=round_id, office_id=office_id, kind="burst", figures=rules.kept(figures))
                       for office_id, figures in sorted(bursts.items()))
    db.session.flush()
    try:
        _purge(round_id)
    except RedisError:
        log.warning("round %s: live turnout not deleted at the close (Redis); it expires by itself", round_id)


def _has_counts(round_id: int) -> bool:
    try:
        return next(redis_ext.client.scan_iter(_key(round_id, "*"), count=1000), None) is not None
    except RedisError:
        return False


def flag_uniform(round_id: int) -> None:
    """At the tally, after the unsealing: each office's eligible and uniform ballots in one aggregate
    query, the uniform-share rule against its department's offices, the round's 'uniform' flags
    replaced (in the caller's transaction). Any live count left in Redis (a ballot counted while
    the round closed) goes too."""
    round_ = db.session.get(Round, round_id)
    scored = [code for code, _label, points in round_.config["levels"] if points is not None]
    per_ballot = (select(Rating.office_id, func.count(distinct(Rating.level)).label("levels"))
                  .where(Rating.round_id == round_id, Rating.level.in_(scored))
                  .group_by(Rating.ballot_id, Rating.office_id)
                  .having(func.count() >= 2)
                  .subquery())
    rows = db.session.execute(
        select(per_ballot.c.office_id, Office.department_id, func.count(),
               func.count().filter(per_ballot.c.levels == 1))
        .join(Office, Office.id == per_ballot.c.office_id)
        .group_by(per_ballot.c.office_id, Office.department_id))
    offices = {office_id: rules.OfficeBallots(dept_id, eligible, uniform)
               for office_id, dept_id, eligible, uniform in rows}
    db.session.execute(delete(RoundFlag).where(RoundFlag.round_id == round_id, RoundFlag.kind == "uniform"))
    db.session.add_all(RoundFlag(round_id=round_id, office_id=office_id, kind="uniform", figures=figures)
                       for office_id, figures in rules.uniform_flags(offices).items())
    db.session.flush()
    try:
        _purge(round_id)
    except RedisError:
        pass  # they expire by themselves


def round_flags(round_id: int) -> list[Flag]:
    """The round's kept flags with office and department names, by department, office and kind."""
    return _named({(row.office_id, row.kind): (row.kind, row.figures) for row in db.session.scalars(
        select(RoundFlag).where(RoundFlag.round_id == round_id))})


def shown_flags(round_: Round) -> list[Flag]:
    """What the round's page shows: the live bursts while it is open, the kept flags afterwards."""
    if round_.status == RoundStatus.OPEN:
        return live_flags(round_)
    if round_.status in (RoundStatus.DRAFT, RoundStatus.CANCELLED):
        return []
    return round_flags(round_.id)


def _named(flags: dict, live: bool = False) -> list[Flag]:
    """{key: (kind, figures)} keyed by office id or (office id, kind) -> Flags with names, sorted."""
    office_ids = {key[0] if isinstance(key, tuple) else key for key in flags}
    if not office_ids:
        return []
    names = {office_id: (name, code, dept) for office_id, name, code, dept in db.session.execute(
        select(Office.id, Office.name, Office.code, Department.name)
        .join(Department, Department.id == Office.department_id).where(Office.id.in_(office_ids)))}
    found = [Flag(kind, *names[key[0] if isinstance(key, tuple) else key], figures, live)
             for key, (kind, figures) in flags.items()]
    return sorted(found, key=lambda f: (f.department, f.office, f.kind))
