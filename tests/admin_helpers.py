"""Users of every role, signed in through the real login form or holding a real API token."""

import itertools
import re

from ballot_service.extensions import db
from ballot_service.services import users

PASSWORD = "correct-horse-42"
_numbers = itertools.count(1)


def make_user(role: str, *, region=None, department=None, offices=(), username: str | None = None):
    user = users.build_user(
        username or f"{role}-{next(_numbers)}", "", PASSWORD, role,
        region_code=region.code if region else None,
        department_code=department.code if department else None,
        office_codes=[o.code for o in offices],
    )
    db.session.commit()
    return user


def sign_in(client, user, password: str = PASSWORD, **request_options):
    """Sign in through the login form (CSRF token included) and return the response."""
    token = _csrf(client.get("/admin/login", **request_options).get_data(as_text=True))
    return client.post("/admin/login", data={"username": user.username, "password": password,
                                             "csrf_token": token}, **request_options)


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    return match.group(1) if match else ""  # none when CSRF is switched off


def form_token(client, path: str) -> str:
    """The CSRF token of the form on an admin page."""
    return _csrf(client.get(path).get_data(as_text=True))


def api_token(user, name: str = "test") -> str:
    _, token = users.issue_token(user, name)
    db.session.commit()
    return token
