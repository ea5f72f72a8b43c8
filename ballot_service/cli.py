"""Command-line entry points: thin click commands over the services."""

import datetime as dt

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import jobs as job_specs
from .domain.access import UserRole
from .domain.review import Decision
from .domain.round_states import RoundStatus
from .domain.tally import RULES_VERSION
from .extensions import db
from .models import Round
from .services import audit, ballot_box, demo, push, roster_export, roster_import, roster_io, rounds, users
from .services.jobs import QueueUnavailable
from .services.photos import PhotoImportRejected, import_photos

import_group = AppGroup("import", help="导入名单、岗位职责、服务事项和照片。")
export_group = AppGroup("export", help="导出名单等。")
rounds_group = AppGroup("rounds", help="评价轮次：创建、开启、结束。")


@click.command("seed-demo")
def seed_demo_command():
    """Load the demo city (does nothing if departments already exist)."""
    if demo.seed_demo(current_app.config["MEDIA_ROOT"], current_app.config["PHOTO_MAX_PIXELS"]):
        round_ = demo.open_demo_round()
        demo.seed_demo_users()
        click.echo(f"已载入演示数据，并开启演示评价轮次（编号{round_.id}）。")
        click.echo(f"演示账号：{'、'.join(u[0] for u in demo.DEMO_USERS)}，密码 {demo.DEMO_PASSWORD}")
    else:
        click.echo("数据库中已有部门，未载入演示数据。")


@import_group.command("roster")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="只预览将要发生的变化，不导入")
def import_roster(path: str, dry_run: bool):
    """Import people, post duties and service items from an .xlsx workbook: adds, updates and
    retires as the rows say, all or nothing; lists every change first."""
    try:
        with open(path, "rb") as fh:
            plan = roster_import.plan_import(fh)
        for change in plan.changes:
            details = "；".join(change.details)
            click.echo(f"「{change.sheet}」第{change.row}行 {change.kind}：{change.subject}"
                       + (f"（{details}）" if details else ""))
        if dry_run:
            click.echo(f"预览：{plan.summary()}。未导入（--dry-run）。")
            return
        plan.apply()
    except roster_io.ImportRejected as rejected:
        for error in rejected.errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"{rejected}，未导入任何数据。") from None
    db.session.commit()
    click.echo(f"已导入：{plan.summary()}。")


@import_group.command("photos")
@click.argument("path", type=click.Path(exists=True))
def import_photos_command(path: str):
    """Attach photos from a folder or zip named 部门编码_姓名.jpg (all or nothing)."""
    config = current_app.config
    try:
        result = import_photos(path, config["MEDIA_ROOT"], config["PHOTO_MAX_PIXELS"], config["MAX_CONTENT_LENGTH"])
    except PhotoImportRejected as rejected:
        for error in rejected.errors:
            click.echo(error, err=True)
        raise click.ClickException(f"{rejected}，未更新任何照片。") from None
    db.session.commit()
    for skipped in result.skipped:
        click.echo(f"未导入 {skipped}", err=True)
    left_out = f"；{len(result.skipped)}个文件未导入（见上）" if result.skipped else ""
    click.echo(f"已更新{result.stored}人的照片{left_out}。")


@export_group.command("roster")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option("--department", "department_code", help="只导出该部门（部门编码）")
def export_roster(path: str, department_code: str | None):
    """Write the roster templates, filled in (an empty database gives blank templates)."""
    with open(path, "wb") as fh:
        roster_export.export_workbook(fh, department_code)
    click.echo(f"已导出到 {path}")


