"""The organisation pages: regions and departments (coordinators), offices (department admins
too; one office's page with its people, items, duties and QR code).

Thin views like the rest of the catalog (admin.catalog's helpers): a form, one call into
services.catalog, a flash and a redirect; a refused input is shown next to its field with HTTP
400. Lists show only what the user's scope covers.
"""

from flask import current_app, g, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField

from ..domain.access import Level
from ..domain.access import Permission as P
from ..domain.roles import ROLE_LABELS
from ..extensions import db
from ..models import PostDuty
from ..services import access, catalog, disclosure
from . import bp
from .catalog import _choices, _data, _department_choices, _departments, _int_or_none, _page, _save


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



# --- regions and departments --------------------------------------------------------------------

@bp.route("/departments")
@access.guard(P.ORGANISATION_MANAGE)
def departments():
    scope = access.scope()
    regions = db.session.scalars(catalog.regions_listed(scope)).all()
    region_id = request.args.get("region_id", type=_int_or_none)
    query = catalog.departments_listed(scope, region_id)
    return render_template("admin/catalog/departments.html", regions=regions, page=_page(query),
                           region_id=region_id, city=scope.level is Level.CITY,
                           kind_labels=catalog.REGION_KIND_LABELS)


@bp.route("/regions/new", methods=["GET", "POST"])
@access.guard(P.ORGANISATION_MANAGE)
def region_new():
    form = RegionForm()
    return _save(form, lambda: catalog.create_region(access.scope(), _data(form)),
                 lambda region: (f"区域“{region.name}”已新增。", url_for("admin.departments")),
                 "新增区域", url_for("admin.departments"))


@bp.route("/regions/<int:region_id>/edit", methods=["GET", "POST"])
@access.guard(P.ORGANISATION_MANAGE, "region", "region_id")
def region_edit(region_id: int):
    form = RegionForm(obj=g.obj)
    return _save(form, lambda: catalog.update_region(access.scope(), g.obj, _data(form)),
                 lambda region: (f"区域“{region.name}”已保存。", url_for("admin.departments")),
                 f"修改区域：{g.obj.name}", url_for("admin.departments"))


def _department_form(dept=None) -> DepartmentForm:
    form = DepartmentForm(obj=dept)
    regions = db.session.scalars(catalog.regions_listed(access.scope())).all()
    form.region_id.choices = _choices((r.id, r.name) for r in regions)
    return form


@bp.route("/departments/new", methods=["GET", "POST"])
@access.guard(P.ORGANISATION_MANAGE)
def department_new():
    form = _department_form()
    del form.active
    return _save(form, lambda: catalog.create_department(access.scope(), _data(form)),
                 lambda dept: (f"部门“{dept.name}”已新增。", url_for("admin.departments")),
                 "新增部门", url_for("admin.departments"))


@bp.route("/departments/<int:department_id>/edit", methods=["GET", "POST"])
@access.guard(P.ORGANISATION_MANAGE, "department", "department_id")
def department_edit(department_id: int):
    form = _department_form(g.obj)
    return _save(form, lambda: catalog.update_department(access.scope(), g.obj, _data(form)),
                 lambda dept: (f"部门“{dept.name}”已保存。", url_for("admin.departments")),
                 f"修改部门：{g.obj.name}", url_for("admin.departments"))


# --- offices ------------------------------------------------------------------------------------

@bp.route("/offices")
@access.guard(P.ROSTER_READ)
def offices():
    department_id = request.args.get("department_id", type=_int_or_none)
    query = catalog.offices_listed(access.scope(), department_id)
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
    return _save(form, lambda: catalog.create_office(access.scope(), _data(form)),
                 lambda office: (f"科室“{office.name}”已新增，公示编码 {office.code}。",
                                 url_for("admin.office", office_id=office.id)),
                 "新增科室", url_for("admin.offices"))


@bp.route("/offices/<int:office_id>/edit", methods=["GET", "POST"])
@access.guard(P.ROSTER_MANAGE, "office", "office_id")
def office_edit(office_id: int):
    form = OfficeForm(obj=g.obj)
    del form.department_id  # an office stays in its department
    return _save(form, lambda: catalog.update_office(access.scope(), g.obj, _data(form)),
                 lambda office: (f"科室“{office.name}”已保存。",
                                 url_for("admin.office", office_id=office.id)),
                 f"修改科室：{g.obj.department.name} · {g.obj.name}", url_for("admin.office", office_id=office_id),
                 note="停用后该科室不再显示在公示页、不再出现在新的评价轮次中；以往轮次的结果保留。")


