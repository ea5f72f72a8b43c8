from flask import abort, current_app, render_template, send_from_directory

from ..services import disclosure, health
from ..services.photos import photo_dir
from . import bp

PHOTO_MAX_AGE = 365 * 24 * 3600  # photo files are named by their content hash


@bp.get("/")
def home():
    return render_template("public/home.html", regions=disclosure.list_regions())


@bp.get("/o/<code>")
def office(code: str):
    page = disclosure.get_office_page(code)
    if page is None:
        abort(404, description="没有找到这个科室，请核对二维码或科室编码。")
    return render_template("public/office.html", page=page)


@bp.get("/d/<code>")
def department(code: str):
    page = disclosure.get_department_page(code)
    if page is None:
        abort(404, description="没有找到这个部门，请核对部门编码。")
    return render_template("public/department.html", page=page)


@bp.get("/media/photos/<name>")
def photo(name: str):
    return send_from_directory(photo_dir(current_app.config["MEDIA_ROOT"]), name, max_age=PHOTO_MAX_AGE)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    problems = health.check_dependencies()
    if problems:
        return {"status": "unavailable", "problems": problems}, 503
    return {"status": "ok"}
