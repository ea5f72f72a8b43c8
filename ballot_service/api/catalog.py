"""The catalog in the API: regions, departments, offices, people, post duties, service items
and a person's photo (the roster workbook and the photo archive: api.roster).

Lists are paginated and hold only what the token's user may see; people, offices and
departments are never deleted (PATCH `active: false`); duties and service items may be.
Refused input answers 422 naming the field; uploads that are not what they claim answer 4xx.
"""


from flask import current_app, g
from flask.views import MethodView
from flask_smorest import abort

from ..domain.access import Permission as P
from ..extensions import db
from ..services import access, catalog, roster
from . import blueprint, page, refuse
from .catalog_schemas import (
    CatalogDepartmentFilterSchema,
    CatalogDepartmentPatchSchema,
    CatalogDepartmentSchema,
    CatalogDutyFilterSchema,
    CatalogDutyPatchSchema,
    CatalogDutySchema,
    CatalogOfficeFilterSchema,
    CatalogOfficePatchSchema,
    CatalogOfficeSchema,
    CatalogPersonFilterSchema,
    CatalogPersonPatchSchema,
    CatalogPersonSchema,
    CatalogPhotoUploadSchema,
    CatalogRegionPatchSchema,
    CatalogRegionSchema,
    CatalogServiceItemFilterSchema,
    CatalogServiceItemPatchSchema,
    CatalogServiceItemSchema,
)


def _call(fn, *args):
    """One catalog use case, committed here whole; a refusal is a 422 naming the field."""
    try:
        outcome = fn(*args)
        db.session.commit()
        return outcome
    except catalog.CatalogError as error:
        refuse(error.field, str(error))


# --- blueprints ---------------------------------------------------------------------------------

regions_blp = blueprint("regions", "区域：全市、县区和功能区。新增和修改仅限全市协调员。")
departments_blp = blueprint("departments", "部门。停用用 PATCH {\"active\": false}，不删除。")
offices_blp = blueprint("offices", "科室（窗口）：二维码所属的单位。停用用 PATCH {\"active\": false}。")
people_blp = blueprint("people", "人员身份公示（附件1）。停用用 PATCH {\"active\": false}。")
duties_blp = blueprint("duties", "岗位职责（附件2）。")
items_blp = blueprint("service-items", "科室的服务事项清单。")
BLUEPRINTS = [regions_blp, departments_blp, offices_blp, people_blp, duties_blp, items_blp]


# regions

@regions_blp.route("")
class Regions(MethodView):
    @access.guard(P.ROSTER_READ)
    @regions_blp.response(200, CatalogRegionSchema(many=True))
    @regions_blp.paginate()
    def get(self, pagination_parameters):
        """Regions in the caller's scope."""
        return page(catalog.regions_listed(access.scope()), pagination_parameters)

    @access.guard(P.ORGANISATION_MANAGE)
    @regions_blp.arguments(CatalogRegionSchema)
    @regions_blp.response(201, CatalogRegionSchema)
    def post(self, data):
        """Add a region (city coordinators only)."""
        return _call(catalog.create_region, access.scope(), data)


@regions_blp.route("/<int:region_id>")
class RegionOne(MethodView):
    @access.guard(P.ROSTER_READ, "region", "region_id")
    @regions_blp.response(200, CatalogRegionSchema)
    def get(self, region_id):
        return g.obj

    @access.guard(P.ORGANISATION_MANAGE, "region", "region_id")
    @regions_blp.arguments(CatalogRegionPatchSchema(partial=True))
    @regions_blp.response(200, CatalogRegionSchema)
    def patch(self, data, region_id):
        return _call(catalog.update_region, access.scope(), g.obj, data)


# departments

@departments_blp.route("")
class Departments(MethodView):
    @access.guard(P.ROSTER_READ)
    @departments_blp.arguments(CatalogDepartmentFilterSchema, location="query")
    @departments_blp.response(200, CatalogDepartmentSchema(many=True))
    @departments_blp.paginate()
    def get(self, args, pagination_parameters):
        """Departments in the caller's scope."""
        return page(catalog.departments_listed(access.scope(), **args), pagination_parameters)

    @access.guard(P.ORGANISATION_MANAGE)
    @departments_blp.arguments(CatalogDepartmentSchema)
    @departments_blp.response(201, CatalogDepartmentSchema)
    def post(self, data):
        return _call(catalog.create_department, access.scope(), data)


@departments_blp.route("/<int:department_id>")
class DepartmentOne(MethodView):
    @access.guard(P.ROSTER_READ, "department", "department_id")
    @departments_blp.response(200, CatalogDepartmentSchema)
    def get(self, department_id):
        return g.obj

    @access.guard(P.ORGANISATION_MANAGE, "department", "department_id")
    @departments_blp.arguments(CatalogDepartmentPatchSchema(partial=True))
    @departments_blp.response(200, CatalogDepartmentSchema)
    def patch(self, data, department_id):
        """Change a department; `active: false` deactivates it."""
        return _call(catalog.update_department, access.scope(), g.obj, data)


# offices

