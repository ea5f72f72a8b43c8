"""The catalog API's request and response bodies (marshmallow schemas, as flask-smorest
documents them), in one place."""

import marshmallow as ma
from flask_smorest.fields import Upload

from ..domain.roles import Role
from ..models import DUTY_CATEGORIES, REGION_KINDS, Person
from ..services import access

MAX_ID = access.MAX_ID  # ids beyond what the database holds are refused (422), never queried
ID = {"validate": ma.validate.Range(min=1, max=MAX_ID)}
SORT = {"validate": ma.validate.Range(min=-1_000_000, max=1_000_000)}


def _text(max_length: int, required: bool = False, nullable: bool = False, min_length: int | None = None):
    if min_length is None:
        min_length = 1 if required or not nullable else 0
    return ma.fields.String(required=required, allow_none=nullable,
                            validate=ma.validate.Length(min=min_length, max=max_length))


def patch_schema(schema: type[ma.Schema]) -> type[ma.Schema]:
    """The PATCH body of a resource: its schema under a name of its own (the OpenAPI document
    needs one per use), taken partial where it is used."""
    return type(schema.__name__.replace("Schema", "PatchSchema"), (schema,), {})


# --- schemas ------------------------------------------------------------------------------------

class CatalogRegionSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    code = _text(32, required=True)
    name = _text(64, required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(REGION_KINDS),
                            metadata={"description": "city 市级（唯一）、county 县区、zone 功能区"})
    sort_order = ma.fields.Integer(**SORT)


CatalogRegionPatchSchema = patch_schema(CatalogRegionSchema)


class CatalogDepartmentSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    region_id = ma.fields.Integer(required=True, **ID)
    code = _text(32, required=True)
    name = _text(100, required=True)
    is_stationed = ma.fields.Boolean(metadata={"description": "驻荷单位"})
    superior_authority = _text(100, nullable=True)
    active = ma.fields.Boolean()
    sort_order = ma.fields.Integer(**SORT)


CatalogDepartmentPatchSchema = patch_schema(CatalogDepartmentSchema)


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


CatalogPersonPatchSchema = patch_schema(CatalogPersonSchema)


class CatalogDutySchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    department_id = ma.fields.Integer(required=True, **ID)
    office_id = ma.fields.Integer(allow_none=True, **ID, metadata={"description": "仅 category=office 时必填"})
    category = ma.fields.String(required=True, validate=ma.validate.OneOf(DUTY_CATEGORIES))
    post_name = _text(100, required=True)
    duties = _text(4000, required=True)
    sort_order = ma.fields.Integer(**SORT)


CatalogDutyPatchSchema = patch_schema(CatalogDutySchema)


class CatalogServiceItemSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    office_id = ma.fields.Integer(required=True, **ID)
    name = _text(200, required=True)
    procedure = _text(4000, nullable=True)
    statutory_limit = _text(50, nullable=True)
    promised_limit = _text(50, nullable=True)
    materials = _text(4000, nullable=True)
    sort_order = ma.fields.Integer(**SORT)


CatalogServiceItemPatchSchema = patch_schema(CatalogServiceItemSchema)


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


