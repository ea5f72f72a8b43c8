"""Rounds, results and posters in the API: the same operations as the admin pages, with the
same guards. Results of a department admin are their own department's only, once published;
comments only under the k rule (architecture A3)."""

import datetime as dt
import io

import marshmallow as ma
from flask import g, send_file, url_for
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import select

from ..domain.access import Permission as P
from ..domain.access import Place
from ..domain.consequences import KIND_LABELS
from ..domain.review import Decision
from ..domain.round_states import RoundStatus
from ..extensions import db
from ..models import SUBJECT_KINDS, ConsequenceRecord, Department, Office, Person, Region, Result, Round
from ..services import access, admin_rounds, poster_batches, posters, results, rounds
from ..services.circular import export_circular
from ..services.circular import file_name as circular_file_name
from ..services.jobs import QueueUnavailable
from . import blueprint, page, refuse

blp = blueprint("rounds", "评价轮次：创建、开启、结束、统计、发布；参评情况、结果、结果运用、意见和通报。")
posters_blp = blueprint("posters", "公示牌、台卡和纸质测评表的批量生成（后台任务）与下载。")
BLUEPRINTS = [blp, posters_blp]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
def _conflict(exc: Exception):
    db.session.rollback()
    abort(409, message=str(exc))


def _committed(action):
    """Run one round use case and commit it whole; 409 (refused now) or 503 (Redis away) with
    nothing changed."""
    try:
        outcome = action()
        db.session.commit()
    except rounds.RoundError as exc:
        _conflict(exc)
    except QueueUnavailable as exc:
        db.session.rollback()
        abort(503, message=str(exc))
    return outcome


# ---------------------------------------------------------------- schemas