def _china_time(value: str) -> dt.datetime:
    """'2026-12-01 08:00' in China time -> naive UTC."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"“{value}”不是有效时间，格式如 2026-12-01 08:00") from None
    from .services.admin_rounds import from_china

    return from_china(moment)


def _shown(moment: dt.datetime) -> str:
    return f"{rounds.to_china(moment):%Y-%m-%d %H:%M}"


def _round_command(action):
    """Run one round use case and commit it whole, in the audit trail as the command line's; on
    refusal nothing is changed."""
    with audit.acting_as(None, "cli"):
        try:
            outcome = action()
            db.session.commit()
        except (rounds.RoundError, QueueUnavailable) as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
    return outcome


@rounds_group.command("create")
@click.option("--name", required=True, help="如：2026年上半年")
@click.option("--region", "region_code", required=True, help="区域编码，如 heze")
@click.option("--opens", required=True, help="开始时间（北京时间），如 2026-12-01 08:00")
@click.option("--closes", required=True, help="结束时间（北京时间）")
@click.option("--require-wechat", is_flag=True, help="只接受微信扫码评价")
def rounds_create(name, region_code, opens, closes, require_wechat):
    round_ = _round_command(lambda: rounds.create_round(name, region_code, _china_time(opens), _china_time(closes),
                                                        require_wechat))
    click.echo(f"已创建评价轮次 {round_.id}：{round_.name}（草稿）")


@rounds_group.command("edit")
@click.argument("round_id", type=int)
@click.option("--name", help="新名称")
@click.option("--region", "region_code", help="区域编码")
@click.option("--opens", help="开始时间（北京时间）")
@click.option("--closes", help="结束时间（北京时间）")
@click.option("--require-wechat/--any-browser", default=None, help="是否只接受微信扫码评价")
def rounds_edit(round_id, name, region_code, opens, closes, require_wechat):
    """Change a draft round (only what is given)."""
    round_ = _round_command(lambda: rounds.edit_round(
        round_id, name=name, region_code=region_code, opens_at=_china_time(opens) if opens else None,
        closes_at=_china_time(closes) if closes else None, require_wechat=require_wechat))
    click.echo(f"评价轮次 {round_.id} 已修改：{round_.name}，{_shown(round_.opens_at)} 至 {_shown(round_.closes_at)}")


@rounds_group.command("cancel")
@click.argument("round_id", type=int)
def rounds_cancel(round_id):
    """Cancel a draft round (kept as 已取消)."""
    round_ = _round_command(lambda: rounds.cancel_round(round_id))
    click.echo(f"评价轮次 {round_.id} 已取消。")


@rounds_group.command("open")
@click.argument("round_id", type=int)
def rounds_open(round_id):
    """Open a round now (before its scheduled start, it takes ballots at once)."""
    round_ = _round_command(lambda: rounds.open_round(round_id))
    click.echo(f"评价轮次 {round_.id} 已开启，即刻起接受评价，名单已冻结。")


@rounds_group.command("close")
@click.argument("round_id", type=int)
def rounds_close(round_id):
    """Close a round and queue its tally."""
    round_, job = _round_command(lambda: rounds.close_round(round_id))
    click.echo(f"评价轮次 {round_.id} 已结束（状态：{RoundStatus(round_.status).label}）。")
    if job is not None:
        click.echo(f"已提交统计任务 {job.id}，可用 rounds show {round_.id} 查看进度。")


@rounds_group.command("tally")
@click.argument("round_id", type=int)
@click.option("--sync", is_flag=True, help="在当前进程中统计，不经过任务进程")
def rounds_tally(round_id, sync):
    """Tally a closed round (in the worker, or here with --sync)."""
    if sync:
        from .services.tally import tally_round

        digest = _round_command(lambda: tally_round(round_id, lambda step: click.echo(f"  {step.label}")))
        click.echo(f"统计完成，结果摘要 {digest}")
        if job_specs.tally.drop_queued(round_id):
            click.echo("已取消排队中的同一统计任务（本次已完成统计）。")
    else:
        job = _round_command(lambda: rounds.request_tally(round_id))
        status = job.get_status()
        click.echo(f"已提交统计任务 {job.id}（状态：{getattr(status, 'value', status)}）。")


@rounds_group.command("publish")
@click.argument("round_id", type=int)
def rounds_publish(round_id):
    """Publish a tallied round whose consequences are all reviewed."""
    round_, jobs = _round_command(lambda: rounds.publish_round(round_id))
    click.echo(f"评价轮次 {round_.id} 已发布，已提交{len(jobs)}个推送任务。")


@rounds_group.command("review")
@click.argument("round_id", type=int)
@click.argument("consequence_id", type=int, required=False)
@click.option("--confirm", "decision", flag_value="confirmed", help="确认该项")
@click.option("--strike", "decision", flag_value="struck", help="撤销该项（须 --reason）")
@click.option("--reason", default="", help="审核意见")
@click.option("--low-sample-ok", is_flag=True, help="已知样本不足，仍予确认")
@click.option("--confirm-rest", is_flag=True, help="确认其余待审核各项（样本不足的除外）")
def rounds_review(round_id, consequence_id, decision, reason, low_sample_ok, confirm_rest):
    """Confirm or strike a consequence before publishing (see `results review` for the list)."""
    from .services import admin_rounds

    if confirm_rest:
        n = _round_command(lambda: admin_rounds.confirm_remaining(round_id))
        click.echo(f"已确认{n}项。")
        return
    if consequence_id is None or decision is None:
        raise click.UsageError("请给出结果运用编号和 --confirm 或 --strike，或用 --confirm-rest")
    record = _round_command(lambda: admin_rounds.decide_consequence(round_id, consequence_id, decision, reason,
                                                                     low_sample_ok))
    click.echo(f"第{record.id}项：{Decision(record.decision).label}")


results_group = AppGroup("results", help="评价结果：导出通报。")


@results_group.command("export")
@click.argument("round_id", type=int)
@click.option("--out", "path", required=True, type=click.Path(dir_okay=False, writable=True))
def results_export(round_id, path):
    """Write the round's Excel circular (通报)."""
    import io

    from .services.circular import export_circular

    buffer = io.BytesIO()
    _round_command(lambda: export_circular(round_id, buffer))
    with open(path, "wb") as fh:  # only once the workbook is complete
        fh.write(buffer.getvalue())
    click.echo(f"已导出通报到 {path}")


