"""The roster's files: the workbook exported for Excel and imported back after a preview, the
error table of a refused import as a workbook, and the photo archive (the photos that match
are used, the others listed).

An import is two steps. The upload is checked and its plan shown, row by row, with nothing
written; the workbook is held for the user (services.importing.hold) and the confirmation
applies exactly the plan that was shown, or refuses if the roster changed meanwhile.
"""

import io

from flask import current_app, flash, redirect, render_template, request, send_file, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField

from ..domain.access import Level
from ..domain.access import Permission as P
from ..extensions import db
from ..services import access, catalog, photos, roster
from ..services import roster_export as exporting
from ..services import roster_import as importing
from ..services.roster_io import ImportRejected
from . import bp

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportForm(FlaskForm):
    workbook = FileField("Excel 文件（.xlsx）",
                         description="使用“导出名单”得到的工作簿修改后上传；先预览将要发生的变化，确认后才导入")


class ConfirmForm(FlaskForm):
    token = HiddenField()
    digest = HiddenField()


class PhotoArchiveForm(FlaskForm):
    archive = FileField("照片压缩包（.zip）", description="文件名为“部门编码_姓名.jpg”或“部门编码_姓名_联系电话.jpg”")


def _page(status: int = 200, **context):
    user_scope = access.scope()
    context.setdefault("form", ImportForm())
    context.setdefault("photo_form", PhotoArchiveForm())
    departments = catalog.departments_in(user_scope, access.condition("department", user_scope))
    return render_template("admin/catalog/import.html", departments=departments,
                           department_level=user_scope.level is Level.DEPARTMENT, **context), status


def _upload(form, name: str) -> bytes | None:
    """The uploaded file's bytes, or None with a field error."""
    field = getattr(form, name)
    if not form.validate_on_submit():
        return None
    if not hasattr(field.data, "read"):
        field.errors = ["请选择要上传的文件"]
        return None
    return field.data.read()


def _user_id() -> int:
    return access.current_user().id


@bp.route("/roster/import", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE)
def roster_import():
    """GET: the page. POST: an upload checked and previewed, nothing written yet."""
    if request.method == "GET":
        return _page()
    form = ImportForm()
    data = _upload(form, "workbook")
    if data is None:
        return _page(400, form=form)
    token = importing.hold(_user_id(), data)
    try:
        plan = importing.plan_for(access.scope(), data)
    except ImportRejected as rejected:
        return _page(400, form=form, errors=rejected.errors, errors_token=token)
    if not plan.changes:
        importing.release(_user_id(), token)
        flash(f"已检查上传的名单：{plan.summary()}。")
        return redirect(url_for("admin.roster_import"))
    return _page(plan=plan, confirm=ConfirmForm(token=token, digest=plan.digest))


@bp.route("/roster/import/confirm", methods=["POST"])
@access.guard(P.ROSTER_MANAGE)
def roster_import_confirm():
    form = ConfirmForm()
    data = importing.held(_user_id(), form.token.data) if form.validate_on_submit() else None
    if data is None:
        flash("预览已过期或已导入，请重新上传名单。")
        return redirect(url_for("admin.roster_import"))
    try:
        plan = importing.import_for(access.scope(), data, form.digest.data)
    except ImportRejected as rejected:
        return _page(400, errors=rejected.errors)
    db.session.commit()
    importing.release(_user_id(), form.token.data)
    flash(f"导入成功：{plan.summary()}。")
    return redirect(url_for("admin.roster_import"))


@bp.route("/roster/import/<token>/errors.xlsx")
@access.guard(P.ROSTER_MANAGE)
def roster_import_errors(token: str):
    """The error table of a refused upload, checked again, as a workbook."""
    data = importing.held(_user_id(), token)
    if data is None:
        flash("错误清单已过期，请重新上传名单。")
        return redirect(url_for("admin.roster_import"))
    try:
        importing.plan_for(access.scope(), data)
    except ImportRejected as rejected:
        return send_file(exporting.errors_workbook(rejected), as_attachment=True,
                         download_name="名单导入错误清单.xlsx", mimetype=XLSX)
    flash("该文件现已没有错误，请重新上传并预览。")
    return redirect(url_for("admin.roster_import"))


@bp.route("/roster/export")
@access.guard(P.ROSTER_MANAGE)
def roster_export():
    department = None
    department_id = request.args.get("department_id", type=int)  # out of range: access.load answers 404
    if department_id:
        department = access.load("department", department_id)
    stream = io.BytesIO()
    exporting.export_for(access.scope(), stream, department)
    stream.seek(0)
    name = f"{department.name}-人员名单.xlsx" if department else "人员名单.xlsx"
    return send_file(stream, as_attachment=True, download_name=name, mimetype=XLSX)


@bp.route("/roster/photos", methods=["POST"])
@access.guard(P.ROSTER_MANAGE)
def photos_import():
    form = PhotoArchiveForm()
    data = _upload(form, "archive")
    if data is None:
        return _page(400, photo_form=form)
    config = current_app.config
    try:
        result = roster.import_photo_archive(access.scope(), data, config["MEDIA_ROOT"],
                                              config["PHOTO_MAX_PIXELS"], config["MAX_CONTENT_LENGTH"])
    except photos.PhotoImportRejected as rejected:
        return _page(400, photo_form=form, photo_errors=rejected.errors)
    db.session.commit()
    if result.skipped:  # the page lists what was left out
        return _page(photo_form=form, photo_result=result)
    flash(f"照片导入成功：共{result.stored}人。")
    return redirect(url_for("admin.roster_import"))
