"""Published report cards, hall screen, and the k rule for comments."""

import random
import re

from ballot_service.domain.ballots import Rating
from ballot_service.services import rounds
from ballot_service.services.results import department_comments
from ballot_service.services.tally import tally_round
from tests.ballot_helpers import cast
from tests.test_tally import city, first_round  # noqa: F401  (fixture and round builder)


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_report_cards_appear_only_once_published(client, city):  # noqa: F811
    r = first_round(city)
    rounds.close_round(r)
    tally_round(r)
    assert client.get(f"/results/{r}").status_code == 404  # tallied, under review, not public
    assert "暂无已发布的评价结果" in text(client.get("/results"))
    rounds.publish_round(r)

    index = text(client.get("/results"))
    assert "第1轮" in index
    card = text(client.get(f"/results/{r}"))
    # Departments ranked: 市乙局 100.00 优秀 first, 市甲局 76.83 合格 second; the city 88.42 良好.
    assert re.search(r"1 市乙局 100\.00 优秀.*2 市甲局 76\.83 合格", card)
    assert "88.42 良好" in card
    assert "有效评价15票 · 不了解3" in card

    dept = client.get(f"/results/{r}/d/{_code(city['A'])}")
    body = text(dept)
    assert dept.status_code == 200
    assert re.search(r"1 X科 81\.00 良好.*2 Y科 74\.00 合格", body)
    assert "45.00 不合格" in body and "90.00 优秀" in body
    assert "故意刁难" not in body  # tags and comments never appear on public cards


def _code(department_id: int) -> str:
    from ballot_service.extensions import db
    from ballot_service.models import Department

    return db.session.get(Department, department_id).code


def test_unknown_rounds_and_departments_are_404(client, city):  # noqa: F811
    assert client.get("/results/999").status_code == 404
    assert client.get("/results/999/d/nope").status_code == 404
    assert client.get("/screen/nope").status_code == 404


def test_hall_screen_shows_disclosure_and_latest_results(client, city):  # noqa: F811
    code = _code(city["A"])
    before = client.get(f"/screen/{code}")
    assert before.status_code == 200 and "本部门暂无已发布的评价结果" in text(before)
    assert '<meta http-equiv="refresh"' in before.get_data(as_text=True)
    r = first_round(city)
    rounds.close_round(r)
    tally_round(r)
    rounds.publish_round(r)
    after = text(client.get(f"/screen/{code}"))
    assert "76.83 合格" in after and "人员身份公示" in after


def test_comments_only_for_offices_with_at_least_k_ballots_shuffled(city):  # noqa: F811
    c = city
    r = first_round(c)  # office X has 3 ballots, Y 2, Z 2
    for note in ("窗口排队太久", "材料要求没有一次说清"):
        cast(r, c["X"], [Rating(c["S1"], "dissatisfied", ("low_efficiency",), note)])
    rounds.close_round(r)
    tally_round(r)  # comments exist once the ballots are unsealed
    # X now has 5 ballots: shown at k=5; Y (2 ballots) is not.
    shown = {oc.office.name: oc for oc in department_comments(r, c["A"], threshold=5, rng=random.Random(1))}
    assert shown["X科"].shown and shown["X科"].ballots == 5
    assert sorted(shown["X科"].notes) == ["材料要求没有一次说清", "窗口排队太久"]
    assert shown["X科"].tags == {"obstruction": 1, "low_efficiency": 2}
    assert not shown["Y科"].shown and shown["Y科"].notes == [] and shown["Y科"].tags == {}
    # Shuffled, not in the order written: across seeds both orders occur.
    orders = {tuple(department_comments(r, c["A"], threshold=5, rng=random.Random(seed))[0].notes)
              for seed in range(20)}
    assert len(orders) == 2
