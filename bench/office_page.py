"""Office page (GET /o/<code>): time per request and SQL statements, against a baseline.

The baseline is GET /healthz in the same process and run (Flask's own floor on this
machine), so the ratio is comparable across noisy runs. Uses the demo data on a scratch
SQLite database (or DATABASE_URL), in-process through the WSGI test client.

    .venv/bin/python bench/office_page.py [--requests 300]
"""

import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import event, select  # noqa: E402

from ballot_service import create_app  # noqa: E402
from ballot_service.extensions import db  # noqa: E402
from ballot_service.models import Office  # noqa: E402
from ballot_service.services.demo import seed_demo  # noqa: E402


def timed(client, path: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path, headers={"Accept-Encoding": "gzip"})
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-")
    config = {"MEDIA_ROOT": os.path.join(tmp, "media"), "REDIS_URL": None, "SECRET_KEY": "bench"}
    if not os.environ.get("DATABASE_URL"):
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp}/bench.sqlite3"
    app = create_app(config)
    with app.app_context():
        upgrade()
        seed_demo(app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"])
        code = db.session.scalar(select(Office.code).where(Office.name == "企业登记窗口"))
        statements = []
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    client = app.test_client()
    page = client.get(f"/o/{code}", headers={"Accept-Encoding": "gzip"})
    queries = len(statements)
    timed(client, "/healthz", 20)  # warm up
    timed(client, f"/o/{code}", 20)
    base = timed(client, "/healthz", args.requests)
    office = timed(client, f"/o/{code}", args.requests)
    b, o = statistics.median(base) * 1000, statistics.median(office) * 1000
    print(f"requests each            {args.requests}")
    print(f"baseline /healthz        median {b:.3f} ms   p95 {sorted(base)[int(len(base) * .95)] * 1000:.3f} ms")
    print(f"office page /o/<code>    median {o:.3f} ms   p95 {sorted(office)[int(len(office) * .95)] * 1000:.3f} ms")
    print(f"ratio office/baseline    {o / b:.1f}x")
    print(f"SQL statements per render (cache miss)  {queries}")
    print(f"wire bytes (gzip)        {len(page.data)} (budget 30720; uncompressed {len(gzip.decompress(page.data))})")


if __name__ == "__main__":
    main()
