"""gunicorn config for scenario 9: a worker SIGKILLs itself right after a ballot's commit,
before the thank-you page is sent, for every ballot whose marker's number is a multiple of 7
(the worst moment for a claim: stored, never acknowledged). Test-only: the service has no
failpoints of its own; this wraps ballot_box.submit in each worker after the fork."""

import os
import re
import signal

MARKER = re.compile(r"-(\d+)$")


def post_fork(server, worker):
    from ballot_service.services import ballot_box

    submit = ballot_box.submit

    def submit_then_die(snap, identity, token, form):
        submission = submit(snap, identity, token, form)
        notes = [value for name, values in form.items() if name.startswith("n") for value in values]
        marked = [MARKER.search(note) for note in notes]
        if submission.outcome is ballot_box.Outcome.RECORDED and any(m and int(m.group(1)) % 7 == 0 for m in marked):
            os.kill(os.getpid(), signal.SIGKILL)
        return submission

    ballot_box.submit = submit_then_die
