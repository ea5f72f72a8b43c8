"""The catalog in the API: regions, departments, offices, people, post duties, service items,
a person's photo, and the roster workbook (import and export).

Lists are paginated and hold only what the token's user may see; people, offices and
departments are never deleted (PATCH `active: false`); duties and service items may be.
Refused input answers 422 naming the field; uploads that are not what they claim answer 4xx.
"""

import io

import marshmallow as ma
from flask import current_app, g, send_file
from flask.views import MethodView
from flask_smorest import abort
from flask_smorest.fields import Upload
from sqlalchemy import select

from ..domain.access import Permission as P
from ..domain.roles import Role
from ..extensions import db
from ..models import DUTY_CATEGORIES, REGION_KINDS, Department, Office, Person, PostDuty, Region, ServiceItem
from ..services import access, catalog, photos, roster, roster_export, roster_import, roster_io
from . import SECURITY, blueprint, page, refuse

MAX_ID = access.MAX_ID  # ids beyond what the database holds are refused (422), never queried
ID = {"validate": ma.validate.Range(min=1, max=MAX_ID)}
SORT = {"validate": ma.validate.Range(min=-1_000_000, max=1_000_000)}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _text(max_length: int, required: bool = False, nullable: bool = False, min_length: int | None = None):
    if min_length is None:
        min_length = 1 if required or not nullable else 0
    return ma.fields.String(required=required, allow_none=nullable,
                            validate=ma.validate.Length(min=min_length, max=max_length))


def _call(fn, *args):
    """One catalog use case, committed here whole; a refusal is a 422 naming the field."""
    try:
        outcome = fn(*args)
        db.session.commit()
        return outcome
    except catalog.CatalogError as error:
        refuse(error.field, str(error))


# --- schemas ------------------------------------------------------------------------------------

class CatalogRegionSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    code = _text(32, required=True)
    name = _text(64, required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(REGION_KINDS),
                            metadata={"description": "city 市级（唯一）、county 县区、zone 功能区"})
    sort_order = ma.fields.Integer(**SORT)


class CatalogRegionPatchSchema(CatalogRegionSchema):
    pass


class CatalogDepartmentSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    region_id = ma.fields.Integer(required=True, **ID)
    code = _text(32, required=True)
    name = _text(100, required=True)
    is_stationed = ma.fields.Boolean(metadata={"description": "驻荷单位"})
    superior_authority = _text(100, nullable=True)
    active = ma.fields.Boolean()
    sort_order = ma.fields.Integer(**SORT)


class CatalogDepartmentPatchSchema(CatalogDepartmentSchema):
    pass


class CatalogOfficeSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    department_id = ma.fields.Integer(required=True, **ID)
    code = ma.fields.String(dump_only=True, metadata={"description": "公示编码（二维码指向 /o/<code>）"})
    name = _text(100, required=True)
    active = ma.fields.Boolean()
    sort_order = ma.fields.Integer(**SORT)


class CatalogOfficePatchSchema(ma.Schema):
    name = _text(100)
    active = ma.fields.Boolean()
    sort_order = ma.fields.Integer(**SORT)


class CatalogPersonSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    department_id = ma.fields.Integer(required=True, **ID)
    office_id = ma.fields.Integer(allow_none=True, **ID,
                                  metadata={"description": "主要负责人、分管负责人为 null，其他人员必填"})
    role = ma.fields.String(required=True, validate=ma.validate.OneOf([r.value for r in Role]))
    name = _text(50, required=True)
    post = _text(100, required=True)
    phone = _text(32, required=True)
    business = _text(2000, nullable=True)
    duties = _text(4000, nullable=True)
    oversees_field = _text(200, nullable=True)
    overseen_office_ids = ma.fields.List(ma.fields.Integer(**ID), validate=ma.validate.Length(max=200),
                                         metadata={"description": "仅分管负责人：所分管的本部门科室"})
    photo = ma.fields.String(dump_only=True, allow_none=True)
    active = ma.fields.Boolean()
    sort_order = ma.fields.Integer(**SORT)

    @ma.pre_dump
    def _overseen(self, person, **_kwargs):
        if isinstance(person, Person):
            person.overseen_office_ids = [o.id for o in person.overseen_offices]
        return person


