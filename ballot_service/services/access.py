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
    Appeal,
    Department,
    Office,
    Person,
    PostDuty,
    PosterBatch,
    Rectification,
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


def office_place(o: Office) -> Place:
    return Place(o.department.region_id, o.department_id, o.id)


def _row(model):
    def get(obj_id):
        # An id beyond any the database holds (even a 64-bit overflow) is simply not there.
        return db.session.get(model, obj_id) if isinstance(obj_id, int) and 0 < obj_id <= MAX_ID else None
    return get


def _placed(place: Callable[[object], Place]) -> Callable[[Scope, object], bool]:
    return lambda user_scope, row: user_scope.covers(place(row))


def _poster_batch_covered(user_scope: Scope, batch) -> bool:
    from .poster_batches import batch_place, poster_covered

    return poster_covered(user_scope, batch_place(batch))


# kind -> (how to load one by its URL id, whether a scope covers it)
KINDS: dict[str, tuple[Callable[[object], object | None], Callable[[Scope, object], bool]]] = {
    "region": (_row(Region), _placed(lambda r: Place(r.id))),
    "department": (_row(Department), _placed(lambda d: Place(d.region_id, d.id))),
    "office": (_row(Office), _placed(office_place)),
    "person": (_row(Person), _placed(lambda p: Place(p.department.region_id, p.department_id, p.office_id))),
    "duty": (_row(PostDuty), _placed(lambda d: Place(d.department.region_id, d.department_id, d.office_id))),
    "service_item": (_row(ServiceItem), _placed(lambda s: office_place(s.office))),
    "round": (_row(Round), _placed(lambda r: Place(r.region_id))),
    # A user is covered when everything they reach is (a county coordinator: the county's users).
    "user": (_row(User), lambda user_scope, u: user_scope.covers_scope(scope_of(u))),
    # Subscribers receive every region's results: only the city's coordinators manage them.
    "webhook": (_row(WebhookSubscriber), _placed(lambda w: Place(None))),
    # A token is its owner's alone, whatever their scope.
    "token": (_row(ApiToken), lambda user_scope, t: t.user_id == g.user.id),
    # A poster batch: covered when everything it prints is.
    "poster_batch": (_row(PosterBatch), _poster_batch_covered),
    # A rectification task: where its department is.
    "rectification": (_row(Rectification), _placed(
        lambda t: Place(db.session.get(Department, t.department_id).region_id, t.department_id))),
    "appeal": (_row(Appeal), _placed(lambda a: Place(a.round.region_id, a.department_id))),
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


def load(kind: str, obj_id):
    """The object of `kind` with this id if the current user's scope covers it, else NotFound."""
    get, covered = KINDS[kind]
    row = get(obj_id)
    if row is None or not covered(scope(), row):
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
    model = {"person": Person, "duty": PostDuty}[kind]
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
