"""Where we reach into libraries' private internals: here, and nowhere else.

Each piece names what it relies on and why it is worth it (the speed piece with its figure from
bench/ballot_instructions.py, instructions per request under callgrind); create_app applies them
once the blueprints are registered. A library upgrade that renames what a piece relies on stops
the app at start-up with `InternalsChanged`, naming the piece, instead of silently losing the
saving or leaving a hook half removed. tests/test_internals.py holds each piece to its effect.
"""

from flask import Flask
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_smorest import Api


class InternalsChanged(RuntimeError):
    """A library no longer has an internal a piece here relies on: update internals.py."""


def _require(owner, *names: str, piece: str) -> None:
    missing = [name for name in names if not hasattr(owner, name)]
    if missing:
        kind = owner if isinstance(owner, type) else type(owner)
        raise InternalsChanged(f"{piece}: {kind.__module__}.{kind.__name__} has no "
                               f"{', '.join(missing)} (a library upgrade?): update ballot_service/internals.py")


def drop_app_wide_limit_hooks(app: Flask, limiter: Limiter) -> None:
    """Flask-Limiter's app-wide before/after-request hooks serve default, application, blueprint
    and meta limits. Ours all sit on routes, whose decorators check them: while there are none
    of those, the hooks only find nothing to do, on every request. Dropping them (with Flask's
    session signer built once, extensions.SessionInterface) took the office page GET from 2.06 M
    to 1.75 M instructions. Relies on Limiter._check_request_limit, Limiter._meta_limits and the
    limit manager's _default_limits, _application_limits and _blueprint_limits; any such limit
    keeps the hooks."""
    piece = "Flask-Limiter's app-wide hooks"
    _require(limiter, "_check_request_limit", "_meta_limits", "limit_manager", piece=piece)
    manager = limiter.limit_manager
    _require(manager, "_default_limits", "_application_limits", "_blueprint_limits", piece=piece)
    if manager._default_limits or manager._application_limits or manager._blueprint_limits or limiter._meta_limits:
        return
    before = app.before_request_funcs.get(None, [])
    after = app.after_request_funcs.get(None, [])
    limiter_after = [f for f in after if getattr(f, "args", None) == (limiter,)]
    if limiter._check_request_limit not in before or len(limiter_after) != 1:
        raise InternalsChanged(f"{piece}: the limiter's request hooks are not where they were")
    before.remove(limiter._check_request_limit)
    after.remove(limiter_after[0])


def remember_cookie_on(app: Flask, blueprint: str, login_manager: LoginManager) -> None:
    """Flask-Login refreshes its remember-me cookie after every response, reading the session
    (and so adding `Vary: Cookie`) on public pages too; only `blueprint` (the admin) signs
    anyone in or out: public pages, the ballot's included, stay cacheable and free of the session.
    Relies on LoginManager._update_remember_cookie."""
    _require(login_manager, "_update_remember_cookie", piece="Flask-Login's remember-me hook")
    hooks = app.after_request_funcs.get(None, [])
    if login_manager._update_remember_cookie not in hooks:
        raise InternalsChanged("Flask-Login's remember-me hook: not registered app-wide as it was")
    hooks.remove(login_manager._update_remember_cookie)
    app.after_request_funcs.setdefault(blueprint, []).append(login_manager._update_remember_cookie)


class ApiV1(Api):
    """The JSON API's flask-smorest extension, one per app (app.extensions["api_v1"]).

    flask-smorest answers every HTTP error of the app with JSON; ours does so for /api/ only
    (public.errors dispatches there), so people keep their Chinese HTML pages. Relies on
    Api._register_error_handlers, which it overrides to do nothing."""

    def __init__(self, *args, **kwargs):
        _require(Api, "_register_error_handlers", piece="flask-smorest's error handlers")
        super().__init__(*args, **kwargs)

    def _register_error_handlers(self):
        pass
