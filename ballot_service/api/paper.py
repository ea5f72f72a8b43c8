"""Paper ballots (附件3) typed in through the API: each form twice, by two different users."""

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import abort

from ..domain.access import Permission as P
from ..services import access, paper_ballots
from ..services.paper_ballots import PaperError
from . import blueprint, page

blp = blueprint("paper", "纸质选票录入：每张选票由两位不同用户各录入一遍，一致时计入。")
BLUEPRINTS = [blp]


class PaperRatingSchema(ma.Schema):
    level = ma.fields.String(required=True, validate=ma.validate.Length(max=24))
    tags = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=24)), load_default=list,
                          validate=ma.validate.Length(max=20))
    note = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=1000))


class PaperEntryArgsSchema(ma.Schema):
    round_id = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(1, 2**31 - 1))
    office_code = ma.fields.String(required=True, validate=ma.validate.Length(1, 16))
    serial = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[A-Za-z0-9-]{1,32}$",
                                                                         error="编号须为1至32个字母、数字或连字符"))
    ratings = ma.fields.Dict(keys=ma.fields.String(validate=ma.validate.Regexp(r"^\d{1,12}$", error="须为人员编号")),
                             values=ma.fields.Nested(PaperRatingSchema), required=True,
                             metadata={"description": "人员编号 -> 评价（level、tags、note）"})


class PaperDifferenceSchema(ma.Schema):
    person_id = ma.fields.Integer()
    name = ma.fields.String()
    first = ma.fields.Dict(allow_none=True, metadata={"description": "另一位用户的录入"})
    second = ma.fields.Dict(allow_none=True, metadata={"description": "本次录入"})


class PaperEntryResultSchema(ma.Schema):
    result = ma.fields.String(metadata={"description": "pending：等待另一位用户录入；mismatch：两遍不一致；"
                                                       "counted：两遍一致，已计入"})
    differences = ma.fields.List(ma.fields.Nested(PaperDifferenceSchema))


class PaperPendingArgsSchema(ma.Schema):
    round_id = ma.fields.Integer(validate=ma.validate.Range(1, 2**31 - 1))


class PaperPendingSchema(ma.Schema):
    round_id = ma.fields.Integer()
    office_code = ma.fields.String()
    office_name = ma.fields.String()
    serial = ma.fields.String()
    typed_by = ma.fields.List(ma.fields.String(), metadata={"description": "已录入的用户名（不含录入内容）"})


def _form(ratings: dict) -> dict[str, list[str]]:
    """The API's ratings as the ballot form's fields (r<id>, t<id>, n<id>)."""
    form = {}
    for person_id, rating in ratings.items():
        person_id = int(person_id)
        form[f"r{person_id}"] = [rating["level"]]
        if rating["tags"]:
            form[f"t{person_id}"] = list(rating["tags"])
        if rating.get("note"):
            form[f"n{person_id}"] = [rating["note"]]
    return form


@blp.route("/entries")
class PaperEntries(MethodView):
    @access.guard(P.PAPER_ENTER)
    @blp.arguments(PaperEntryArgsSchema)
    @blp.response(200, PaperEntryResultSchema)
    def post(self, args):
        """Record one typing of a paper form; counted when another user's typing is identical."""
        try:
            outcome = paper_ballots.enter(args["round_id"], args["office_code"], args["serial"],
                                          _form(args["ratings"]), g.user)
        except PaperError as error:
            if error.field == "ratings":
                detail = {str(k) if k is not None else "_form": v for k, v in error.errors.items()}
                abort(422, errors={"json": {"ratings": detail}})
            abort(422, errors={"json": {error.field or "serial": [str(error)]}})
        return {"result": outcome.result, "differences": [
            {"person_id": d.person_id, "name": d.name, "first": d.first, "second": d.second}
            for d in outcome.differences]}


@blp.route("/pending")
class PaperPendingList(MethodView):
    @access.guard(P.PAPER_ENTER)
    @blp.arguments(PaperPendingArgsSchema, location="query")
    @blp.response(200, PaperPendingSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Serials typed once (or differently) and not yet counted, in rounds in the caller's scope."""
        entries = page(paper_ballots.pending_query(g.user, args.get("round_id")), pagination_parameters)
        return [{"round_id": p.round.id, "office_code": p.office.code, "office_name": p.office.name,
                 "serial": p.serial, "typed_by": [u.username for u in p.typists]}
                for p in paper_ballots.pending_details(entries)]
