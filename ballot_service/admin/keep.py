"""A hall manager keeps the people of their offices current: post, phone, photo and whether they
are on duty (services.roster.keep_person, the same rules as a full edit). Everything else about
a person, and adding people, stays with the department's admin."""

from flask import flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField

from ..domain.access import Permission as P
from ..domain.roles import ROLE_LABELS
from ..services import access, roster
from . import bp
from .catalog import PhotoForm, _data, _run


class KeepForm(FlaskForm):
    post = StringField("职务")
    phone = StringField("联系电话", description="11位手机号，或带区号的座机，如0530-5310000")
    active = BooleanField("在岗", description="取消勾选即离岗：不再显示在公示页和新的选票上，以往轮次的结果保留")


def page(form: KeepForm, photo_form: FlaskForm, status: int = 200):
    return render_template("admin/catalog/keep.html", form=form, photo_form=photo_form, person=g.obj,
                           role_labels=ROLE_LABELS), status


@bp.route("/people/<int:person_id>/keep", methods=["GET", "POST"])
@access.guard(P.ROSTER_KEEP, "person", "person_id")
def person_keep(person_id: int):
    form = KeepForm(obj=g.obj)
    person = _run(form, lambda: roster.keep_person(g.obj, _data(form)))
    if person:
        flash(f"“{person.name}”的信息已更新。" + ("" if person.active else "已标为离岗。"))
        return redirect(url_for("admin.office", office_id=person.office_id)) if person.office_id \
            else redirect(url_for("admin.person_keep", person_id=person.id))
    return page(form, PhotoForm(), 400 if request.method == "POST" else 200)