@offices_blp.route("")
class Offices(MethodView):
    @access.guard(P.ROSTER_READ)
    @offices_blp.arguments(CatalogOfficeFilterSchema, location="query")
    @offices_blp.response(200, CatalogOfficeSchema(many=True))
    @offices_blp.paginate()
    def get(self, args, pagination_parameters):
        return page(catalog.offices_listed(access.scope(), **args), pagination_parameters)

    @access.guard(P.ROSTER_MANAGE)
    @offices_blp.arguments(CatalogOfficeSchema)
    @offices_blp.response(201, CatalogOfficeSchema)
    def post(self, data):
        """Add an office; its public code is drawn at random."""
        return _call(catalog.create_office, access.scope(), data)


@offices_blp.route("/<int:office_id>")
class OfficeOne(MethodView):
    @access.guard(P.ROSTER_READ, "office", "office_id")
    @offices_blp.response(200, CatalogOfficeSchema)
    def get(self, office_id):
        return g.obj

    @access.guard(P.ROSTER_MANAGE, "office", "office_id")
    @offices_blp.arguments(CatalogOfficePatchSchema(partial=True))
    @offices_blp.response(200, CatalogOfficeSchema)
    def patch(self, data, office_id):
        """Rename, reorder or (`active: false`) deactivate an office."""
        return _call(catalog.update_office, access.scope(), g.obj, data)


# people

@people_blp.route("")
class People(MethodView):
    @access.guard(P.ROSTER_READ)
    @people_blp.arguments(CatalogPersonFilterSchema, location="query")
    @people_blp.response(200, CatalogPersonSchema(many=True))
    @people_blp.paginate()
    def get(self, args, pagination_parameters):
        """People in the caller's scope; with `office_id`, its own and the leaders who oversee it."""
        return page(catalog.people_listed(access.scope(), **args), pagination_parameters)

    @access.guard(P.ROSTER_MANAGE)
    @people_blp.arguments(CatalogPersonSchema)
    @people_blp.response(201, CatalogPersonSchema)
    def post(self, data):
        return _call(roster.create_person, access.scope(), data)


@people_blp.route("/<int:person_id>")
class PersonOne(MethodView):
    @access.guard(P.ROSTER_READ, "person", "person_id")
    @people_blp.response(200, CatalogPersonSchema)
    def get(self, person_id):
        return g.obj

    @access.guard(P.ROSTER_MANAGE, "person", "person_id")
    @people_blp.arguments(CatalogPersonPatchSchema(partial=True))
    @people_blp.response(200, CatalogPersonSchema)
    def patch(self, data, person_id):
        """Change a person; `active: false` takes them off pages and future ballots."""
        return _call(roster.update_person, access.scope(), g.obj, data)


@people_blp.route("/<int:person_id>/photo")
class PersonPhoto(MethodView):
    @access.guard(P.ROSTER_MANAGE, "person", "person_id")
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
    @duties_blp.arguments(CatalogDutyFilterSchema, location="query")
    @duties_blp.response(200, CatalogDutySchema(many=True))
    @duties_blp.paginate()
    def get(self, args, pagination_parameters):
        return page(catalog.duties_listed(access.scope(), **args), pagination_parameters)

    @access.guard(P.ROSTER_MANAGE)
    @duties_blp.arguments(CatalogDutySchema)
    @duties_blp.response(201, CatalogDutySchema)
    def post(self, data):
        return _call(roster.create_duty, access.scope(), data)


@duties_blp.route("/<int:duty_id>")
class DutyOne(MethodView):
    @access.guard(P.ROSTER_READ, "duty", "duty_id")
    @duties_blp.response(200, CatalogDutySchema)
    def get(self, duty_id):
        return g.obj

    @access.guard(P.ROSTER_MANAGE, "duty", "duty_id")
    @duties_blp.arguments(CatalogDutyPatchSchema(partial=True))
    @duties_blp.response(200, CatalogDutySchema)
    def patch(self, data, duty_id):
        return _call(roster.update_duty, access.scope(), g.obj, data)

    @access.guard(P.ROSTER_MANAGE, "duty", "duty_id")
    @duties_blp.response(204)
    def delete(self, duty_id):
        roster.delete_duty(g.obj)
        db.session.commit()


# service items

@items_blp.route("")
class ServiceItems(MethodView):
    @access.guard(P.ROSTER_READ)
    @items_blp.arguments(CatalogServiceItemFilterSchema, location="query")
    @items_blp.response(200, CatalogServiceItemSchema(many=True))
    @items_blp.paginate()
    def get(self, args, pagination_parameters):
        return page(catalog.items_listed(access.scope(), **args), pagination_parameters)

    @access.guard(P.ROSTER_MANAGE)
    @items_blp.arguments(CatalogServiceItemSchema)
    @items_blp.response(201, CatalogServiceItemSchema)
    def post(self, data):
        return _call(roster.create_service_item, access.scope(), data)


@items_blp.route("/<int:item_id>")
class ServiceItemOne(MethodView):
    @access.guard(P.ROSTER_READ, "service_item", "item_id")
    @items_blp.response(200, CatalogServiceItemSchema)
    def get(self, item_id):
        return g.obj

    @access.guard(P.ROSTER_MANAGE, "service_item", "item_id")
    @items_blp.arguments(CatalogServiceItemPatchSchema(partial=True))
    @items_blp.response(200, CatalogServiceItemSchema)
    def patch(self, data, item_id):
        return _call(roster.update_service_item, access.scope(), g.obj, data)

    @access.guard(P.ROSTER_MANAGE, "service_item", "item_id")
    @items_blp.response(204)
    def delete(self, item_id):
        roster.delete_service_item(g.obj)
        db.session.commit()
