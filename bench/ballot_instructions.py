"""CPU instructions per office page GET and per ballot POST, counted by valgrind's callgrind.

Timings on this shared machine scatter by tens of percent; instruction counts repeat. Each
request goes through the WSGI app in this process (PostgreSQL and Redis run outside it, so
only the app's own work is counted). The process runs under callgrind four times, doing the
same start-up and warm-up each time and then a different loop of `--requests` requests:

  none   nothing more;
  bare   GET on the bare Flask route of bench/bare_app.py (the baseline);
  get    the office page as new voters;
  post   the office page as new voters, then each of them submits a ballot;
  floor_get, floor_post   the same against bench/floor_app.py (the required work alone).

Per request: bare = (bare - none) / n, GET = (get - none) / n, POST = (post - get) / n, and
the floor's likewise. Beside the targets (against the bare route) it prints the service
against the floor: what the service spends beyond the work its ballot requires.

    .venv/bin/python bench/ballot_instructions.py [--requests 100]

Needs valgrind. Database and Redis as for bench/ballot_load.py (a scratch PostgreSQL database,
Redis 127.0.0.1:6379/14 flushed). Takes about 5 minutes.
"""

import argparse
import io
import os
import re
import subprocess
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.ballot_load import PEOPLE, bench_environment, drop_database, seed  # noqa: E402

WARM_UP = 30
TOKEN_FIELD = b'name="token" value="'
LOOPS = ("none", "bare", "get", "post", "floor_get", "floor_post")
COLLECTED = re.compile(r"Collected : (\d+)")


def call(app, method: str, path: str, cookie: str | None = None, body: bytes = b"") -> tuple[str, dict, bytes]:
    """One request straight through the WSGI interface, as a server would make it."""
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_ACCEPT_ENCODING": "identity", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.multithread": False,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    if body:
        environ.update(CONTENT_TYPE="application/x-www-form-urlencoded", CONTENT_LENGTH=str(len(body)))
    started = {}
    chunks = app(environ, lambda status, headers, exc_info=None: started.update(status=status, headers=headers))
    data = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return started["status"], dict(started["headers"]), data


def child(loop: str, requests: int) -> None:
    """The measured process: start-up and warm-up, then one loop."""
    from ballot_service import create_app
    from bench.bare_app import app as bare

    os.environ["FLOOR_OFFICE"] = os.environ["BENCH_OFFICE"]
    from bench.floor_app import app as floor

    app = create_app()
    path = f"/o/{os.environ['BENCH_OFFICE']}"
    forms = []
    measured = floor if loop.startswith("floor") else app

    people = []

    def office_page(app=measured):
        # The client's own reading of the page is counted too: kept to one bytes.find for the
        # token (the office's people are read from the first page only), so that it does not
        # grow with the page (a regex over the decoded page had cost 0.50 M per GET).
        status, headers, html = call(app, "GET", path)
        assert status.startswith("200"), status
        if not people:
            people.extend(sorted(set(PEOPLE.findall(html.decode()))))
        start = html.index(TOKEN_FIELD) + len(TOKEN_FIELD)
        forms.append((headers["Set-Cookie"].split(";")[0], html[start:html.index(b'"', start)].decode(), people))

    def ballot(app=measured):
        cookie, token, people = forms.pop()
        form = {"token": token, **{f"r{p}": "satisfied" for p in people}}
        form[f"r{people[0]}"], form[f"n{people[0]}"] = "basically_satisfied", "bench"
        status, _, html = call(app, "POST", f"{path}/ballot", cookie, urllib.parse.urlencode(form).encode())
        assert status.startswith("200") and "感谢您的评价".encode() in html, status

    for _ in range(WARM_UP):
        call(bare, "GET", "/bare")
        for warmed in (app, floor):
            office_page(warmed)
            ballot(warmed)
    for _ in range(requests if loop == "bare" else 0):
        call(bare, "GET", "/bare")
    for _ in range(requests if loop in ("get", "post", "floor_get", "floor_post") else 0):
        office_page()
    for _ in range(requests if loop in ("post", "floor_post") else 0):
        ballot()


def instructions(loop: str, requests: int, env: dict) -> int:
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
         "--child", loop, "--requests", str(requests)],
        env=dict(env, PYTHONHASHSEED="0"), capture_output=True, text=True, check=True)
    return int(COLLECTED.search(result.stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--child", choices=LOOPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.requests)

    env, created = bench_environment()
    from ballot_service import create_app

    app = create_app()
    try:
        env["BENCH_OFFICE"] = seed(app)
        counts = {loop: instructions(loop, args.requests, env) for loop in LOOPS}
    finally:
        drop_database(app, created)
    n = args.requests
    bare = (counts["bare"] - counts["none"]) / n
    get = (counts["get"] - counts["none"]) / n
    post = (counts["post"] - counts["get"]) / n
    floor_get = (counts["floor_get"] - counts["none"]) / n
    floor_post = (counts["floor_post"] - counts["floor_get"]) / n
    print(f"instructions per request ({n} of each, callgrind):")
    print(f"baseline GET /bare   {bare / 1e6:6.3f} M")
    print(f"office page GET      {get / 1e6:6.3f} M   {get / bare:5.2f} x baseline (target <= 3.0)   "
          f"{get / floor_get:5.2f} x floor")
    print(f"ballot POST          {post / 1e6:6.3f} M   {post / bare:5.2f} x baseline (target <= 10)    "
          f"{post / floor_post:5.2f} x floor")
    print(f"floor: office page   {floor_get / 1e6:6.3f} M   {floor_get / bare:5.2f} x baseline")
    print(f"floor: ballot POST   {floor_post / 1e6:6.3f} M   {floor_post / bare:5.2f} x baseline")


if __name__ == "__main__":
    main()
