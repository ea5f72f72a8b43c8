"""Who appears where: the roles of 附件1 and the order an office's people are shown in.

附件1 lists, for an office, the department's main leader (主要领导), the leader(s)-in-charge
who oversee that office (分管领导), then the office's own people (业务人员): head, deputy
heads, other leaders and staff.
"""

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    MAIN_LEADER = "main_leader"
    LEADER_IN_CHARGE = "leader_in_charge"
    OFFICE_HEAD = "office_head"
    DEPUTY_HEAD = "deputy_head"
    OTHER_LEADER = "other_leader"
    STAFF = "staff"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def is_department_leader(self) -> bool:
        """Main leaders and leaders-in-charge belong to the department, not to one office."""
        return self in (Role.MAIN_LEADER, Role.LEADER_IN_CHARGE)


ROLE_LABELS = {
    Role.MAIN_LEADER: "主要领导",
    Role.LEADER_IN_CHARGE: "分管领导",
    Role.OFFICE_HEAD: "科室负责人",
    Role.DEPUTY_HEAD: "科室副职",
    Role.OTHER_LEADER: "其他负责人",
    Role.STAFF: "工作人员",
}
# The words of 附件1, on every sheet and page alike; workbooks filled in before took the older
# 主要负责人 and 分管负责人, which are still read.
ROLE_BY_LABEL = {label: role for role, label in ROLE_LABELS.items()} | {
    "主要负责人": Role.MAIN_LEADER, "分管负责人": Role.LEADER_IN_CHARGE}
ROLE_ORDER = list(Role)


@dataclass(frozen=True)
class RosterEntry:
    """The plain facts the roster rule needs about one person."""

    id: int
    role: Role
    office_id: int | None
    oversees: frozenset[int]  # offices a leader-in-charge oversees
    active: bool
    sort_order: int = 0


def office_roster(people: list[RosterEntry], office_id: int) -> list[RosterEntry]:
    """The people shown for (and, in a round, rated at) one office, in 附件1 order.

    The department's active main leader(s); the active leader(s)-in-charge who oversee this
    office; the office's own active head, deputy heads, other leaders and staff. Within a
    role, by sort order then id, so the order is stable.
    """

    def shown(p: RosterEntry) -> bool:
        if not p.active:
            return False
        if p.role is Role.MAIN_LEADER:
            return True
        if p.role is Role.LEADER_IN_CHARGE:
            return office_id in p.oversees
        return p.office_id == office_id

    return sorted(
        (p for p in people if shown(p)),
        key=lambda p: (ROLE_ORDER.index(p.role), p.sort_order, p.id),
    )
