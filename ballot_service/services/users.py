"""Admin users, their scope, passwords and API tokens.

Passwords are hashed with scrypt (Werkzeug). API tokens are random, shown once, stored as
SHA-256 hashes (a token is already high-entropy, so a slow hash adds nothing) and revocable.
"""

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..domain.access import Level, Scope, UserRole
from ..extensions import db
from ..models import ApiToken, Department, Office, Region, User

MIN_PASSWORD = 10
TOKEN_PREFIX = "sl_"
# Compared against when the user does not exist, so a wrong username costs the same time.
_DUMMY_HASH = generate_password_hash("not-a-password")


class UserError(ValueError):
    """A user operation refused; the message is for people. `field` names the bad input."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def scope_of(user: User) -> Scope:
    role = user.role_enum
    if role is UserRole.DEPARTMENT_ADMIN:
        return Scope(Level.DEPARTMENT, region_id=user.region_id, department_id=user.department_id)
    if role is UserRole.HALL_MANAGER:
        return Scope(Level.OFFICES, region_id=user.region_id, office_ids=frozenset(o.id for o in user.offices))
    level = Level.CITY if user.region.kind == "city" else Level.REGION
    return Scope(level, region_id=user.region_id)


def load_session_user(reference: str) -> User | None:
    """Flask-Login's loader (`User.get_id` made the reference): a deactivated user's session, or
    one from before a password change, ends at its next request."""
    user_id, _, fingerprint = reference.partition(".")
    user = db.session.get(User, int(user_id)) if user_id.isdigit() and int(user_id) < 2**31 else None
    if user is None or not user.active or not hmac.compare_digest(fingerprint, user.session_fingerprint):
        return None
    return user


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"密码至少需要{MIN_PASSWORD}个字符", "password")
    if password.isdigit() or password.isalpha():
        raise UserError("密码须同时包含字母和数字（或符号）", "password")


OUT_OF_SCOPE = "不在您的管理范围内"
SCOPE_FIELD = {UserRole.DEPARTMENT_ADMIN: "department", UserRole.HALL_MANAGER: "offices"}


def build_user(username: str, display_name: str, password: str, role: str, region_code: str | None = None,
               department_code: str | None = None, office_codes: list[str] | None = None,
               within: Scope | None = None) -> User:
    """A new user, checked and added to the session (the caller commits). The home region comes
    from the department or offices for department admins and hall managers. With `within` (the
    creator's scope), a user reaching beyond it is refused, before anything reaches the database."""
    username = username.strip()
    if not username or len(username) > 50:
        raise UserError("用户名须为1至50个字符", "username")
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise UserError(f"用户名“{username}”已被使用", "username")
    try:
        role_enum = UserRole(role)
    except ValueError:
        raise UserError("角色无效：可选 " + "、".join(UserRole), "role") from None
    check_password_rules(password)
    user = User(username=username, display_name=display_name.strip() or username, role=role_enum.value,
                password_hash=generate_password_hash(password), created_at=_now())
    if role_enum is UserRole.DEPARTMENT_ADMIN:
        department = db.session.scalar(select(Department).where(Department.code == (department_code or "")))
        if department is None:
            raise UserError("部门管理员须指定一个存在的部门编码", "department")
        user.department, user.region_id = department, department.region_id
    elif role_enum is UserRole.HALL_MANAGER:
        codes = [c.strip().upper() for c in office_codes or [] if c.strip()]
        offices = db.session.scalars(select(Office).where(Office.code.in_(codes))).all() if codes else []
        missing = sorted(set(codes) - {o.code for o in offices})
        if not offices or missing:
            raise UserError("大厅管理员须指定存在的科室编码" + (f"：找不到{'、'.join(missing)}" if missing else ""),
                            "offices")
        regions = {o.department.region_id for o in offices}
        if len(regions) > 1:
            raise UserError("大厅管理员的科室须在同一区域内", "offices")
        user.offices, user.region_id = list(offices), regions.pop()
    else:
        region = db.session.scalar(select(Region).where(Region.code == (region_code or "")))
        if region is None:
            raise UserError("协调员、审计员和纪检监察须指定一个存在的区域编码", "region")
        user.region, user.region_id = region, region.id
    # Only the role, home region and (for the city) region kind count here: set above, unflushed.
    if within is not None and not within.covers_scope(scope_of(user)):
        raise UserError(OUT_OF_SCOPE, SCOPE_FIELD.get(role_enum, "region"))
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def end_sessions(user: User) -> None:
    """Signing out: every session of the user ends, on every device (the caller commits)."""
    user.session_epoch += 1


def change_password(user: User, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current):
        raise UserError("当前密码不正确", "current")
    check_password_rules(new)
    user.password_hash = generate_password_hash(new)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new API token for `user`: the row, and the token itself (shown once, never stored)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise UserError("请为令牌起一个名称（1至100个字符）", "name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, name=name, token_hash=_hash_token(token), prefix=token[:10], created_at=_now())
    db.session.add(row)
    db.session.flush()
    return row, token


def tokens_of(user: User) -> list[ApiToken]:
    return db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())).all()


def revoke_token(row: ApiToken) -> None:
    if row.revoked_at is None:
        row.revoked_at = _now()


def user_for_token(token: str) -> User | None:
    """The active user a live token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return row.user


def update_user(user: User, *, display_name: str | None = None, active: bool | None = None,
                password: str | None = None, acting: User | None = None) -> User:
    """Change a user's display name, switch them on or off, or set a new password (a reset by
    a coordinator). One cannot switch oneself off. The caller commits."""
    if display_name is not None:
        display_name = display_name.strip()
        if not display_name or len(display_name) > 50:
            raise UserError("显示名称须为1至50个字符", "display_name")
        user.display_name = display_name
    if active is not None:
        if not active and acting is not None and acting.id == user.id:
            raise UserError("不能停用自己的账号", "active")
        user.active = active
    if password:
        check_password_rules(password)
        user.password_hash = generate_password_hash(password)
    db.session.flush()
    return user


def scope_label(user: User) -> str:
    """Where a user works, in words: 全市, a region, a department, or offices."""
    scope = scope_of(user)
    if scope.level is Level.CITY:
        return "全市"
    if scope.level is Level.REGION:
        return user.region.name
    if scope.level is Level.DEPARTMENT:
        return user.department.name
    return "、".join(o.name for o in user.offices)
