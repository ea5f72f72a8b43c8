"""Run an RQ worker with the Flask app's context, so jobs can use the database.

`python -m worker [QUEUE ...]`; REDIS_URL and DATABASE_URL come from the environment as
for the web process. Jobs are forked from this process and inherit the app context.
"""

import sys

from rq import Worker

from ballot_service import create_app
from ballot_service.extensions import db, redis_ext
from ballot_service.services import keys

QUEUES = ["default"]


def main(argv: list[str]) -> None:
    app = create_app()
    with app.app_context():
        keys.check_at_start(("secret", "private"))
        # Connections must not be shared with the forked job processes.
        db.engine.dispose()
        # Maintenance (which retries jobs abandoned by a killed worker once their heartbeat has
        # expired, about 90 s) every 2 minutes instead of RQ's default 10; an idle worker runs it
        # only between two blocking dequeues, which last worker_ttl - 15 s (RQ's default: 405 s).
        # RQ raises its connection's read timeout above that dequeue: it gets a connection pool
        # of its own, so the jobs' Redis calls keep the app's timeouts.
        Worker(argv or QUEUES, connection=redis_ext.connect(app.config),
               maintenance_interval=120, worker_ttl=135).work(with_scheduler=True)


if __name__ == "__main__":
    main(sys.argv[1:])