class CatalogPersonPatchSchema(CatalogPersonSchema):
    pass


class CatalogDutySchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    department_id = ma.fields.Integer(required=True, **ID)
    office_id = ma.fields.Integer(allow_none=True, **ID, metadata={"description": "仅 category=office 时必填"})
    category = ma.fields.String(required=True, validate=ma.validate.OneOf(DUTY_CATEGORIES))
    post_name = _text(100, required=True)
    duties = _text(4000, required=True)
    sort_order = ma.fields.Integer(**SORT)


class CatalogDutyPatchSchema(CatalogDutySchema):
    pass


class CatalogServiceItemSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    office_id = ma.fields.Integer(required=True, **ID)
    name = _text(200, required=True)
    procedure = _text(4000, nullable=True)
    statutory_limit = _text(50, nullable=True)
    promised_limit = _text(50, nullable=True)
    materials = _text(4000, nullable=True)
    sort_order = ma.fields.Integer(**SORT)


class CatalogServiceItemPatchSchema(CatalogServiceItemSchema):
    pass


class CatalogDepartmentFilterSchema(ma.Schema):
    region_id = ma.fields.Integer(**ID)
    active = ma.fields.Boolean()


class CatalogOfficeFilterSchema(ma.Schema):
    department_id = ma.fields.Integer(**ID)
    active = ma.fields.Boolean()


class CatalogPersonFilterSchema(ma.Schema):
    department_id = ma.fields.Integer(**ID)
    office_id = ma.fields.Integer(**ID)
    active = ma.fields.Boolean()


class CatalogDutyFilterSchema(ma.Schema):
    department_id = ma.fields.Integer(**ID)
    office_id = ma.fields.Integer(**ID)


class CatalogServiceItemFilterSchema(ma.Schema):
    office_id = ma.fields.Integer(**ID)


class CatalogPhotoUploadSchema(ma.Schema):
    photo = Upload(required=True, metadata={"description": "JPEG、PNG 等图片文件"})


class CatalogWorkbookUploadSchema(ma.Schema):
    workbook = Upload(required=True, metadata={"description": "导出的 .xlsx 模板，填写后上传"})


class CatalogArchiveUploadSchema(ma.Schema):
    archive = Upload(required=True, metadata={"description": "照片 zip，文件名为 部门编码_姓名.jpg"})


class CatalogExportQuerySchema(ma.Schema):
    department_id = ma.fields.Integer(**ID, metadata={"description": "只导出一个部门；不填则为管理范围内全部"})


class CatalogRowErrorSchema(ma.Schema):
    sheet = ma.fields.String()
    row = ma.fields.Integer()
    column = ma.fields.String(allow_none=True)
    message = ma.fields.String()


class CatalogImportChangeSchema(ma.Schema):
    sheet = ma.fields.String()
    row = ma.fields.Integer()
    kind = ma.fields.String(metadata={"description": "新增、修改、离岗、恢复在岗 或 撤销"})
    subject = ma.fields.String()
    details = ma.fields.List(ma.fields.String())


class CatalogImportSummarySchema(ma.Schema):
    people = ma.fields.Integer(metadata={"description": "新增的人员"})
    duties = ma.fields.Integer(metadata={"description": "新增的岗位职责"})
    items = ma.fields.Integer(metadata={"description": "新增的服务事项"})
    summary = ma.fields.String()
    changes = ma.fields.List(ma.fields.Nested(CatalogImportChangeSchema))


class CatalogPhotoImportSummarySchema(ma.Schema):
    photos = ma.fields.Integer(metadata={"description": "照片已更新的人数"})
    skipped = ma.fields.List(ma.fields.String(), metadata={"description": "未使用的文件及原因"})


# --- blueprints ---------------------------------------------------------------------------------

