"""Users (within the caller's scope), result webhooks with their delivery log, and the audit
log with its chain check."""


import marshmallow as ma
from flask import g
from flask.views import MethodView
from sqlalchemy import select

from ..domain.access import Permission as P
from ..domain.access import UserRole
from ..extensions import db
from ..models import User, WebhookDelivery, WebhookSubscriber
from ..services import access, audit, push
from ..services import users as accounts
from . import blueprint, page, refuse

users_blp = blueprint("users", "管理范围内的用户：列表、查看、创建、修改（显示名称、停用、重置密码）。")
webhooks_blp = blueprint("webhooks", "结果推送的订阅方及其推送记录（仅全市协调员）。")
audit_blp = blueprint("audit", "审计日志（只追加，哈希链）及其校验。")
BLUEPRINTS = [users_blp, webhooks_blp, audit_blp]

HTTP_URL = ma.validate.URL(schemes={"http", "https"}, require_tld=False,
                           error="请输入以 http:// 或 https:// 开头的完整地址")




# --- users ---------------------------------------------------------------------------------

class SystemUserSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.String()
    active = ma.fields.Boolean()
    region_id = ma.fields.Integer()
    department_id = ma.fields.Integer(allow_none=True)
    office_ids = ma.fields.Function(lambda u: [o.id for o in u.offices])
    created_at = ma.fields.DateTime()


class SystemUserCreateSchema(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(1, 50))
    display_name = ma.fields.String(load_default="", validate=ma.validate.Length(max=50))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(max=200))
    role = ma.fields.String(required=True, validate=ma.validate.OneOf([r.value for r in UserRole]))
    region_code = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=32))
    department_code = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=32))
    office_codes = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=16)), load_default=list,
                                  validate=ma.validate.Length(max=200))


class SystemUserPatchSchema(ma.Schema):
    display_name = ma.fields.String(validate=ma.validate.Length(1, 50))
    active = ma.fields.Boolean()
    password = ma.fields.String(load_only=True, validate=ma.validate.Length(1, 200),
                                metadata={"description": "重置密码（至少10个字符，字母与数字或符号）"})


FIELD_NAMES = {"region": "region_code", "department": "department_code", "offices": "office_codes"}


@users_blp.route("")
class Users(MethodView):
    @access.guard(P.USERS_MANAGE)
    @users_blp.response(200, SystemUserSchema(many=True))
    @users_blp.paginate()
    def get(self, pagination_parameters):
        """Users within the caller's scope."""
        query = select(User).where(access.condition("user", access.scope())).order_by(User.id)
        return page(query, pagination_parameters)

    @access.guard(P.USERS_MANAGE)
    @users_blp.arguments(SystemUserCreateSchema)
    @users_blp.response(201, SystemUserSchema)
    def post(self, args):
        """Create a user inside the caller's scope (a county coordinator: inside the county)."""
        try:
            user = accounts.build_user(args["username"], args["display_name"], args["password"], args["role"],
                                       region_code=args["region_code"], department_code=args["department_code"],
                                       office_codes=args["office_codes"], within=access.scope())
        except accounts.UserError as error:
            refuse(FIELD_NAMES.get(error.field, error.field or "username"), str(error))
        db.session.commit()
        return user


@users_blp.route("/<int:user_id>")
class OneUser(MethodView):
    @access.guard(P.USERS_MANAGE, "user", "user_id")
    @users_blp.response(200, SystemUserSchema)
    def get(self, user_id):
        """One user of the caller's scope."""
        return g.obj

    @access.guard(P.USERS_MANAGE, "user", "user_id")
    @users_blp.arguments(SystemUserPatchSchema)
    @users_blp.response(200, SystemUserSchema)
    def patch(self, args, user_id):
        """Change the display name, switch the user on or off, or reset the password."""
        try:
            accounts.update_user(g.obj, display_name=args.get("display_name"), active=args.get("active"),
                                 password=args.get("password"), acting=g.user)
        except accounts.UserError as error:
            refuse(error.field or "display_name", str(error))
        db.session.commit()
        return g.obj


# --- webhooks ------------------------------------------------------------------------------

class WebhookSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    url = ma.fields.String()
    active = ma.fields.Boolean()


class WebhookCreatedSchema(WebhookSchema):
    secret = ma.fields.String(metadata={"description": "HMAC-SHA256 签名密钥，只在创建时返回这一次"})


class WebhookCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 100))
    url = ma.fields.String(required=True, validate=[ma.validate.Length(max=500), HTTP_URL])
    secret = ma.fields.String(load_default=None, allow_none=True, load_only=True,
                              validate=ma.validate.Length(16, 128),
                              metadata={"description": "留空则自动生成"})


class WebhookPatchSchema(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(1, 100))
    url = ma.fields.String(validate=[ma.validate.Length(max=500), HTTP_URL])
    active = ma.fields.Boolean()


