"""The roster pages: people, post duties and service items, one person's photo (regions,
departments and offices: admin.organisation; the roster's workbook and photo archive:
admin.roster), and the helpers every catalog page shares.

Thin views: a form, one call into services.catalog, a flash and a redirect; a refused input is
shown next to its field with HTTP 400. Lists show only what the user's scope covers.
"""


from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from ..domain.access import Permission as P
from ..domain.roles import ROLE_LABELS
from ..extensions import db
from ..models import DUTY_CATEGORY_LABELS, Person, PostDuty, ServiceItem
from ..services import access, catalog, roster
from . import bp, paginate

PER_PAGE = 50


def _int_or_none(value):
    """Select values and query-string filters: an id, or None for the empty choice and for anything
    that cannot be one (not a number, or outside the ids the database holds: catalog.valid_id)."""
    if value is None or value == "" or value == "None":
        return None
    if not isinstance(value, int):
        try:
            value = int(value)
        except (TypeError, ValueError):
            return None
    return catalog.valid_id(value)


def _choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


class PersonForm(FlaskForm):
    department_id = SelectField("所属部门", coerce=_int_or_none, validate_choice=False)
    role = SelectField("人员类别", choices=_choices((r.value, label) for r, label in ROLE_LABELS.items()),
                       validate_choice=False)
    office_id = SelectField("所在科室", coerce=_int_or_none, validate_choice=False,
                            description="主要负责人、分管负责人不选科室")
    name = StringField("姓名")
    post = StringField("职务")
    phone = StringField("联系电话", description="11位手机号，或带区号的座机如 0530-5310000")
    business = TextAreaField("从事业务")
    duties = TextAreaField("岗位职责")
    oversees_field = StringField("分管领域", description="仅分管负责人填写")
    overseen_office_ids = SelectMultipleField("分管科室", coerce=_int_or_none, validate_choice=False,
                                              description="仅分管负责人选择；须为本部门科室")
    active = BooleanField("在岗（显示在公示页和选票上）", default=True)
    sort_order = StringField("排序")


class DutyForm(FlaskForm):
    department_id = SelectField("所属部门", coerce=_int_or_none, validate_choice=False)
    category = SelectField("类别", choices=_choices(DUTY_CATEGORY_LABELS.items()), validate_choice=False)
    office_id = SelectField("科室", coerce=_int_or_none, validate_choice=False, description="仅业务科室岗位选择")
    post_name = StringField("岗位名称")
    duties = TextAreaField("岗位职责")
    sort_order = StringField("排序")


class ServiceItemForm(FlaskForm):
    office_id = SelectField("科室", coerce=_int_or_none, validate_choice=False)
    name = StringField("事项名称")
    procedure = TextAreaField("办理流程")
    statutory_limit = StringField("法定时限")
    promised_limit = StringField("承诺时限")
    materials = TextAreaField("申请材料")
    sort_order = StringField("排序")


class PhotoForm(FlaskForm):
    photo = FileField("照片", description="JPEG、PNG 等常见格式；将裁成一寸照（295×413）并去除拍摄信息")


# --- helpers ------------------------------------------------------------------------------------

def _data(form: FlaskForm, *skip: str) -> dict:
    return {name: value for name, value in form.data.items() if name != "csrf_token" and name not in skip}


