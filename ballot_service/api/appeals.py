"""Appeals (申诉) in the API: the same use cases as the admin pages (services.appeals), with the
same guards. A department admin files and reads their department's; a coordinator decides."""

import base64
import binascii

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import abort

from ..domain.access import Permission as P
from ..domain.access import Place
from ..extensions import db
from ..services import access, appeals
from ..services.rounds import RoundError
from . import blueprint

blp = blueprint("appeals", "申诉：部门在申诉期内对本部门的评价结果提出申诉，牵头部门复核；申诉成立的重新统计。")
BLUEPRINTS = [blp]

ID = ma.validate.Range(min=1, max=2**31 - 1, error="应为正整数")


class AttachmentSchema(ma.Schema):
    filename = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))
    content_base64 = ma.fields.String(required=True, load_only=True)


class AppealCreateSchema(ma.Schema):
    round_id = ma.fields.Integer(required=True, strict=True, validate=ID)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(list(appeals.KIND_LABELS),
                                                                      error="只能是 person 或 office"))
    subject_id = ma.fields.Integer(required=True, strict=True, validate=ID)
    reasons = ma.fields.String(required=True, validate=ma.validate.Length(max=appeals.REASONS_MAX))
    attachments = ma.fields.List(ma.fields.Nested(AttachmentSchema), load_default=list,
                                 validate=ma.validate.Length(max=appeals.MAX_ATTACHMENTS))


class AppealDecisionSchema(ma.Schema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(["upheld", "rejected"]))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(max=appeals.DECISION_MAX))


class AppealSchema(ma.Schema):
    id = ma.fields.Integer()
    round_id = ma.fields.Integer()
    department_id = ma.fields.Integer()
    kind = ma.fields.String()
    subject_id = ma.fields.Integer()
    subject_name = ma.fields.Function(appeals.subject_name)
    reasons = ma.fields.String()
    filed_by = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pending | upheld | rejected"})
    decision_reason = ma.fields.String(allow_none=True)
    decided_by = ma.fields.String(allow_none=True)
    tally_version = ma.fields.Integer(allow_none=True)
    removed_ratings = ma.fields.Integer(allow_none=True)
    attachments = ma.fields.Function(lambda a: [f.filename for f in a.attachments])


def _attachments(items: list[dict]) -> list[appeals.Attachment]:
    try:
        return [appeals.Attachment(item["filename"], base64.b64decode(item["content_base64"], validate=True))
                for item in items]
    except (binascii.Error, ValueError):
        abort(422, message="附件内容须为 base64 编码")


def _committed(action):
    try:
        outcome = action()
        db.session.commit()
    except RoundError as exc:  # an AppealError, or a re-tally's refusal
        db.session.rollback()
        abort(409, message=str(exc))
    return outcome


@blp.route("")
class Appeals(MethodView):
    @access.guard(P.APPEAL_FILE)
    @blp.response(200, AppealSchema(many=True))
    def get(self):
        """The appeals one may read: a department admin's department's, a coordinator's scope's."""
        return [a for a in appeals.appeals(department_id=access.scope().department_id)
                if access.covers(Place(a.round.region_id, a.department_id))]

    @access.guard(P.APPEAL_FILE)
    @blp.arguments(AppealCreateSchema)
    @blp.response(201, AppealSchema)
    def post(self, data):
        """File an appeal for one's own department, within the round's appeal window."""
        department = g.user.department
        if department is None:
            abort(403, message="只有部门管理员可以代表本部门提出申诉")
        files = _attachments(data["attachments"])
        return _committed(lambda: appeals.file_appeal(data["round_id"], department.id, data["kind"],
                                                      data["subject_id"], data["reasons"], files))


@blp.route("/<int:appeal_id>")
class AppealOne(MethodView):
    @access.guard(P.APPEAL_FILE, "appeal", "appeal_id")
    @blp.response(200, AppealSchema)
    def get(self, appeal_id):
        return g.obj


@blp.route("/<int:appeal_id>/decision")
class AppealDecision(MethodView):
    @access.guard(P.APPEAL_DECIDE, "appeal", "appeal_id")
    @blp.arguments(AppealDecisionSchema)
    @blp.response(200, AppealSchema)
    def post(self, data, appeal_id):
        """Uphold (the round is counted again at once without the excluded ratings) or reject."""
        return _committed(lambda: appeals.decide_appeal(appeal_id, data["decision"], data["reason"]))