class UtcDateTime(ma.fields.DateTime):
    """A stored (naive UTC) time, written with its zone."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class RoundSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    region_id = ma.fields.Integer()
    region_name = ma.fields.Function(lambda r: r.region.name)
    status = ma.fields.String(metadata={"description": " | ".join(RoundStatus)})
    status_label = ma.fields.Function(lambda r: RoundStatus(r.status).label)
    opens_at = UtcDateTime()
    closes_at = UtcDateTime()
    require_wechat = ma.fields.Boolean()
    published_at = UtcDateTime(allow_none=True)
    digest = ma.fields.String(allow_none=True)


ID = ma.validate.Range(min=1, max=2**31 - 1, error="应为正整数")


def _sane_year(moment: dt.datetime) -> None:
    if not 2000 <= moment.year <= 2100:
        raise ma.ValidationError("时间应在2000年至2100年之间")


class RoundCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100, error="名称应为1至100个字"))
    region_id = ma.fields.Integer(required=True, validate=ID)
    opens_at = ma.fields.DateTime(required=True, validate=_sane_year,
                                  metadata={"description": "ISO 8601；不带时区时按北京时间"})
    closes_at = ma.fields.DateTime(required=True, validate=_sane_year,
                                   metadata={"description": "ISO 8601；不带时区时按北京时间"})
    require_wechat = ma.fields.Boolean(load_default=False)

    @ma.validates_schema
    def _order(self, data, **_kwargs):
        opens, closes = data.get("opens_at"), data.get("closes_at")
        if opens and closes and admin_rounds.from_china(closes) <= admin_rounds.from_china(opens):
            raise ma.ValidationError("结束时间必须晚于开始时间", "closes_at")


class RoundEditSchema(RoundCreateSchema):
    """Every field optional (loaded with partial=True): what is given changes (a draft only)."""

    @ma.validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("请至少给出一项要修改的内容")


class TallyJobSchema(ma.Schema):
    job_id = ma.fields.String()
    state = ma.fields.String()


class TallyStatusSchema(ma.Schema):
    state = ma.fields.String(metadata={"description": "none, or RQ's: queued | started | finished | failed | ..."})
    label = ma.fields.String(metadata={"description": "what it is doing, in Chinese"})
    percent = ma.fields.Integer()


class DecisionSchema(ma.Schema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(
        [Decision.CONFIRMED, Decision.STRUCK], error="应为 confirmed（确认）或 struck（撤销）"))
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500, error="审核意见最多500字"))
    sample_acknowledged = ma.fields.Boolean(load_default=False, metadata={
        "description": "needed to confirm a consequence whose grade rests on a low sample"})


class TurnoutSchema(ma.Schema):
    round_id = ma.fields.Integer()
    total = ma.fields.Integer(metadata={"description": "ballots so far, all offices together (sealed ballots "
                                                       "show no office until the tally)"})


class ResultQuerySchema(ma.Schema):
    subject_kind = ma.fields.String(validate=ma.validate.OneOf(SUBJECT_KINDS))


class RoundResultSchema(ma.Schema):
    subject_kind = ma.fields.String()
    subject_id = ma.fields.Integer()
    name = ma.fields.String()
    department_id = ma.fields.Integer(allow_none=True)
    score = ma.fields.Decimal(as_string=True, allow_none=True)
    grade = ma.fields.String(allow_none=True)
    grade_label = ma.fields.String()
    rank = ma.fields.Integer(allow_none=True)
    scored = ma.fields.Integer(allow_none=True)
    unknown = ma.fields.Integer(allow_none=True)
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    tags = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    ci_low = ma.fields.Decimal(as_string=True, allow_none=True)
    ci_high = ma.fields.Decimal(as_string=True, allow_none=True)
    low_sample = ma.fields.Boolean(allow_none=True)
    uncertain = ma.fields.Boolean(allow_none=True)
    previous_grade = ma.fields.String(allow_none=True)
    steps = ma.fields.Integer(allow_none=True)
    sample_too_small = ma.fields.Boolean(metadata={
        "description": "true: fewer than k ballots behind it (or it would rebuild one that has), so no score, "
                       "grade, rank or distribution is given (样本不足)"})


class RoundConsequenceSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    kind_label = ma.fields.Function(lambda c: KIND_LABELS.get(c.kind, c.kind))
    subject_kind = ma.fields.String()
    subject_id = ma.fields.Integer()
    people = ma.fields.List(ma.fields.Integer(), metadata={"description": "person ids"})
    includes_department = ma.fields.Boolean()
    deduction_each = ma.fields.Integer()
    actions = ma.fields.List(ma.fields.String())
    authority = ma.fields.String(allow_none=True)
    low_sample = ma.fields.Boolean()
    decision = ma.fields.String(metadata={"description": "pending | confirmed | struck"})
    reason = ma.fields.String(allow_none=True)
    decided_by = ma.fields.String(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)


class CommentsSchema(ma.Schema):
    label = ma.fields.String(metadata={"description": "科室名称；部门管理员看到的是整个部门的合并意见"})
    office_id = ma.fields.Integer(allow_none=True, metadata={"description": "null: the department pooled"})
    ballots = ma.fields.Integer()
    shown = ma.fields.Boolean(metadata={"description": "false: fewer than k ballots, nothing shown"})
    notes = ma.fields.List(ma.fields.String())
    tags = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class SeriousCountSchema(ma.Schema):
    office = ma.fields.String()
    person = ma.fields.String()
    post = ma.fields.String()
    tags = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                          metadata={"description": "bribery (吃拿索要), obstruction (故意刁难): ratings so tagged"})


class SeriousReportsSchema(ma.Schema):
    ballots = ma.fields.Integer(metadata={"description": "the department's ballots in the round"})
    shown = ma.fields.Boolean(metadata={"description": "notes shown: the department has at least k ballots"})
    counts = ma.fields.List(ma.fields.Nested(SeriousCountSchema))
    notes = ma.fields.List(ma.fields.String(), metadata={"description": "pooled over the department, shuffled"})


class PosterRequestSchema(ma.Schema):
    template = ma.fields.String(required=True, validate=ma.validate.Length(max=100),
                                metadata={"description": "qr_templates/ 中的版式名"})
    format = ma.fields.String(load_default="pdf", validate=ma.validate.OneOf(posters.FORMATS))
    scope = ma.fields.String(required=True, validate=ma.validate.OneOf(("all", "region", "department", "office")))
    region_id = ma.fields.Integer(validate=ID, metadata={"description": "scope=region"})
    department_id = ma.fields.Integer(validate=ID, metadata={"description": "scope=department"})
    office_id = ma.fields.Integer(validate=ID, metadata={"description": "scope=office"})


class PosterJobSchema(ma.Schema):
    id = ma.fields.Integer()
    state = ma.fields.String(metadata={"description": "queued、running、done 或 failed"})
    error = ma.fields.String(allow_none=True)
    done = ma.fields.Integer()
    total = ma.fields.Integer()
    percent = ma.fields.Integer()
    template = ma.fields.String()
    format = ma.fields.String()
    status_url = ma.fields.String()
    download_url = ma.fields.String(allow_none=True)


# ---------------------------------------------------------------- helpers


def _visible_round(round_: Round) -> None:
    """409 unless the caller may read this round's results now."""
    if not admin_rounds.results_visible(round_, access.scope()):
        abort(409, message="本轮结果尚未统计或尚未发布")


