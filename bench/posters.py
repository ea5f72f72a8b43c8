"""Poster rendering: 200 A4 identity boards at 300 dpi with 8 photos each.

Prints posters per second and peak memory of this process, and in the same run the time
Pillow needs just to encode 200 pages of the same size as PNG (the encoding floor, using one
of the rendered pages), with the ratio.

    .venv/bin/python bench/posters.py [--posters 200]

Builds a scratch SQLite database (or DATABASE_URL, which must be empty) in a temporary folder.
"""

import argparse
import io
import os
import resource
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posters", type=int, default=200)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-posters-")
    config = {"MEDIA_ROOT": os.path.join(tmp, "media"), "KEY_DIR": os.path.join(tmp, "keys"), "REDIS_URL": None,
              "SECRET_KEY": "bench"}
    if not os.environ.get("DATABASE_URL"):
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp}/bench.sqlite3"

    from flask_migrate import upgrade

    from ballot_service import create_app
    from ballot_service.domain.office_codes import new_office_code
    from ballot_service.domain.roles import Role
    from ballot_service.extensions import db
    from ballot_service.models import Department, Office, Person, Region
    from ballot_service.services import posters
    from ballot_service.services.demo import COLOURS, placeholder_photo
    from ballot_service.services.photos import store_photo

    app = create_app(config)
    with app.app_context():
        upgrade()
        photos = [store_photo(placeholder_photo(COLOURS[i]), config["MEDIA_ROOT"], 10**8)
                  for i in range(8)]
        region = Region(code="bench", name="基准市", kind="city")
        dept = Department(code="bench", name="市基准测试服务局", region=region)
        db.session.add_all([region, dept])
        codes: set[str] = set()
        offices = []
        for n in range(args.posters):
            office = Office(department=dept, name=f"第{n + 1}业务窗口", code=new_office_code(codes))
            codes.add(office.code)
            offices.append(office)
        db.session.add_all(offices)
        db.session.add(Person(department=dept, role=Role.MAIN_LEADER.value, name="王建国", post="局长",
                              phone="0530-5310000", photo=photos[0]))
        for n, office in enumerate(offices):
            db.session.add(Person(department=dept, role=Role.LEADER_IN_CHARGE.value, name=f"李分管{n}",
                                  post="副局长", phone="13953010000", photo=photos[1], oversees_field="分管业务窗口",
                                  overseen_offices=[office]))
            for k in range(6):
                role = Role.OFFICE_HEAD if k == 0 else Role.STAFF
                db.session.add(Person(department=dept, office=office, role=role.value, name=f"张员工{k}",
                                      post="窗口负责人" if k == 0 else "工作人员",
                                      phone="13953012345", business="企业设立登记、变更登记", photo=photos[2 + k]))
        db.session.commit()

        template = posters.load_template("identity_board")
        fonts = posters.Fonts(*posters.find_font())
        data = [posters.office_data(o, "http://127.0.0.1:5000") for o in offices]
        assert all(len(d.people) == 8 for d in data)
        started = time.perf_counter()
        pages = 0
        for office in data:
            for page in posters.render_office(template, office, fonts, "监督电话：12345", config["MEDIA_ROOT"]):
                posters.png_bytes(page)
                sample, pages = page, pages + 1
        render = time.perf_counter() - started

        started = time.perf_counter()
        for _ in range(pages):
            out = io.BytesIO()
            sample.save(out, "PNG", dpi=(300, 300))
        floor = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"posters                 {args.posters} A4 identity boards, 300 dpi, 8 photos each")
    print(f"render + PNG encode     {render:7.2f} s   {args.posters / render:6.2f} posters/s (target >= 2)")
    print(f"pages                   {pages}")
    print(f"floor: PNG encode only  {floor:7.2f} s   {pages / floor:6.2f} pages/s")
    print(f"ratio render / floor    {render / floor:7.2f}")
    print(f"peak memory (RSS)       {peak_mb:7.0f} MB")


if __name__ == "__main__":
    main()
