import json

from flask import abort, current_app, make_response, redirect, render_template, request, send_from_directory, url_for
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db, limiter, replica_reads
from ..services import (
    ballot_box,
    disclosure,
    hall_screen,
    health,
    receipts,
    rectification,
    results,
    verification,
    voters,
    wechat,
)
from ..services.photos import photo_dir
from . import ballot as flow
from . import bp, page_cache

PHOTO_MAX_AGE = 365 * 24 * 3600  # photo files are named by their content hash
TOO_FAST = "操作太频繁，请稍后再试。"


@bp.get("/")
@replica_reads
def home():
    return render_template("public/home.html", regions=disclosure.list_regions())


def _identity() -> str | None:
    """The voter's identity from the cookie, read once per request (the rate limit asks too)."""
    environ = request.environ
    if "sanliang.voter" not in environ:
        environ["sanliang.voter"] = voters.read(request.cookies.get(voters.COOKIE))
    return environ["sanliang.voter"]


def _office_of_request(code: str) -> page_cache.CachedOffice | None:
    """The request's office from the page cache, looked up once per request (the rate limits
    ask for its round's secret too)."""
    environ = request.environ
    if "sanliang.office" not in environ:
        environ["sanliang.office"] = page_cache.get(code)
    return environ["sanliang.office"]


def _cached_office(code: str) -> page_cache.CachedOffice:
    cached = _office_of_request(code)
    if cached is None:
        abort(404, description="没有找到这个科室，请核对二维码或科室编码。")
    return cached


@bp.get("/o/<code>")
def office(code: str):
    cached = _cached_office(code)
    identity = _identity()
    if cached.snapshot is not None and flow.wants_wechat_sign_in(identity):
        return flow.wechat_redirect(cached.code)
    return flow.office_page(cached, identity)


def _limit_secret() -> bytes:
    """What keys the ballot's rate-limit counters: the round's secret, so that the counters in
    Redis (and its AOF) cannot be tested against an identity or an address once the tally has
    destroyed it. Outside a round, when no ballot is taken, the app's secret key."""
    cached = _office_of_request(request.view_args.get("code", "")) if request.view_args else None
    snap = cached.snapshot if cached is not None else None
    return snap.secret if snap is not None else current_app.secret_key.encode()


def _voter_limit_key() -> str:
    return "voter:" + voters.limit_key(_limit_secret(), _identity() or request.remote_addr or "-")


def _address_limit_key() -> str:
    """Rate-limit counters in Redis carry a keyed hash of the address, never the address."""
    return "addr:" + voters.limit_key(_limit_secret(), request.remote_addr or "-")


@bp.post("/o/<code>/ballot")
@limiter.limit(lambda: current_app.config["BALLOT_LIMIT_PER_IP"], key_func=_address_limit_key,
               error_message=TOO_FAST)
@limiter.limit(lambda: current_app.config["BALLOT_LIMIT_PER_VOTER"], key_func=_voter_limit_key,
               error_message=TOO_FAST)
def submit_ballot(code: str):
    if flow.body_too_large():
        abort(413, description="提交的内容过多，请刷新页面后重新评价。")
    form = request.form.to_dict(flat=False)
    try:
        return flow.handle_submission(_cached_office(code), _identity(), form)
    except (SQLAlchemyError, RedisError) as exc:
        db.session.rollback()
        current_app.logger.error("ballot submission failed: %s", type(exc).__name__)
        return flow.retry_page(code, form)


@bp.get("/o/<code>/wx")
def wechat_callback(code: str):
    """WeChat redirects here with ?code=…&state=…; exchange the code for the openid."""
    cached = _cached_office(code)
    office_code = cached.code
    target = redirect(url_for("public.office", code=office_code))
    state = request.cookies.get(flow.STATE_COOKIE)
    if not state or request.args.get("state") != state or not request.args.get("code"):
        target.set_cookie(flow.WX_FAILED_COOKIE, "1", max_age=600, httponly=True, samesite="Lax")
        return target
    try:
        openid = wechat.exchange_code(request.args["code"])
    except wechat.SnapshotPage:
        return flow.message_page(*flow.SNAPSHOT_PAGE, office_code=office_code)
    except wechat.WeChatError as exc:
        current_app.logger.warning("WeChat sign-in failed: %s (errcode %s)", exc, exc.errcode)
        target.set_cookie(flow.WX_FAILED_COOKIE, "1", max_age=600, httponly=True, samesite="Lax")
        return target
    identity = voters.wechat_identity(openid)
    target.set_cookie(**voters.cookie(identity))
    target.delete_cookie(flow.STATE_COOKIE)
    try:
        if cached.snapshot is not None and ballot_box.has_voted(cached.snapshot, identity):
            flow.remember_done(target, cached.snapshot)
    except SQLAlchemyError:
        db.session.rollback()  # only the early "已评价" is lost; the ballot POST still refuses
    return target


