"""Rectification tasks (整改) after a round is published, as plain rules.

A task is opened, for the subject's department, by a result row of a published round:
- trigger "grade": a person, office or department graded 一般 (average) or 不合格 (fail);
- trigger "tags": an office whose complaint tags, counted over its ratings, reach the round's
  `rectify_tag_threshold`. Only tags its department may be told of count (domain.visibility:
  吃拿索要 / 故意刁难 are reports of misconduct for the coordinators and the discipline role, and
  a task the department sees must not betray them).
A subject with no grade (no scored rating) opens nothing, and neither does one whose figures its
department is not shown under the k rule (`hidden`): the task would tell the grade 样本不足 hides.

The deadline is the China date of publication plus `rectify_days`. The department submits its
measures and completion report; the coordinator accepts, or returns it with a written note:

    open ──submit──▶ submitted ──accept──▶ accepted
                        │  ▲
                 return │  │ submit
                        ▼  │
                      returned

A re-tally after an upheld appeal may take a task's ground away: a task not yet accepted whose
subject's new result no longer calls for it is withdrawn (撤销, with the reason) and counts no more.

A task is overdue while it is not accepted and today (China) is past its deadline; it was done
on time when accepted on or before its deadline. Follow-up is per office and per person (and
department), never per voter.
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from .scoring import half_up
from .visibility import SERIOUS_TAGS

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")

# What a round snapshots for its rectification (services.rounds.open_round merges it into the
# round's config); rounds opened before it existed fall back to the same values.
DEFAULT_RECTIFY_CONFIG = {
    "rectify_days": 15,  # days after publication (China date) to rectify and report
    # Complaint tags (the serious ones aside) at one office that open a task. 5 is the default k:
    # as many tags as the ballots the service otherwise wants behind any figure it shows, and the
    # office must in any case have k ballots behind its figures (`hidden`).
    "rectify_tag_threshold": 5,
}

TRIGGER_GRADES = ("average", "fail")  # 一般, 不合格
SUBJECT_KINDS = ("person", "office", "department")
STATUS_LABELS = {"open": "待整改", "submitted": "待验收", "returned": "已退回", "accepted": "已验收",
                 "withdrawn": "已撤销"}
CLOSED = ("accepted", "withdrawn")  # no more moves; a withdrawn task counts nowhere
TRIGGER_LABELS = {"grade": "评定等次", "tags": "投诉标签达到阈值"}
SUBJECT_KIND_LABELS = {"person": "个人", "office": "科室", "department": "部门"}

TEXT_MAX = 5000
NOTE_MIN = 4
NOTE_MAX = 1000


class RectifyRefused(ValueError):
    """A rectification move or input that is not allowed; the message is for people."""


def settings(config: Mapping | None) -> tuple[int, int]:
    """(days to the deadline, tag threshold) from a round's config snapshot, defaults when absent."""
    config = config or {}
    days = config.get("rectify_days", DEFAULT_RECTIFY_CONFIG["rectify_days"])
    threshold = config.get("rectify_tag_threshold", DEFAULT_RECTIFY_CONFIG["rectify_tag_threshold"])
    return int(days), int(threshold)


@dataclass(frozen=True)
class Subject:
    """One result row as the rules need it."""

    kind: str  # person | office | department (a region opens nothing)
    grade: str | None
    tags: Mapping[str, int]
    hidden: bool = False  # its department is shown no score or distribution of it (k rule)


def counted_tags(tags: Mapping[str, int]) -> int:
    """The complaint tags that count towards the threshold: all but the serious ones."""
    return sum(n for tag, n in tags.items() if tag not in SERIOUS_TAGS)


def triggers(subject: Subject, threshold: int) -> list[str]:
    """The tasks this result opens: "grade" for 一般/不合格, "tags" for an office at or over the
    threshold; none for a region, an ungraded subject or one hidden under the k rule."""
    if subject.kind not in SUBJECT_KINDS or subject.grade is None or subject.hidden:
        return []
    found = []
    if subject.grade in TRIGGER_GRADES:
        found.append("grade")
    if subject.kind == "office" and counted_tags(subject.tags) >= threshold:
        found.append("tags")
    return found


def china_day(moment: dt.datetime) -> dt.date:
    """The China date of a naive UTC time."""
    return moment.replace(tzinfo=dt.UTC).astimezone(CHINA).date()


