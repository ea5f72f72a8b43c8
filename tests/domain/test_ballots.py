"""Checking a submitted ballot against the frozen roster (附件3 rules, no app)."""

import secrets

from ballot_service.domain.ballots import DEFAULT_BALLOT_CONFIG, BallotConfig, Rating, check_ballot, fill_unknown
from ballot_service.domain.dedup import dedup_key
from ballot_service.domain.roles import Role

CONFIG = BallotConfig.from_snapshot(DEFAULT_BALLOT_CONFIG)
ROSTER = [(1, Role.MAIN_LEADER), (2, Role.LEADER_IN_CHARGE), (3, Role.STAFF)]


def test_points_follow_the_policy():
    assert {code: points for code, (_, points) in CONFIG.levels.items()} == {
        "satisfied": 100, "fairly_satisfied": 80, "basically_satisfied": 60, "dissatisfied": 30, "unknown": None,
    }
    assert CONFIG.levels["fairly_satisfied"][0] == "比较满意"


def test_a_complete_ballot_with_a_complaint_is_accepted():
    form = {"r1": ["satisfied"], "r2": ["unknown"], "r3": ["dissatisfied"], "t3": ["obstruction", "other"],
            "n3": ["  窗口让我跑了三次  "]}
    checked = check_ballot(CONFIG, ROSTER, form)
    assert checked.ok
    assert checked.ratings == [
        Rating(1, "satisfied"), Rating(2, "unknown"), Rating(3, "dissatisfied", ("obstruction", "other"), "窗口让我跑了三次"),
    ]


def test_every_problem_is_reported_on_its_person():
    form = {
        "r1": ["satisfied"], "t1": ["poor_attitude"],  # tag on a satisfied rating
        "r2": ["dissatisfied"], "t2": ["obstruction"],  # 故意刁难 is for office people only
        "r3": ["basically_satisfied"], "n3": ["长" * 201],
    }
    checked = check_ballot(CONFIG, ROSTER, form)
    assert checked.ratings == []
    assert checked.errors == {
        1: ["只有选择“基本满意”或“不满意”时，才能勾选问题或填写意见"],
        2: ["勾选的问题无效，请重新选择"],
        3: ["意见不能超过200个字（现有201个字）"],
    }


def test_missing_and_forged_choices():
    checked = check_ballot(CONFIG, ROSTER, {"r1": ["excellent"], "r2": ["satisfied", "unknown"], "r99": ["satisfied"]})
    assert checked.errors == {
        None: ["表单中有不在本科室名单上的人员，请刷新页面后重新评价"],
        1: ["评价选项无效，请重新选择"],
        2: ["评价选项无效，请重新选择"],
        3: ["请选择评价"],
    }


def test_other_needs_a_note_and_notes_need_a_complaint_level():
    checked = check_ballot(CONFIG, ROSTER, {"r1": ["unknown"], "n1": ["不错"], "r2": ["satisfied"],
                                            "r3": ["dissatisfied"], "t3": ["other"]})
    assert checked.errors == {
        1: ["只有选择“基本满意”或“不满意”时，才能勾选问题或填写意见"],
        3: ["勾选“其他”时，请在意见中注明具体事项"],
    }


def test_fill_unknown_only_fills_the_unrated():
    filled = fill_unknown(ROSTER, {"r1": ["satisfied"], "r3": []})
    assert filled == {"r1": ["satisfied"], "r2": ["unknown"], "r3": ["unknown"]}


def test_dedup_keys_are_keyed_per_round_and_office():
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    key = dedup_key(a, "w:openid-1", 7)
    assert key == dedup_key(a, "w:openid-1", 7) and len(key) == 64
    assert key != dedup_key(b, "w:openid-1", 7)  # another round
    assert key != dedup_key(a, "w:openid-1", 8)  # another office
    assert key != dedup_key(a, "w:openid-2", 7)
    assert "openid" not in key
