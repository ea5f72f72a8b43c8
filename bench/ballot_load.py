"""Ballot load: gunicorn + PostgreSQL + Redis on 127.0.0.1, simulated voters, and a baseline.

The servers are started with --preload and warmed up for 2 s. Then `--rounds` rounds (3), each
of these phases, `--seconds` long at `--concurrency` simulated clients (threads, keep-alive):
  1. baseline: a bare Flask route returning a static 8 KB page (bench/bare_app.py), under the
     same gunicorn settings;
  2. office page: GET /o/<code> as new voters (each gets an identity cookie and a form token);
  3. ballot POST: each voter from phase 2 submits once; every ballot carries a unique marker
     in a note, so afterwards the database tells exactly which acknowledged ballots were
     stored (lost must be 0) and which were stored twice (double must be 0).
  4. with --floor, phases 2 and 3 again against bench/floor_app.py: the same required work
     (cookie, Redis scripts, INSERTs) in a bare route, without the service's own overhead.
Prints requests/s, p50/p99 per phase, the Redis and PostgreSQL servers' CPU per request (from
Redis' INFO and /proc: nothing else should use them meanwhile), and the medians over the
rounds of each round's ratios to its own baseline: the shared machine's speed drifts within a run.

    .venv/bin/python bench/ballot_load.py [--seconds 15] [--concurrency 32] [--rounds 3] [--floor]

Uses DATABASE_URL if set, else a fresh database on the PostgreSQL at 127.0.0.1:5432 (dropped
afterwards); REDIS_URL if set, else 127.0.0.1:6379/14 (flushed).
"""

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
TOKEN = re.compile(r'name="token" value="([^"]+)"')
PEOPLE = re.compile(r'name="r(\d+)"')
MARKER = "bench-"  # the app's ballots carry it in a note (the floor's: "floor-")
WARM_UP = 2.0  # seconds of unmeasured requests per server first (connection pools, caches)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn(app: str, port: int, env: dict, workers: int, threads: int) -> subprocess.Popen:
    bin_dir = os.path.dirname(sys.executable)
    process = subprocess.Popen(
        [os.path.join(bin_dir, "gunicorn"), app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "30", "--log-level", "warning",
         "--preload"],  # the app is loaded before the port opens: no worker still booting while measured
        cwd=ROOT, env=env)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn {app} did not start")


class Client:
    """One keep-alive connection; returns (status, body, set-cookie, seconds).

    http.client sends a request's headers and body in two writes; TCP_NODELAY keeps Nagle from
    holding the body back, as browsers do (measured here: no change in the figures)."""

    def __init__(self, port: int):
        self.port = port
        self.connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def request(self, method: str, path: str, cookie: str | None = None, form: dict | None = None):
        headers = {"Cookie": cookie} if cookie else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = self._connect()
            return 0, "", None, time.perf_counter() - start
        return response.status, data.decode("utf-8", "replace"), response.getheader("Set-Cookie"), \
            time.perf_counter() - start


def run_phase(concurrency: int, seconds: float, work) -> tuple[list[float], int, float]:
    """Run `work(client_index)` repeatedly in threads; it returns (latency, ok)."""
    latencies, errors, lock = [], [0], threading.Lock()
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    def loop(index):
        while time.perf_counter() < deadline:
            result = work(index)
            if result is None:
                return
            latency, ok = result
            with lock:
                latencies.append(latency)
                errors[0] += 0 if ok else 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0], time.perf_counter() - started


def server_cpu() -> tuple[float, float]:
    """CPU seconds used so far by the Redis server and by every PostgreSQL process (/proc):
    the work a request moves into a Lua script or into SQL shows here, not in the app's."""
    import redis

    info = redis.Redis.from_url(os.environ["REDIS_URL"]).info("cpu")
    redis_cpu = info["used_cpu_user"] + info["used_cpu_sys"]
    ticks, postgres_cpu = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)
            if fields[0].endswith("(postgres"):
                utime, stime = fields[1].split()[11:13]
                postgres_cpu += (int(utime) + int(stime)) / ticks
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
    return redis_cpu, postgres_cpu


def cpu_per_request(name: str, before: tuple[float, float], requests: int) -> None:
    after = server_cpu()
    per = [(a - b) / max(requests, 1) * 1e6 for a, b in zip(after, before, strict=True)]
    print(f"{'':<22} server CPU per {name}: Redis {per[0]:6.0f} µs, PostgreSQL {per[1]:6.0f} µs")


