"""The audit trail: every write made by an admin or API request, recorded in the same
transaction as the write itself (so there is no change without its entry, nor the reverse).

Requests of the admin area and the API name their user with `acting_as`; from then on every
flush of the session records, per row inserted, updated or deleted, an entry with the
changed columns before and after. Tables that hold ballots (and the paper typings behind
them), the tally's outputs and the chain itself are never recorded (A1, A4); secrets and
password or token hashes are shown as "***".
"""

import datetime as dt
import decimal
from collections.abc import Iterator
from contextlib import contextmanager

from flask import g, has_app_context
from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.orm import Session

from ..domain.access import Level, Scope
from ..domain.audit_chain import GENESIS, entry_hash, first_break
from ..extensions import db
from ..models import (
    Appeal,
    AppealAttachment,
    AuditEntry,
    AuditHead,
    Ballot,
    ConsequenceRecord,
    DedupRecord,
    LedgerEntry,
    PaperEntry,
    PaperForm,
    Rating,
    RatingTag,
    Receipt,
    Rectification,
    Result,
    RoundRoster,
    SealedBallot,
    TallyRun,
    User,
    WebhookAttempt,
    WebhookDelivery,
)

NOT_RECORDED = (Ballot, SealedBallot, Rating, RatingTag, DedupRecord, PaperEntry, PaperForm, AuditEntry,
                AuditHead, RoundRoster, Result, ConsequenceRecord, LedgerEntry, WebhookDelivery, WebhookAttempt,
                Rectification,  # its own entries (services.rectification): its findings are not for every reader
                Appeal, AppealAttachment,  # their own entries (services.appeals)
                TallyRun, Receipt)  # the tally's, like Result; a receipt never goes anywhere but its table
REDACTED = frozenset({"password_hash", "token_hash", "secret"})


@contextmanager
def acting_as(user_id: int | None, username: str) -> Iterator[None]:
    """Record the writes made inside this block as this user's (needs an app context)."""
    previous = g.get("audit_actor")
    g.audit_actor = (user_id, username)
    try:
        yield
    finally:
        g.audit_actor = previous


def set_actor(user_id: int | None, username: str) -> None:
    """For a whole request: the admin and API guards call this once they know the user."""
    g.audit_actor = (user_id, username)


def _actor() -> tuple[int | None, str] | None:
    return g.get("audit_actor") if has_app_context() else None


def actor_name() -> str:
    """Who is acting, for a record's "decided by": the signed-in user, else the command line."""
    actor = _actor()
    return actor[1] if actor else "命令行"


def _plain(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return "***"
    if isinstance(value, list | tuple | set):
        return sorted(_plain(v) for v in value)
    if hasattr(value, "__table__"):  # a related row: its id
        return inspect(value).identity[0] if inspect(value).identity else None
    return value


def _values(obj, names) -> dict:
    return {n: "***" if n in REDACTED else _plain(getattr(obj, n)) for n in names}


def _change(obj, kind: str) -> dict | None:
    """The entry for one row: what was there before and after (changed columns only)."""
    state = inspect(obj)
    mapper = state.mapper
    columns = [c.key for c in mapper.column_attrs]
    collections = [r.key for r in mapper.relationships if r.secondary is not None]
    if kind == "create":
        summary = {"after": _values(obj, columns + collections)}
    elif kind == "delete":
        summary = {"before": _values(obj, columns)}
    else:
        before, after = {}, {}
        for name in columns + collections:
            history = state.attrs[name].history
            if not history.has_changes():
                continue
            if name in collections:
                old = [*history.unchanged, *history.deleted]
                before[name], after[name] = _plain(old), _plain([*history.unchanged, *history.added])
            elif name in REDACTED:
                before[name] = after[name] = "***"
            else:
                before[name] = _plain(history.deleted[0]) if history.deleted else None
                after[name] = _plain(history.added[0]) if history.added else None
        if not after:
            return None
        summary = {"before": before, "after": after}
    table = mapper.local_table.name
    key = ",".join(str(v) for v in state.identity or mapper.primary_key_from_instance(obj))
    return {"action": f"{table}.{kind}", "target": f"{table}:{key}", "summary": summary}


@event.listens_for(Session, "after_flush")
def _record_flush(session: Session, _context) -> None:
    actor = _actor()
    if actor is None:
        return
    changes = []
    for kind, objects in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            if isinstance(obj, NOT_RECORDED):
                continue
            if kind == "update" and not session.is_modified(obj):
                continue
            change = _change(obj, kind)
            if change:
                changes.append(change)
    if changes:
        changes.sort(key=lambda c: (c["target"], c["action"]))
        _append(session.connection(), actor, changes)


def note(action: str, target: str, summary: dict) -> None:
    """Record an action that is not a row change (a job asked for, a download of results).
    Written in the caller's transaction; the caller commits."""
    actor = _actor()
    if actor is not None:
        _append(db.session.connection(), actor, [{"action": action, "target": target, "summary": summary}])


def _append(connection, actor: tuple[int | None, str], changes: list[dict]) -> None:
    """Chain the entries after the head; updating the head row first serialises writers."""
    bump = (update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + len(changes))
            .returning(AuditHead.seq, AuditHead.hash))
    row = connection.execute(bump).first()
    if row is None:  # first entry ever (or after the tables were emptied)
        connection.execute(insert(AuditHead).values(id=1, seq=0, hash=GENESIS))
        row = connection.execute(bump).first()
    seq, prev_hash = row[0] - len(changes), row[1]
    at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    entries = []
    for change in changes:
        seq += 1
        entry = {"seq": seq, "at": at, "actor_id": actor[0], "actor": actor[1], **change}
        entry["prev_hash"], entry["hash"] = prev_hash, entry_hash(prev_hash, {**entry, "at": at.isoformat()})
        prev_hash = entry["hash"]
        entries.append(entry)
    connection.execute(insert(AuditEntry), entries)
    connection.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev_hash))


