"""Paper ballots (附件3): each collected form typed twice by two different users, counted when
both typings agree (services.paper_ballots)."""

import re

from flask import flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ..domain.access import Permission as P
from ..domain.round_states import RoundStatus
from ..services import access, paper_ballots
from ..services.paper_ballots import PaperError
from . import bp, paginate

BALLOT_FIELD = re.compile(r"[rtn]\d{1,12}")
OUTCOME_MESSAGES = {
    "pending": "编号{serial}：已录入第一遍，等待另一位用户复核。",
    "counted": "编号{serial}：两遍一致，已计入。",
}


class ChooseForm(FlaskForm):
    """Which form is being typed: the round, the office (its code printed on the form) and the
    serial written on it when collected. Sent by GET: choosing changes nothing."""

    class Meta:
        csrf = False

    round_id = SelectField("评价轮次", coerce=int, validate_choice=False)
    office_code = StringField("科室编码", validators=[DataRequired("请输入科室编码"), Length(max=16)],
                              description="选票或公示牌二维码旁印的科室编码")
    serial = StringField("选票编号", validators=[DataRequired("请输入选票编号"), Length(max=32)],
                         description="收集选票时写在选票上的编号（字母、数字或“-”）")


class EntryForm(FlaskForm):
    round_id = HiddenField()
    office_code = HiddenField()
    serial = HiddenField()


def _int(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isascii() and value.isdecimal() and len(value) < 10 else None


def _field_error(form: FlaskForm, name: str | None, message: str) -> None:
    field = getattr(form, name or "serial", form.serial)
    field.errors = [*field.errors, message]


def _pending_page(round_id: int | None):
    query = paper_ballots.pending_query(g.user, round_id)
    page = paginate(query, 50)
    return page, paper_ballots.pending_details(page.items)


def _render(choose: ChooseForm, ballot=None, entry: EntryForm | None = None, values=None, errors=None,
            differences=None, status: int = 200):
    round_id = choose.round_id.data if isinstance(choose.round_id.data, int) else None
    page, waiting = _pending_page(round_id)
    return render_template("admin/paper/entry.html", choose=choose, ballot=ballot, entry=entry, values=values or {},
                           errors=errors or {}, differences=differences or [], pending=page, waiting=waiting,
                           round_id=round_id), status


def _choose_form(formdata) -> ChooseForm:
    choose = ChooseForm(formdata=formdata)
    choose.round_id.choices = [
        SelectChoice(r.id, f"{r.name}（{r.region.name}，{RoundStatus(r.status).label}）")
        for r in paper_ballots.rounds_for_entry(g.user)]
    return choose


@bp.route("/paper", methods=["GET", "POST"])
@access.guard(P.PAPER_ENTER)
def paper_entry():
    if request.method == "POST":
        return _enter()
    choose = _choose_form(request.args if "serial" in request.args else None)
    if "round_id" in request.args and "serial" not in request.args:
        choose.round_id.data = _int(request.args.get("round_id"))
        choose.office_code.data = request.args.get("office_code", "")
    if "serial" not in request.args or not choose.validate():
        return _render(choose, status=400 if choose.errors else 200)
    try:
        ballot = paper_ballots.paper_ballot(choose.round_id.data, choose.office_code.data, g.user)
        serial = paper_ballots.check_serial(choose.serial.data)
    except PaperError as error:
        _field_error(choose, error.field, str(error))
        return _render(choose, status=400)
    entry = EntryForm(data={"round_id": ballot.round.id, "office_code": ballot.office.code, "serial": serial})
    return _render(choose, ballot, entry)


def _enter():
    entry = EntryForm()
    round_id, office_code, serial = _int(entry.round_id.data), entry.office_code.data, entry.serial.data
    choose = _choose_form(None)
    choose.round_id.data, choose.office_code.data, choose.serial.data = round_id, office_code, serial
    values = {key: request.form.getlist(key) for key in request.form if BALLOT_FIELD.fullmatch(key)}
    try:
        ballot = paper_ballots.paper_ballot(round_id, office_code, g.user)
        outcome = paper_ballots.enter(round_id, office_code, serial, values, g.user)
    except PaperError as error:
        if error.field == "ratings":
            return _render(choose, ballot, entry, values, error.errors, status=400)
        _field_error(choose, error.field, str(error))
        return _render(choose, status=400)
    if outcome.result == "mismatch":
        return _render(choose, ballot, entry, values, differences=outcome.differences)
    flash(OUTCOME_MESSAGES[outcome.result].format(serial=serial.strip()))
    return redirect(url_for("admin.paper_entry", round_id=ballot.round.id, office_code=ballot.office.code))