@results_group.command("review")
@click.argument("round_id", type=int)
def results_review(round_id):
    """Departments ranked and every consequence, for the coordinator before publishing."""
    from sqlalchemy import select

    from .models import Department, Result
    from .services.results import grade_label

    departments = {d.id: d.name for d in db.session.scalars(select(Department))}
    rows = db.session.scalars(select(Result).where(Result.round_id == round_id, Result.subject_kind == "department")
                              .order_by(Result.rank.is_(None), Result.rank, Result.subject_id)).all()
    if not rows:
        raise click.ClickException("该轮次还没有统计结果")
    for r in rows:
        change = "" if r.steps is None else f"  较上轮{r.steps:+d}个等次"
        click.echo(f"{r.rank or '—':>3} {departments[r.subject_id]:<20} {r.score or '—':>6} {grade_label(r.grade)}"
                   f"  评价票{r.ballots}张，有效评价{r.scored}人次{change}")
    click.echo("结果运用：")
    from .services.admin_rounds import consequences

    for line in consequences(round_id):
        c = line.record
        flags = f"{'，含单位' if c.includes_department else ''}{'，通报' + c.authority if c.authority else ''}" \
                f"{'，样本不足' if c.low_sample else ''}"
        click.echo(f"  [{c.id}] {Decision(c.decision).label} {line.label}：{line.subject}，涉及{len(c.people)}人{flags}"
                   f"{'（' + c.reason + '）' if c.reason else ''}")


posters_group = AppGroup("posters", help="公示牌、台卡和纸质测评表。")


@posters_group.command("render")
@click.option("--office", "office_code", help="科室编码")
@click.option("--department", "department_code", help="部门编码")
@click.option("--region", "region_code", help="区域编码")
@click.option("--all", "everything", is_flag=True, help="全部科室")
@click.option("--template", "template_name", default="identity_board", show_default=True,
              help="版式：identity_board、identity_board_a3、duty_board、counter_card、paper_ballot")