regions_blp = blueprint("regions", "区域：全市、县区和功能区。新增和修改仅限全市协调员。")
departments_blp = blueprint("departments", "部门。停用用 PATCH {\"active\": false}，不删除。")
offices_blp = blueprint("offices", "科室（窗口）：二维码所属的单位。停用用 PATCH {\"active\": false}。")
people_blp = blueprint("people", "人员身份公示（附件1）。停用用 PATCH {\"active\": false}。")
duties_blp = blueprint("duties", "岗位职责（附件2）。")
items_blp = blueprint("service-items", "科室的服务事项清单。")
roster_blp = blueprint("roster", "名单 Excel 的导入（全部或全不）与导出，照片压缩包导入。")
BLUEPRINTS = [regions_blp, departments_blp, offices_blp, people_blp, duties_blp, items_blp, roster_blp]


def _scoped(model, kind: str):
    return select(model).where(access.condition(kind, access.scope()))


# regions

@regions_blp.route("")
class Regions(MethodView):
    @access.guard(P.ROSTER_READ)
    @regions_blp.doc(security=SECURITY)
    @regions_blp.response(200, CatalogRegionSchema(many=True))
    @regions_blp.paginate()
    def get(self, pagination_parameters):
        """Regions in the caller's scope."""
        return page(_scoped(Region, "region").order_by(Region.sort_order, Region.id), pagination_parameters)

    @access.guard(P.ORGANISATION_MANAGE)
    @regions_blp.doc(security=SECURITY)
    @regions_blp.arguments(CatalogRegionSchema)
    @regions_blp.response(201, CatalogRegionSchema)
    def post(self, data):
        """Add a region (city coordinators only)."""
        return _call(catalog.create_region, access.scope(), data)


@regions_blp.route("/<int:region_id>")
class RegionOne(MethodView):
    @access.guard(P.ROSTER_READ, "region", "region_id")
    @regions_blp.doc(security=SECURITY)
    @regions_blp.response(200, CatalogRegionSchema)
    def get(self, region_id):
        return g.obj

    @access.guard(P.ORGANISATION_MANAGE, "region", "region_id")
    @regions_blp.doc(security=SECURITY)
    @regions_blp.arguments(CatalogRegionPatchSchema(partial=True))
    @regions_blp.response(200, CatalogRegionSchema)
    def patch(self, data, region_id):
        return _call(catalog.update_region, access.scope(), g.obj, data)


# departments

@departments_blp.route("")
class Departments(MethodView):
    @access.guard(P.ROSTER_READ)
    @departments_blp.doc(security=SECURITY)
    @departments_blp.arguments(CatalogDepartmentFilterSchema, location="query")
    @departments_blp.response(200, CatalogDepartmentSchema(many=True))
    @departments_blp.paginate()
    def get(self, args, pagination_parameters):
        """Departments in the caller's scope."""
        query = _scoped(Department, "department").order_by(Department.sort_order, Department.id)
        if "region_id" in args:
            query = query.where(Department.region_id == args["region_id"])
        if "active" in args:
            query = query.where(Department.active == args["active"])
        return page(query, pagination_parameters)

    @access.guard(P.ORGANISATION_MANAGE)
    @departments_blp.doc(security=SECURITY)
    @departments_blp.arguments(CatalogDepartmentSchema)
    @departments_blp.response(201, CatalogDepartmentSchema)
    def post(self, data):
        return _call(catalog.create_department, access.scope(), data)


@departments_blp.route("/<int:department_id>")
class DepartmentOne(MethodView):
    @access.guard(P.ROSTER_READ, "department", "department_id")
    @departments_blp.doc(security=SECURITY)
    @departments_blp.response(200, CatalogDepartmentSchema)
    def get(self, department_id):
        return g.obj

    @access.guard(P.ORGANISATION_MANAGE, "department", "department_id")
    @departments_blp.doc(security=SECURITY)
    @departments_blp.arguments(CatalogDepartmentPatchSchema(partial=True))
    @departments_blp.response(200, CatalogDepartmentSchema)
    def patch(self, data, department_id):
        """Change a department; `active: false` deactivates it."""
        return _call(catalog.update_department, access.scope(), g.obj, data)


