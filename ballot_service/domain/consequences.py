"""What the policy attaches to grades (section 五 of the policy; architecture section 2).

Subjects are departments, offices (an office's ballot people: the department's main leader,
the office's leaders-in-charge, the office's head and staff) and people, by their own grades
(architecture section 2: 不合格 or a fall of a grade makes that person's review reference with
the recommended actions; 一般 gives that person the yellow-card reminder and its ledger entry).
People are given as plain ids with their role on the round's frozen roster.
"""

from dataclasses import dataclass

from .roles import Role

ACTIONS = ("诫勉谈话", "通报批评", "岗位调整")
YELLOW_CARD_POINTS = 10

KIND_LABELS = {
    "priority_excellent": "年度考核优先确定为优秀",
    "yellow_card": "亮黄牌提醒（每张扣10分）",
    "review_reference": "作为年度考核主要参考依据",
    "escalation": "连续不合格，对分管负责人问责",
    "superior_notice": "通报上级主管部门",
}


@dataclass(frozen=True)
class Subject:
    kind: str  # "department" | "office" | "person"
    id: int
    department_id: int
    grade: str | None
    steps: int | None  # grade change vs the previous graded round (+ rise, − fall)
    previous_failed: bool  # the previous graded round's grade was 不合格
    stationed_superior: str | None = None  # the superior authority of a 驻荷单位


@dataclass(frozen=True)
class Consequence:
    kind: str
    subject_kind: str
    subject_id: int
    people: tuple[int, ...]  # person ids it applies to, sorted
    includes_department: bool = False  # the department itself is a recipient (yellow card, review)
    deduction_each: int = 0  # points deducted per recipient in the performance ledger
    actions: tuple[str, ...] = ()  # recommended actions for the people
    authority: str | None = None  # who is notified (superior_notice)


def consequences(subject: Subject, roster: list[tuple[int, Role]]) -> list[Consequence]:
    """The consequences of one subject's grade. `roster` lists the subject's people with their
    roles (for a department, everyone on its offices' ballots; for an office, its ballot)."""
    def people(*roles: Role) -> tuple[int, ...]:
        return tuple(sorted({pid for pid, role in roster if role in roles}))

    office_roles = (Role.OFFICE_HEAD, Role.DEPUTY_HEAD, Role.OTHER_LEADER, Role.STAFF)
    everyone = people(Role.MAIN_LEADER, Role.LEADER_IN_CHARGE, *office_roles)
    in_charge_and_staff = people(Role.LEADER_IN_CHARGE, *office_roles)
    is_department = subject.kind == "department"
    found = []

    def add(kind, recipients, **fields):
        found.append(Consequence(kind, subject.kind, subject.id, recipients, **fields))

    if subject.kind == "person":
        if subject.grade == "average":
            add("yellow_card", (subject.id,), deduction_each=YELLOW_CARD_POINTS)
        if subject.grade == "fail" or (subject.steps or 0) <= -1:
            add("review_reference", (subject.id,), actions=ACTIONS)
        return found

    if subject.grade == "excellent" or (subject.steps or 0) >= 1:
        add("priority_excellent", everyone)
    if subject.grade == "average":
        add("yellow_card", in_charge_and_staff, includes_department=is_department,
            deduction_each=YELLOW_CARD_POINTS)
    if subject.grade == "fail" or (subject.steps or 0) <= -1:
        add("review_reference", everyone, includes_department=is_department, actions=ACTIONS)
    if subject.grade == "fail" and subject.previous_failed:
        add("escalation", people(Role.LEADER_IN_CHARGE), actions=ACTIONS)
    if is_department and subject.stationed_superior and subject.grade is not None:
        add("superior_notice", (), authority=subject.stationed_superior)
    return found
