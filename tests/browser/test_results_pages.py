"""Report cards as a citizen sees them on a phone: charts drawn in CSS, nothing fetched outside."""

from ballot_service.extensions import db
from ballot_service.models import Department
from ballot_service.services import rounds
from ballot_service.services.tally import tally_round
from tests.test_tally import city, first_round  # noqa: F401

from .test_ballot_flow import shot
from .test_disclosure_pages import MISSING_GLYPHS_JS


def test_round_and_department_report_cards(city, live_server, phone):  # noqa: F811
    r = first_round(city)
    rounds.close_round(r)
    tally_round(r)
    rounds.publish_round(r)
    code = db.session.get(Department, city["A"]).code

    phone.goto(f"{live_server}/results/{r}")
    rows = phone.locator(".results .res")
    assert rows.count() == 3  # the city, then two departments
    assert "市乙局" in rows.nth(1).inner_text() and "100.00" in rows.nth(1).inner_text()
    bar = rows.nth(2).locator(".dist i")
    assert bar.count() == 5  # 市甲局 has ratings at all five levels (不了解 included), drawn as widths
    assert phone.evaluate(MISSING_GLYPHS_JS)["missing"] == []
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "results-round.png")

    phone.locator(".res-name a", has_text="市甲局").click()
    assert phone.url.endswith(f"/results/{r}/d/{code}")
    assert "X科" in phone.locator("body").inner_text() and "45.00" in phone.locator("body").inner_text()
    shot(phone, "results-department.png")
    assert phone.outside_requests == []