def summary(name: str, latencies: list[float], errors: int, elapsed: float) -> tuple[float, float]:
    """Print a phase's figures; returns its requests/s and p99 latency (s)."""
    rps = len(latencies) / elapsed
    ordered = sorted(latencies) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{name:<22} {rps:8.0f} req/s   p50 {statistics.median(ordered) * 1000:7.1f} ms   "
          f"p99 {p99 * 1000:7.1f} ms   errors {errors}   requests {len(latencies)}")
    return rps, p99


@dataclass
class VoterFigures:
    get_rps: float
    post_rps: float
    get_p99: float
    post_p99: float
    acknowledged: set[str]  # the markers of the ballots acknowledged with the thank-you page


def warm_up(port: int, path: str, concurrency: int) -> None:
    clients = [Client(port) for _ in range(concurrency)]
    run_phase(concurrency, WARM_UP, lambda i: (clients[i].request("GET", path)[3], True))


def bare_phase(port: int, args) -> float:
    clients = [Client(port) for _ in range(args.concurrency)]
    lat, err, elapsed = run_phase(args.concurrency, args.seconds,
                                  lambda i: (lambda r: (r[3], r[0] == 200))(clients[i].request("GET", "/bare")))
    return summary("baseline GET /bare", lat, err, elapsed)[0]


def voter_phases(port: int, path: str, args, label: str = "", marker: str = MARKER) -> VoterFigures:
    """The office page as new voters, then each of those voters' ballot POST."""
    clients = [Client(port) for _ in range(args.concurrency)]
    forms: list[list[tuple[str, dict]]] = [[] for _ in range(args.concurrency)]

    def get_page(i):
        status, html, cookie, latency = clients[i].request("GET", path)
        token, people = TOKEN.search(html), sorted(set(PEOPLE.findall(html)))
        if status == 200 and token and cookie:
            forms[i].append((cookie.split(";", 1)[0], {"token": token.group(1), "people": people}))
        return latency, status == 200 and token is not None

    cpu = server_cpu()
    lat, err, elapsed = run_phase(args.concurrency, args.seconds, get_page)
    get_rps, get_p99 = summary(label + "office page GET", lat, err, elapsed)
    cpu_per_request("GET", cpu, len(lat))

    acknowledged: set[str] = set()
    ack_lock = threading.Lock()
    counters = [0] * args.concurrency

    def post_ballot(i):
        if counters[i] >= len(forms[i]):
            return None
        cookie, form = forms[i][counters[i]]
        note = f"{marker}{i}-{counters[i]}"
        counters[i] += 1
        people = form["people"]
        data = {"token": form["token"], **{f"r{p}": "satisfied" for p in people}}
        data[f"r{people[0]}"] = "basically_satisfied"
        data[f"n{people[0]}"] = note
        status, html, _, latency = clients[i].request("POST", f"{path}/ballot", cookie, data)
        ok = status == 200 and "感谢您的评价" in html
        if ok:
            with ack_lock:
                acknowledged.add(note)
        return latency, ok

    cpu = server_cpu()
    lat, err, elapsed = run_phase(args.concurrency, args.seconds, post_ballot)
    post_rps, post_p99 = summary(label + "ballot POST", lat, err, elapsed)
    cpu_per_request("POST", cpu, len(lat))
    return VoterFigures(get_rps, post_rps, get_p99, post_p99, acknowledged)


def prepare_database() -> tuple[str, str | None]:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], None
    name = f"ballot_bench_{os.getpid()}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    return f"postgresql://postgres@127.0.0.1:5432/{name}", name


def bench_environment() -> tuple[dict, str | None]:
    """The servers' environment (also set in this process), and the name of the scratch
    database to drop afterwards (None when DATABASE_URL was given)."""
    database_url, created = prepare_database()
    env = dict(os.environ, DATABASE_URL=database_url,
               REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
               BALLOT_LIMIT_PER_IP="10000000/minute", BALLOT_LIMIT_PER_VOTER="1000/minute",
               SECRET_KEY="bench", MEDIA_ROOT=os.path.join(ROOT, "bench", "out", "media"))
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "MEDIA_ROOT",
                                           "BALLOT_LIMIT_PER_IP", "BALLOT_LIMIT_PER_VOTER")})
    return env, created