def deadline(published_at: dt.datetime, days: int) -> dt.date:
    """The China date of publication (published_at naive UTC) plus `days`."""
    return china_day(published_at) + dt.timedelta(days=days)


def check_text(measures: str | None, report: str | None) -> tuple[str, str]:
    """The department's 整改措施 and 整改完成情况, both required, trimmed, at most TEXT_MAX characters."""
    measures, report = (measures or "").strip(), (report or "").strip()
    if not measures:
        raise RectifyRefused("请填写整改措施")
    if not report:
        raise RectifyRefused("请填写整改完成情况")
    if len(measures) > TEXT_MAX or len(report) > TEXT_MAX:
        raise RectifyRefused(f"整改措施和整改完成情况各不超过{TEXT_MAX}字")
    return measures, report


def check_note(note: str | None, required: bool) -> str:
    """The coordinator's note: a return needs one of at least NOTE_MIN characters (spaces aside)."""
    note = (note or "").strip()
    if required and len(note) < NOTE_MIN:
        raise RectifyRefused(f"退回整改须写明理由（至少{NOTE_MIN}个字）")
    if len(note) > NOTE_MAX:
        raise RectifyRefused(f"意见不超过{NOTE_MAX}字")
    return note


MOVES = {("open", "submit"): "submitted", ("returned", "submit"): "submitted",
         ("submitted", "accept"): "accepted", ("submitted", "return"): "returned"}
REFUSALS = {
    "submit": {"submitted": "整改情况已提交，等待验收，不能重复提交", "accepted": "该整改任务已验收通过，不能再修改",
               "withdrawn": "该整改任务已撤销（申诉复核后不再适用）"},
    "accept": {"open": "部门尚未提交整改情况，不能验收", "returned": "该任务已退回整改，待部门重新提交后才能验收",
               "accepted": "该整改任务已验收通过", "withdrawn": "该整改任务已撤销（申诉复核后不再适用）"},
    "return": {"open": "部门尚未提交整改情况，不能退回", "returned": "该任务已退回整改，待部门重新提交",
               "accepted": "该整改任务已验收通过，不能退回", "withdrawn": "该整改任务已撤销（申诉复核后不再适用）"},
}


def move(status: str, action: str) -> str:
    """The status after `action` (submit | accept | return), or RectifyRefused saying why not."""
    if (status, action) in MOVES:
        return MOVES[status, action]
    raise RectifyRefused(REFUSALS.get(action, {}).get(status, "不允许的操作"))


def is_overdue(status: str, due: dt.date, today: dt.date) -> bool:
    return status not in CLOSED and today > due


def days_overdue(status: str, due: dt.date, today: dt.date) -> int:
    return (today - due).days if is_overdue(status, due, today) else 0


def on_time(status: str, due: dt.date, accepted_on: dt.date | None) -> bool:
    return status == "accepted" and accepted_on is not None and accepted_on <= due


@dataclass(frozen=True)
class Task:
    status: str
    deadline: dt.date
    accepted_on: dt.date | None = None  # China date


@dataclass(frozen=True)
class Summary:
    """整改情况 of one department (or any group of tasks).

    `open`: not yet accepted (待整改, 待验收 or 已退回); `done`: accepted; `overdue`: open and past
    the deadline (a part of `open`). The on-time rate is over the tasks whose timeliness is known:
    those accepted (on time or late) and those already overdue; tasks still within their deadline
    are not counted yet. None when there are none."""

    total: int
    open: int
    done: int
    overdue: int
    on_time: int
    decided: int  # the rate's denominator: done + overdue

    @property
    def rate(self) -> Fraction | None:
        return Fraction(self.on_time, self.decided) if self.decided else None

    @property
    def percent(self) -> Decimal | None:
        """The rate in per cent, half-up to 2 decimals (2 of 3 → 66.67)."""
        return half_up(100 * self.on_time, self.decided) if self.decided else None


def summarise(tasks: Iterable[Task], today: dt.date) -> Summary:
    tasks = [t for t in tasks if t.status != "withdrawn"]
    done = sum(1 for t in tasks if t.status == "accepted")
    overdue = sum(1 for t in tasks if is_overdue(t.status, t.deadline, today))
    in_time = sum(1 for t in tasks if on_time(t.status, t.deadline, t.accepted_on))
    return Summary(len(tasks), len(tasks) - done, done, overdue, in_time, done + overdue)