@bp.get("/results")
@replica_reads
def results_index():
    return render_template("public/results_index.html", rounds=results.published_rounds())


@bp.get("/results/<int:round_id>")
@replica_reads
def round_results(round_id: int):
    report = results.round_report(round_id)
    if report is None:
        abort(404, description="没有找到这一轮已发布的评价结果。")
    return render_template("public/results_round.html", report=report)


@bp.get("/results/<int:round_id>/counts.json")
@replica_reads
def round_counts(round_id: int):
    """The round's published level counts under their own digest: what `flask verify` recomputes."""
    report = results.round_report(round_id)
    if report is None:
        abort(404, description="没有找到这一轮已发布的评价结果。")
    response = current_app.response_class(
        json.dumps(verification.counts_document(report.round), ensure_ascii=False, sort_keys=True, indent=1),
        mimetype="application/json")
    response.headers["Content-Disposition"] = f"attachment; filename=round-{round_id}-counts.json"
    return response


NO_RECEIPTS = "这一轮的评价结果尚未发布。结果发布后，可在此核验您的选票已计入统计。"


@bp.route("/results/<int:round_id>/receipts", methods=["GET", "POST"])
def round_receipts(round_id: int):
    """Checking a receipt: the code is POSTed (never in a URL, so never in an access log), looked
    up and echoed in a page no cache keeps; a malformed code is a 400 with what a code looks like."""
    round_ = receipts.published_round(round_id)
    if round_ is None:
        abort(404, description=NO_RECEIPTS)
    if flow.body_too_large():
        abort(413, description="提交的内容过多，请重新输入回执码。")
    typed = request.form.get("code", "").strip() if request.method == "POST" else ""
    check = receipts.check(round_id, typed) if request.method == "POST" else None
    html = render_template("public/receipts.html", round=round_, count=receipts.count(round_id), check=check,
                           typed=typed, supervision=current_app.config["POSTER_SUPERVISION_LINE"])
    response = make_response(html, 400 if check is not None and check.malformed else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/results/<int:round_id>/receipts.txt")
def round_receipt_list(round_id: int):
    """Every counted receipt of a published round, one a line, in code order."""
    if receipts.published_round(round_id) is None:
        abort(404, description=NO_RECEIPTS)
    response = current_app.response_class("".join(receipts.listing(round_id)), mimetype="text/plain")
    response.headers["Content-Disposition"] = f"attachment; filename=round-{round_id}-receipts.txt"
    return response


@bp.get("/results/<int:round_id>/d/<code>")
@replica_reads
def department_results(round_id: int, code: str):
    report = results.department_report(round_id, code)
    if report is None:
        abort(404, description="没有找到该部门在这一轮已发布的评价结果。")
    return render_template("public/results_department.html", report=report,
                           rectification=rectification.public_summary(report.round.id, report.department.id))


@bp.get("/screen/<code>")
@replica_reads
def screen(code: str):
    """Hall display: the department's disclosure and latest published results, cycling."""
    page = disclosure.get_department_page(code)
    if page is None:
        abort(404, description="没有找到这个部门，请核对部门编码。")
    report = results.latest_department_report(code)
    panels = hall_screen.panels(page, report, current_app.config["PUBLIC_BASE_URL"])
    return render_template("public/screen.html", page=page, report=report, panels=panels)


@bp.get("/d/<code>")
@replica_reads
def department(code: str):
    page = disclosure.get_department_page(code)
    if page is None:
        abort(404, description="没有找到这个部门，请核对部门编码。")
    return render_template("public/department.html", page=page, report=results.latest_department_report(code))


@bp.get("/media/photos/<name>")
def photo(name: str):
    return send_from_directory(photo_dir(current_app.config["MEDIA_ROOT"]), name, max_age=PHOTO_MAX_AGE)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    problems = health.check_dependencies()
    if problems:
        return {"status": "unavailable", "problems": problems}, 503
    return {"status": "ok"}
