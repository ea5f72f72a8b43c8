"""Who may do what, where: the admin roles, their permissions and their scope, as plain rules.

A user has one role and a scope. Coordinators and auditors are scoped to a region (the city's
region means every region); a department admin to one department; a hall manager to a set of
offices. A permission says what kind of thing may be done; the scope says to which objects.
An object is placed by where it sits in the organisation (`Place`), so one rule serves every
kind of object.
"""

from dataclasses import dataclass
from enum import StrEnum


class UserRole(StrEnum):
    COORDINATOR = "coordinator"
    DEPARTMENT_ADMIN = "department_admin"
    HALL_MANAGER = "hall_manager"
    AUDITOR = "auditor"
    DISCIPLINE = "discipline"  # 纪检监察: reports of misconduct, and the results they sit in

    @property
    def label(self) -> str:
        return USER_ROLE_LABELS[self]


USER_ROLE_LABELS = {
    UserRole.COORDINATOR: "协调员",
    UserRole.DEPARTMENT_ADMIN: "部门管理员",
    UserRole.HALL_MANAGER: "大厅管理员",
    UserRole.AUDITOR: "审计员",
    UserRole.DISCIPLINE: "纪检监察",
}


class Permission(StrEnum):
    ORGANISATION_MANAGE = "organisation.manage"  # regions and departments
    ROSTER_READ = "roster.read"  # offices and the people shown for them
    ROSTER_MANAGE = "roster.manage"  # offices, people, duties, service items, photos, imports
    ROSTER_KEEP = "roster.keep"  # the people of one's offices kept current: post, phone, photo, on duty
    POSTERS_RENDER = "posters.render"
    ROUNDS_READ = "rounds.read"
    ROUNDS_MANAGE = "rounds.manage"  # create, open, close, tally, publish
    PAPER_ENTER = "paper.enter"  # type in paper ballots (附件3)
    RESULTS_READ = "results.read"  # scores, grades and the circular
    COMMENTS_READ = "comments.read"  # comments and tags, under the k rule (A3)
    SERIOUS_READ = "serious.read"  # ratings tagged 吃拿索要 or 故意刁难, with their notes (A3)
    CONSEQUENCES_READ = "consequences.read"
    APPEAL_FILE = "appeal.file"  # a department's appeal (申诉) against its published results
    APPEAL_DECIDE = "appeal.decide"  # the coordinator's decision on an appeal, and its re-tally
    RECTIFY_READ = "rectify.read"  # rectification tasks (整改) of one's scope, with their findings
    RECTIFY_SUBMIT = "rectify.submit"  # a department's measures and completion report
    RECTIFY_REVIEW = "rectify.review"  # the coordinator's acceptance or return of a task
    TURNOUT_READ = "turnout.read"  # ballots per office of a counted round (below k they would tell a hidden cell)
    WEBHOOKS_MANAGE = "webhooks.manage"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    OWN_ACCOUNT = "own.account"  # one's own password and API tokens


P = Permission
PERMISSIONS: dict[UserRole, frozenset[Permission]] = {
    UserRole.COORDINATOR: frozenset(P),
    UserRole.DEPARTMENT_ADMIN: frozenset({
        P.ROSTER_READ, P.ROSTER_MANAGE, P.ROSTER_KEEP, P.POSTERS_RENDER, P.RESULTS_READ, P.COMMENTS_READ,
        P.APPEAL_FILE, P.RECTIFY_READ, P.RECTIFY_SUBMIT, P.OWN_ACCOUNT,
    }),
    UserRole.HALL_MANAGER: frozenset({P.ROSTER_READ, P.ROSTER_KEEP, P.POSTERS_RENDER, P.OWN_ACCOUNT}),
    UserRole.AUDITOR: frozenset({
        P.ROUNDS_READ, P.RESULTS_READ, P.CONSEQUENCES_READ, P.TURNOUT_READ, P.AUDIT_READ, P.OWN_ACCOUNT,
    }),
    UserRole.DISCIPLINE: frozenset({
        P.ROUNDS_READ, P.RESULTS_READ, P.SERIOUS_READ, P.CONSEQUENCES_READ, P.OWN_ACCOUNT,
    }),
}


def allowed(role: UserRole, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


@dataclass(frozen=True)
class Place:
    """Where an object sits: its region, and its department and office where it has them.

    A region-wide object (a region, a round, a webhook of the city) has no department.
    """

    region_id: int | None
    department_id: int | None = None
    office_id: int | None = None


class Level(StrEnum):
    CITY = "city"  # every region
    REGION = "region"
    DEPARTMENT = "department"
    OFFICES = "offices"


@dataclass(frozen=True)
class Scope:
    """The part of the organisation a user works in.

    `region_id` is always the user's home region (the region of their department or offices),
    so a county coordinator can be shown, and may manage, exactly the users of their county.
    """

    level: Level
    region_id: int | None = None
    department_id: int | None = None
    office_ids: frozenset[int] = frozenset()

    def covers(self, place: Place) -> bool:
        """True when the object at `place` lies inside this scope.

        A department admin's scope holds the department and its offices; a hall manager's holds
        their offices. Both also reach their region's region-wide objects (its rounds).
        """
        match self.level:
            case Level.CITY:
                return True
            case Level.REGION:
                return place.region_id == self.region_id
        if place.department_id is None and place.office_id is None:
            # Region-wide things (the region itself, its rounds) of one's own region; what may be
            # done with them is the role's permissions' business.
            return place.region_id is not None and place.region_id == self.region_id
        if self.level is Level.DEPARTMENT:
            return place.department_id == self.department_id
        return place.office_id in self.office_ids

    def covers_scope(self, other: "Scope") -> bool:
        """True when everything `other` reaches lies inside this scope: a coordinator may only
        manage users whose scope is within their own."""
        if self.level is Level.CITY:
            return True
        return self.level is Level.REGION and other.level is not Level.CITY and other.region_id == self.region_id