def _refuse(form: FlaskForm, error: catalog.CatalogError) -> None:
    """Show the service's message next to its field (or above the form)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is None or not hasattr(field, "errors"):
        form.form_errors.append(str(error))
    else:
        field.errors = [*field.errors, str(error)]


def _page(query):
    return paginate(query, PER_PAGE)


def _form_page(form, title: str, action: str, back: str, status: int, **extra):
    return render_template("admin/catalog/form.html", form=form, title=title, action=action, back=back,
                           **extra), status


def _save(form, call, done, title: str, back: str, **extra):
    """What every new and edit page does: on a valid POST run the service call and commit, then
    flash and redirect where `done(saved)` says, (message, url); else the form (400 after a
    refused POST), posting back to this page."""
    saved = _run(form, call)
    if saved:
        message, target = done(saved)
        flash(message)
        return redirect(target)
    return _form_page(form, title, request.path, back, 400 if request.method == "POST" else 200, **extra)


def _departments():
    return catalog.departments_in(access.scope(), access.condition("department", access.scope()))


def _department_choices(blank: bool = False):
    choices = [(d.id, f"{d.region.name} · {d.name}{'' if d.active else '（已停用）'}") for d in _departments()]
    return _choices(([(None, "（请选择）")] if blank else []) + choices)


def _office_choices(blank_label: str | None = "（不选）"):
    offices = catalog.offices_in(access.condition("office", access.scope()))
    choices = [(o.id, f"{o.department.name} · {o.name}{'' if o.active else '（已停用）'}") for o in offices]
    return _choices(([(None, blank_label)] if blank_label else []) + choices)


def _run(form, call):
    """Validate the form and run the service call; returns the result, or None on refusal."""
    if not form.validate_on_submit():
        return None
    try:
        outcome = call()
        db.session.commit()
        return outcome
    except catalog.CatalogError as error:
        _refuse(form, error)
        return None


# --- people -------------------------------------------------------------------------------------

@bp.route("/people")
@access.guard(P.ROSTER_MANAGE)
def people():
    department_id = request.args.get("department_id", type=_int_or_none)
    office_id = request.args.get("office_id", type=_int_or_none)
    show = request.args.get("show", "active")
    query = catalog.people_listed(access.scope(), department_id, office_id, None if show == "all" else True)
    return render_template("admin/catalog/people.html", page=_page(query), departments=_departments(),
                           offices=catalog.offices_in(access.condition("office", access.scope()), department_id),
                           department_id=department_id, office_id=office_id, show=show, role_labels=ROLE_LABELS)


def _person_form(person: Person | None) -> PersonForm:
    form = PersonForm(obj=person)
    form.department_id.choices = _department_choices(blank=person is None)
    form.office_id.choices = _office_choices()
    form.overseen_office_ids.choices = _office_choices(blank_label=None)
    if request.method == "GET":
        if person is not None:
            form.overseen_office_ids.data = [o.id for o in person.overseen_offices]
        else:
            form.department_id.data = request.args.get("department_id", type=_int_or_none)
            form.office_id.data = request.args.get("office_id", type=_int_or_none)
    return form


@bp.route("/people/new", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE)
def person_new():
    form = _person_form(None)
    del form.active
    return _save(form, lambda: roster.create_person(access.scope(), _data(form)),
                 lambda person: (f"已新增人员“{person.name}”。",
                                 url_for("admin.person_edit", person_id=person.id)),
                 "新增人员", url_for("admin.people"))


def _person_page(form: PersonForm, photo_form: PhotoForm, status: int):
    person = g.obj
    return render_template("admin/catalog/person.html", form=form, photo_form=photo_form, person=person,
                           role_labels=ROLE_LABELS), status


@bp.route("/people/<int:person_id>/edit", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE, "person", "person_id")
def person_edit(person_id: int):
    form = _person_form(g.obj)
    person = _run(form, lambda: roster.update_person(access.scope(), g.obj, _data(form)))
    if person:
        flash(f"人员“{person.name}”已保存。")
        return redirect(url_for("admin.person_edit", person_id=person.id))
    return _person_page(form, PhotoForm(), 400 if request.method == "POST" else 200)


@bp.route("/people/<int:person_id>/deactivate", methods=["POST"])
@access.guard(P.ROSTER_MANAGE, "person", "person_id")
def person_deactivate(person_id: int):
    roster.deactivate_person(g.obj)
    db.session.commit()
    flash(f"人员“{g.obj.name}”已停用：不再显示在公示页和新的选票上，以往轮次的结果保留。")
    return redirect(url_for("admin.people"))


@bp.route("/people/<int:person_id>/photo", methods=["POST"])
@access.guard(P.ROSTER_KEEP, "person", "person_id")
def person_photo(person_id: int):
    """A person's photo, from the full edit page or from a hall manager's (admin.keep)."""
    from . import keep

    manage = access.can(P.ROSTER_MANAGE)
    photo_form = PhotoForm()
    upload = photo_form.photo.data if photo_form.validate_on_submit() else None
    if upload is not None and hasattr(upload, "read"):
        config = current_app.config
        try:
            roster.set_person_photo(g.obj, upload.read(), config["MEDIA_ROOT"], config["PHOTO_MAX_PIXELS"])
        except catalog.CatalogError as error:
            _refuse(photo_form, error)
        else:
            db.session.commit()
            flash("照片已更新。")
            return redirect(url_for("admin.person_edit" if manage else "admin.person_keep", person_id=person_id))
    elif photo_form.is_submitted() and not photo_form.errors:
        photo_form.photo.errors = ["请选择一张照片"]
    if manage:
        return _person_page(_person_form(g.obj), photo_form, 400)
    return keep.page(keep.KeepForm(obj=g.obj), photo_form, 400)


# --- post duties --------------------------------------------------------------------------------

@bp.route("/duties")
@access.guard(P.ROSTER_MANAGE)
def duties():
    department_id = request.args.get("department_id", type=_int_or_none)
    query = catalog.duties_listed(access.scope(), department_id)
    return render_template("admin/catalog/duties.html", page=_page(query), departments=_departments(),
                           department_id=department_id, category_labels=DUTY_CATEGORY_LABELS)


def _duty_form(duty: PostDuty | None) -> DutyForm:
    form = DutyForm(obj=duty)
    form.department_id.choices = _department_choices(blank=duty is None)
    form.office_id.choices = _office_choices()
    if request.method == "GET" and duty is None:
        form.department_id.data = request.args.get("department_id", type=_int_or_none)
        form.office_id.data = request.args.get("office_id", type=_int_or_none)
        if form.office_id.data:
            form.category.data = "office"
    return form


@bp.route("/duties/new", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE)
def duty_new():
    form = _duty_form(None)
    return _save(form, lambda: roster.create_duty(access.scope(), _data(form)),
                 lambda duty: (f"岗位“{duty.post_name}”已新增。",
                               url_for("admin.duties", department_id=duty.department_id)),
                 "新增岗位职责", url_for("admin.duties"))


@bp.route("/duties/<int:duty_id>/edit", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE, "duty", "duty_id")
def duty_edit(duty_id: int):
    form = _duty_form(g.obj)
    return _save(form, lambda: roster.update_duty(access.scope(), g.obj, _data(form)),
                 lambda duty: (f"岗位“{duty.post_name}”已保存。",
                               url_for("admin.duties", department_id=duty.department_id)),
                 f"修改岗位职责：{g.obj.post_name}", url_for("admin.duties"),
                 delete=url_for("admin.duty_delete", duty_id=duty_id))


@bp.route("/duties/<int:duty_id>/delete", methods=["POST"])
@access.guard(P.ROSTER_MANAGE, "duty", "duty_id")
def duty_delete(duty_id: int):
    name, department_id = g.obj.post_name, g.obj.department_id
    roster.delete_duty(g.obj)
    db.session.commit()
    flash(f"岗位“{name}”已删除。")
    return redirect(url_for("admin.duties", department_id=department_id))


# --- service items ------------------------------------------------------------------------------

def _item_form(item: ServiceItem | None) -> ServiceItemForm:
    form = ServiceItemForm(obj=item)
    form.office_id.choices = _office_choices(blank_label="（请选择）" if item is None else None)
    if request.method == "GET" and item is None:
        form.office_id.data = request.args.get("office_id", type=_int_or_none)
    return form


@bp.route("/service-items/new", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE)
def service_item_new():
    form = _item_form(None)
    return _save(form, lambda: roster.create_service_item(access.scope(), _data(form)),
                 lambda item: (f"事项“{item.name}”已新增。",
                               url_for("admin.office", office_id=item.office_id)),
                 "新增服务事项", url_for("admin.offices"))


@bp.route("/service-items/<int:item_id>/edit", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE, "service_item", "item_id")
def service_item_edit(item_id: int):
    form = _item_form(g.obj)
    return _save(form, lambda: roster.update_service_item(access.scope(), g.obj, _data(form)),
                 lambda item: (f"事项“{item.name}”已保存。",
                               url_for("admin.office", office_id=item.office_id)),
                 f"修改服务事项：{g.obj.name}", url_for("admin.office", office_id=g.obj.office_id),
                 delete=url_for("admin.service_item_delete", item_id=item_id))


@bp.route("/service-items/<int:item_id>/delete", methods=["POST"])
@access.guard(P.ROSTER_MANAGE, "service_item", "item_id")
def service_item_delete(item_id: int):
    name, office_id = g.obj.name, g.obj.office_id
    roster.delete_service_item(g.obj)
    db.session.commit()
    flash(f"事项“{name}”已删除。")
    return redirect(url_for("admin.office", office_id=office_id))
