"""The roster's files in the API: the workbook (import: adds, updates, retires, every row or
none, the changes listed; export) and the photo archive."""

import io

import marshmallow as ma
from flask import current_app, send_file
from flask.views import MethodView
from flask_smorest import abort
from flask_smorest.fields import Upload

from ..domain.access import Permission as P
from ..extensions import db
from ..services import access, photos, roster, roster_export, roster_import, roster_io
from . import blueprint
from .catalog_schemas import ID

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

roster_blp = blueprint("roster", "名单 Excel 的导入（有编号的行更新、无编号的行新增、标为离岗或撤销的退出公示；"
                                 "全部或全不）与导出，照片压缩包导入。")
BLUEPRINTS = [roster_blp]


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




def _upload_bytes(files: dict, name: str) -> bytes:
    upload = files[name]
    if not hasattr(upload, "read"):
        abort(422, message="请上传文件", errors={"files": {name: ["请上传文件"]}})
    return upload.read()


@roster_blp.route("/import")
class RosterImport(MethodView):
    @access.guard(P.ROSTER_MANAGE)
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
    @roster_blp.doc(responses={"200": {"description": "名单工作簿（.xlsx）", "content": {
        XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
    @roster_blp.arguments(CatalogExportQuerySchema, location="query")
    def get(self, args):
        """The roster workbook (also the import template) of the caller's scope, or one department."""
        department = access.load("department", args["department_id"]) if "department_id" in args else None
        stream = io.BytesIO()
        roster_export.export_for(access.scope(), stream, department)
        stream.seek(0)
        return send_file(stream, mimetype=XLSX, as_attachment=True,
                         download_name=f"{department.name}-人员名单.xlsx" if department else "人员名单.xlsx")
