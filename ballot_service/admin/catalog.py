"""The catalog pages: regions, departments, offices, people, post duties and service items;
one person's photo (the roster's workbook and photo archive: admin.roster).

Thin views: a form, one call into services.catalog, a flash and a redirect; a refused input is
shown next to its field with HTTP 400. Lists show only what the user's scope covers.
"""


from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from ..domain.access import Level
from ..domain.access import Permission as P
from ..domain.roles import ROLE_LABELS
from ..extensions import db
from ..models import DUTY_CATEGORY_LABELS, Department, Office, Person, PostDuty, Region, ServiceItem
from ..services import access, catalog, disclosure
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


class RegionForm(FlaskForm):
    code = StringField("区域编码", description="字母、数字、- 或 _，如 mudan")
    name = StringField("区域名称")
    kind = SelectField("区域类型", choices=_choices(catalog.REGION_KIND_LABELS.items()), validate_choice=False)
    sort_order = StringField("排序", default="0")


class DepartmentForm(FlaskForm):
    region_id = SelectField("所属区域", coerce=_int_or_none, validate_choice=False)
    code = StringField("部门编码", description="字母、数字、- 或 _；用于公开链接和导入表")
    name = StringField("部门名称")
    is_stationed = BooleanField("驻荷单位（由上级部门派驻）")
    superior_authority = StringField("上级主管部门", description="驻荷单位必填：评价结果将同时通报该部门")
    active = BooleanField("启用", default=True)
    sort_order = StringField("排序", default="0")


class OfficeForm(FlaskForm):
    department_id = SelectField("所属部门", coerce=_int_or_none, validate_choice=False)
    name = StringField("科室名称")
    active = BooleanField("启用", default=True)
    sort_order = StringField("排序", default="0")


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


# --- regions and departments --------------------------------------------------------------------

@bp.route("/departments")
@access.guard(P.ORGANISATION_MANAGE)
def departments():
    scope = access.scope()
    regions = db.session.scalars(
        select(Region).where(access.condition("region", scope)).order_by(Region.sort_order, Region.id)).all()
    query = (select(Department).join(Region).where(access.condition("department", scope))
             .order_by(Region.sort_order, Region.id, Department.sort_order, Department.id))
    region_id = request.args.get("region_id", type=_int_or_none)
    if region_id:
        query = query.where(Department.region_id == region_id)
    return render_template("admin/catalog/departments.html", regions=regions, page=_page(query),
                           region_id=region_id, city=scope.level is Level.CITY,
                           kind_labels=catalog.REGION_KIND_LABELS)


@bp.route("/regions/new", methods=["GET", "POST"])
@access.guard(P.ORGANISATION_MANAGE)
def region_new():
    form = RegionForm()
    region = _run(form, lambda: catalog.create_region(access.scope(), _data(form)))
    if region:
        flash(f"区域“{region.name}”已新增。")
        return redirect(url_for("admin.departments"))
    return _form_page(form, "新增区域", url_for("admin.region_new"), url_for("admin.departments"),
                      400 if request.method == "POST" else 200)


@bp.route("/regions/<int:region_id>/edit", methods=["GET", "POST"])
@access.guard(P.ORGANISATION_MANAGE, "region", "region_id")
def region_edit(region_id: int):
    form = RegionForm(obj=g.obj)
    region = _run(form, lambda: catalog.update_region(access.scope(), g.obj, _data(form)))
    if region:
        flash(f"区域“{region.name}”已保存。")
        return redirect(url_for("admin.departments"))
    return _form_page(form, f"修改区域：{g.obj.name}", url_for("admin.region_edit", region_id=region_id),
                      url_for("admin.departments"), 400 if request.method == "POST" else 200)


@bp.route("/departments/new", methods=["GET", "POST"])
@access.guard(P.ORGANISATION_MANAGE)
def department_new():
    form = DepartmentForm()
    regions = db.session.scalars(select(Region).where(access.condition("region", access.scope()))
                                 .order_by(Region.sort_order, Region.id)).all()
    form.region_id.choices = _choices((r.id, r.name) for r in regions)
    del form.active
    dept = _run(form, lambda: catalog.create_department(access.scope(), _data(form)))
    if dept:
        flash(f"部门“{dept.name}”已新增。")
        return redirect(url_for("admin.departments"))
    return _form_page(form, "新增部门", url_for("admin.department_new"), url_for("admin.departments"),
                      400 if request.method == "POST" else 200)