class WebhookAttemptSchema(ma.Schema):
    attempted_at = ma.fields.DateTime()
    status_code = ma.fields.Integer(allow_none=True)
    error = ma.fields.String(allow_none=True)


class WebhookDeliverySchema(ma.Schema):
    id = ma.fields.String()
    round_id = ma.fields.Integer()
    status = ma.fields.String()
    attempts = ma.fields.List(ma.fields.Nested(WebhookAttemptSchema))


@webhooks_blp.route("")
class Webhooks(MethodView):
    @access.guard(P.WEBHOOKS_MANAGE)
    @webhooks_blp.response(200, WebhookSchema(many=True))
    @webhooks_blp.paginate()
    def get(self, pagination_parameters):
        """Subscribers (the city's coordinators see them all; others none)."""
        query = (select(WebhookSubscriber).where(access.condition("webhook", access.scope()))
                 .order_by(WebhookSubscriber.id))
        return page(query, pagination_parameters)

    @access.guard(P.WEBHOOKS_MANAGE)
    @webhooks_blp.arguments(WebhookCreateSchema)
    @webhooks_blp.response(201, WebhookCreatedSchema)
    def post(self, args):
        """Register a subscriber; its signing secret is returned this once."""
        try:
            subscriber = push.add_subscriber(args["name"].strip(), args["url"].strip(), args["secret"] or None,
                                             within=access.scope())
        except ValueError as error:
            refuse("url", str(error))
        db.session.commit()
        return {"id": subscriber.id, "name": subscriber.name, "url": subscriber.url, "active": subscriber.active,
                "secret": subscriber.secret}


@webhooks_blp.route("/<int:webhook_id>")
class OneWebhook(MethodView):
    @access.guard(P.WEBHOOKS_MANAGE, "webhook", "webhook_id")
    @webhooks_blp.response(200, WebhookSchema)
    def get(self, webhook_id):
        """One subscriber."""
        return g.obj

    @access.guard(P.WEBHOOKS_MANAGE, "webhook", "webhook_id")
    @webhooks_blp.arguments(WebhookPatchSchema)
    @webhooks_blp.response(200, WebhookSchema)
    def patch(self, args, webhook_id):
        """Rename, move or switch a subscriber on or off."""
        try:
            subscriber = push.update_subscriber(g.obj, name=args["name"].strip() if "name" in args else None,
                                                url=args["url"].strip() if "url" in args else None,
                                                active=args.get("active"))
        except ValueError as error:
            refuse("url", str(error))
        db.session.commit()
        return subscriber


@webhooks_blp.route("/<int:webhook_id>/deliveries")
class WebhookDeliveries(MethodView):
    @access.guard(P.WEBHOOKS_MANAGE, "webhook", "webhook_id")
    @webhooks_blp.response(200, WebhookDeliverySchema(many=True))
    @webhooks_blp.paginate()
    def get(self, webhook_id, pagination_parameters):
        """The subscriber's deliveries (one per published round) with every attempt."""
        query = (select(WebhookDelivery).where(WebhookDelivery.subscriber_id == webhook_id)
                 .order_by(WebhookDelivery.round_id.desc()))
        return page(query, pagination_parameters)


# --- audit ---------------------------------------------------------------------------------

class AuditEntrySchema(ma.Schema):
    seq = ma.fields.Integer()
    at = ma.fields.DateTime()
    actor_id = ma.fields.Integer(allow_none=True)
    actor = ma.fields.String()
    action = ma.fields.String()
    target = ma.fields.String()
    summary = ma.fields.Dict()
    prev_hash = ma.fields.String()
    hash = ma.fields.String()


class AuditFilterSchema(ma.Schema):
    action = ma.fields.String(validate=ma.validate.Length(max=40),
                              metadata={"description": "操作前缀，如 user. 或 paper"})
    actor = ma.fields.String(validate=ma.validate.Length(max=60), metadata={"description": "操作人用户名"})


class AuditVerifySchema(ma.Schema):
    entries = ma.fields.Integer()
    intact = ma.fields.Boolean()
    problem = ma.fields.String(allow_none=True)


@audit_blp.route("")
class AuditLog(MethodView):
    @access.guard(P.AUDIT_READ)
    @audit_blp.arguments(AuditFilterSchema, location="query")
    @audit_blp.response(200, AuditEntrySchema(many=True))
    @audit_blp.paginate()
    def get(self, args, pagination_parameters):
        """Entries newest first, filtered by action prefix and actor."""
        return page(audit.query(access.scope(), args.get("action"), args.get("actor")), pagination_parameters)


@audit_blp.route("/verify")
class AuditVerify(MethodView):
    @access.guard(P.AUDIT_READ)
    @audit_blp.response(200, AuditVerifySchema)
    def get(self):
        """Check the hash chain: an edited or deleted entry is reported."""
        entries, problem = audit.verify()
        return {"entries": entries, "intact": problem is None, "problem": problem}
