"""Demo data (the policy's 27 city departments) and the CLI commands over the services."""



from openpyxl import Workbook
from sqlalchemy import func, select

from ballot_service.extensions import db
from ballot_service.models import Department, Office, Person, Region
from ballot_service.services.roster_io import PEOPLE

# Section 六 of the policy, in its order and spelling.
POLICY_DEPARTMENTS = (
    "市发展改革委、市科技局、市工业和信息化局、市公安局、市财政局、市人力资源社会保障局、市自然资源规划局、"
    "市生态环境局、市住房城乡建设局、市城市管理局、市交通运输局、市水务局、市农业农村局（市畜牧服务中心）、市商务局、"
    "市文化和旅游局、市卫生健康委、市应急局、市行政审批服务局、市市场监管局、市医保局、市国动办（市人防办）、"
    "市地方金融监管局、市公共资源交易中心、菏泽海关、市人行、市供电公司、市消防救援支队"
).split("、")


def test_seed_demo_loads_the_policy_departments_once(app, database):
    runner = app.test_cli_runner()
    assert "已载入演示数据" in runner.invoke(args=["seed-demo"]).output
    city = db.session.scalar(select(Region).where(Region.name == "菏泽市"))
    assert len(POLICY_DEPARTMENTS) == 27
    assert [d.name for d in city.departments] == POLICY_DEPARTMENTS
    counties = {r.name for r in db.session.scalars(select(Region).where(Region.kind == "county"))}
    assert counties == {"牡丹区", "定陶区", "曹县", "单县", "成武县", "巨野县", "郓城县", "鄄城县", "东明县"}
    assert db.session.scalar(select(func.count()).select_from(Department).where(Department.region_id != city.id)) >= 3
    for dept in db.session.scalars(select(Department)):
        assert 2 <= len(dept.offices) <= 4, dept.name
        assert 3 <= len(dept.people) <= 8, dept.name
        assert all(o.service_items for o in dept.offices), dept.name
    customs = db.session.scalar(select(Department).where(Department.name == "菏泽海关"))
    assert customs.is_stationed and customs.superior_authority == "济南海关"
    people = db.session.scalar(select(func.count(Person.id)))
    offices = db.session.scalar(select(func.count(Office.id)))

    assert "未载入演示数据" in runner.invoke(args=["seed-demo"]).output
    assert db.session.scalar(select(func.count(Person.id))) == people
    assert db.session.scalar(select(func.count(Office.id))) == offices


def test_cli_import_reports_every_error_and_exits_non_zero(app, database, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = PEOPLE.title
    ws.append(PEOPLE.headers)
    ws.append(("nope", "", "工作人员", "王五", "科员", "123", "", "", "", ""))
    path = tmp_path / "bad.xlsx"
    wb.save(path)
    result = app.test_cli_runner().invoke(args=["import", "roster", str(path)])
    assert result.exit_code == 1
    assert "「人员身份公示表」第2行「A（部门编码）」列：系统中没有编码为“nope”的部门" in result.output
    assert "「人员身份公示表」第2行「F（联系电话）」列：“123”不是有效号码" in result.output
    assert "「人员身份公示表」第2行「B（科室）」列：工作人员必须指定所在科室" in result.output
    assert "导入失败，共3处错误，未导入任何数据。" in result.output


def _subject(row) -> str:
    """How a plan names a person: department, office (if any) and name."""
    dept = db.session.scalar(select(Department.name).where(Department.code == row[0]))
    return " ".join(filter(None, (dept, row[1], row[3])))


def test_cli_export_then_import_roundtrip_counts(app, database, tmp_path):
    runner = app.test_cli_runner()
    runner.invoke(args=["seed-demo"])
    path = tmp_path / "roster.xlsx"
    result = runner.invoke(args=["export", "roster", str(path), "--department", "spj"])
    assert result.exit_code == 0, result.output
    from openpyxl import load_workbook

    rows = list(load_workbook(path)[PEOPLE.title].iter_rows(values_only=True))
    assert rows[0] == PEOPLE.headers and len(rows) > 3
    assert {r[0] for r in rows[1:]} == {"spj"}
    # Importing the same file again changes nothing.
    result = runner.invoke(args=["import", "roster", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output == "已导入：与系统中的数据一致，没有需要更新的内容。\n"

    # A phone changed and one person marked 离岗: previewed with --dry-run (nothing written), then imported.
    workbook = load_workbook(path)
    sheet = workbook[PEOPLE.title]
    phone, status = PEOPLE.headers.index("联系电话") + 1, PEOPLE.headers.index("状态") + 1
    changed, leaving = rows[1], rows[2]
    sheet.cell(2, phone).value = "13900000001"
    sheet.cell(3, status).value = "离岗"
    workbook.save(path)
    preview = runner.invoke(args=["import", "roster", str(path), "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert preview.output.splitlines() == [
        f"「人员身份公示表」第2行 修改：{_subject(changed)}（联系电话：{changed[5]} → 13900000001）",
        f"「人员身份公示表」第3行 离岗：{_subject(leaving)}",
        "预览：人员身份公示表：修改1，离岗1。未导入（--dry-run）。",
    ]
    person_id = int(changed[-1].removeprefix("RY"))
    assert db.session.get(Person, person_id).phone == changed[5]
    result = runner.invoke(args=["import", "roster", str(path)])
    assert result.exit_code == 0 and result.output.endswith("已导入：人员身份公示表：修改1，离岗1。\n")
    db.session.expire_all()
    assert db.session.get(Person, person_id).phone == "13900000001"
    assert db.session.get(Person, int(leaving[-1].removeprefix("RY"))).active is False