@click.option("--format", "fmt", type=click.Choice(["pdf", "zip"]), default="pdf", show_default=True)
@click.option("--out", "path", type=click.Path(dir_okay=False, writable=True), help="另存一份到此文件")
@click.option("--queue", is_flag=True, help="交给任务进程渲染，不在当前进程等待")
def posters_render(office_code, department_code, region_code, everything, template_name, fmt, path, queue):
    """Render posters for one office, a department, a region or everything."""
    import shutil

    from .services import posters

    scopes = [(k, v) for k, v in (("office", office_code), ("department", department_code),
                                  ("region", region_code), ("all", everything or None)) if v]
    if len(scopes) != 1:
        raise click.ClickException("请只指定一个范围：--office、--department、--region 或 --all")
    scope, value = scopes[0]
    value = None if scope == "all" else value
    if queue:
        from .services import poster_batches

        try:
            batch = poster_batches.request(scope, value, template_name, fmt, None)
        except posters.PosterError as exc:
            raise click.ClickException(str(exc)) from None
        db.session.commit()
        click.echo(f"已提交渲染任务（批次 {batch.id}）")
        return
    try:
        batch = posters.render_batch(scope, value, template_name, fmt, current_app.config,
                                     lambda done, total: click.echo(f"  {done}/{total}", err=True))
    except posters.PosterError as exc:
        raise click.ClickException(str(exc)) from None
    if path:
        shutil.copyfile(batch.path, path)
    copied = f"，并复制到 {path}" if path else ""
    click.echo(f"{'已有相同内容，直接使用' if batch.cached else '已生成'} {batch.path}{copied}")


offices_group = AppGroup("offices", help="科室。")


@offices_group.command("regenerate-code")
@click.argument("code")
@click.option("--yes", is_flag=True, help="确认：旧海报上的二维码将失效")
def offices_regenerate_code(code, yes):
    """Give an office a new public code. Posters printed with the old code stop working."""
    from .services.offices import regenerate_code

    if not yes:
        raise click.ClickException("重新生成编码后，已张贴海报上的二维码将全部失效，需重新打印。确认请加 --yes")
    try:
        office = regenerate_code(code)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"{office.department.name}{office.name} 的新编码：{office.code}（请重新打印海报）")


webhooks_group = AppGroup("webhooks", help="结果推送的订阅方。")


@webhooks_group.command("add")
@click.option("--name", required=True)
@click.option("--url", required=True)
@click.option("--secret", required=True, help="与接收方约定的签名密钥")
def webhooks_add(name, url, secret):
    try:
        subscriber = push.add_subscriber(name, url, secret)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"已添加订阅方 {subscriber.id}：{subscriber.name}")


@rounds_group.command("show")
@click.argument("round_id", type=int)
def rounds_show(round_id):
    """Status, times, digest and the tally's progress (failures included)."""
    from .models import Round
    from .services.admin_rounds import tally_job

    round_ = db.session.get(Round, round_id)
    if round_ is None:
        raise click.ClickException(f"没有编号为{round_id}的评价轮次")
    click.echo(f"{round_.id} {round_.name} · {round_.region.name} · {RoundStatus(round_.status).label}")
    click.echo(f"  {_shown(round_.opens_at)} 至 {_shown(round_.closes_at)}（北京时间）")
    if round_.digest:
        click.echo(f"  结果摘要 {round_.digest}")
    progress = tally_job(round_id)
    if progress is not None:
        click.echo(f"  统计：{progress.label}（{progress.percent}%）")
        if progress.failure:
            click.echo(f"  失败原因：{progress.failure}")


@rounds_group.command("turnout")
@click.argument("round_id", type=int)
def rounds_turnout(round_id):
    """Ballots so far (a count only: sealed ballots show no office until the tally)."""
    click.echo(f"已收评价票 {ballot_box.turnout(round_id)} 张（各科室票数在统计后给出）")


