"""Jobs queued before they moved to ballot_service/jobs.py (as "worker.jobs.<name>") still find
them here after an upgrade."""

from ballot_service.jobs import advance_rounds, push, render_posters, tally  # noqa: F401