# offices

@offices_blp.route("")
class Offices(MethodView):
    @access.guard(P.ROSTER_READ)
    @offices_blp.doc(security=SECURITY)
    @offices_blp.arguments(CatalogOfficeFilterSchema, location="query")
    @offices_blp.response(200, CatalogOfficeSchema(many=True))
    @offices_blp.paginate()
    def get(self, args, pagination_parameters):
        query = _scoped(Office, "office").order_by(Office.department_id, Office.sort_order, Office.id)
        if "department_id" in args:
            query = query.where(Office.department_id == args["department_id"])
        if "active" in args:
            query = query.where(Office.active == args["active"])
        return page(query, pagination_parameters)

    @access.guard(P.ROSTER_MANAGE)
    @offices_blp.doc(security=SECURITY)
    @offices_blp.arguments(CatalogOfficeSchema)
    @offices_blp.response(201, CatalogOfficeSchema)
    def post(self, data):
        """Add an office; its public code is drawn at random."""
        return _call(catalog.create_office, access.scope(), data)


@offices_blp.route("/<int:office_id>")
class OfficeOne(MethodView):
    @access.guard(P.ROSTER_READ, "office", "office_id")
    @offices_blp.doc(security=SECURITY)
    @offices_blp.response(200, CatalogOfficeSchema)
    def get(self, office_id):
        return g.obj

    @access.guard(P.ROSTER_MANAGE, "office", "office_id")
    @offices_blp.doc(security=SECURITY)
    @offices_blp.arguments(CatalogOfficePatchSchema(partial=True))
    @offices_blp.response(200, CatalogOfficeSchema)
    def patch(self, data, office_id):
        """Rename, reorder or (`active: false`) deactivate an office."""
        return _call(catalog.update_office, access.scope(), g.obj, data)


# people

@people_blp.route("")
class People(MethodView):
    @access.guard(P.ROSTER_READ)
    @people_blp.doc(security=SECURITY)
    @people_blp.arguments(CatalogPersonFilterSchema, location="query")
    @people_blp.response(200, CatalogPersonSchema(many=True))
    @people_blp.paginate()
    def get(self, args, pagination_parameters):
        query = _scoped(Person, "person").order_by(Person.department_id, Person.sort_order, Person.id)
        if "department_id" in args:
            query = query.where(Person.department_id == args["department_id"])
        if "office_id" in args:
            query = query.where(Person.office_id == args["office_id"])
        if "active" in args:
            query = query.where(Person.active == args["active"])
        return page(query, pagination_parameters)

    @access.guard(P.ROSTER_MANAGE)
    @people_blp.doc(security=SECURITY)
    @people_blp.arguments(CatalogPersonSchema)
    @people_blp.response(201, CatalogPersonSchema)
    def post(self, data):
        return _call(roster.create_person, access.scope(), data)


@people_blp.route("/<int:person_id>")
class PersonOne(MethodView):
    @access.guard(P.ROSTER_READ, "person", "person_id")
    @people_blp.doc(security=SECURITY)
    @people_blp.response(200, CatalogPersonSchema)
    def get(self, person_id):
        return g.obj

    @access.guard(P.ROSTER_MANAGE, "person", "person_id")
    @people_blp.doc(security=SECURITY)
    @people_blp.arguments(CatalogPersonPatchSchema(partial=True))
    @people_blp.response(200, CatalogPersonSchema)
    def patch(self, data, person_id):
        """Change a person; `active: false` takes them off pages and future ballots."""
        return _call(roster.update_person, access.scope(), g.obj, data)