users_group = AppGroup("users", help="管理用户。")
audit_group = AppGroup("audit", help="审计日志。")


@users_group.command("create")
@click.option("--username", required=True)
@click.option("--name", "display_name", default="", help="显示的姓名")
@click.option("--role", type=click.Choice([r.value for r in UserRole]), default=UserRole.COORDINATOR.value,
              show_default=True)
@click.option("--region", "region_code", help="协调员、审计员：区域编码（全市区域即全部区域）")
@click.option("--department", "department_code", help="部门管理员：部门编码")
@click.option("--office", "office_codes", multiple=True, help="大厅管理员：科室编码（可重复）")
@click.password_option(help="至少10个字符，含字母和数字")
def users_create(username, display_name, role, region_code, department_code, office_codes, password):
    """Create a user (the first coordinator is made this way)."""
    with audit.acting_as(None, "cli"):
        try:
            user = users.build_user(username, display_name, password, role, region_code, department_code,
                                    list(office_codes))
        except users.UserError as error:
            raise click.ClickException(str(error)) from None
        db.session.commit()
    click.echo(f"已创建用户 {user.username}（{user.role_enum.label}）。")


@audit_group.command("verify")
def audit_verify():
    """Check the audit chain: exit status 1 if an entry was edited or deleted."""
    count, problem = audit.verify()
    if problem:
        raise click.ClickException(f"审计链校验失败：{problem}")
    click.echo(f"审计链完整：共{count}条记录。")


@click.command("verify")
@click.argument("round_id", type=int)
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False),
              help="核验下载的计数文件（/results/<轮次>/counts.json），而不是数据库中的计数")
def verify_command(round_id: int, path: str | None):
    """Recompute every published score and grade of a round from its published level counts,
    and check the counts' digest against the one recorded at publication (exit status 1 if not)."""
    import json

    from .services import results, verification

    round_ = db.session.get(Round, round_id)
    run = results.current_run(round_id) if round_ else None
    if round_ is None or round_.published_at is None:
        raise click.ClickException(f"没有编号为{round_id}的已发布评价轮次")
    if path:
        with open(path, encoding="utf-8") as fh:
            document = json.load(fh)
    else:
        document = verification.counts_document(round_)
    report = verification.verify(document, run.counts_digest if run else None)
    click.echo(f"{round_.name}：第{document['round']['version']}版结果，统计规则 {document['round']['rules_version']}")
    recorded = {True: "，与发布时记录的一致", False: f"，与发布时记录的 {run and run.counts_digest} 不一致",
                None: "（发布时未记录摘要）"}
    click.echo(f"计数摘要 {report.digest}{recorded[report.digest_ok]}")
    if not report.rules_ok:
        raise click.ClickException(f"该轮按统计规则 {document['round']['rules_version']} 统计，本程序的规则为 "
                                   f"{RULES_VERSION}，不能用本程序重算")
    click.echo(f"重算得分和等次 {report.checked} 项，不一致 {len(report.mismatches)} 项")
    for line in report.mismatches:
        click.echo(f"  不一致：{line}")
    if report.not_recomputable:
        click.echo(f"另有 {len(report.not_recomputable)} 项的部分依据因样本不足未公开，无法重算："
                   + "、".join(report.not_recomputable))
    if not report.ok:
        raise click.ClickException("核验未通过")
    click.echo("核验通过")


def register_cli(app: Flask) -> None:
    app.cli.add_command(verify_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(import_group)
    app.cli.add_command(export_group)
    app.cli.add_command(rounds_group)
    app.cli.add_command(webhooks_group)
    app.cli.add_command(results_group)
    app.cli.add_command(posters_group)
    app.cli.add_command(offices_group)
    app.cli.add_command(users_group)
    app.cli.add_command(audit_group)
    app.shell_context_processor(lambda: {"db": db})
