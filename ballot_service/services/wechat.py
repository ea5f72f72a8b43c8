"""WeChat web authorisation, silent scope (snsapi_base): the voter's openid for this app.

Flow (WeChat's documented OAuth 2.0 for official accounts): redirect the browser to
`<oauth>/connect/oauth2/authorize?appid=…&redirect_uri=…&response_type=code&scope=snsapi_base
&state=…#wechat_redirect`; WeChat redirects back with `code` and `state`; the server exchanges
the code at `<api>/sns/oauth2/access_token?appid=…&secret=…&code=…&grant_type=authorization_code`
for JSON with `openid`, or `errcode`/`errmsg`. Both base URLs are settings so tests can run a
local server that speaks the same protocol.
"""

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request

from flask import current_app

TIMEOUT = 5
ERRORS = {
    40029: "授权码无效",
    40163: "授权码已被使用",
    41008: "缺少授权码",
    40013: "公众号 AppID 配置有误",
    40125: "公众号 AppSecret 配置有误",
    -1: "微信系统繁忙",
}


class WeChatError(Exception):
    def __init__(self, message: str, errcode: int | None = None):
        super().__init__(message)
        self.errcode = errcode


class SnapshotPage(WeChatError):
    """WeChat opened the page as a "snapshot" (a preview from Moments or a chat, since 2022): its
    answer carries `is_snapshotuser: 1` and a virtual openid, one person many openids. Not a
    WeChat identity (B2)."""


def enabled() -> bool:
    config = current_app.config
    return bool(config.get("WECHAT_APPID") and config.get("WECHAT_SECRET"))


def is_wechat(user_agent: str | None) -> bool:
    return "MicroMessenger" in (user_agent or "")


def authorize_url(redirect_uri: str, state: str) -> str:
    query = urllib.parse.urlencode({
        "appid": current_app.config["WECHAT_APPID"],
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "snsapi_base",
        "state": state,
    })
    return f"{current_app.config['WECHAT_OAUTH_URL']}/connect/oauth2/authorize?{query}#wechat_redirect"


def exchange_code(code: str) -> str:
    """Return the openid for an authorisation code, or raise WeChatError (SnapshotPage for a
    snapshot page's virtual openid)."""
    config = current_app.config
    query = urllib.parse.urlencode({
        "appid": config["WECHAT_APPID"],
        "secret": config["WECHAT_SECRET"],
        "code": code,
        "grant_type": "authorization_code",
    })
    try:
        with urllib.request.urlopen(f"{config['WECHAT_API_URL']}/sns/oauth2/access_token?{query}",
                                    timeout=TIMEOUT) as response:
            body = json.loads(response.read().decode("utf-8"))
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError and timeouts are OSErrors
        raise WeChatError("无法连接微信服务器") from exc
    if not isinstance(body, dict):
        raise WeChatError("微信返回的数据不完整")
    if body.get("errcode"):
        try:
            code_ = int(body["errcode"])
        except (TypeError, ValueError):
            raise WeChatError("微信授权失败") from None
        raise WeChatError(ERRORS.get(code_, "微信授权失败"), code_)
    if body.get("is_snapshotuser") == 1:
        raise SnapshotPage("微信快照页，无法确认身份")
    openid = body.get("openid")
    if not isinstance(openid, str) or not openid:
        raise WeChatError("微信返回的数据不完整")
    return openid
