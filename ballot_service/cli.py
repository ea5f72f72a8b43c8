"""Command-line entry points: thin click commands over the services."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from .extensions import db
from .services import demo, roster_io
from .services.photos import PhotoImportRejected, import_photos

import_group = AppGroup("import", help="导入名单、岗位职责、服务事项和照片。")
export_group = AppGroup("export", help="导出名单等。")


@click.command("seed-demo")
def seed_demo_command():
    """Load the demo city (does nothing if departments already exist)."""
    if demo.seed_demo(current_app.config["MEDIA_ROOT"], current_app.config["PHOTO_MAX_PIXELS"]):
        click.echo("已载入演示数据。")
    else:
        click.echo("数据库中已有部门，未载入演示数据。")


@import_group.command("roster")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_roster(path: str):
    """Import people, post duties and service items from an .xlsx workbook (all or nothing)."""
    with open(path, "rb") as fh:
        try:
            summary = roster_io.import_workbook(fh)
        except roster_io.ImportRejected as rejected:
            for error in rejected.errors:
                click.echo(str(error), err=True)
            raise click.ClickException(f"{rejected}，未导入任何数据。") from None
    click.echo(f"已导入：人员{summary.people}人，岗位职责{summary.duties}条，服务事项{summary.items}项。")


@import_group.command("photos")
@click.argument("path", type=click.Path(exists=True))
def import_photos_command(path: str):
    """Attach photos from a folder or zip named 部门编码_姓名.jpg (all or nothing)."""
    config = current_app.config
    try:
        count = import_photos(path, config["MEDIA_ROOT"], config["PHOTO_MAX_PIXELS"], config["MAX_CONTENT_LENGTH"])
    except PhotoImportRejected as rejected:
        for error in rejected.errors:
            click.echo(error, err=True)
        raise click.ClickException(f"{rejected}，未更新任何照片。") from None
    click.echo(f"已更新{count}人的照片。")


@export_group.command("roster")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option("--department", "department_code", help="只导出该部门（部门编码）")
def export_roster(path: str, department_code: str | None):
    """Write the roster templates, filled in (an empty database gives blank templates)."""
    with open(path, "wb") as fh:
        roster_io.export_workbook(fh, department_code)
    click.echo(f"已导出到 {path}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(import_group)
    app.cli.add_command(export_group)
    app.shell_context_processor(lambda: {"db": db})