@bp.route("/departments/<int:department_id>/edit", methods=["GET", "POST"])
@access.guard(P.ORGANISATION_MANAGE, "department", "department_id")
def department_edit(department_id: int):
    form = DepartmentForm(obj=g.obj)
    regions = db.session.scalars(select(Region).where(access.condition("region", access.scope()))
                                 .order_by(Region.sort_order, Region.id)).all()
    form.region_id.choices = _choices((r.id, r.name) for r in regions)
    dept = _run(form, lambda: catalog.update_department(access.scope(), g.obj, _data(form)))
    if dept:
        flash(f"部门“{dept.name}”已保存。")
        return redirect(url_for("admin.departments"))
    return _form_page(form, f"修改部门：{g.obj.name}", url_for("admin.department_edit", department_id=department_id),
                      url_for("admin.departments"), 400 if request.method == "POST" else 200)


# --- offices ------------------------------------------------------------------------------------

@bp.route("/offices")
@access.guard(P.ROSTER_READ)
def offices():
    query = (select(Office).join(Department).where(access.condition("office", access.scope()))
             .order_by(Department.sort_order, Department.id, Office.sort_order, Office.id))
    department_id = request.args.get("department_id", type=_int_or_none)
    if department_id:
        query = query.where(Office.department_id == department_id)
    return render_template("admin/catalog/offices.html", page=_page(query), department_id=department_id,
                           departments=_departments(), manage=access.can(P.ROSTER_MANAGE))


@bp.route("/offices/<int:office_id>")
@access.guard(P.ROSTER_READ, "office", "office_id")
def office(office_id: int):
    office = g.obj
    link = current_app.config["PUBLIC_BASE_URL"] + url_for("public.office", code=office.code)
    duties = db.session.scalars(select(PostDuty).where(PostDuty.office_id == office.id)
                                .order_by(PostDuty.sort_order, PostDuty.id)).all()
    return render_template("admin/catalog/office.html", office=office, people=disclosure.office_people(office),
                           items=office.service_items, duties=duties, link=link, qr=catalog.office_qr_svg(link),
                           role_labels=ROLE_LABELS, manage=access.can(P.ROSTER_MANAGE),
                           keep=access.can(P.ROSTER_KEEP))


@bp.route("/offices/new", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE)
def office_new():
    form = OfficeForm()
    form.department_id.choices = _department_choices()
    if request.method == "GET":
        form.department_id.data = request.args.get("department_id", type=_int_or_none)
    del form.active
    office = _run(form, lambda: catalog.create_office(access.scope(), _data(form)))
    if office:
        flash(f"科室“{office.name}”已新增，公示编码 {office.code}。")
        return redirect(url_for("admin.office", office_id=office.id))
    return _form_page(form, "新增科室", url_for("admin.office_new"), url_for("admin.offices"),
                      400 if request.method == "POST" else 200)


@bp.route("/offices/<int:office_id>/edit", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE, "office", "office_id")
def office_edit(office_id: int):
    form = OfficeForm(obj=g.obj)
    del form.department_id  # an office stays in its department
    office = _run(form, lambda: catalog.update_office(access.scope(), g.obj, _data(form)))
    if office:
        flash(f"科室“{office.name}”已保存。")
        return redirect(url_for("admin.office", office_id=office.id))
    return _form_page(form, f"修改科室：{g.obj.department.name} · {g.obj.name}",
                      url_for("admin.office_edit", office_id=office_id),
                      url_for("admin.office", office_id=office_id), 400 if request.method == "POST" else 200,
                      note="停用后该科室不再显示在公示页、不再出现在新的评价轮次中；以往轮次的结果保留。")


# --- people -------------------------------------------------------------------------------------

@bp.route("/people")
@access.guard(P.ROSTER_MANAGE)
def people():
    query = (select(Person).join(Department).where(access.condition("person", access.scope()))
             .order_by(Department.sort_order, Department.id, Person.sort_order, Person.id))
    department_id = request.args.get("department_id", type=_int_or_none)
    office_id = request.args.get("office_id", type=_int_or_none)
    show = request.args.get("show", "active")
    if department_id:
        query = query.where(Person.department_id == department_id)
    if office_id:
        query = query.where((Person.office_id == office_id)
                            | Person.overseen_offices.any(Office.id == office_id))
    if show != "all":
        query = query.where(Person.active)
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
    person = _run(form, lambda: catalog.create_person(access.scope(), _data(form)))
    if person:
        flash(f"已新增人员“{person.name}”。")
        return redirect(url_for("admin.person_edit", person_id=person.id))
    return _form_page(form, "新增人员", url_for("admin.person_new"), url_for("admin.people"),
                      400 if request.method == "POST" else 200)


