"""Consequences of grades, per the policy's section 五, checked by hand."""

from ballot_service.domain.consequences import ACTIONS, Consequence, Subject, consequences
from ballot_service.domain.roles import Role

ROSTER = [(1, Role.MAIN_LEADER), (2, Role.LEADER_IN_CHARGE), (3, Role.OFFICE_HEAD), (4, Role.STAFF)]


def dept(grade, steps=None, previous_failed=False, superior=None):
    return Subject("department", 7, 7, grade, steps, previous_failed, superior)


def kinds(found):
    return [c.kind for c in found]


def test_excellent_gives_priority_to_everyone_on_the_ballots():
    assert consequences(dept("excellent"), ROSTER) == [Consequence("priority_excellent", "department", 7, (1, 2, 3, 4))]


def test_a_rise_of_one_grade_also_gives_priority():
    assert kinds(consequences(dept("pass", steps=1), ROSTER)) == ["priority_excellent"]
    assert consequences(dept("good", steps=0), ROSTER) == []


def test_average_is_a_yellow_card_to_department_leader_in_charge_and_staff_10_points_each():
    [card] = consequences(dept("average"), ROSTER)
    assert card == Consequence("yellow_card", "department", 7, (2, 3, 4), includes_department=True, deduction_each=10)
    # An office's yellow card goes to its people, not to the department itself.
    office = Subject("office", 70, 7, "average", None, False)
    [card] = consequences(office, ROSTER)
    assert card.people == (2, 3, 4) and not card.includes_department


def test_fail_or_a_fall_is_the_main_reference_with_actions():
    [review] = consequences(dept("fail"), ROSTER)
    assert review == Consequence("review_reference", "department", 7, (1, 2, 3, 4), includes_department=True,
                                 actions=ACTIONS)
    assert kinds(consequences(dept("good", steps=-1), ROSTER)) == ["review_reference"]


def test_two_consecutive_fails_escalate_to_the_leader_in_charge():
    found = consequences(dept("fail", steps=0, previous_failed=True), ROSTER)
    assert kinds(found) == ["review_reference", "escalation"]
    assert found[1].people == (2,) and found[1].actions == ("诫勉谈话", "通报批评", "岗位调整")


def test_stationed_units_are_notified_to_their_superior():
    found = consequences(dept("good", superior="济南海关"), ROSTER)
    assert found == [Consequence("superior_notice", "department", 7, (), authority="济南海关")]
    assert consequences(dept(None, superior="济南海关"), ROSTER) == []  # nothing graded, nothing to notify


def person(grade, steps=None, previous_failed=False, role=Role.STAFF):
    return consequences(Subject("person", 4, 7, grade, steps, previous_failed), [(4, role)])


def test_a_persons_own_grade_carries_consequences_for_that_person_only():
    """Architecture section 2: 不合格 or a fall of a grade is that person's review reference with the
    recommended actions; 一般 is that person's yellow card, 10 points; nothing else follows."""
    assert person("fail") == [Consequence("review_reference", "person", 4, (4,), actions=ACTIONS)]
    assert person("good", steps=-1) == [Consequence("review_reference", "person", 4, (4,), actions=ACTIONS)]
    assert person("average") == [Consequence("yellow_card", "person", 4, (4,), deduction_each=10)]
    assert kinds(person("average", steps=-3)) == ["yellow_card", "review_reference"]  # 优秀 → 一般
    assert person("fail", previous_failed=True, role=Role.LEADER_IN_CHARGE) == person("fail")  # no escalation
    for quiet in (person("excellent"), person("good", steps=2), person("pass"), person(None)):
        assert quiet == []
