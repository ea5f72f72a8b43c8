"""Periodic jobs, enqueued by RQ's cron scheduler: `python -m worker.cron`."""

from rq import cron
from rq.cron import create_cron

from ballot_service import create_app
from ballot_service.extensions import redis_ext
from ballot_service.jobs import advance_rounds

SCHEDULE_EVERY = 60  # rounds open and close within a minute of their times

cron.register(advance_rounds, "default", interval=SCHEDULE_EVERY, job_timeout=300)


def main() -> None:
    app = create_app()
    with app.app_context():
        create_cron(redis_ext.client).start()


if __name__ == "__main__":
    main()
