"""The pieces of ballot_service.internals: each has its effect, and a library that lost what a
piece relies on stops the app at start-up instead of silently losing it."""

import pytest
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_smorest import Api

from ballot_service import create_app
from ballot_service.extensions import limiter, login_manager
from ballot_service.internals import InternalsChanged


def test_the_limiters_app_wide_hooks_are_gone_and_the_remember_cookie_is_the_admins(app):
    assert limiter._check_request_limit not in app.before_request_funcs[None]
    assert not [f for f in app.after_request_funcs[None] if getattr(f, "args", None) == (limiter,)]
    assert login_manager._update_remember_cookie not in app.after_request_funcs[None]
    assert login_manager._update_remember_cookie in app.after_request_funcs["admin"]


def test_public_pages_do_not_vary_on_the_session(client, database):
    response = client.get("/")
    assert response.status_code == 200 and "Cookie" not in response.headers.get("Vary", "")


def _defining(cls: type, name: str) -> type:
    return next(k for k in cls.__mro__ if name in vars(k))


@pytest.mark.parametrize("owner, name", [
    (lambda: limiter.limit_manager, "_blueprint_limits"),
    (lambda: _defining(Api, "_register_error_handlers"), "_register_error_handlers"),
])
def test_a_library_without_an_internal_we_rely_on_stops_the_start_up(app, monkeypatch, owner, name):
    monkeypatch.delattr(owner(), name)
    with pytest.raises(InternalsChanged, match=name):
        create_app(dict(app.config))


@pytest.mark.parametrize("extension, message", [
    (Limiter, "hooks are not where they were"),
    (LoginManager, "not registered app-wide"),
])
def test_a_hook_registered_elsewhere_stops_the_start_up(app, monkeypatch, extension, message):
    """A library version whose init_app registers its hook under another name, or not at all."""
    monkeypatch.setattr(extension, "init_app", lambda self, app, **_: app.extensions.setdefault("limiter", set()))
    with pytest.raises(InternalsChanged, match=message):
        create_app(dict(app.config))
