"""Trust hardening (B2): the service's own keys. Outside development it does not start without
SECRET_KEY; `make run` makes one and keeps it; a key rotated mid-round keeps earlier voters."""

import os
import stat

import pytest

from ballot_service import MissingSecretKey, create_app
from ballot_service.services import voters
from tests.ballot_helpers import all_satisfied, open_office, sealed_ballots, token_and_people


def settings(app, **changes) -> dict:
    """The test app's settings (same database, Redis and key store) with `changes`."""
    names = ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "MEDIA_ROOT", "KEY_DIR", "PUBLIC_BASE_URL", "PAGE_CACHE_SECONDS")
    return {"TESTING": True, **{name: app.config[name] for name in names}, **changes}


def test_outside_development_no_secret_key_means_no_start(app, tmp_path):
    with pytest.raises(MissingSecretKey, match="SECRET_KEY 未设置"):
        create_app(settings(app, TESTING=False, APP_ENV="production", SECRET_KEY=None,
                            SECRET_KEY_FILE=str(tmp_path / "secret_key")))
    assert not (tmp_path / "secret_key").exists()


def test_development_makes_its_key_once_and_keeps_it_private(app, tmp_path):
    path = tmp_path / "secret_key"
    first = create_app(settings(app, APP_ENV="development", SECRET_KEY=None, SECRET_KEY_FILE=str(path)))
    second = create_app(settings(app, APP_ENV="production", SECRET_KEY=None, SECRET_KEY_FILE=str(path)))
    assert first.secret_key == second.secret_key == path.read_text().strip()
    assert len(first.secret_key) >= 40 and first.secret_key != app.secret_key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_key_rotated_mid_round_keeps_earlier_voters_as_they_were(app, database):
    office, _ = open_office()
    voter = app.test_client()
    token, people = token_and_people(voter.get(f"/o/{office.code}").get_data(as_text=True))
    assert voter.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people)).status_code == 200
    cookie = voter.get_cookie(voters.COOKIE).value

    rotated = create_app(settings(app, SECRET_KEY="a-new-key-for-the-rest-of-the-round",
                                  SECRET_KEY_FALLBACKS=[app.secret_key]))
    same_voter = rotated.test_client()  # the same browser, its "已评价" memory cleared
    same_voter.set_cookie(voters.COOKIE, cookie)
    token, people = token_and_people(same_voter.get(f"/o/{office.code}").get_data(as_text=True))
    again = same_voter.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people))
    assert again.status_code == 200 and "您已评价过" in again.get_data(as_text=True)
    assert sealed_ballots() == 1
    with rotated.app_context():  # new cookies are signed with the new key
        assert voters.read(voters.cookie("c:" + "0" * 32)["value"]) == "c:" + "0" * 32
    without_fallback = create_app(settings(app, SECRET_KEY="a-new-key-for-the-rest-of-the-round"))
    with without_fallback.app_context():  # what the fallback prevents: the voter would be new
        assert voters.read(cookie) is None


@pytest.mark.parametrize("keys", [{"SECRET_KEY": "dev-only-not-secret"},
                                  {"SECRET_KEY": "a-new-key-for-the-rest-of-the-round",
                                   "SECRET_KEY_FALLBACKS": ["dev-only-not-secret"]}])
def test_the_old_public_default_key_is_refused_even_as_a_fallback(app, keys):
    with pytest.raises(MissingSecretKey, match="公开的旧默认密钥"):
        create_app(settings(app, **keys))
