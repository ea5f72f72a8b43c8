"""Excel import/export of 附件1 people, 附件2 duties and service items."""

import io
import time
import zipfile

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from ballot_service.domain.roles import Role
from ballot_service.extensions import db
from ballot_service.models import Person, PostDuty, ServiceItem
from ballot_service.services.roster_export import export_workbook
from ballot_service.services.roster_import import ADDED, import_workbook
from ballot_service.services.roster_io import DUTIES, ITEMS, MAX_ROWS, PEOPLE, ImportRejected
from tests import factories as f


def workbook(**sheets) -> io.BytesIO:
    """A workbook with the given sheets: {"people": [row, ...], ...}, headers filled in."""
    wb = Workbook()
    wb.remove(wb.active)
    for key, rows in sheets.items():
        sheet = {"people": PEOPLE, "duties": DUTIES, "items": ITEMS}[key]
        ws = wb.create_sheet(sheet.title)
        ws.append(sheet.headers)
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return out


@pytest.fixture
def org(database):
    dept = f.department(code="spj", name="市行政审批服务局")
    window = f.office(dept, name="企业登记窗口")
    f.office(dept, name="投资建设审批科")
    db.session.commit()
    return dept, window


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


GOOD_PEOPLE = [
    ("spj", "", "主要负责人", "王建国", "局长", "0530-5310000", "主持全面工作", "", "", ""),
    ("spj", "", "分管负责人", "李海燕", "副局长", 13953012345, "", "", "分管企业登记", "企业登记窗口、投资建设审批科"),
    ("spj", "企业登记窗口", "科室负责人", "张丽娜", "窗口负责人", "13953012346", "企业设立登记", "负责窗口", "", ""),
    ("spj", "企业登记窗口", "工作人员", "刘文博", "工作人员", "13953012347", "企业变更登记", "", "", ""),
]


def test_import_adds_people_duties_and_items(org):
    dept, window = org
    plan = import_workbook(workbook(
        people=GOOD_PEOPLE,
        duties=[("spj", "主要领导", "", "局长", "主持全面工作"), ("spj", "业务科室", "企业登记窗口", "企业登记窗口", "受理登记")],
        items=[("spj", "企业登记窗口", "企业设立登记", "申请→受理→发照", "3个工作日", "即时办结", "申请书")],
    ))
    assert [plan.count(sheet, ADDED) for sheet in (PEOPLE, DUTIES, ITEMS)] == [4, 2, 1]
    assert plan.summary() == "人员身份公示表：新增4；岗位职责公示表：新增2；服务事项清单：新增1"
    leader = db.session.scalar(select(Person).where(Person.name == "李海燕"))
    assert leader.role == Role.LEADER_IN_CHARGE and leader.office is None
    assert leader.phone == "13953012345"  # typed as a number in Excel, kept whole
    assert [o.name for o in leader.overseen_offices] == ["企业登记窗口", "投资建设审批科"]
    staff = db.session.scalar(select(Person).where(Person.name == "刘文博"))
    assert staff.office_id == window.id and staff.business == "企业变更登记"
    item = db.session.scalar(select(ServiceItem))
    assert (item.statutory_limit, item.promised_limit, item.materials) == ("3个工作日", "即时办结", "申请书")


