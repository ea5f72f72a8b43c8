"""The ballot on the office page: identity, WeChat sign-in, the form and its outcomes."""

import secrets

from flask import current_app, make_response, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from ..domain.ballots import fill_unknown, unrated
from ..domain.receipts import grouped
from ..services import ballot_box, disclosure, results, voters, wechat
from ..services.ballot_box import Outcome
from .page_cache import CODE_PLACEHOLDER, CachedOffice, Vote, render_office

STATE_COOKIE = "sl_wx_state"
WX_FAILED_COOKIE = "sl_wx_failed"
# Offices this browser has rated ("<round>.<office>,…"), told at the thank-you page: the office
# page shows "已评价" from it without asking Redis or the database; the POST still refuses.
DONE_COOKIE = "sl_done"
DONE_KEEP = 30
BODY_LIMIT = 64 * 1024

MESSAGES = {
    Outcome.ALREADY_VOTED: (200, "您已评价过",
                            "您的评价已记录。每位办事群众每轮对同一窗口或科室只评价一次，重复提交不会重复计票。感谢您的参与。"),
    Outcome.STALE_TOKEN: (400, "页面已过期", "该评价表已失效，请刷新页面后重新评价。"),
    Outcome.CLOSED: (409, "本轮评价已结束", "当前没有进行中的评价，感谢您的关注。"),
    Outcome.WECHAT_REQUIRED: (403, "请使用微信扫码评价", "本轮评价需在微信中扫描公示牌上的二维码进行。"),
}
SNAPSHOT_PAGE = (200, "请打开完整页面后评价",
                 "您正在浏览微信的快照页面，无法确认评价身份，评价不会被记录。请点击屏幕下方的“使用完整服务”，"
                 "或在微信中重新扫描公示牌上的二维码后评价。")
UNAVAILABLE = (503, "评价服务暂时不可用", "评价服务暂时不可用，请稍后刷新页面重试。")
INVALID_MESSAGE = "评价还未完成，请按红色提示修改后提交。"
UNRATED_TOO = "另有{}人未评价。"
NO_COOKIE_MESSAGE = "无法确认您的评价身份：请允许浏览器保存 Cookie，刷新页面后重新评价。"


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def wants_wechat_sign_in(identity: str | None) -> bool:
    return (
        wechat.enabled()
        and wechat.is_wechat(request.headers.get("User-Agent"))
        and not (identity or "").startswith("w:")
        and WX_FAILED_COOKIE not in request.cookies
    )


def wechat_redirect(office_code: str):
    state = secrets.token_urlsafe(16)
    callback = current_app.config["PUBLIC_BASE_URL"] + url_for("public.wechat_callback", code=office_code)
    response = redirect(wechat.authorize_url(callback, state))
    response.set_cookie(STATE_COOKIE, state, max_age=600, httponly=True, samesite="Lax")
    return response


def _send(page, *fills: str):
    """A cached page (its slots filled: the voter's token, or their receipt and ratings), never stored by caches,
    gzip-compressed when the browser takes it (Flask-Compress leaves responses that already
    carry a Content-Encoding alone). Only the form sent is made."""
    gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
    headers = [("Vary", "Accept-Encoding"), ("Cache-Control", "no-store")]
    if gzipped:
        headers.append(("Content-Encoding", "gzip"))
    # Built whole: one Headers list instead of a set per header (bench/ballot_instructions.py).
    return current_app.response_class(page.body(gzipped, *fills), headers=headers,
                                      content_type="text/html; charset=utf-8")


def _done(snap) -> str:
    return f"{snap.round_id}.{snap.office_id}"


def office_page(cached: CachedOffice, identity: str | None):
    """The office page for this voter: the cached render plus a fresh signed form token.

    Sets a browser identity cookie when the voter has none and a round is open. Reads neither
    Redis nor the database.
    """
    snap = cached.snapshot
    if snap is None:
        return _send(cached.pages.get("plain") or cached.pages["unavailable"])
    new_identity = None
    if identity is None:
        identity = new_identity = voters.new_browser_identity()
    if snap.require_wechat and not identity.startswith("w:"):
        page = cached.pages["wechat"]
        response = _send(page)
    elif _done(snap) in request.cookies.get(DONE_COOKIE, "").split(","):
        page = cached.pages["voted"]
        response = _send(page)
    else:
        token = ballot_box.new_token(snap, identity)
        response = _send(cached.form, token)
    if new_identity:
        response.set_cookie(**voters.cookie(new_identity))
    return response