HIDDEN_FIELDS = {"score": None, "grade": None, "rank": None, "counts": {}, "ci_low": None, "ci_high": None,
                 "previous_grade": None, "steps": None, "scored": None, "unknown": None, "low_sample": None,
                 "uncertain": None}


def _named(rows: list[Result], round_: Round, audience, hidden: set) -> list[dict]:
    """The rows as the audience may see them (services.results, domain.visibility): tags by the
    table, and below k ("sample_too_small") no score, grade, rank or distribution."""
    ids = {kind: [r.subject_id for r in rows if r.subject_kind == kind] for kind in SUBJECT_KINDS}
    names = {}
    for kind, model in (("person", Person), ("office", Office), ("department", Department), ("region", Region)):
        if ids[kind]:
            names.update({(kind, i): n for i, n in db.session.execute(
                select(model.id, model.name).where(model.id.in_(ids[kind])))})
    schema_fields = RoundResultSchema().fields
    out = []
    for r in rows:
        item = {name: getattr(r, name) for name in schema_fields if hasattr(r, name)}
        item["name"] = names.get((r.subject_kind, r.subject_id), "")
        item["tags"] = results.visible_tags(r.tags, audience, round_.status)
        item["sample_too_small"] = (r.subject_kind, r.subject_id) in hidden
        if item["sample_too_small"]:
            item.update(HIDDEN_FIELDS)
        item["grade_label"] = results.grade_label(item["grade"])
        out.append(item)
    return out


def _job_out(status: poster_batches.BatchStatus) -> dict:
    return {"id": status.id, "state": status.state, "done": status.done, "total": status.total,
            "percent": status.percent, "template": status.template, "format": status.format, "error": status.error,
            "status_url": url_for("api_posters.PosterJob", batch_id=status.id),
            "download_url": url_for("api_posters.poster_file", batch_id=status.id) if status.finished else None}


# ---------------------------------------------------------------- rounds