def test_a_bad_file_imports_nothing_and_lists_every_error_exactly(org):
    rows = GOOD_PEOPLE + [
        ("spj", "企业登记窗口", "工作人员", "", "工作人员", "13953012348", "", "", "", ""),  # row 6
        ("xxx", "企业登记窗口", "工作人员", "赵敏", "工作人员", "13953012349", "", "", "", ""),  # row 7
        ("spj", "不存在科", "科员", "孙明", "工作人员", "12345", "", "", "", ""),  # row 8
        ("spj", "企业登记窗口", "工作人员", "刘文博", "工作人员", "13953012347", "", "", "", ""),  # row 9, dup of row 5
        ("spj", "", "工作人员", "周静", "工作人员", "0530-5310001", "", "", "", ""),  # row 10
        ("spj", "", "分管负责人", "吴伟", "副局长", "13953012350", "", "", "", "不存在科"),  # row 11
        ("spj", "企业登记窗口", "工作人员", "郑雪", "工作人员", "13953012351", "", "", "分管财务", ""),  # row 12
    ]
    duties = [("spj", "业务科室", "", "某岗位", "职责"), ("spj", "副职", "", "岗位", "职责")]
    items = [("spj", "企业登记窗口", "企业设立登记", "", "", "", ""), ("spj", "企业登记窗口", "企业设立登记", "", "", "", "")]
    with pytest.raises(ImportRejected) as caught:
        import_workbook(workbook(people=rows, duties=duties, items=items))
    assert [str(e) for e in caught.value.errors] == [
        "「人员身份公示表」第6行「D（姓名）」列：请填写姓名",
        "「人员身份公示表」第7行「A（部门编码）」列：系统中没有编码为“xxx”的部门",
        "「人员身份公示表」第8行「C（人员类别）」列：人员类别应为以下之一：主要领导、分管领导、科室负责人、科室副职、其他负责人、工作人员",
        "「人员身份公示表」第8行「F（联系电话）」列：“12345”不是有效号码（11位手机号，或带区号的座机如0530-5310000）",
        "「人员身份公示表」第9行「D（姓名）」列：与第5行重复（同一部门、同一姓名和电话）",
        "「人员身份公示表」第10行「B（科室）」列：工作人员必须指定所在科室",
        "「人员身份公示表」第11行「J（分管科室）」列：市行政审批服务局没有名为“不存在科”的科室",
        "「人员身份公示表」第12行「I（分管领域）」列：只有分管领导填写分管领域和分管科室",
        "「岗位职责公示表」第2行「C（科室）」列：业务科室的岗位必须指定科室",
        "「岗位职责公示表」第3行「B（类别）」列：类别应为以下之一：主要领导、分管领导、业务科室",
        "「服务事项清单」第3行「C（事项名称）」列：与第2行重复",
    ]
    assert count(Person) == count(PostDuty) == count(ServiceItem) == 0


def test_duplicates_against_the_database_are_refused(org):
    import_workbook(workbook(people=GOOD_PEOPLE[:1]))
    db.session.commit()  # as the command or request that imported it does
    with pytest.raises(ImportRejected) as caught:
        import_workbook(workbook(people=GOOD_PEOPLE))
    assert [str(e) for e in caught.value.errors] == ["「人员身份公示表」第2行「D（姓名）」列：市行政审批服务局已有此人（姓名和电话相同）"]
    assert count(Person) == 1


def test_wrong_headers_and_non_excel_files_are_refused(org):
    wb = Workbook()
    wb.active.title = PEOPLE.title
    wb.active.append(["姓名", "电话"])
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    with pytest.raises(ImportRejected) as caught:
        import_workbook(out)
    assert [str(e) for e in caught.value.errors] == ["「人员身份公示表」第1行：表头应为：" + "、".join(PEOPLE.headers)]
    with pytest.raises(ImportRejected) as caught:
        import_workbook(io.BytesIO(b"name,phone\n"))
    assert "不是有效的 Excel 工作簿" in str(caught.value.errors[0])
    empty = Workbook()
    out = io.BytesIO()
    empty.save(out)
    out.seek(0)
    with pytest.raises(ImportRejected) as caught:
        import_workbook(out)
    assert "没有找到可导入的工作表" in str(caught.value.errors[0])


def test_overlong_text_is_reported_not_truncated(org):
    with pytest.raises(ImportRejected) as caught:
        import_workbook(workbook(people=[("spj", "企业登记窗口", "工作人员", "名" * 51, "工作人员", "13953012347", "", "", "", "")]))
    assert [str(e) for e in caught.value.errors] == ["「人员身份公示表」第2行「D（姓名）」列：姓名不能超过50个字"]


def cells(stream) -> dict[str, list[tuple]]:
    stream.seek(0)
    wb = load_workbook(stream)
    return {ws.title: [tuple(c.value for c in row) for row in ws.iter_rows()] for ws in wb.worksheets}


