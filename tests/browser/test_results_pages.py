"""Report cards as a citizen sees them on a phone: charts drawn in CSS, nothing fetched outside."""

from ballot_service.extensions import db
from ballot_service.models import Department
from ballot_service.services import rounds
from ballot_service.services.tally import tally_round
from tests.ballot_helpers import publish
from tests.test_results import three_more_in_x
from tests.test_tally import city, first_round  # noqa: F401

from .test_ballot_flow import shot
from .test_disclosure_pages import MISSING_GLYPHS_JS


def test_round_and_department_report_cards(city, live_server, phone):  # noqa: F811
    """The ballots of tests/test_results.py's small-cell case (k = 5): 市乙局 (2 ballots) and the
    city's line show 样本不足; in 市甲局, X and Y (a complement), S1 and H2 (likewise) do."""
    r = first_round(city)
    three_more_in_x(city, r)
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    code = db.session.get(Department, city["A"]).code

    phone.goto(f"{live_server}/results/{r}")
    rows = phone.locator(".results .res")
    assert rows.count() == 3  # the city, then two departments
    assert "样本不足" in rows.nth(0).inner_text()
    first, last = rows.nth(1).inner_text(), rows.nth(2).inner_text()
    assert first.startswith("1") and "市甲局" in first and "样本不足" not in first
    assert "市乙局" in last and "样本不足" in last and "100.00" not in last
    bar = rows.nth(1).locator(".dist i")
    assert bar.count() == 5  # 市甲局 has ratings at all five levels (不了解 included), drawn as widths
    assert rows.nth(2).locator(".dist").count() == 0
    assert phone.evaluate(MISSING_GLYPHS_JS)["missing"] == []
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "results-round.png")

    phone.locator(".res-name a", has_text="市甲局").click()
    assert phone.url.endswith(f"/results/{r}/d/{code}")
    body = phone.locator("body").inner_text()
    # First among the departments shown (市乙局, hidden, is first officially: its place is not shown)
    assert phone.locator(".results .res").nth(0).inner_text().startswith("1")
    assert "X科" in body and phone.locator(".score", has_text="样本不足").count() == 4 and "45.00" not in body
    assert body.count("样本不足：评价票太少") == 2  # the mark explained under the offices and the people
    assert phone.locator(".res.hidden").count() == 4 and phone.locator(".dist").count() == 4
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "results-department.png")
    assert phone.outside_requests == []
