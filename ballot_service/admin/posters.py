"""Posters: choose layout, format and scope (within one's own), render in the worker, follow
the batch (services.poster_batches) with a progress bar, download it once it is drawn."""

from flask import g, redirect, render_template, send_file, url_for
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField

from ..domain.access import Permission as P
from ..extensions import db
from ..services import access, poster_batches, posters
from . import bp


class PosterForm(FlaskForm):
    template = SelectField("版式", validate_choice=False)
    fmt = RadioField("格式", choices=[("pdf", "PDF（一个文件，直接打印）"), ("zip", "ZIP（每页一张300dpi PNG图片）")],
                     default="pdf", validate_choice=False)
    scope = RadioField("范围", validate_choice=False)
    department = SelectField("部门（范围为“一个部门”时）", validate_choice=False)
    office = SelectField("科室（范围为“一个科室”时）", validate_choice=False)


def _form() -> PosterForm:
    form = PosterForm()
    scopes, departments, offices = poster_batches.poster_choices(access.scope())
    form.template.choices = poster_batches.template_choices()
    form.scope.choices = scopes
    if not form.scope.data:
        form.scope.data = scopes[0][0]
    form.department.choices = departments
    form.office.choices = offices
    return form


def _value(form: PosterForm) -> str | None:
    """The scope's value for poster_batches.request, or None after adding a field error."""
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
        code = poster_batches.poster_region_code(access.scope())
        if code is None:
            form.scope.errors.append("不在您的管理范围内")
        return code
    field = form.department if kind == "department" else form.office
    if not field.data:
        field.errors.append("请选择" + ("部门" if kind == "department" else "科室"))
        return None
    place = poster_batches.poster_place(kind, field.data)
    if not poster_batches.poster_covered(access.scope(), place):
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
                batch = poster_batches.request(form.scope.data, value, form.template.data, form.fmt.data,
                                               access.current_user().id)
            except posters.PosterError as exc:
                form.template.errors.append(str(exc))
            else:
                db.session.commit()
                return redirect(url_for("admin.poster_job", batch_id=batch.id))
    status = 400 if form.errors else 200
    return render_template("admin/rounds/posters.html", form=form), status


@bp.route("/posters/<int:batch_id>")
@access.guard(P.POSTERS_RENDER, "poster_batch", "batch_id")
def poster_job(batch_id: int):
    status = poster_batches.status(g.obj)
    label = dict(poster_batches.template_choices()).get(status.template, status.template)
    return render_template("admin/rounds/poster_job.html", status=status, template_label=label)


@bp.route("/posters/<int:batch_id>/status")
@access.guard(P.POSTERS_RENDER, "poster_batch", "batch_id")
def poster_job_status(batch_id: int):
    status = poster_batches.status(g.obj)
    return {"state": status.state, "done": status.done, "total": status.total, "percent": status.percent,
            "error": status.error,
            "download_url": url_for("admin.poster_download", batch_id=batch_id) if status.finished else None}


@bp.route("/posters/<int:batch_id>/file")
@access.guard(P.POSTERS_RENDER, "poster_batch", "batch_id")
def poster_download(batch_id: int):
    status = poster_batches.status(g.obj)
    if not status.finished:
        return render_template("admin/message.html", title="尚未生成完成",
                               message="公示牌还在生成中（或生成失败），请返回进度页查看。"), 409
    return send_file(status.path, mimetype=poster_batches.MIMETYPES.get(status.format), as_attachment=True,
                     download_name=status.download_name)
