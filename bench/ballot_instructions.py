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

With --sizes it measures instead how the ballot's cost grows with the office: the demo city
gets one more department with a 4-person office and a 30-person one (main leader,
leader-in-charge, head and 1 or 27 staff, on both ballots the same leaders), opened in the same
round (so every ballot of it is sealed at the 30-person office's size, as in any round with such
an office), and the process runs five times: none, get_small, post_small, get_large,
post_large (the same warm-up of both offices each time). GET and POST of each office as above,
and the ratio 30 against 4.

    .venv/bin/python bench/ballot_instructions.py [--requests 100] [--sizes]

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
SIZE_LOOPS = ("none", "get_small", "post_small", "get_large", "post_large")
SIZES = {"small": 4, "large": 30}  # people on the office's ballot
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


def child(loop: str, requests: int, sizes: bool = False) -> None:
    """The measured process: start-up and warm-up, then one loop."""
    from ballot_service import create_app
    from bench.bare_app import app as bare

    app = create_app()
    if sizes:
        paths = {size: f"/o/{os.environ[f'BENCH_OFFICE_{size.upper()}']}" for size in SIZES}
        measured, path = app, paths.get(loop.partition("_")[2])
    else:
        os.environ["FLOOR_OFFICE"] = os.environ["BENCH_OFFICE"]
        from bench.floor_app import app as floor

        path = f"/o/{os.environ['BENCH_OFFICE']}"
        measured = floor if loop.startswith("floor") else app
    forms: dict[str, list] = {}
    people: dict[str, list] = {}

    def office_page(app=measured, path=path):
        # The client's own reading of the page is counted too: kept to one bytes.find for the
        # token (the office's people are read from its first page only), so that it does not
        # grow with the page (a regex over the decoded page had cost 0.50 M per GET).
        status, headers, html = call(app, "GET", path)
        assert status.startswith("200"), status
        if path not in people:
            people[path] = sorted(set(PEOPLE.findall(html.decode())))
        start = html.index(TOKEN_FIELD) + len(TOKEN_FIELD)
        forms.setdefault(path, []).append(
            (headers["Set-Cookie"].split(";")[0], html[start:html.index(b'"', start)].decode(), people[path]))

    def ballot(app=measured, path=path):
        cookie, token, rated = forms[path].pop()
        form = {"token": token, **{f"r{p}": "satisfied" for p in rated}}
        form[f"r{rated[0]}"], form[f"n{rated[0]}"] = "basically_satisfied", "bench"
        status, _, html = call(app, "POST", f"{path}/ballot", cookie, urllib.parse.urlencode(form).encode())
        assert status.startswith("200") and "感谢您的评价".encode() in html, status

    for _ in range(WARM_UP):
        if sizes:
            for warmed in paths.values():
                office_page(app, warmed)
                ballot(app, warmed)
            continue
        call(bare, "GET", "/bare")
        for warmed in (app, floor):
            office_page(warmed)
            ballot(warmed)
    if sizes:
        assert loop == "none" or len(people[path]) == SIZES[loop.partition("_")[2]], people.get(path)
    for _ in range(requests if loop == "bare" else 0):
        call(bare, "GET", "/bare")
    for _ in range(requests if loop != "none" and loop != "bare" else 0):
        office_page()
    for _ in range(requests if "post" in loop else 0):
        ballot()


def instructions(loop: str, requests: int, env: dict, sizes: bool = False) -> int:
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
         "--child", loop, "--requests", str(requests), *(["--sizes"] if sizes else [])],
        env=dict(env, PYTHONHASHSEED="0"), capture_output=True, text=True, check=True)
    return int(COLLECTED.search(result.stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--sizes", action="store_true",
                        help="a 4-person office against a 30-person one, instead of the bare route and the floor")
    parser.add_argument("--child", choices=sorted({*LOOPS, *SIZE_LOOPS}), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.requests, args.sizes)

    env, created = bench_environment()
    from ballot_service import create_app

    app = create_app()
    try:
        if args.sizes:
            env.update(seed_sizes(app))
            counts = {loop: instructions(loop, args.requests, env, sizes=True) for loop in SIZE_LOOPS}
        else:
            env["BENCH_OFFICE"] = seed(app)
            counts = {loop: instructions(loop, args.requests, env) for loop in LOOPS}
    finally:
        drop_database(app, created)
    n = args.requests
    if args.sizes:
        return print_sizes(counts, n)
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


def print_sizes(counts: dict[str, int], n: int) -> None:
    get = {size: (counts[f"get_{size}"] - counts["none"]) / n for size in SIZES}
    post = {size: (counts[f"post_{size}"] - counts[f"get_{size}"]) / n for size in SIZES}
    small, large = SIZES["small"], SIZES["large"]
    print(f"instructions per request ({n} of each, callgrind), a {small}-person office against a {large}-person "
          f"one in the same round:")
    for name, figures in (("office page GET", get), ("ballot POST", post)):
        print(f"{name:<16} {small:>2} people {figures['small'] / 1e6:6.3f} M   {large} people "
              f"{figures['large'] / 1e6:6.3f} M   ratio {figures['large'] / figures['small']:5.2f}   "
              f"{(figures['large'] - figures['small']) / (large - small) / 1e3:5.1f} k per further person")


def seed_sizes(app) -> dict[str, str]:
    """The demo city with one more department whose two offices have 4 and 30 people on their
    ballots (made before the demo round opens, which freezes the rosters); their codes."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from ballot_service.domain.office_codes import new_office_code
    from ballot_service.domain.roles import Role
    from ballot_service.extensions import db, redis_ext
    from ballot_service.models import Department, Office, Region
    from ballot_service.services.demo import _People, open_demo_round, seed_demo

    with app.app_context():
        upgrade()
        redis_ext.client.flushdb()
        if not seed_demo(app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"]):
            raise SystemExit("the database must be empty")
        codes = set(db.session.scalars(select(Office.code)))
        dept = Department(code="bench", name="市基准测试局", region=db.session.scalar(
            select(Region).where(Region.code == "heze")), is_stationed=False, sort_order=99)
        offices = {}
        for order, size in enumerate(SIZES):
            offices[size] = Office(department=dept, name=f"基准窗口{SIZES[size]}人", code=new_office_code(codes),
                                   sort_order=order)
            codes.add(offices[size].code)
        people = _People("bench", app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"])
        people.make(dept, Role.MAIN_LEADER, "局长", business="主持全面工作")
        people.make(dept, Role.LEADER_IN_CHARGE, "副局长", overseen_offices=list(offices.values()))
        for size, office in offices.items():
            people.make(dept, Role.OFFICE_HEAD, "窗口负责人", office=office, business="窗口全面工作")
            for order in range(SIZES[size] - 3):
                people.make(dept, Role.STAFF, "工作人员", office=office, business="受理与办理", sort_order=order + 1)
        db.session.commit()
        open_demo_round()
        return {f"BENCH_OFFICE_{size.upper()}": office.code for size, office in offices.items()}


if __name__ == "__main__":
    main()
