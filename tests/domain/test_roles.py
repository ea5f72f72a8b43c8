"""附件1 order and who is shown for an office (no app, no database)."""

from ballot_service.domain.roles import Role, RosterEntry, office_roster


def entry(id, role, office_id=None, oversees=(), active=True, sort_order=0):
    return RosterEntry(id, role, office_id, frozenset(oversees), active, sort_order)


def test_office_roster_takes_main_leader_its_leaders_in_charge_and_own_staff_in_order():
    people = [
        entry(1, Role.STAFF, office_id=10),
        entry(2, Role.LEADER_IN_CHARGE, oversees={10, 11}),
        entry(3, Role.LEADER_IN_CHARGE, oversees={11}),  # oversees another office only
        entry(4, Role.MAIN_LEADER),
        entry(5, Role.OFFICE_HEAD, office_id=10),
        entry(6, Role.STAFF, office_id=11),  # another office's staff
        entry(7, Role.DEPUTY_HEAD, office_id=10),
        entry(8, Role.STAFF, office_id=10, active=False),  # transferred away
        entry(9, Role.OTHER_LEADER, office_id=10),
    ]
    assert [p.id for p in office_roster(people, 10)] == [4, 2, 5, 7, 9, 1]


def test_office_roster_orders_within_a_role_by_sort_order_then_id():
    people = [entry(3, Role.STAFF, 10, sort_order=2), entry(2, Role.STAFF, 10, sort_order=1), entry(1, Role.STAFF, 10, sort_order=2)]
    assert [p.id for p in office_roster(people, 10)] == [2, 1, 3]


def test_labels_are_chinese_and_leaders_belong_to_the_department():
    assert Role.MAIN_LEADER.label == "主要领导"
    assert Role.STAFF.label == "工作人员"
    assert Role.LEADER_IN_CHARGE.is_department_leader
    assert not Role.OFFICE_HEAD.is_department_leader