NOTE_LABELS = {"user.login": "登录", "round.tally": "统计评价轮次", "results.export": "导出通报",
               "posters.render": "生成公示牌", "paper.entry": "录入纸质选票", "consequence.review": "审核结果运用",
               "rectification.open": "生成整改任务", "rectification.submit": "提交整改情况",
               "rectification.accept": "整改验收通过", "rectification.return": "退回整改"}
TABLE_LABELS = {
    "user": "用户", "api_token": "API令牌", "region": "区域", "department": "部门", "office": "科室",
    "person": "人员", "post_duty": "岗位职责", "service_item": "服务事项", "guideline": "工作制度",
    "round": "评价轮次", "webhook_subscriber": "推送订阅", "user_office": "用户科室",
}
CHANGE_LABELS = {"create": "新增", "update": "修改", "delete": "删除"}


def action_label(action: str) -> str:
    """“person.update” -> “修改人员”, “round.tally” -> “统计评价轮次”; others as they are."""
    table, _, change = action.partition(".")
    if action in NOTE_LABELS:
        return NOTE_LABELS[action]
    if table in TABLE_LABELS and change in CHANGE_LABELS:
        return CHANGE_LABELS[change] + TABLE_LABELS[table]
    return action


def query(scope: Scope, action: str | None = None, actor: str | None = None, since: dt.datetime | None = None,
          until: dt.datetime | None = None):
    """Entries newest first, filtered by an action prefix (e.g. "user."), an actor's username and
    a time range [since, until).

    Below the city, a reader sees the entries of users of their own region: those users can
    only have changed things inside it, so no entry shows a row outside the reader's scope.
    """
    statement = select(AuditEntry).order_by(AuditEntry.seq.desc())
    if scope.level is not Level.CITY:
        statement = statement.where(AuditEntry.actor_id.in_(select(User.id).where(User.region_id == scope.region_id)))
    if action:
        escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(AuditEntry.action.like(escaped + "%", escape="\\"))
    if actor:
        statement = statement.where(AuditEntry.actor == actor)
    if since:
        statement = statement.where(AuditEntry.at >= since)
    if until:
        statement = statement.where(AuditEntry.at < until)
    return statement


def verify() -> tuple[int, str | None]:
    """(number of entries, the first problem found or None) over the whole chain."""
    rows = db.session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
    head = db.session.get(AuditHead, 1)
    count = 0

    def entries():
        nonlocal count
        for row in rows:
            count += 1
            yield {"seq": row.seq, "at": row.at.isoformat(), "actor_id": row.actor_id, "actor": row.actor,
                   "action": row.action, "target": row.target, "summary": row.summary,
                   "prev_hash": row.prev_hash, "hash": row.hash}

    problem = first_break(entries(), (head.seq, head.hash) if head else None)
    return count, problem