@people_blp.route("/<int:person_id>/photo")
class PersonPhoto(MethodView):
    @access.guard(P.ROSTER_MANAGE, "person", "person_id")
    @people_blp.doc(security=SECURITY)
    @people_blp.arguments(CatalogPhotoUploadSchema, location="files")
    @people_blp.response(200, CatalogPersonSchema)
    def post(self, files, person_id):
        """Upload the person's photo (multipart field `photo`); cut to 1 inch, metadata removed."""
        upload = files["photo"]
        if not hasattr(upload, "read"):
            abort(422, message="请上传图片文件", errors={"files": {"photo": ["请上传图片文件"]}})
        config = current_app.config
        try:
            person = roster.set_person_photo(g.obj, upload.read(), config["MEDIA_ROOT"], config["PHOTO_MAX_PIXELS"])
        except catalog.CatalogError as error:
            abort(422, message=str(error), errors={"files": {"photo": [str(error)]}})
        db.session.commit()
        return person


# duties

@duties_blp.route("")
class Duties(MethodView):
    @access.guard(P.ROSTER_READ)
    @duties_blp.doc(security=SECURITY)
    @duties_blp.arguments(CatalogDutyFilterSchema, location="query")
    @duties_blp.response(200, CatalogDutySchema(many=True))
    @duties_blp.paginate()
    def get(self, args, pagination_parameters):
        query = _scoped(PostDuty, "duty").order_by(PostDuty.department_id, PostDuty.sort_order, PostDuty.id)
        if "department_id" in args:
            query = query.where(PostDuty.department_id == args["department_id"])
        if "office_id" in args:
            query = query.where(PostDuty.office_id == args["office_id"])
        return page(query, pagination_parameters)

    @access.guard(P.ROSTER_MANAGE)
    @duties_blp.doc(security=SECURITY)
    @duties_blp.arguments(CatalogDutySchema)
    @duties_blp.response(201, CatalogDutySchema)
    def post(self, data):
        return _call(roster.create_duty, access.scope(), data)


@duties_blp.route("/<int:duty_id>")
class DutyOne(MethodView):
    @access.guard(P.ROSTER_READ, "duty", "duty_id")
    @duties_blp.doc(security=SECURITY)
    @duties_blp.response(200, CatalogDutySchema)
    def get(self, duty_id):
        return g.obj

    @access.guard(P.ROSTER_MANAGE, "duty", "duty_id")
    @duties_blp.doc(security=SECURITY)
    @duties_blp.arguments(CatalogDutyPatchSchema(partial=True))
    @duties_blp.response(200, CatalogDutySchema)
    def patch(self, data, duty_id):
        return _call(roster.update_duty, access.scope(), g.obj, data)

    @access.guard(P.ROSTER_MANAGE, "duty", "duty_id")
    @duties_blp.doc(security=SECURITY)
    @duties_blp.response(204)
    def delete(self, duty_id):
        roster.delete_duty(g.obj)
        db.session.commit()


# service items

@items_blp.route("")
class ServiceItems(MethodView):
    @access.guard(P.ROSTER_READ)
    @items_blp.doc(security=SECURITY)
    @items_blp.arguments(CatalogServiceItemFilterSchema, location="query")
    @items_blp.response(200, CatalogServiceItemSchema(many=True))
    @items_blp.paginate()
    def get(self, args, pagination_parameters):
        query = _scoped(ServiceItem, "service_item").order_by(ServiceItem.office_id, ServiceItem.sort_order,
                                                              ServiceItem.id)
        if "office_id" in args:
            query = query.where(ServiceItem.office_id == args["office_id"])
        return page(query, pagination_parameters)

    @access.guard(P.ROSTER_MANAGE)
    @items_blp.doc(security=SECURITY)
    @items_blp.arguments(CatalogServiceItemSchema)
    @items_blp.response(201, CatalogServiceItemSchema)
    def post(self, data):
        return _call(roster.create_service_item, access.scope(), data)