def _without_keys(sheets: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """The data sheets with their 编号 column (the last) cut off."""
    return {s.title: [row[:-1] for row in sheets[s.title]] for s in (PEOPLE, DUTIES, ITEMS)}


def _blank_keys(stream) -> io.BytesIO:
    wb = load_workbook(stream)
    for sheet in (PEOPLE, DUTIES, ITEMS):
        for row in wb[sheet.title].iter_rows(min_row=2):
            row[-1].value = None
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return out


@pytest.fixture
def demo(app, database):
    from ballot_service.services.demo import seed_demo

    seed_demo(app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"])
    db.session.commit()


def test_exporting_and_importing_the_same_file_changes_nothing(demo):
    first = io.BytesIO()
    export_workbook(first)
    exported = cells(first)
    assert len(exported[PEOPLE.title]) > 200 and len(exported[ITEMS.title]) > 80
    first.seek(0)
    plan = import_workbook(first)
    assert plan.changes == [] and plan.summary() == "与系统中的数据一致，没有需要更新的内容"
    db.session.commit()
    second = io.BytesIO()
    export_workbook(second)
    assert cells(second) == exported


def test_export_then_import_into_an_empty_roster_then_export_gives_the_same_workbook(demo):
    first = io.BytesIO()
    export_workbook(first)
    exported = cells(first)

    # Keep the organisation (regions, departments, offices); empty the roster, duties and items.
    for model in (ServiceItem, PostDuty):
        db.session.execute(model.__table__.delete())
    from ballot_service.models import leader_office

    db.session.execute(leader_office.delete())
    db.session.execute(Person.__table__.delete())
    db.session.commit()

    first.seek(0)
    plan = import_workbook(_blank_keys(first))  # rows without 编号 are new
    assert plan.count(PEOPLE, ADDED) == len(exported[PEOPLE.title]) - 1
    db.session.commit()
    second = io.BytesIO()
    export_workbook(second)
    assert _without_keys(cells(second)) == _without_keys(exported)


def test_export_of_an_empty_database_is_the_blank_template(database):
    out = io.BytesIO()
    export_workbook(out)
    sheets = cells(out)
    assert list(sheets) == ["填写说明", PEOPLE.title, DUTIES.title, ITEMS.title, "部门科室对照"]
    assert {title: sheets[title] for title in (PEOPLE.title, DUTIES.title, ITEMS.title)} == {
        s.title: [s.headers] for s in (PEOPLE, DUTIES, ITEMS)}
    assert sheets["部门科室对照"] == [("部门编码", "部门名称", "科室")]


def test_short_rows_are_padded_and_cells_beyond_the_template_ignored(org):
    plan = import_workbook(workbook(people=[
        ("spj", "", "主要负责人", "王建国", "局长", "0530-5310000"),  # stops after the phone
        ("spj", "企业登记窗口", "工作人员", "刘文博", "工作人员", "13953012347", "", "", "", "", "", "", "备注：不导入"),
    ]))
    assert plan.count(PEOPLE, ADDED) == 2
    assert db.session.scalar(select(Person.business).where(Person.name == "王建国")) is None


def test_a_workbook_that_expands_beyond_the_limit_is_refused_before_it_is_parsed(org):
    """A zip bomb: a valid workbook plus one member of 64 MB of zeros, about 64 KB compressed."""
    source = workbook(people=GOOD_PEOPLE)
    bomb = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for info in original.infolist():
            out.writestr(info, original.read(info))
        out.writestr("xl/media/padding.bin", b"\0" * (64 * 2**20), compresslevel=9)
    assert len(bomb.getvalue()) < 200_000
    bomb.seek(0)
    started = time.monotonic()
    with pytest.raises(ImportRejected) as caught:
        import_workbook(bomb)
    assert time.monotonic() - started < 2
    assert [str(e) for e in caught.value.errors] == ["「文件」第1行：工作簿解压后超过50MB，内容过大，请删除多余内容或分批导入"]
    assert count(Person) == 0


def test_a_sheet_of_more_than_max_rows_is_refused_with_one_error(org):
    assert MAX_ROWS == 5000
    rows = [("spj", "企业登记窗口", "工作人员", f"人{n}", "科员", f"139{n:08d}", "", "", "", "")
            for n in range(MAX_ROWS + 1)]
    with pytest.raises(ImportRejected) as caught:
        import_workbook(workbook(people=rows, items=[("spj", "企业登记窗口", "企业设立登记", "", "", "", "")]))
    assert [str(e) for e in caught.value.errors] == ["「人员身份公示表」第5002行：工作表“人员身份公示表”超过5000行，请分批导入"]
    assert count(Person) == 0 and count(ServiceItem) == 0


def test_blank_rows_do_not_count_and_far_rows_are_read_quickly(org):
    """5000 data rows among blank ones pass the limit; a row at Excel's last line costs little."""
    wb = Workbook()
    ws = wb.active
    ws.title = PEOPLE.title
    ws.append(PEOPLE.headers)
    for n in range(MAX_ROWS - 1):  # and one more at the very end
        ws.append(("nosuch", "", "主要负责人", f"人{n}", "局长", f"139{n:08d}"))
        if n % 1000 == 0:
            ws.append(())
            ws.append(("", "  ", None))
    ws.cell(row=2**20, column=1, value="nosuch")
    ws.cell(row=2**20, column=16384, value="beyond the template")
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    started = time.monotonic()
    with pytest.raises(ImportRejected) as caught:
        import_workbook(out)
    assert time.monotonic() - started < 15
    messages = {e.message for e in caught.value.errors}
    assert not any("超过5000行" in m for m in messages)
    assert caught.value.errors[-1].row == 2**20


def test_the_export_keeps_formula_looking_text_as_text(org):
    """A post typed as "=HYPERLINK(…)" by a department admin must not become a live formula in the
    workbook a coordinator opens."""
    dept, window = org
    f.person(dept, Role.STAFF, office=window, name="王五", post='=HYPERLINK("http://evil.example/","核实")')
    db.session.commit()
    out = io.BytesIO()
    export_workbook(out)
    sheet = load_workbook(io.BytesIO(out.getvalue()))[PEOPLE.title]
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row if str(cell.value).startswith("=")]
    assert cells and all(cell.data_type == "s" for cell in cells)


def _exported() -> io.BytesIO:
    out = io.BytesIO()
    export_workbook(out)
    out.seek(0)
    return out


def _edited(stream, title: str, edit) -> io.BytesIO:
    """The workbook with `edit(rows)` applied to one sheet's data rows (lists of cells)."""
    wb = load_workbook(stream)
    edit(list(wb[title].iter_rows(min_row=2)))
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return out


def _row_of(rows, header: str, value, sheet=PEOPLE):
    column = sheet.headers.index(header)
    return next(row for row in rows if row[column].value == value)


def _set(row, header: str, value, sheet=PEOPLE) -> None:
    row[sheet.headers.index(header)].value = value


def test_a_phone_changed_in_the_workbook_changes_after_a_preview_that_shows_it(org):
    dept, window = org
    person = f.person(dept, Role.STAFF, office=window, name="刘文博", phone="13953012347")
    other = f.person(dept, Role.STAFF, office=window, name="张丽娜", phone="13953012346")
    db.session.commit()
    stream = _edited(_exported(), PEOPLE.title, lambda rows: _set(_row_of(rows, "姓名", "刘文博"), "联系电话", "13953012399"))

    from ballot_service.services.roster_import import CHANGED, Change, plan_import

    plan = plan_import(stream)
    assert plan.changes == [Change(PEOPLE.title, 2, CHANGED, "市行政审批服务局 企业登记窗口 刘文博",
                                   ("联系电话：13953012347 → 13953012399",))]
    db.session.rollback()
    assert db.session.get(Person, person.id).phone == "13953012347"  # the preview wrote nothing
    stream.seek(0)
    import_workbook(stream)
    db.session.commit()
    assert db.session.get(Person, person.id).phone == "13953012399"
    assert db.session.get(Person, other.id).phone == "13953012346"


def test_a_person_marked_retired_is_retired_and_withdrawn_duties_and_items_are_removed(org):
    dept, window = org
    kept = f.person(dept, Role.STAFF, office=window, name="张丽娜")
    leaving = f.person(dept, Role.STAFF, office=window, name="刘文博")
    db.session.commit()
    import_workbook(workbook(
        duties=[("spj", "业务科室", "企业登记窗口", "企业登记窗口", "受理登记")],
        items=[("spj", "企业登记窗口", "企业设立登记", "", "", "", ""), ("spj", "企业登记窗口", "企业注销登记", "", "", "", "")]))
    db.session.commit()

    stream = _edited(_exported(), PEOPLE.title, lambda rows: _set(_row_of(rows, "姓名", "刘文博"), "状态", "离岗"))
    stream = _edited(stream, DUTIES.title, lambda rows: _set(rows[0], "状态", "撤销", DUTIES))
    stream = _edited(stream, ITEMS.title, lambda rows: _set(
        _row_of(rows, "事项名称", "企业注销登记", ITEMS), "状态", "撤销", ITEMS))
    plan = import_workbook(stream)
    assert plan.summary() == "人员身份公示表：离岗1；岗位职责公示表：撤销1；服务事项清单：撤销1"
    db.session.commit()
    assert db.session.get(Person, leaving.id).active is False  # kept for the rounds that rated them
    assert db.session.get(Person, kept.id).active is True
    assert count(PostDuty) == 0
    assert db.session.scalars(select(ServiceItem.name)).all() == ["企业设立登记"]
    # The next export no longer lists the retired person; importing it changes nothing more.
    again = _exported()
    assert "刘文博" not in str(cells(again)[PEOPLE.title])
    again.seek(0)
    assert import_workbook(again).changes == []


def test_keys_that_name_nothing_another_sheet_or_another_department_are_refused(org):
    dept, window = org
    other_dept = f.department(code="fgw", name="市发展改革委")
    f.office(other_dept, name="投资科")
    elsewhere = f.person(other_dept, Role.MAIN_LEADER, name="王建国")
    db.session.commit()
    row = ("spj", "企业登记窗口", "工作人员", "刘文博", "工作人员", "13953012347", "", "", "", "")
    with pytest.raises(ImportRejected) as caught:
        import_workbook(workbook(people=[row + ("在岗", "RY999999"), row + ("", "GW1"),
                                         ("spj", "", "主要领导", "王建国", "主任", "13953012340", "", "", "", "", "",
                                          f"RY{elsewhere.id}"),
                                         row[:3] + ("赵敏",) + row[4:] + ("离岗", ""),
                                         row[:3] + ("钱多",) + row[4:] + ("调走", "")]))
    assert [str(e) for e in caught.value.errors] == [
        "「人员身份公示表」第2行「L（编号）」列：系统中没有编号为RY999999的人员（新增的行请留空编号）",
        "「人员身份公示表」第3行「L（编号）」列：“GW1”不是本表的编号（应为RY加数字；新增的行请留空）",
        f"「人员身份公示表」第4行「L（编号）」列：编号RY{elsewhere.id}属于市发展改革委，与部门编码不符",
        "「人员身份公示表」第5行「K（状态）」列：没有编号的行是新增的人员，不能标为离岗",
        "「人员身份公示表」第6行「K（状态）」列：应为在岗或离岗",
    ]
    assert count(Person) == 1


def test_the_template_carries_dropdowns_instructions_and_the_offices(org):
    wb = load_workbook(_exported())
    assert wb.sheetnames == ["填写说明", PEOPLE.title, DUTIES.title, ITEMS.title, "部门科室对照"]
    assert wb.active.title == PEOPLE.title
    lists = {str(v.sqref): v.formula1 for v in wb[PEOPLE.title].data_validations.dataValidation}
    assert lists == {"A2:A5001": "'部门科室对照'!$A$2:$A$3", "C2:C5001": '"主要领导,分管领导,科室负责人,科室副职,其他负责人,工作人员"',
                     "K2:K5001": '"在岗,离岗"'}
    duty_lists = {str(v.sqref): v.formula1 for v in wb[DUTIES.title].data_validations.dataValidation}
    assert duty_lists["B2:B5001"] == '"主要领导,分管领导,业务科室"' and duty_lists["F2:F5001"] == '"公示,撤销"'
    assert [tuple(c.value for c in row) for row in wb["部门科室对照"].iter_rows()] == [
        ("部门编码", "部门名称", "科室"), ("spj", "市行政审批服务局", "企业登记窗口"), (None, None, "投资建设审批科")]
    instructions = [row[0].value for row in wb["填写说明"].iter_rows()]
    assert f"【{PEOPLE.title}】" in instructions and "编号" in instructions


# --- the rules of domain.roster, the same through the workbook and through the forms -------------
# (Control characters cannot reach a worksheet: openpyxl neither writes nor reads them; their
# refusal is tested on the rules themselves, tests/domain/test_roster.py.)

def _form_refusal(call) -> str:
    from ballot_service.services.catalog import CatalogError

    with pytest.raises(CatalogError) as caught:
        call()
    db.session.rollback()
    return str(caught.value)


def _import_refusal(**sheets) -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        import_workbook(workbook(**sheets))
    return [e.message for e in caught.value.errors]


@pytest.mark.parametrize("field, cell, value, message", [
    ("business", 6, "业" * 2001, "从事业务不能超过2000个字"),
    ("duties", 7, "职" * 4001, "岗位职责不能超过4000个字"),
    ("phone", 5, "12345", "“12345”不是有效号码（11位手机号，或带区号的座机如0530-5310000）"),
    ("post", 4, "", "请填写职务"),
])
def test_a_person_rule_refuses_alike_in_the_workbook_and_the_form(org, field, cell, value, message):
    from ballot_service.domain.access import Level, Scope
    from ballot_service.services import roster

    dept, window = org
    row = ["spj", "企业登记窗口", "工作人员", "刘文博", "工作人员", "13953012347", "", "", "", ""]
    row[cell] = value
    assert _import_refusal(people=[tuple(row)]) == [message]
    data = {"department_id": dept.id, "office_id": window.id, "role": "staff", "name": "刘文博", "post": "工作人员",
            "phone": "13953012347", field: value}
    assert _form_refusal(lambda: roster.create_person(Scope(Level.CITY), data)) == message


def test_no_one_is_added_to_a_deactivated_department_either_way(org):
    from ballot_service.domain.access import Level, Scope
    from ballot_service.services import roster

    dept, window = org
    dept.active = False
    db.session.commit()
    row = ("spj", "企业登记窗口", "工作人员", "刘文博", "工作人员", "13953012347", "", "", "", "")
    assert _import_refusal(people=[row]) == ["市行政审批服务局已停用，不能新增人员"]
    data = {"department_id": dept.id, "office_id": window.id, "role": "staff", "name": "刘文博", "post": "工作人员",
            "phone": "13953012347"}
    assert _form_refusal(lambda: roster.create_person(Scope(Level.CITY), data)) == "市行政审批服务局已停用，不能新增人员"


@pytest.mark.parametrize("cells, data, message", [
    (("procedure", "流" * 4001), {"procedure": "流" * 4001}, "办理流程不能超过4000个字"),
    (("materials", "材" * 4001), {"materials": "材" * 4001}, "申请材料不能超过4000个字"),
])
def test_an_item_rule_refuses_alike_in_the_workbook_and_the_form(org, cells, data, message):
    from ballot_service.domain.access import Level, Scope
    from ballot_service.services import roster

    dept, window = org
    row = {"procedure": "", "materials": ""} | {cells[0]: cells[1]}
    assert _import_refusal(items=[("spj", "企业登记窗口", "企业设立登记", row["procedure"], "", "", row["materials"])]) == [message]
    form = {"office_id": window.id, "name": "企业设立登记", **data}
    assert _form_refusal(lambda: roster.create_service_item(Scope(Level.CITY), form)) == message


def test_the_preview_names_columns_and_values_as_the_workbook_does(org):
    dept, window = org
    person = f.person(dept, Role.STAFF, office=window, name="刘文博", phone="13953012347")
    import_workbook(workbook(items=[("spj", "企业登记窗口", "企业设立登记", "", "3个工作日", "", "")]))
    db.session.commit()

    def edit(rows):
        row = _row_of(rows, "姓名", "刘文博")
        _set(row, "人员类别", "科室负责人")
        _set(row, "科室", "投资建设审批科")

    stream = _edited(_exported(), PEOPLE.title, edit)
    stream = _edited(stream, ITEMS.title, lambda rows: _set(rows[0], "事项名称", "企业设立登记（含分支机构）", ITEMS))
    plan = import_workbook(stream)
    assert [(c.kind, c.details) for c in plan.changes] == [
        ("修改", ("人员类别：工作人员 → 科室负责人", "科室：企业登记窗口 → 投资建设审批科")),
        ("修改", ("事项名称：企业设立登记 → 企业设立登记（含分支机构）",)),
    ]
    db.session.commit()
    db.session.refresh(person)
    assert (person.role, person.office.name) == ("office_head", "投资建设审批科")