def seed(app) -> str:
    """Migrate, flush Redis, load the demo data with its round open; the bench office's code."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from ballot_service.extensions import db, redis_ext
    from ballot_service.models import Office
    from ballot_service.services.demo import open_demo_round, seed_demo

    with app.app_context():
        upgrade()
        redis_ext.client.flushdb()
        if seed_demo(app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"]):
            open_demo_round()
        return db.session.scalar(select(Office.code).where(Office.name == "企业登记窗口"))


def drop_database(app, created: str | None) -> None:
    if created:
        from ballot_service.extensions import db

        with app.app_context():
            db.engine.dispose()
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", created], check=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    # The Procfile's shape: 4 workers taking one request at a time (gthread keeps the clients'
    # connections alive). With 2 workers x 8 threads the ballot POST ran ~30 % slower here,
    # each handler waiting ~50 ms for ~3 ms of CPU (bench/README.md).
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3,
                        help="measure this many times, interleaved, and print the medians (the machine is noisy)")
    parser.add_argument("--floor", action="store_true",
                        help="also run the voter phases against bench/floor_app.py: the required work alone")
    args = parser.parse_args()

    env, created = bench_environment()

    from sqlalchemy import select

    from ballot_service import create_app
    from ballot_service.extensions import db
    from ballot_service.models import Round
    from ballot_service.services import ballot_box

    app = create_app()
    servers = []
    try:
        code = seed(app)
        path = f"/o/{code}"

        bare_port, app_port = free_port(), free_port()
        servers.append(gunicorn("bench.bare_app:app", bare_port, env, args.workers, args.threads))
        servers.append(gunicorn("ballot_service:create_app()", app_port, env, args.workers, args.threads))
        if args.floor:
            floor_port = free_port()
            servers.append(gunicorn("bench.floor_app:app", floor_port, dict(env, FLOOR_OFFICE=code),
                                    args.workers, args.threads))
        print(f"gunicorn: {args.workers} workers x {args.threads} threads (gthread); "
              f"{args.concurrency} concurrent clients; "
              f"{args.seconds:.0f} s per phase; {args.rounds} rounds; office {path}\n")

        warm_up(bare_port, "/bare", args.concurrency)
        warm_up(app_port, path, args.concurrency)
        if args.floor:
            warm_up(floor_port, path, args.concurrency)
        ratios, acknowledged = [], set()
        for n in range(1, args.rounds + 1):
            print(f"round {n}")
            bare_rps = bare_phase(bare_port, args)
            service = voter_phases(app_port, path, args, marker=f"{MARKER}{n}-")
            acknowledged |= service.acknowledged
            row = [service.get_rps / bare_rps, service.post_rps / bare_rps, service.get_p99, service.post_p99]
            if args.floor:
                floor = voter_phases(floor_port, path, args, "floor: ", f"floor-{n}-")
                row += [floor.get_rps / bare_rps, floor.post_rps / bare_rps,
                        service.get_rps / floor.get_rps, service.post_rps / floor.post_rps]
            ratios.append(row)
        median = [statistics.median(column) for column in zip(*ratios, strict=True)]

        with app.app_context():  # the ballots are sealed: open them as the tally would
            counts = Counter(note for round_ in db.session.scalars(select(Round).where(Round.status == "open"))
                             for _office, _channel, ratings in ballot_box.unseal(round_)
                             for _person, _level, _tags, note in ratings if (note or "").startswith(MARKER))
        lost = len(acknowledged - counts.keys())
        double = sum(1 for c in counts.values() if c > 1)
        unacknowledged_stored = len(counts.keys() - acknowledged)

        print(f"\nmedians of {args.rounds} rounds (each round measures its own baseline)")
        print(f"ratio office page / baseline   {median[0]:.2f}   (target >= 0.6)")
        print(f"ratio ballot POST / baseline   {median[1]:.2f}   (target >= 0.25)")
        print(f"p99 GET {median[2] * 1000:.0f} ms, POST {median[3] * 1000:.0f} ms   (target < 250 ms)")
        if args.floor:
            print(f"floor / baseline: office page {median[4]:.2f}, ballot POST {median[5]:.2f}")
            print(f"service / floor: office page {median[6]:.2f}, ballot POST {median[7]:.2f}")
        print(f"acknowledged {len(acknowledged)}   stored {len(counts)}   lost {lost}   double {double}   "
              f"stored without acknowledgement {unacknowledged_stored}")
    finally:
        for server in servers:
            server.terminate()
            server.wait()
        drop_database(app, created)


if __name__ == "__main__":
    main()
