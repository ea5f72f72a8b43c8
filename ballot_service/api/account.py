"""The token's own user: who am I, with which role and scope."""

import marshmallow as ma
from flask import g
from flask.views import MethodView

from ..domain.access import Permission as P
from ..services import access, users
from . import blueprint

blp = blueprint("account", "调用者自己的账号：角色与管理范围。")
BLUEPRINTS = [blp]


class AccountSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.String()
    scope = ma.fields.Dict()


@blp.route("")
class Account(MethodView):
    @blp.response(200, AccountSchema)
    @access.guard(P.OWN_ACCOUNT)
    def get(self):
        """The user the token belongs to."""
        scope = users.scope_of(g.user)
        return {"id": g.user.id, "username": g.user.username, "display_name": g.user.display_name,
                "role": g.user.role, "scope": {"level": scope.level.value, "region_id": scope.region_id,
                                               "department_id": scope.department_id,
                                               "office_ids": sorted(scope.office_ids)}}