def _person_page(form: PersonForm, photo_form: PhotoForm, status: int):
    person = g.obj
    return render_template("admin/catalog/person.html", form=form, photo_form=photo_form, person=person,
                           role_labels=ROLE_LABELS), status


@bp.route("/people/<int:person_id>/edit", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE, "person", "person_id")
def person_edit(person_id: int):
    form = _person_form(g.obj)
    person = _run(form, lambda: catalog.update_person(access.scope(), g.obj, _data(form)))
    if person:
        flash(f"人员“{person.name}”已保存。")
        return redirect(url_for("admin.person_edit", person_id=person.id))
    return _person_page(form, PhotoForm(), 400 if request.method == "POST" else 200)


@bp.route("/people/<int:person_id>/deactivate", methods=["POST"])
@access.guard(P.ROSTER_MANAGE, "person", "person_id")
def person_deactivate(person_id: int):
    catalog.deactivate_person(g.obj)
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
            catalog.set_person_photo(g.obj, upload.read(), config["MEDIA_ROOT"], config["PHOTO_MAX_PIXELS"])
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
    query = (select(PostDuty).join(Department, PostDuty.department_id == Department.id)
             .where(access.condition("duty", access.scope()))
             .order_by(Department.sort_order, Department.id, PostDuty.sort_order, PostDuty.id))
    department_id = request.args.get("department_id", type=_int_or_none)
    if department_id:
        query = query.where(PostDuty.department_id == department_id)
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
    duty = _run(form, lambda: catalog.create_duty(access.scope(), _data(form)))
    if duty:
        flash(f"岗位“{duty.post_name}”已新增。")
        return redirect(url_for("admin.duties", department_id=duty.department_id))
    return _form_page(form, "新增岗位职责", url_for("admin.duty_new"), url_for("admin.duties"),
                      400 if request.method == "POST" else 200)


@bp.route("/duties/<int:duty_id>/edit", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE, "duty", "duty_id")
def duty_edit(duty_id: int):
    form = _duty_form(g.obj)
    duty = _run(form, lambda: catalog.update_duty(access.scope(), g.obj, _data(form)))
    if duty:
        flash(f"岗位“{duty.post_name}”已保存。")
        return redirect(url_for("admin.duties", department_id=duty.department_id))
    return _form_page(form, f"修改岗位职责：{g.obj.post_name}", url_for("admin.duty_edit", duty_id=duty_id),
                      url_for("admin.duties"), 400 if request.method == "POST" else 200,
                      delete=url_for("admin.duty_delete", duty_id=duty_id))


@bp.route("/duties/<int:duty_id>/delete", methods=["POST"])
@access.guard(P.ROSTER_MANAGE, "duty", "duty_id")
def duty_delete(duty_id: int):
    name, department_id = g.obj.post_name, g.obj.department_id
    catalog.delete_duty(g.obj)
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
    item = _run(form, lambda: catalog.create_service_item(access.scope(), _data(form)))
    if item:
        flash(f"事项“{item.name}”已新增。")
        return redirect(url_for("admin.office", office_id=item.office_id))
    return _form_page(form, "新增服务事项", url_for("admin.service_item_new"), url_for("admin.offices"),
                      400 if request.method == "POST" else 200)


@bp.route("/service-items/<int:item_id>/edit", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE, "service_item", "item_id")
def service_item_edit(item_id: int):
    form = _item_form(g.obj)
    item = _run(form, lambda: catalog.update_service_item(access.scope(), g.obj, _data(form)))
    if item:
        flash(f"事项“{item.name}”已保存。")
        return redirect(url_for("admin.office", office_id=item.office_id))
    return _form_page(form, f"修改服务事项：{g.obj.name}", url_for("admin.service_item_edit", item_id=item_id),
                      url_for("admin.office", office_id=g.obj.office_id), 400 if request.method == "POST" else 200,
                      delete=url_for("admin.service_item_delete", item_id=item_id))


@bp.route("/service-items/<int:item_id>/delete", methods=["POST"])
@access.guard(P.ROSTER_MANAGE, "service_item", "item_id")
def service_item_delete(item_id: int):
    name, office_id = g.obj.name, g.obj.office_id
    catalog.delete_service_item(g.obj)
    db.session.commit()
    flash(f"事项“{name}”已删除。")
    return redirect(url_for("admin.office", office_id=office_id))
