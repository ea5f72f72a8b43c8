"""The roster rules (domain.roster), without an app."""

from ballot_service.domain.roles import Role
from ballot_service.domain.roster import Problem, check_duty, check_item, check_person, clean_text

PERSON = {"role": "staff", "name": " 刘文博 ", "post": "工作人员", "phone": "139 5301 2347"}


def _person(values=None, **placement):
    placement = {"has_office": True, "oversees": False, "department_name": "市行政审批服务局"} | placement
    return check_person({**PERSON, **(values or {})}, **placement)


def test_a_good_person_comes_back_cleaned():
    checked, problems = _person()
    assert problems == []
    assert checked == {"role": Role.STAFF, "name": "刘文博", "post": "工作人员", "phone": "13953012347",
                       "business": None, "duties": None, "oversees_field": None}


def test_texts_are_refused_when_empty_too_long_not_text_or_holding_control_characters():
    assert clean_text("  ", "姓名", 50) == (None, "请填写姓名")
    assert clean_text("  ", "从事业务", 2000, required=False) == (None, None)
    assert clean_text("名" * 51, "姓名", 50)[1] == "姓名不能超过50个字"
    assert clean_text(12, "姓名", 50) == (None, "姓名应为文字")
    assert clean_text("受理\x07登记", "岗位职责", 4000)[1] == "岗位职责含有不可用的控制字符"
    assert clean_text("受理\n登记\t材料", "岗位职责", 4000) == ("受理\n登记\t材料", None)


def test_every_problem_of_a_person_is_listed_with_its_field():
    _, problems = _person({"role": "boss", "name": "", "phone": "12345"}, oversees=True)
    assert problems == [
        Problem("role", "人员类别应为以下之一：主要领导、分管领导、科室负责人、科室副职、其他负责人、工作人员"),
        Problem("name", "请填写姓名"),
        Problem("phone", "“12345”不是有效号码（11位手机号，或带区号的座机如0530-5310000）"),
    ]


def test_leaders_belong_to_the_department_and_only_a_leader_in_charge_oversees():
    assert _person({"role": "main_leader"})[1] == [Problem("office_id", "主要领导属于部门，不指定科室")]
    assert _person(has_office=False)[1] == [Problem("office_id", "工作人员必须指定所在科室")]
    assert _person({"oversees_field": "财务"})[1] == [Problem("oversees_field", "只有分管领导填写分管领域和分管科室")]
    assert _person(oversees=True)[1] == [Problem("overseen_office_ids", "只有分管领导填写分管领域和分管科室")]
    assert _person({"role": "leader_in_charge", "oversees_field": "财务"}, has_office=False, oversees=True)[1] == []


def test_no_one_is_added_to_a_deactivated_department_but_people_there_may_be_edited():
    assert _person(department_active=False, new=True)[1] == [Problem("department_id", "市行政审批服务局已停用，不能新增人员")]
    assert _person(department_active=False, new=False)[1] == []


def test_duties_and_items():
    assert check_duty({"category": "office", "post_name": "窗口", "duties": "受理"}, has_office=False)[1] == [
        Problem("office_id", "业务科室的岗位必须指定科室")]
    assert check_duty({"category": "main_leader", "post_name": "局长", "duties": "主持"}, has_office=True)[1] == [
        Problem("office_id", "领导岗位属于部门，不指定科室")]
    assert check_duty({"category": "x", "post_name": "", "duties": ""}, has_office=False)[1] == [
        Problem("category", "类别应为以下之一：主要领导、分管领导、业务科室"), Problem("post_name", "请填写岗位名称"),
        Problem("duties", "请填写岗位职责")]
    checked, problems = check_item({"name": "企业设立登记", "promised_limit": "即" * 51})
    assert problems == [Problem("promised_limit", "承诺时限不能超过50个字")] and checked["name"] == "企业设立登记"
    assert check_item({"name": ""})[1] == [Problem("name", "请填写事项名称")]