@blp.route("")
class Rounds(MethodView):
    @access.guard(P.ROUNDS_READ)
    @blp.response(200, RoundSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """The rounds in the caller's scope, newest first."""
        query = select(Round).where(access.condition("round", access.scope())).order_by(Round.opens_at.desc(),
                                                                                         Round.id.desc())
        return page(query, pagination_parameters)

    @access.guard(P.ROUNDS_MANAGE)
    @blp.arguments(RoundCreateSchema)
    @blp.response(201, RoundSchema)
    def post(self, data):
        """Create a draft round of a region in the caller's scope (times in China time unless zoned)."""
        region = db.session.get(Region, data["region_id"])
        if region is None or not access.covers(Place(region.id)):
            refuse("region_id", "不在您的管理范围内")
        try:
            round_ = rounds.create_round(data["name"].strip(), region.code, admin_rounds.from_china(data["opens_at"]),
                                         admin_rounds.from_china(data["closes_at"]), data["require_wechat"])
        except rounds.RoundError as exc:
            refuse("closes_at", str(exc))
        db.session.commit()
        return round_


@blp.route("/<int:round_id>")
class RoundItem(MethodView):
    @access.guard(P.ROUNDS_READ, "round", "round_id")
    @blp.response(200, RoundSchema)
    def get(self, round_id):
        """One round."""
        return g.obj

    @access.guard(P.ROUNDS_MANAGE, "round", "round_id")
    @blp.arguments(RoundEditSchema(partial=True))
    @blp.response(200, RoundSchema)
    def patch(self, data, round_id):
        """Change a draft round (name, region, times, WeChat requirement); 409 once opened."""
        region_code = None
        if "region_id" in data:
            region = db.session.get(Region, data["region_id"])
            if region is None or not access.covers(Place(region.id)):
                refuse("region_id", "不在您的管理范围内")
            region_code = region.code
        times = {k: admin_rounds.from_china(data[k]) for k in ("opens_at", "closes_at") if k in data}
        return _committed(lambda: rounds.edit_round(
            round_id, name=data["name"].strip() if "name" in data else None, region_code=region_code,
            require_wechat=data.get("require_wechat"), **times))


@blp.route("/<int:round_id>/cancel")
class RoundCancel(MethodView):
    @access.guard(P.ROUNDS_MANAGE, "round", "round_id")
    @blp.response(200, RoundSchema)
    def post(self, round_id):
        """Cancel a draft round (kept, status cancelled); an opened round cannot be cancelled or deleted."""
        return _committed(lambda: rounds.cancel_round(round_id))


@blp.route("/<int:round_id>/open")
class RoundOpen(MethodView):
    @access.guard(P.ROUNDS_MANAGE, "round", "round_id")
    @blp.response(200, RoundSchema)
    def post(self, round_id):
        """Open a draft round now (before its scheduled start, it takes ballots at once): freeze
        the roster, snapshot the configuration."""
        return _committed(lambda: rounds.open_round(round_id))


@blp.route("/<int:round_id>/close")
class RoundClose(MethodView):
    @access.guard(P.ROUNDS_MANAGE, "round", "round_id")
    @blp.response(200, RoundSchema)
    def post(self, round_id):
        """Stop accepting ballots and queue the tally (as the cron does at the scheduled end)."""
        return _committed(lambda: rounds.close_round(round_id))[0]


@blp.route("/<int:round_id>/tally")
class RoundTally(MethodView):
    @access.guard(P.ROUNDS_MANAGE, "round", "round_id")
    @blp.response(202, TallyJobSchema)
    def post(self, round_id):
        """Queue the tally (or, before publishing, a re-tally) in the worker (job id tally-<round_id>);
        a re-tally makes the consequences to be reviewed again."""
        job = _committed(lambda: rounds.request_tally(round_id))
        return {"job_id": job.id, "state": admin_rounds.job_state(job)}

    @access.guard(P.ROUNDS_READ, "round", "round_id")
    @blp.response(200, TallyStatusSchema)
    def get(self, round_id):
        """How the round's tally job is doing (state "none": no tally job known)."""
        return admin_rounds.tally_job(round_id) or {"state": "none", "label": "尚未统计", "percent": 0}


@blp.route("/<int:round_id>/publish")
class RoundPublish(MethodView):
    @access.guard(P.ROUNDS_MANAGE, "round", "round_id")
    @blp.response(200, RoundSchema)
    def post(self, round_id):
        """Publish a tallied round's results and queue the pushes to subscribers; 409 while any
        consequence is still pending review."""
        return _committed(lambda: rounds.publish_round(round_id))[0]


@blp.route("/<int:round_id>/turnout")
class RoundTurnout(MethodView):
    @access.guard(P.ROUNDS_READ, "round", "round_id")
    @blp.response(200, TurnoutSchema)
    def get(self, round_id):
        """Ballots so far in the round (a count only; per office after the tally, in the results)."""
        return {"round_id": round_id, "total": admin_rounds.turnout(g.obj)}


@blp.route("/<int:round_id>/results")
class RoundResults(MethodView):
    @access.guard(P.RESULTS_READ, "round", "round_id")
    @blp.arguments(ResultQuerySchema, location="query")
    @blp.response(200, RoundResultSchema(many=True))
    @blp.paginate()
    def get(self, query, round_id, pagination_parameters):
        """Scores, grades and distributions (a department admin: their own department's, once published)."""
        _visible_round(g.obj)
        statement = select(Result).where(Result.round_id == round_id)
        department_id = admin_rounds.department_filter(access.scope())
        if department_id is not None:
            statement = statement.where(Result.department_id == department_id)
        if query.get("subject_kind"):
            statement = statement.where(Result.subject_kind == query["subject_kind"])
        audience = results.audience_of(g.user.role_enum)
        hidden = results.hidden_results(g.obj, audience, department_id)
        # Where anything is hidden, the official order would place it among the shown: by id then.
        by_rank = [] if hidden else [Result.rank.is_(None), Result.rank]  # unranked last on both databases
        order = [Result.subject_kind, Result.department_id, *by_rank, Result.subject_id]
        rows = _named(page(statement.order_by(*order), pagination_parameters), g.obj, audience, hidden)
        if hidden:  # ranked among the shown results, as on the report cards
            ranks = results.shown_ranks(g.obj, db.session.scalars(
                select(Result).where(Result.round_id == round_id, Result.department_id == department_id)).all(), hidden)
            for row in rows:
                row["rank"] = ranks.get((row["subject_kind"], row["subject_id"]), row["rank"])
        return rows


@blp.route("/<int:round_id>/consequences")
class RoundConsequences(MethodView):
    @access.guard(P.CONSEQUENCES_READ, "round", "round_id")
    @blp.response(200, RoundConsequenceSchema(many=True))
    @blp.paginate()
    def get(self, round_id, pagination_parameters):
        """The consequences the tally computed (reviewed before publishing)."""
        _visible_round(g.obj)
        statement = select(ConsequenceRecord).where(ConsequenceRecord.round_id == round_id).order_by(
            ConsequenceRecord.id)
        return page(statement, pagination_parameters)


@blp.route("/<int:round_id>/consequences/<int:consequence_id>")
class RoundConsequence(MethodView):
    @access.guard(P.ROUNDS_MANAGE, "round", "round_id")
    @blp.arguments(DecisionSchema)
    @blp.response(200, RoundConsequenceSchema)
    def post(self, data, round_id, consequence_id):
        """Confirm or strike one consequence of a tallied round (striking needs a reason)."""
        return _committed(lambda: admin_rounds.decide_consequence(
            round_id, consequence_id, data["decision"], data["reason"], data["sample_acknowledged"]))


@blp.route("/<int:round_id>/departments/<int:department_id>/comments")
class DepartmentComments(MethodView):
    @access.guard(P.COMMENTS_READ, "department", "department_id")
    @blp.response(200, CommentsSchema(many=True))
    def get(self, round_id, department_id):
        """Comments and tag counts: per office for coordinators; for the department's own admins the
        department pooled, once published, with at least k ballots, without 吃拿索要 and 故意刁难
        (shuffled, undated)."""
        return results.department_comments(_department_round(round_id), department_id,
                                           results.audience_of(g.user.role_enum))


@blp.route("/<int:round_id>/departments/<int:department_id>/serious")
class DepartmentSeriousReports(MethodView):
    @access.guard(P.SERIOUS_READ, "department", "department_id")
    @blp.response(200, SeriousReportsSchema)
    def get(self, round_id, department_id):
        """Ratings tagged 吃拿索要 or 故意刁难, counted per office and person, with their notes pooled
        over the department when it has at least k ballots (coordinators and 纪检监察 only)."""
        return results.serious_reports(_department_round(round_id), department_id,
                                       results.audience_of(g.user.role_enum))


def _department_round(round_id: int) -> Round:
    """The round of the department in g.obj, its results readable now by the caller."""
    round_ = db.session.get(Round, round_id)
    if round_ is None or round_.region_id != g.obj.region_id:
        abort(404, message="对象不存在，或不在您的管理范围内。")
    _visible_round(round_)
    return round_


@blp.route("/<int:round_id>/circular")
class RoundCircular(MethodView):
    @access.guard(P.CONSEQUENCES_READ, "round", "round_id")
    @blp.doc(responses={"200": {"description": "通报（Excel）",
                                                   "content": {XLSX: {"schema": {"type": "string",
                                                                                 "format": "binary"}}}}})
    def get(self, round_id):
        """The round's Excel circular (通报)."""
        buffer = io.BytesIO()
        try:
            export_circular(round_id, buffer)
        except rounds.RoundError as exc:
            _conflict(exc)
        db.session.commit()
        buffer.seek(0)
        return send_file(buffer, mimetype=XLSX, as_attachment=True,
                         download_name=circular_file_name(round_id))


# ---------------------------------------------------------------- posters


def _poster_value(data: dict) -> str | None:
    """The scope's code for poster_batches.request; 422 naming the field when out of scope."""
    kind = data["scope"]
    user_scope = access.scope()
    if kind == "all":
        if not poster_batches.poster_covered(user_scope, poster_batches.poster_place("all", None)):
            refuse("scope", "不在您的管理范围内")
        return None
    field, model = {"region": ("region_id", Region), "department": ("department_id", Department),
                    "office": ("office_id", Office)}[kind]
    if data.get(field) is None:
        refuse(field, "范围为该项时必填")
    row = db.session.get(model, data[field])
    code = row.code if row is not None else None
    if code is None or not poster_batches.poster_covered(user_scope, poster_batches.poster_place(kind, code)):
        refuse(field, "不在您的管理范围内")
    return code


@posters_blp.route("")
class Posters(MethodView):
    @access.guard(P.POSTERS_RENDER)
    @posters_blp.arguments(PosterRequestSchema)
    @posters_blp.response(202, PosterJobSchema)
    def post(self, data):
        """Queue a poster batch for offices in the caller's scope; follow it at status_url."""
        if data["template"] not in posters.template_names():
            refuse("template", f"没有该版式，可选：{'、'.join(posters.template_names())}")
        value = _poster_value(data)
        try:
            batch = poster_batches.request(data["scope"], value, data["template"], data["format"], g.user.id)
        except posters.PosterError as exc:
            refuse("template", str(exc))
        db.session.commit()
        return _job_out(poster_batches.status(batch))


@posters_blp.route("/<int:batch_id>")
class PosterJob(MethodView):
    @access.guard(P.POSTERS_RENDER, "poster_batch", "batch_id")
    @posters_blp.response(200, PosterJobSchema)
    def get(self, batch_id):
        """A poster batch's progress (percent of offices drawn) and, once finished, its download URL."""
        return _job_out(poster_batches.status(g.obj))


@posters_blp.route("/<int:batch_id>/file", endpoint="poster_file")
class PosterFile(MethodView):
    @access.guard(P.POSTERS_RENDER, "poster_batch", "batch_id")
    @posters_blp.doc(responses={"200": {"description": "PDF 或 ZIP", "content": {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        "application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
    def get(self, batch_id):
        """The finished batch (409 while it is still being drawn)."""
        status = poster_batches.status(g.obj)
        if not status.finished:
            abort(409, message="公示牌还在生成中（或生成失败）")
        return send_file(status.path, mimetype=poster_batches.MIMETYPES.get(status.format), as_attachment=True,
                         download_name=status.download_name)
