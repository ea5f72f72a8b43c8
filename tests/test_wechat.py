"""Voter identity from WeChat's silent authorisation, against a local server speaking its protocol."""

from urllib.parse import parse_qs, urlsplit

import pytest

from ballot_service.services import voters
from tests.ballot_helpers import all_satisfied, open_office, sealed_ballots, token_and_people
from tests.wechat_stub import WeChatStub

WECHAT_UA = "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Mobile MicroMessenger/8.0.47.2560 NetType/WIFI"


@pytest.fixture
def wechat(app):
    stub = WeChatStub("wx-test-appid", "test-secret", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    saved = {k: app.config.get(k) for k in ("WECHAT_APPID", "WECHAT_SECRET", "WECHAT_OAUTH_URL", "WECHAT_API_URL")}
    app.config.update(WECHAT_APPID=stub.appid, WECHAT_SECRET=stub.secret, WECHAT_OAUTH_URL=stub.url,
                      WECHAT_API_URL=stub.url)
    yield stub
    app.config.update(saved)
    stub.close()


def follow_wechat(client, office, stub) -> str:
    """Open the office page in WeChat and follow the authorisation round trip; return the page."""
    back = wechat_callback(client, office, stub)
    assert back.status_code == 302 and back.headers["Location"].endswith(f"/o/{office.code}")
    page = client.get(f"/o/{office.code}", headers={"User-Agent": WECHAT_UA})
    assert page.status_code == 200
    return page.get_data(as_text=True)


def wechat_callback(client, office, stub):
    """Open the office page in WeChat, go through WeChat's authorize page: its callback's answer."""
    import urllib.request

    first = client.get(f"/o/{office.code}", headers={"User-Agent": WECHAT_UA})
    assert first.status_code == 302
    authorize = first.headers["Location"]
    assert authorize.startswith(f"{stub.url}/connect/oauth2/authorize?") and authorize.endswith("#wechat_redirect")
    query = parse_qs(urlsplit(authorize).query)
    assert query["scope"] == ["snsapi_base"] and query["appid"] == [stub.appid]

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(authorize.split("#")[0])
        raise AssertionError("the authorize endpoint should redirect")
    except urllib.error.HTTPError as redirect:
        callback = redirect.headers["Location"]
    return client.get(callback.replace("http://testserver", ""), headers={"User-Agent": WECHAT_UA})


@pytest.mark.parametrize("require_wechat", [True, False])
def test_a_snapshot_page_is_no_wechat_identity_and_is_told_to_open_wechat_proper(app, database, wechat,
                                                                                require_wechat):
    office, _ = open_office(require_wechat=require_wechat)
    wechat.snapshot = True
    phone = app.test_client()
    back = wechat_callback(phone, office, wechat)
    html = back.get_data(as_text=True)
    assert back.status_code == 200 and "快照页面" in html and "使用完整服务" in html
    assert 'name="token"' not in html
    assert phone.get_cookie(voters.COOKIE) is None  # no identity at all, a WeChat one least
    wechat.snapshot = False  # "使用完整服务": WeChat proper, the real openid
    assert 'name="token"' in follow_wechat(phone, office, wechat)
    assert voters.read(phone.get_cookie(voters.COOKIE).value) == voters.wechat_identity(wechat.openid)


def test_wechat_voter_is_known_by_openid_across_browsers(app, database, wechat):
    office, _ = open_office(require_wechat=True)
    phone = app.test_client()
    html = follow_wechat(phone, office, wechat)
    assert "请使用微信扫码评价" not in html
    token, people = token_and_people(html)
    assert phone.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people),
                      headers={"User-Agent": WECHAT_UA}).status_code == 200
    # Same WeChat user on a second phone (new cookies, same openid): already voted.
    other_phone = app.test_client()
    assert "您已评价过" in follow_wechat(other_phone, office, wechat)
    assert sealed_ballots() == 1
    assert wechat.requests.count("/sns/oauth2/access_token") == 2


@pytest.mark.parametrize("errcode", [40029, 40163, -1])
def test_failed_code_exchange_falls_back_without_a_redirect_loop(app, database, wechat, errcode):
    office, _ = open_office()
    wechat.fail_with = errcode
    phone = app.test_client()
    first = phone.get(f"/o/{office.code}", headers={"User-Agent": WECHAT_UA})
    state = parse_qs(urlsplit(first.headers["Location"]).query)["state"][0]
    back = phone.get(f"/o/{office.code}/wx?code=whatever&state={state}", headers={"User-Agent": WECHAT_UA})
    assert back.status_code == 302
    page = phone.get(f"/o/{office.code}", headers={"User-Agent": WECHAT_UA})
    assert page.status_code == 200  # no second redirect: a browser identity is used instead
    token_and_people(page.get_data(as_text=True))


def test_forged_state_is_refused(app, database, wechat):
    office, _ = open_office(require_wechat=True)
    phone = app.test_client()
    phone.get(f"/o/{office.code}", headers={"User-Agent": WECHAT_UA})
    back = phone.get(f"/o/{office.code}/wx?code=abc&state=forged", headers={"User-Agent": WECHAT_UA})
    assert back.status_code == 302
    html = phone.get(f"/o/{office.code}", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
    assert "请使用微信扫码评价" in html
    assert "/sns/oauth2/access_token" not in wechat.requests


def test_other_browsers_are_not_sent_to_wechat(client, database, wechat):
    office, _ = open_office()
    response = client.get(f"/o/{office.code}", headers={"User-Agent": "Mozilla/5.0 (iPhone) Safari/605.1"})
    assert response.status_code == 200 and wechat.requests == []
