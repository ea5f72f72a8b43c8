"""Role and scope checks for the admin area and the API, applied by one decorator.

Every admin and API view is wrapped in `guard(permission, kind, arg)`: the user must be signed
in (or hold a live API token), their role must grant the permission, and the object named by
the view argument `arg` (of `kind`) must lie in their scope. The guard is recorded on the view,
so the test suite can walk the URL map and prove that no endpoint was added without one.
"""

import functools
from collections.abc import Callable

from flask import g
from sqlalchemy import ColumnElement, false, select, true
from werkzeug.exceptions import Forbidden, NotFound

from ..domain.access import Level, Permission, Place, Scope, allowed
from ..extensions import db
from ..models import (
    ApiToken,
    Department,
    Office,
    Person,
    PostDuty,
    Region,
    Round,
    ServiceItem,
    User,
    WebhookSubscriber,
)
from . import audit
from .users import scope_of


class NotSignedIn(Exception):
    """No user: the admin area sends to the login page, the API answers 401."""


def _forbidden() -> Forbidden:
    return Forbidden("您的角色无权进行此操作。")


def _not_found() -> NotFound:
    """No such object, or not in the user's scope: its existence is not revealed."""
    return NotFound("对象不存在，或不在您的管理范围内。")


MAX_ID = 2**31 - 1


def _office_place(o: Office) -> Place:
    return Place(o.department.region_id, o.department_id, o.id)


# kind -> (model, how to place a row of it)
KINDS: dict[str, tuple[type, Callable[[object], Place]]] = {
    "region": (Region, lambda r: Place(r.id)),
    "department": (Department, lambda d: Place(d.region_id, d.id)),
    "office": (Office, _office_place),
    "person": (Person, lambda p: Place(p.department.region_id, p.department_id, p.office_id)),
    "duty": (PostDuty, lambda d: Place(d.department.region_id, d.department_id, d.office_id)),
    "service_item": (ServiceItem, lambda s: _office_place(s.office)),
    "round": (Round, lambda r: Place(r.region_id)),
    "user": (User, lambda u: Place(u.region_id, u.department_id)),
    # Subscribers receive every region's results: only the city's coordinators manage them.
    "webhook": (WebhookSubscriber, lambda w: Place(None)),
    # A token is its owner's alone, whatever their scope.
    "token": (ApiToken, lambda t: Place(None)),
}


def current_user() -> User | None:
    return g.get("user")


def scope() -> Scope:
    return scope_of(g.user)


def can(permission: Permission) -> bool:
    user = current_user()
    return user is not None and allowed(user.role_enum, permission)


def covers(place: Place) -> bool:
    return scope().covers(place)


def load(kind: str, obj_id: int):
    """The row of `kind` with this id if the current user's scope covers it, else NotFound."""
    model, place = KINDS[kind]
    if not 0 < obj_id <= MAX_ID:  # beyond any id a database holds (and a 64-bit overflow)
        raise _not_found()
    row = db.session.get(model, obj_id)
    if row is None:
        raise _not_found()
    if kind == "token":
        if row.user_id != g.user.id:
            raise _not_found()
    elif not covers(place(row)):
        raise _not_found()
    return row


def guard(permission: Permission, kind: str | None = None, arg: str | None = None):
    """Refuse unless signed in, allowed by role, and (with `kind`) the object is in scope.
    The loaded object is left in `g.obj` for the view."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user is None:
                raise NotSignedIn()
            if not allowed(user.role_enum, permission):
                raise _forbidden()
            g.obj = load(kind, kwargs[arg]) if kind else None
            audit.set_actor(user.id, user.username)
            return view(*args, **kwargs)

        wrapper.guard = (permission, kind, arg)
        return wrapper

    return decorate


def _columns(kind: str):
    """(department id, office id or None) of a row of `kind`, as SQL expressions."""
    if kind == "department":
        return Department.id, None
    if kind == "office":
        return Office.department_id, Office.id
    if kind == "service_item":
        department = select(Office.department_id).where(Office.id == ServiceItem.office_id).scalar_subquery()
        return department, ServiceItem.office_id
    model = KINDS[kind][0]
    return model.department_id, model.office_id


def condition(kind: str, user_scope: Scope) -> ColumnElement[bool]:
    """A WHERE condition keeping only the rows of `kind` the scope covers (for lists)."""
    if user_scope.level is Level.CITY:
        return true()
    if kind in ("region", "round"):
        column = Region.id if kind == "region" else Round.region_id
        return column == user_scope.region_id
    if kind == "user":
        return User.region_id == user_scope.region_id if user_scope.level is Level.REGION else false()
    if kind not in ("department", "office", "person", "duty", "service_item"):
        return false()
    department, office = _columns(kind)
    if user_scope.level is Level.REGION:
        return department.in_(select(Department.id).where(Department.region_id == user_scope.region_id))
    if user_scope.level is Level.DEPARTMENT:
        return department == user_scope.department_id
    return office.in_(user_scope.office_ids) if office is not None else false()
