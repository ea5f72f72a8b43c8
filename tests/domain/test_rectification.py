"""Rectification rules (domain.rectification), worked by hand, with no app."""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from ballot_service.domain import rectification as r
from ballot_service.domain.rectification import RectifyRefused, Subject, Task


def test_settings_default_for_old_rounds_and_read_from_the_snapshot():
    assert r.settings(None) == (15, 5)
    assert r.settings({"comment_threshold": 5}) == (15, 5)
    assert r.settings({"rectify_days": 30, "rectify_tag_threshold": 8}) == (30, 8)


@pytest.mark.parametrize(("kind", "grade", "tags", "hidden", "expected"), [
    ("person", "average", {}, False, ["grade"]),
    ("person", "fail", {"poor_attitude": 9}, False, ["grade"]),  # tags open tasks for offices only
    ("department", "fail", {}, False, ["grade"]),
    ("office", "pass", {"poor_attitude": 3, "low_efficiency": 2}, False, ["tags"]),  # 3 + 2 = 5 ≥ 5
    ("office", "pass", {"poor_attitude": 3, "other": 1}, False, []),  # 4 < 5
    ("office", "good", {"poor_attitude": 2, "bribery": 2, "obstruction": 3}, False, []),  # serious ones don't count: 2
    ("office", "average", {"buck_passing": 5}, False, ["grade", "tags"]),
    ("office", None, {}, False, []),  # no grade: nothing
    ("person", "excellent", {}, False, []),
    ("person", "fail", {}, True, []),  # hidden below k: the task would tell the grade
    ("region", "fail", {}, False, []),
])
def test_which_results_open_a_task(kind, grade, tags, hidden, expected):
    assert r.triggers(Subject(kind, grade, tags, hidden), 5) == expected


def test_the_threshold_comes_from_the_round():
    office = Subject("office", "pass", {"poor_attitude": 2})
    assert r.triggers(office, 2) == ["tags"] and r.triggers(office, 3) == []


def test_deadline_is_the_china_date_of_publication_plus_the_days():
    # 2026-03-01 15:59 UTC is 23:59 on 1 March in China: deadline 16 March.
    assert r.deadline(dt.datetime(2026, 3, 1, 15, 59), 15) == dt.date(2026, 3, 16)
    # 16:00 UTC is already 2 March in China: deadline 17 March.
    assert r.deadline(dt.datetime(2026, 3, 1, 16, 0), 15) == dt.date(2026, 3, 17)
    assert r.deadline(dt.datetime(2026, 12, 31, 20, 0), 1) == dt.date(2027, 1, 2)


def test_status_moves():
    assert r.move("open", "submit") == "submitted"
    assert r.move("submitted", "return") == "returned"
    assert r.move("returned", "submit") == "submitted"
    assert r.move("submitted", "accept") == "accepted"


@pytest.mark.parametrize(("status", "action", "message"), [
    ("open", "accept", "部门尚未提交整改情况，不能验收"),
    ("open", "return", "部门尚未提交整改情况，不能退回"),
    ("submitted", "submit", "整改情况已提交，等待验收，不能重复提交"),
    ("returned", "accept", "该任务已退回整改，待部门重新提交后才能验收"),
    ("returned", "return", "该任务已退回整改，待部门重新提交"),
    ("accepted", "submit", "该整改任务已验收通过，不能再修改"),
    ("accepted", "accept", "该整改任务已验收通过"),
    ("accepted", "return", "该整改任务已验收通过，不能退回"),
    ("open", "delete", "不允许的操作"),
])
def test_other_moves_are_refused_in_chinese(status, action, message):
    with pytest.raises(RectifyRefused, match=message):
        r.move(status, action)
    assert issubclass(RectifyRefused, ValueError)


def test_texts_and_notes():
    assert r.check_text("  加强培训 ", "已完成\n") == ("加强培训", "已完成")
    with pytest.raises(RectifyRefused, match="请填写整改措施"):
        r.check_text("  ", "已完成")
    with pytest.raises(RectifyRefused, match="请填写整改完成情况"):
        r.check_text("加强培训", None)
    with pytest.raises(RectifyRefused, match="不超过5000字"):
        r.check_text("字" * 5001, "已完成")
    assert r.check_text("字" * 5000, "好")[0] == "字" * 5000
    assert r.check_note("", required=False) == ""
    assert r.check_note(" 措施不具体 ", required=True) == "措施不具体"
    assert r.check_note("请补充", required=False) == "请补充"
    with pytest.raises(RectifyRefused, match="至少4个字"):
        r.check_note(" 不行 ", required=True)  # 2 characters once trimmed
    with pytest.raises(RectifyRefused, match="至少4个字"):
        r.check_note("不具体", required=True)  # 3 characters
    assert r.check_note("不具体吧", required=True) == "不具体吧"


def test_overdue_and_on_time():
    due = dt.date(2026, 3, 16)
    assert not r.is_overdue("open", due, dt.date(2026, 3, 16))  # the deadline day itself is in time
    assert r.is_overdue("open", due, dt.date(2026, 3, 17))
    assert r.is_overdue("submitted", due, dt.date(2026, 3, 17))  # waiting for acceptance still counts
    assert r.is_overdue("returned", due, dt.date(2026, 4, 1))
    assert not r.is_overdue("accepted", due, dt.date(2026, 4, 1))
    assert r.days_overdue("open", due, dt.date(2026, 3, 20)) == 4
    assert r.days_overdue("accepted", due, dt.date(2026, 3, 20)) == 0
    assert r.on_time("accepted", due, dt.date(2026, 3, 16))
    assert not r.on_time("accepted", due, dt.date(2026, 3, 17))
    assert not r.on_time("submitted", due, dt.date(2026, 3, 1))


def test_summary_by_hand():
    due, today = dt.date(2026, 3, 16), dt.date(2026, 3, 20)
    tasks = [
        Task("accepted", due, dt.date(2026, 3, 10)),  # done, on time
        Task("accepted", due, dt.date(2026, 3, 18)),  # done, late
        Task("open", due),  # overdue
        Task("submitted", dt.date(2026, 3, 25)),  # open, not due yet: not in the rate
    ]
    s = r.summarise(tasks, today)
    assert (s.total, s.open, s.done, s.overdue, s.on_time, s.decided) == (4, 2, 2, 1, 1, 3)
    assert s.rate == Fraction(1, 3) and s.percent == Decimal("33.33")  # 1 on time of 2 done + 1 overdue
    two_of_three = r.summarise([Task("accepted", due, due), Task("accepted", due, due),
                                Task("accepted", due, dt.date(2026, 3, 17))], today)
    assert two_of_three.percent == Decimal("66.67") and two_of_three.rate == Fraction(2, 3)
    none = r.summarise([Task("open", dt.date(2026, 3, 25))], today)
    assert (none.open, none.overdue, none.rate, none.percent) == (1, 0, None, None)
    assert r.summarise([], today).total == 0


def test_a_withdrawn_task_counts_nowhere_and_takes_no_move():
    day = dt.date(2026, 12, 20)
    tasks = [Task("withdrawn", dt.date(2026, 12, 1)), Task("open", dt.date(2026, 12, 1))]
    summary = r.summarise(tasks, day)
    assert (summary.total, summary.open, summary.overdue, summary.decided) == (1, 1, 1, 1)
    assert not r.is_overdue("withdrawn", dt.date(2026, 12, 1), day)
    for action in ("submit", "accept", "return"):
        with pytest.raises(RectifyRefused, match="已撤销"):
            r.move("withdrawn", action)
