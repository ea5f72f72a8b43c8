"""The audit log read as sentences in Chinese: who did what to which thing, and what changed
("shi 修改了评价轮次“2026年上半年”：状态由“草稿”改为“进行中”"). Names are looked up for one page of
entries at a time; what the log stored is shown as stored, never rewritten."""

import datetime as dt
from collections import defaultdict

from sqlalchemy import select

from ..domain.review import Decision
from ..domain.round_states import STATUS_LABELS
from ..extensions import db
from ..models import AuditEntry, Department, Office, Person, Region, Round, User, WebhookSubscriber
from .audit import CHANGE_LABELS, TABLE_LABELS, action_label
from .rounds import to_china

NAMED = {"round": (Round, Round.name), "department": (Department, Department.name), "office": (Office, Office.name),
         "person": (Person, Person.name), "region": (Region, Region.name), "user": (User, User.username),
         "webhook_subscriber": (WebhookSubscriber, WebhookSubscriber.name)}
COLUMN_LABELS = {
    "name": "名称", "status": "状态", "opens_at": "开始时间", "closes_at": "结束时间",
    "require_wechat": "只接受微信评价",
    "published_at": "发布时间", "region_id": "区域", "post": "职务", "phone": "电话", "active": "在用",
    "office_id": "科室", "department_id": "部门", "role": "角色", "username": "用户名", "display_name": "姓名",
    "code": "编码", "category": "类别", "photo": "照片", "duties": "职责", "business": "业务",
    "url": "地址", "password_hash": "密码", "session_epoch": "登录状态", "overseen_offices": "分管科室",
}
QUIET = {"config", "public_key", "key_id", "sealed_size", "unsealed", "digest", "id", "sort_order", "photo_hash"}
DECISIONS = {d.value: d.label for d in Decision}
MAX_CHANGES = 4


def sentences(entries: list[AuditEntry]) -> dict[int, str]:
    """seq -> the entry as a sentence (without its time, shown beside it)."""
    names = _names(entries)
    return {e.seq: _sentence(e, names) for e in entries}


def _names(entries: list[AuditEntry]) -> dict[tuple[str, str], str]:
    wanted = defaultdict(set)
    for e in entries:
        table, _, key = e.target.partition(":")
        if table in NAMED and key.isdigit():
            wanted[table].add(int(key))
    found = {}
    for table, ids in wanted.items():
        model, column = NAMED[table]
        found.update({(table, str(i)): n for i, n in db.session.execute(select(model.id, column)
                                                                         .where(model.id.in_(ids)))})
    return found


def _thing(target: str, summary: dict, names: dict) -> str:
    table, _, key = target.partition(":")
    label = TABLE_LABELS.get(table, table)
    name = names.get((table, key)) or (summary.get("after") or summary.get("before") or {}).get("name")
    return f"{label}“{name}”" if name else f"{label}（编号{key}）"


def _value(column: str, value) -> str:
    if value is None or value == "":
        return "空"
    if column == "status":
        return STATUS_LABELS.get(value, value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if column.endswith("_at") and isinstance(value, str):
        try:
            return f"{to_china(dt.datetime.fromisoformat(value)):%Y-%m-%d %H:%M}"
        except ValueError:
            return value
    if isinstance(value, list):
        return "、".join(str(v) for v in value) or "无"
    return str(value)[:60]


def _changes(summary: dict) -> str:
    before, after = summary.get("before") or {}, summary.get("after") or {}
    columns = [c for c in after if c not in QUIET]
    shown = [f"{COLUMN_LABELS.get(c, c)}由“{_value(c, before.get(c))}”改为“{_value(c, after.get(c))}”"
             if c not in ("password_hash",) else "重设了密码" for c in columns[:MAX_CHANGES]]
    if len(columns) > MAX_CHANGES:
        shown.append(f"等{len(columns)}项")
    return "，".join(shown)


def _sentence(e: AuditEntry, names: dict) -> str:
    table, _, change = e.action.partition(".")
    summary = e.summary or {}
    thing = _thing(e.target, summary, names)
    if change in CHANGE_LABELS and table in TABLE_LABELS:
        verb = {"create": "新增了", "update": "修改了", "delete": "删除了"}[change]
        details = _changes(summary) if change == "update" else ""
        return f"{e.actor} {verb}{thing}" + (f"：{details}" if details else "")
    if e.action == "consequence.review":
        round_name = names.get(("round", str(summary.get("round")))) or f"编号{summary.get('round')}的轮次"
        reason = f"，理由：{summary['reason']}" if summary.get("reason") else ""
        return (f"{e.actor} 审核结果运用（{round_name}，第{e.target.partition(':')[2]}项）："
                f"{DECISIONS.get(summary.get('decision'), summary.get('decision'))}{reason}")
    if e.action == "user.login":
        return f"{e.actor} 登录了管理后台"
    return f"{e.actor} {action_label(e.action)}：{thing}"


def action_groups() -> list[tuple[str, str]]:
    """(prefix, label) for the log's filter: each kind of thing, and each noted action."""
    from .audit import NOTE_LABELS

    return [*((f"{t}.", TABLE_LABELS[t]) for t in TABLE_LABELS), *NOTE_LABELS.items()]