@items_blp.route("/<int:item_id>")
class ServiceItemOne(MethodView):
    @access.guard(P.ROSTER_READ, "service_item", "item_id")
    @items_blp.doc(security=SECURITY)
    @items_blp.response(200, CatalogServiceItemSchema)
    def get(self, item_id):
        return g.obj

    @access.guard(P.ROSTER_MANAGE, "service_item", "item_id")
    @items_blp.doc(security=SECURITY)
    @items_blp.arguments(CatalogServiceItemPatchSchema(partial=True))
    @items_blp.response(200, CatalogServiceItemSchema)
    def patch(self, data, item_id):
        return _call(roster.update_service_item, access.scope(), g.obj, data)

    @access.guard(P.ROSTER_MANAGE, "service_item", "item_id")
    @items_blp.doc(security=SECURITY)
    @items_blp.response(204)
    def delete(self, item_id):
        roster.delete_service_item(g.obj)
        db.session.commit()


# roster workbook and photos

def _upload_bytes(files: dict, name: str) -> bytes:
    upload = files[name]
    if not hasattr(upload, "read"):
        abort(422, message="请上传文件", errors={"files": {name: ["请上传文件"]}})
    return upload.read()


@roster_blp.route("/import")
class RosterImport(MethodView):
    @access.guard(P.ROSTER_MANAGE)
    @roster_blp.doc(security=SECURITY)
    @roster_blp.arguments(CatalogWorkbookUploadSchema, location="files")
    @roster_blp.response(201, CatalogImportSummarySchema)
    @roster_blp.alt_response(422, description="整个文件未导入；errors 列出每一处错误（工作表、行、列、问题）",
                             schema=CatalogRowErrorSchema(many=True))
    def post(self, files):
        """Import a roster workbook: adds the rows without 编号, updates those with one, retires
        people marked 离岗 and withdraws duties and items marked 撤销; every row or none. Rows of
        departments outside the caller's scope are refused like any other bad row. The answer
        lists each change (the admin area previews them before it imports)."""
        data = _upload_bytes(files, "workbook")
        try:
            plan = roster_import.import_for(access.scope(), data)
        except roster_io.ImportRejected as rejected:
            abort(422, message=str(rejected),
                  errors=[{"sheet": e.sheet, "row": e.row, "column": e.column, "message": e.message}
                          for e in rejected.errors])
        db.session.commit()
        added = {key: plan.count(sheet, roster_import.ADDED) for key, sheet in
                 (("people", roster_io.PEOPLE), ("duties", roster_io.DUTIES), ("items", roster_io.ITEMS))}
        return {**added, "summary": plan.summary(), "changes": plan.changes}


@roster_blp.route("/photos")
class RosterPhotos(MethodView):
    @access.guard(P.ROSTER_MANAGE)
    @roster_blp.doc(security=SECURITY)
    @roster_blp.arguments(CatalogArchiveUploadSchema, location="files")
    @roster_blp.response(201, CatalogPhotoImportSummarySchema)
    def post(self, files):
        """Attach the photos of a zip (部门编码_姓名.jpg) to their people: every file that matches one
        person; `skipped` lists the others and why (422 when none could be used)."""
        data = _upload_bytes(files, "archive")
        config = current_app.config
        try:
            result = roster.import_photo_archive(access.scope(), data, config["MEDIA_ROOT"],
                                                  config["PHOTO_MAX_PIXELS"], config["MAX_CONTENT_LENGTH"])
        except photos.PhotoImportRejected as rejected:
            abort(422, message=str(rejected), errors=list(rejected.errors))
        db.session.commit()
        return {"photos": result.stored, "skipped": result.skipped}


@roster_blp.route("/export")
class RosterExport(MethodView):
    @access.guard(P.ROSTER_MANAGE)
    @roster_blp.doc(security=SECURITY, responses={"200": {"description": "名单工作簿（.xlsx）", "content": {
        XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
    @roster_blp.arguments(CatalogExportQuerySchema, location="query")
    def get(self, args):
        """The roster workbook (also the import template) of the caller's scope, or one department."""
        department = access.load("department", args["department_id"]) if "department_id" in args else None
        stream = io.BytesIO()
        roster_export.export_for(access.scope(), stream, department)
        stream.seek(0)
        return send_file(stream, mimetype=XLSX, as_attachment=True,
                         download_name=f"roster-{department.code}.xlsx" if department else "roster.xlsx")
