"""Posters: choose layout, format and scope (within one's own), render in the worker, follow
the job with a progress bar, download the batch."""

from flask import current_app, g, redirect, render_template, send_file, url_for
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField

from ..domain.access import Permission as P
from ..extensions import db
from ..services import access, admin_rounds, posters
from . import bp

MIMETYPES = {"pdf": "application/pdf", "zip": "application/zip"}


class PosterForm(FlaskForm):
    template = SelectField("版式", validate_choice=False)
    fmt = RadioField("格式", choices=[("pdf", "PDF（一个文件，直接打印）"), ("zip", "ZIP（每页一张300dpi PNG图片）")],
                     default="pdf", validate_choice=False)
    scope = RadioField("范围", validate_choice=False)
    department = SelectField("部门（范围为“一个部门”时）", validate_choice=False)
    office = SelectField("科室（范围为“一个科室”时）", validate_choice=False)


def _form() -> PosterForm:
    form = PosterForm()
    scopes, departments, offices = admin_rounds.poster_choices(access.scope())
    form.template.choices = admin_rounds.template_choices()
    form.scope.choices = scopes
    if not form.scope.data:
        form.scope.data = scopes[0][0]
    form.department.choices = departments
    form.office.choices = offices
    return form


def _value(form: PosterForm) -> str | None:
    """The scope's value for posters.enqueue_render, or None after adding a field error."""
    if form.template.data not in dict(form.template.choices):
        form.template.errors.append("请选择版式")
    if form.fmt.data not in dict(form.fmt.choices):
        form.fmt.errors.append("请选择格式：PDF 或 ZIP")
    kind = form.scope.data
    if kind not in dict(form.scope.choices):
        form.scope.errors.append("请选择范围")
        return None
    if kind == "all":
        return None
    if kind == "region":
        code = admin_rounds.poster_region_code(access.scope())
        if code is None:
            form.scope.errors.append("不在您的管理范围内")
        return code
    field = form.department if kind == "department" else form.office
    if not field.data:
        field.errors.append("请选择" + ("部门" if kind == "department" else "科室"))
        return None
    place = admin_rounds.poster_place(kind, field.data)
    if not admin_rounds.poster_covered(access.scope(), place):
        field.errors.append("不在您的管理范围内")
        return None
    return field.data


@bp.route("/posters", methods=["GET", "POST"], endpoint="posters")
@access.guard(P.POSTERS_RENDER)
def posters_page():
    form = _form()
    if form.validate_on_submit():
        value = _value(form)
        if not form.errors:
            try:
                job = posters.enqueue_render(form.scope.data, value, form.template.data, form.fmt.data)
            except posters.PosterError as exc:
                form.template.errors.append(str(exc))
            else:
                db.session.commit()
                return redirect(url_for("admin.poster_job", job_id=job.id))
    status = 400 if form.errors else 200
    return render_template("admin/rounds/posters.html", form=form), status


def _status() -> admin_rounds.PosterStatus:
    """The guarded job's progress (the guard answers 404 for a job outside the user's scope)."""
    return admin_rounds.poster_status(g.obj, current_app.config["MEDIA_ROOT"])


@bp.route("/posters/<job_id>")
@access.guard(P.POSTERS_RENDER, "poster_job", "job_id")
def poster_job(job_id: str):
    status = _status()
    label = dict(admin_rounds.template_choices()).get(status.template, status.template)
    return render_template("admin/rounds/poster_job.html", status=status, template_label=label)


@bp.route("/posters/<job_id>/status")
@access.guard(P.POSTERS_RENDER, "poster_job", "job_id")
def poster_job_status(job_id: str):
    status = _status()
    return {"state": status.state, "done": status.done, "total": status.total, "percent": status.percent,
            "download_url": url_for("admin.poster_download", job_id=job_id) if status.finished else None}


@bp.route("/posters/<job_id>/file")
@access.guard(P.POSTERS_RENDER, "poster_job", "job_id")
def poster_download(job_id: str):
    status = _status()
    if not status.finished:
        return render_template("admin/message.html", title="尚未生成完成",
                               message="公示牌还在生成中（或生成失败），请返回进度页查看。"), 409
    return send_file(status.path, mimetype=MIMETYPES.get(status.format), as_attachment=True,
                     download_name=f"{status.template}.{status.format}")
