"""Jobs run by a real RQ worker (burst mode) against the test Redis and database."""

import datetime as dt

from rq import SimpleWorker
from sqlalchemy import select

from ballot_service.domain.ballots import Rating
from ballot_service.extensions import db, redis_ext
from ballot_service.models import Round, RoundRoster
from ballot_service.services import jobs, rounds
from tests.ballot_helpers import cast, open_office


def run_worker() -> None:
    # SimpleWorker runs jobs in this process, inside the test's app context.
    SimpleWorker([jobs.QUEUE], connection=redis_ext.client).work(burst=True)


def test_closing_enqueues_one_tally_job_that_the_worker_runs(app, database):
    office, round_ = open_office()
    people = db.session.scalars(select(RoundRoster.person_id).where(RoundRoster.round_id == round_.id)).all()
    cast(round_.id, office.id, [Rating(p, "satisfied") for p in people])
    _, first = rounds.close_round(round_.id)
    db.session.commit()
    second = rounds.request_tally(round_.id)  # a click on 统计结果 meanwhile: the same job, not a new one
    assert first.id == second.id == f"tally-{round_.id}"
    assert jobs.queue().count == 1
    run_worker()
    db.session.expire_all()
    tallied = db.session.get(Round, round_.id)
    assert tallied.status == "tallied" and tallied.digest
    assert first.get_status(refresh=True) == "finished"
    assert first.get_meta(refresh=True) == {"step": "done", "label": "统计完成", "percent": 100}
    # Once finished, the tally can be queued again (a re-tally gives the same digest).
    again = rounds.request_tally(round_.id)
    run_worker()
    assert again.return_value(refresh=True) == tallied.digest


def test_tally_job_declares_its_retries(app, database):
    office, round_ = open_office()
    _, job = rounds.close_round(round_.id)
    assert job.func_name == "ballot_service.jobs.tally"
    assert job.retries_left == 3 and job.retry_intervals == [10, 60, 300]
    assert dt.timedelta(seconds=job.timeout) >= dt.timedelta(minutes=30)


def test_rounds_open_and_close_on_schedule(app, database):
    from tests import factories as f

    region = f.region(code="caoxian")
    dept = f.department(region=region)
    f.office(dept)
    db.session.commit()
    now = rounds.utcnow()
    due = rounds.create_round("到期开启", "caoxian", now - dt.timedelta(minutes=1), now + dt.timedelta(days=1))
    later = rounds.create_round("以后开启", "caoxian", now + dt.timedelta(days=2), now + dt.timedelta(days=3))
    assert rounds.advance_rounds(now) == {"opened": [due.id], "closed": []}
    assert rounds.advance_rounds(now) == {"opened": [], "closed": []}  # nothing twice
    assert rounds.advance_rounds(now + dt.timedelta(days=1)) == {"opened": [], "closed": [due.id]}
    assert db.session.get(Round, due.id).status == "closed"
    assert jobs.queue().job_ids == [f"tally-{due.id}"]
    assert db.session.get(Round, later.id).status == "draft"
    assert rounds.advance_rounds(now + dt.timedelta(days=2)) == {"opened": [later.id], "closed": []}


def test_rounds_show_reports_a_failed_tally(app, database):
    office, round_ = open_office()
    _, job = rounds.close_round(round_.id)
    round_obj = db.session.get(Round, round_.id)
    round_obj.config = {**round_obj.config, "levels": "broken"}  # a tally that will fail
    db.session.commit()
    job.retries_left = 0
    job.save()
    run_worker()
    output = app.test_cli_runner().invoke(args=["rounds", "show", str(round_.id)]).output
    assert "已结束" in output and "统计失败" in output and "失败原因：" in output
