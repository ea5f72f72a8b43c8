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
from ballot_service.services.roster_io import (
    DUTIES,
    ITEMS,
    MAX_ROWS,
    PEOPLE,
    ImportRejected,
    export_workbook,
    import_workbook,
)
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
    summary = import_workbook(workbook(
        people=GOOD_PEOPLE,
        duties=[("spj", "主要领导", "", "局长", "主持全面工作"), ("spj", "业务科室", "企业登记窗口", "企业登记窗口", "受理登记")],
        items=[("spj", "企业登记窗口", "企业设立登记", "申请→受理→发照", "3个工作日", "即时办结", "申请书")],
    ))
    assert (summary.people, summary.duties, summary.items) == (4, 2, 1)
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
        "「人员身份公示表」第6行「D（姓名）」列：不能为空",
        "「人员身份公示表」第7行「A（部门编码）」列：系统中没有编码为“xxx”的部门",
        "「人员身份公示表」第8行「C（人员类别）」列：应为以下之一：主要负责人、分管负责人、科室负责人、科室副职、其他负责人、工作人员",
        "「人员身份公示表」第8行「F（联系电话）」列：“12345”不是有效号码（11位手机号，或带区号的座机如0530-5310000）",
        "「人员身份公示表」第9行「D（姓名）」列：与第5行重复（同一部门、同一姓名和电话）",
        "「人员身份公示表」第10行「B（科室）」列：工作人员必须填写所在科室",
        "「人员身份公示表」第11行「J（分管科室）」列：市行政审批服务局没有名为“不存在科”的科室",
        "「人员身份公示表」第12行「I（分管领域）」列：只有分管负责人填写分管领域和分管科室",
        "「岗位职责公示表」第2行「C（科室）」列：业务科室的岗位必须填写科室",
        "「岗位职责公示表」第3行「B（类别）」列：应为以下之一：主要领导、分管领导、业务科室",
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
    assert [str(e) for e in caught.value.errors] == ["「人员身份公示表」第2行「D（姓名）」列：不能超过50个字"]


def cells(stream) -> dict[str, list[tuple]]:
    stream.seek(0)
    wb = load_workbook(stream)
    return {ws.title: [tuple(c.value for c in row) for row in ws.iter_rows()] for ws in wb.worksheets}


def test_export_then_import_into_an_empty_roster_then_export_gives_the_same_workbook(app, database):
    from ballot_service.services.demo import seed_demo

    seed_demo(app.config["MEDIA_ROOT"], app.config["PHOTO_MAX_PIXELS"])
    first = io.BytesIO()
    export_workbook(first)
    exported = cells(first)
    assert len(exported[PEOPLE.title]) > 200 and len(exported[ITEMS.title]) > 80

    # Keep the organisation (regions, departments, offices); empty the roster, duties and items.
    for model in (ServiceItem, PostDuty):
        db.session.execute(model.__table__.delete())
    from ballot_service.models import leader_office

    db.session.execute(leader_office.delete())
    db.session.execute(Person.__table__.delete())
    db.session.commit()

    first.seek(0)
    summary = import_workbook(first)
    assert summary.people == len(exported[PEOPLE.title]) - 1
    second = io.BytesIO()
    export_workbook(second)
    assert cells(second) == exported


def test_export_of_an_empty_database_is_the_blank_template(database):
    out = io.BytesIO()
    export_workbook(out)
    assert cells(out) == {s.title: [s.headers] for s in (PEOPLE, DUTIES, ITEMS)}


def test_short_rows_are_padded_and_cells_beyond_the_template_ignored(org):
    summary = import_workbook(workbook(people=[
        ("spj", "", "主要负责人", "王建国", "局长", "0530-5310000"),  # stops after the phone
        ("spj", "企业登记窗口", "工作人员", "刘文博", "工作人员", "13953012347", "", "", "", "", "备注：不导入"),
    ]))
    assert summary.people == 2
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