def _render_with_answers(code: str, token: str, values: dict, errors: dict, message: str | None, status: int,
                        confirm_rest: bool = False):
    """The office page again with the voter's answers (and errors): the slow, uncached path."""
    page = disclosure.get_office_page(code)
    ballot = ballot_box.office_ballot(page.office)
    vote = Vote(ballot, token=token, values=values, errors=errors, message=message, confirm_rest=confirm_rest)
    html = render_office(page, ballot, vote, results.latest_office_report(page.office))
    return _no_store(make_response(html, status))


def remember_done(response, snap):
    done = [d for d in request.cookies.get(DONE_COOKIE, "").split(",") if d and d != _done(snap)]
    response.set_cookie(DONE_COOKIE, ",".join([*done[-(DONE_KEEP - 1):], _done(snap)]), max_age=voters.MAX_AGE,
                        httponly=True, samesite="Lax", secure=current_app.config["PUBLIC_BASE_URL"].startswith("https://"))
    return response


def _rated(snap, ratings) -> str:
    """The thank-you page's list of the voter's ratings, into its cached page's slot (rendering
    the whole page per ballot was 0.68 M of the POST's 4.62 M instructions,
    bench/ballot_instructions.py)."""
    names, config = {person_id: name for person_id, _, name in snap.people}, snap.config
    items = []
    for r in ratings:
        tags = "、".join(config.tag_label(t) for t in r.tags)
        items.append(f"<li><b>{escape(names[r.person_id])}</b>：{escape(config.levels[r.level][0])}"
                     f"{escape(f'（{tags}）') if tags else ''}</li>")
    return "".join(items)


def _receipt(cached: CachedOffice, code: str | None) -> str:
    """The thank-you page's receipt block with the voter's code, or nothing (a round opened before
    receipts, a form that is not the one stored). The code goes into this response only: never
    a URL, a redirect, a cookie, Redis, a log line or a file."""
    return cached.receipt.replace(CODE_PLACEHOLDER, grouped(code)) if code else ""


def handle_submission(cached: CachedOffice, identity: str | None, form: dict[str, list[str]]):
    form = dict(form)
    token = (form.pop("token", None) or [""])[0]
    snap = cached.snapshot
    if snap is None and "unavailable" in cached.pages:
        return message_page(*UNAVAILABLE, office_code=cached.code)
    if identity is None:
        return message_page(400, "无法确认评价身份", NO_COOKIE_MESSAGE)
    rest = (form.pop("rest", None) or [""])[0]
    if rest and snap is not None:
        left = unrated((person_id for person_id, _ in snap.roster), form)
        if rest == f"confirm-{len(left)}":  # "其余 N 人将记为“不了解情况”" confirmed, for these N
            form = fill_unknown(snap.roster, form)
        elif left:  # the no-JavaScript "其余均不了解" (or a confirmation of another N): ask, store nothing
            return _render_with_answers(cached.code, token, form, {}, None, 200, confirm_rest=True)
    result = ballot_box.submit(snap, identity, token, form)
    if result.outcome is Outcome.RECORDED:
        return remember_done(_send(cached.thanks, _receipt(cached, result.receipt),
                                   _rated(snap, result.checked.ratings)), snap)
    if result.outcome is Outcome.FAILED:
        return retry_page(cached.code, {"token": [token], **form})
    if result.outcome is Outcome.INVALID:
        errors, left = result.checked.errors, unrated((person_id for person_id, _ in snap.roster), form)
        if errors.keys() <= set(left):  # nothing wrong but people left unrated: offer the rest as 不了解情况
            return _render_with_answers(cached.code, token, form, errors, None, 400, confirm_rest=True)
        message = INVALID_MESSAGE + (UNRATED_TOO.format(len(left)) if left else "")
        return _render_with_answers(cached.code, token, form, errors, message, 400)
    response = message_page(*MESSAGES[result.outcome], office_code=cached.code,
                            receipt=_receipt(cached, result.receipt))
    return remember_done(response, snap) if result.outcome is Outcome.ALREADY_VOTED else response


def retry_page(office_code: str, form: dict[str, list[str]]):
    """503 "请重新提交" with the voter's answers kept in a form to send again: what it says holds
    whether or not the ballot was in fact stored (sending again counts once).

    Rendered from the request alone: it must work while the database is down.
    """
    fields = [(name, value) for name, values in form.items() for value in values]
    response = make_response(render_template("public/ballot_retry.html", office_code=office_code, fields=fields), 503)
    response.headers["Retry-After"] = "5"
    return _no_store(response)


def message_page(status: int, title: str, message: str, office_code: str | None = None, receipt: str = ""):
    """A ballot outcome's page; `receipt`: the receipt block (_receipt), already HTML."""
    return _no_store(make_response(render_template("public/ballot_message.html", title=title, message=message,
                                                   office_code=office_code, receipt=Markup(receipt)), status))


def body_too_large() -> bool:
    return (request.content_length or 0) > BODY_LIMIT
