"""The anonymous ballot through the web: outcomes, tokens, frozen roster, limits, the sealed box."""

import datetime as dt
import logging
import re

import pytest
from sqlalchemy import func, inspect, select

from ballot_service.domain import form_tokens
from ballot_service.domain.ballots import Rating as RatingValue
from ballot_service.domain.dedup import dedup_key
from ballot_service.domain.roles import Role
from ballot_service.extensions import db
from ballot_service.models import Ballot, DedupRecord, Person, Rating, Round, SealedBallot
from ballot_service.services import ballot_box, keys, rounds, voters
from tests import factories as f
from tests.ballot_helpers import all_satisfied, open_office, opened, sealed_ballots, token_and_people


def page(client, office):
    response = client.get(f"/o/{office.code}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def identity_of(app, client) -> str:
    with app.test_request_context():
        return voters.read(client.get_cookie("sl_voter").value)


def test_office_page_shows_the_ballot_for_the_frozen_roster(client, database):
    office, _ = open_office()
    html = page(client, office)
    token, people = token_and_people(html)
    assert len(people) == 4
    for label in ("满意", "比较满意", "基本满意", "不满意", "不了解情况", "故意刁难", "提交评价"):
        assert label in html
    cookie = client.get_cookie("sl_voter")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_a_ballot_is_sealed_with_its_dedup_record_and_nothing_about_the_voter(app, client, database, redis_client):
    office, round_ = open_office()
    token, people = token_and_people(page(client, office))
    staff = people[-1]
    form = all_satisfied(token, people, **{f"r{staff}": "dissatisfied", f"t{staff}": ["obstruction", "other"],
                                           f"n{staff}": "材料被退回三次"})
    response = client.post(f"/o/{office.code}/ballot", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "感谢您的评价" in html
    assert "不满意（故意刁难、其他）" in html
    assert "分" not in re.sub(r"<[^>]+>", "", html).replace("分管", "")  # no scores on the thank-you page

    # Stored sealed: no plaintext row, no office; the box opens to exactly what was cast.
    assert db.session.scalar(select(func.count()).select_from(Ballot)) == 0
    sealed = db.session.scalar(select(SealedBallot))
    assert sealed.round_id == round_.id and re.fullmatch(r"[0-9a-f]{32}", sealed.id)
    assert "材料被退回三次".encode() not in sealed.box
    [(office_id, channel, ratings)] = opened(round_.id)
    assert (office_id, channel) == (office.id, "online")
    assert ratings == [RatingValue(p, "satisfied") for p in people[:-1]] + [
        RatingValue(staff, "dissatisfied", ("obstruction", "other"), "材料被退回三次")]
    # Its dedup record, in the same transaction, under the round's secret from the key store.
    secret = keys.round_secret(db.session.get(Round, round_.id).key_id)
    assert db.session.scalars(select(DedupRecord.key)).all() == [dedup_key(secret, identity_of(app, client), office.id)]
    assert ballot_box.turnout(round_.id) == 1
    # Redis holds the voter's claim and nothing else of the ballot.
    assert [k.decode().rsplit(":", 1)[0] for k in redis_client.scan_iter("ballot:*")] == [f"ballot:claim:{round_.id}"]

    # Coming back, the voter sees that this office is done, and gets no new form.
    html = page(client, office)
    assert "您已评价过" in html and 'name="token"' not in html


def test_the_thank_you_page_lists_the_ratings_with_names_escaped(client, database):
    office, _ = open_office()
    person = db.session.scalar(select(Person).where(Person.name == "刘文博"))
    person.name = "刘<i>文</i>&博"
    db.session.commit()
    token, people = token_and_people(page(client, office))
    html = client.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people)).get_data(as_text=True)
    assert html.count("<li><b>") == 4 and html.count("：满意</li>") == 4
    assert "<b>刘&lt;i&gt;文&lt;/i&gt;&amp;博</b>" in html
    assert "<i>文</i>" not in html


def test_the_thank_you_page_is_sent_gzipped_when_asked(client, database):
    import gzip

    office, _ = open_office()
    token, people = token_and_people(page(client, office))
    response = client.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people),
                           headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip" and response.headers["Cache-Control"] == "no-store"
    html = gzip.decompress(response.get_data()).decode()
    assert "感谢您的评价" in html and html.count("：满意</li>") == 4


def test_every_sealed_ballot_of_a_round_has_one_size(app, database):
    office, round_ = open_office()
    answers = [{}, {"n": "短"}, {"n": "很长的意见" * 40, "t": ["poor_attitude", "low_efficiency", "other"]}]
    for extra in answers:
        voter = app.test_client()
        token, people = token_and_people(page(voter, office))
        form = all_satisfied(token, people)
        if extra:
            form.update({f"r{people[-1]}": "dissatisfied", f"n{people[-1]}": extra["n"],
                         f"t{people[-1]}": extra.get("t", [])})
        assert voter.post(f"/o/{office.code}/ballot", data=form).status_code == 200
    sizes = {len(box) for box in db.session.scalars(select(SealedBallot.box))}
    assert len(sizes) == 1 and sealed_ballots() == 3


def test_notes_of_one_ballot_are_capped_in_all(client, database):
    office, _ = open_office()
    token, people = token_and_people(page(client, office))
    form = all_satisfied(token, people, **{f"r{p}": "dissatisfied" for p in people[:3]},
                         **{f"n{p}": "意" * 180 for p in people[:3]})
    response = client.post(f"/o/{office.code}/ballot", data=form)
    assert response.status_code == 400
    assert "所有意见合计不能超过500个字（现有540个字）" in response.get_data(as_text=True)
    assert sealed_ballots() == 0


def test_already_voted_has_the_status_of_success(client, database):
    office, _ = open_office()
    first, people = token_and_people(page(client, office))
    second, _ = token_and_people(page(client, office))  # a second tab opened before voting
    assert client.post(f"/o/{office.code}/ballot", data=all_satisfied(first, people)).status_code == 200
    response = client.post(f"/o/{office.code}/ballot", data=all_satisfied(second, people))
    assert response.status_code == 200 and "您已评价过" in response.get_data(as_text=True)
    assert sealed_ballots() == 1


def test_tokens_of_other_voters_offices_forged_or_expired_are_refused(app, client, database):
    office, round_ = open_office()
    other_office = f.office(office.department, name="第二窗口")
    db.session.commit()
    token, people = token_and_people(page(client, office))
    other = app.test_client()  # a different voter replaying the same form
    token_and_people(page(other, office))
    secret = keys.round_secret(db.session.get(Round, round_.id).key_id)
    identity = identity_of(app, client)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    expired = form_tokens.issue(secret, round_.id, office.id, identity, now - form_tokens.TTL - 1)
    elsewhere = form_tokens.issue(secret, round_.id, other_office.id, identity, now)
    for replay in (other.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people)),
                   other.post(f"/o/{office.code}/ballot", data=all_satisfied("forged-token", people)),
                   other.post(f"/o/{office.code}/ballot", data=all_satisfied("", people)),
                   client.post(f"/o/{office.code}/ballot", data=all_satisfied(expired, people)),
                   client.post(f"/o/{office.code}/ballot", data=all_satisfied(elsewhere, people)),
                   client.post(f"/o/{office.code}/ballot", data=all_satisfied(token[:-2] + "AA", people))):
        assert replay.status_code == 400 and "请刷新页面后重新评价" in replay.get_data(as_text=True)
    assert sealed_ballots() == 0
    assert client.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people)).status_code == 200


def test_a_resent_form_with_other_answers_is_told_recorded_and_shown_nothing(client, database):
    office, _ = open_office()
    token, people = token_and_people(page(client, office))
    note = "第一次提交的意见"
    first = all_satisfied(token, people, **{f"r{people[0]}": "dissatisfied", f"n{people[0]}": note})
    assert "感谢您的评价" in client.post(f"/o/{office.code}/ballot", data=first).get_data(as_text=True)
    again = client.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people))
    html = again.get_data(as_text=True)
    assert again.status_code == 200 and "评价已记录" in html and "感谢您的评价！" not in html
    assert note not in html and "满意" not in html.replace("满意度", "")
    assert sealed_ballots() == 1


def test_invalid_ballots_point_at_the_card_and_write_nothing(client, database):
    office, _ = open_office()
    token, people = token_and_people(page(client, office))
    form = {"token": token, f"r{people[0]}": "satisfied", f"t{people[0]}": "bribery"}
    response = client.post(f"/o/{office.code}/ballot", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    # The card in error is red with its reason; the three not yet rated are only marked open.
    assert f'<fieldset class="rate bad" id="p{people[0]}"' in html
    assert "只有选择“基本满意”或“不满意”时，才能勾选问题" in html
    assert all(f'<fieldset class="rate open" id="p{p}"' in html for p in people[1:])
    assert "请选择评价" not in html and "另有3人未评价" in html
    assert sealed_ballots() == 0
    # The same form (token kept) goes through once corrected.
    fixed = client.post(f"/o/{office.code}/ballot", data=all_satisfied(token_and_people(html)[0], people))
    assert fixed.status_code == 200 and sealed_ballots() == 1


def test_the_rest_as_unknown_is_asked_once_then_stored(client, database):
    """Without JavaScript: "其余人员均选不了解情况" asks "其余 3 人将记为…", storing nothing; the
    confirmation stores the ballot with the rest as 不了解情况. Sending with people unrated asks
    the same."""
    office, round_ = open_office()
    token, people = token_and_people(page(client, office))
    answered = {"token": token, f"r{people[0]}": "satisfied"}
    for extra in ({"rest": "unknown"}, {}):
        response = client.post(f"/o/{office.code}/ballot", data={**answered, **extra})
        html = response.get_data(as_text=True)
        assert sealed_ballots() == 0
        assert re.search(r'<div class="confirm" id="confirm"[^>]*>\s*<p id="confirm-text">还有<b data-open>3</b>人未评价。'
                         r"其余<b data-open>3</b>人将记为“不了解情况”", html)
        assert f'name="r{people[0]}" value="satisfied" checked' in html and 'value="unknown" checked' not in html
        assert "已评 <b id=\"rated\">1</b> / 共 4 人" in html
    # A confirmation is for the number it showed: "confirm-2" while 3 are unrated asks again.
    stale = client.post(f"/o/{office.code}/ballot", data={**answered, "rest": "confirm-2"}).get_data(as_text=True)
    assert sealed_ballots() == 0 and 'name="rest" value="confirm-3"' in stale
    response = client.post(f"/o/{office.code}/ballot", data={**answered, "rest": "confirm-3"})
    assert response.status_code == 200 and "感谢您的评价" in response.get_data(as_text=True)
    [(_office, _channel, ratings)] = opened(round_.id)
    assert sorted((r.person_id, r.level) for r in ratings) == [(people[0], "satisfied")] + [
        (p, "unknown") for p in people[1:]]


def test_oversized_bodies_unknown_offices_and_closed_rounds(client, database, redis_client):
    office, round_ = open_office()
    token, people = token_and_people(page(client, office))
    big = client.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people, n1="x" * 70_000))
    assert big.status_code == 413 and "提交的内容过多" in big.get_data(as_text=True)
    assert client.post("/o/ZZZZZZ/ballot", data={"token": token}).status_code == 404
    rounds.close_round(round_.id)
    closed = client.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people))
    assert closed.status_code == 409 and "本轮评价已结束" in closed.get_data(as_text=True)
    assert sealed_ballots() == 0


def test_a_post_without_the_identity_cookie_is_refused(app, database):
    office, _ = open_office()
    browser = app.test_client()
    token, people = token_and_people(page(browser, office))
    cookieless = app.test_client()
    response = cookieless.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people))
    assert response.status_code == 400 and "Cookie" in response.get_data(as_text=True)
    assert sealed_ballots() == 0


def test_round_requiring_wechat_refuses_browser_identities(client, database):
    office, _ = open_office(require_wechat=True)
    html = page(client, office)
    assert "请使用微信扫码评价" in html and 'name="token"' not in html
    response = client.post(f"/o/{office.code}/ballot", data={"token": "x", "r1": "satisfied"})
    assert response.status_code == 403 and "请使用微信扫码评价" in response.get_data(as_text=True)


def test_no_open_round_shows_the_next_one(client, database):
    office, round_ = open_office()
    rounds.close_round(round_.id)
    opens = rounds.utcnow() + dt.timedelta(days=10)
    rounds.create_round("2027年上半年", office.department.region.code, opens, opens + dt.timedelta(days=30))
    html = page(client, office)
    assert 'name="token"' not in html
    expected = rounds.to_china(opens).strftime("%Y年%m月%d日 %H:%M")
    assert f"下一轮评价“2027年上半年”将于{expected}开始" in html


def test_the_roster_is_frozen_when_the_round_opens(client, database):
    office, _ = open_office()
    leaver = db.session.scalar(select(Person).where(Person.name == "刘文博"))
    leaver.active = False  # transferred after the round opened: still rated in this round
    newcomer = f.person(office.department, Role.STAFF, office=office, name="新来的")
    db.session.commit()
    html = page(client, office)
    _, people = token_and_people(html)
    assert leaver.id in people and newcomer.id not in people


def test_rate_limit_per_voter_answers_in_chinese(app, client, database):
    office, _ = open_office()
    app.config["BALLOT_LIMIT_PER_VOTER"] = "3/minute"
    try:
        codes = [client.post(f"/o/{office.code}/ballot", data={"token": "x"}).status_code for _ in range(4)]
        limited = client.post(f"/o/{office.code}/ballot", data={"token": "x"})
    finally:
        app.config["BALLOT_LIMIT_PER_VOTER"] = "10/minute"
    assert codes[:3] == [400, 400, 400] and codes[3] == 429
    assert limited.status_code == 429 and "操作太频繁" in limited.get_data(as_text=True)


def test_ballot_tables_hold_nothing_that_identifies_a_voter_or_a_time(database):
    """A1: adding a column such as created_at, day, ip or voter to these tables fails this test."""
    columns = {table: {c["name"] for c in inspect(db.engine).get_columns(table)}
               for table in ("seal_key", "sealed_ballot", "ballot", "rating", "rating_tag", "dedup_record")}
    assert columns == {
        "seal_key": {"id", "round_id", "wrapped"},
        "sealed_ballot": {"id", "round_id", "seal_key_id", "box"},
        "ballot": {"id", "round_id", "office_id", "channel"},
        "rating": {"ballot_id", "round_id", "office_id", "person_id", "level", "note"},
        "rating_tag": {"ballot_id", "person_id", "tag"},
        "dedup_record": {"round_id", "key"},
    }
    round_columns = {c["name"] for c in inspect(db.engine).get_columns("round")}
    assert "secret" not in round_columns and {"key_id", "public_key"} <= round_columns


def test_unsealing_writes_every_rating_with_its_own_ballot_round_and_office(database):
    """The plaintext tables carry no foreign keys (their triggers cost the unsealing more than
    the rows): what they held is checked here, on the rows one unsealing wrote — each rating
    repeats its own ballot's round and office, names a person on that office's frozen roster,
    and each tag belongs to a rating."""
    from ballot_service.models import RatingTag, RoundRoster
    from ballot_service.services.tally import tally_round
    from tests.ballot_helpers import cast

    office, round_ = open_office(extra_offices=2)
    rosters = {}
    for office_id, person_id in db.session.execute(select(RoundRoster.office_id, RoundRoster.person_id)
                                                   .where(RoundRoster.round_id == round_.id)):
        rosters.setdefault(office_id, []).append(person_id)
    for n in range(12):
        office_id = sorted(rosters)[n % len(rosters)]
        cast(round_.id, office_id, [RatingValue(p, "dissatisfied", ("poor_attitude",), f"意见{n}")
                                    for p in rosters[office_id]])
    db.session.commit()
    rounds.close_round(round_.id)
    tally_round(round_.id)

    ballots = {b.id: (b.round_id, b.office_id) for b in db.session.scalars(select(Ballot))}
    ratings = db.session.execute(select(Rating.ballot_id, Rating.round_id, Rating.office_id, Rating.person_id)).all()
    assert len(ballots) == 12 and len(ratings) == sum(len(rosters[sorted(rosters)[n % 3]]) for n in range(12))
    assert all(ballots[b] == (r, o) and p in rosters[o] for b, r, o, p in ratings)
    rated = {(b, p) for b, _r, _o, p in ratings}
    tags = db.session.execute(select(RatingTag.ballot_id, RatingTag.person_id)).all()
    assert len(tags) == len(ratings) and all(tuple(t) in rated for t in tags)


def test_logs_carry_neither_notes_nor_identities(app, client, database, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        office, _ = open_office()
        token, people = token_and_people(page(client, office))
        note = "机密意见内容甲乙丙"
        client.post(f"/o/{office.code}/ballot",
                    data=all_satisfied(token, people, **{f"r{people[0]}": "dissatisfied", f"t{people[0]}": "bribery",
                                                         f"n{people[0]}": note}))
        client.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people))  # a refused replay too
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    cookie = client.get_cookie("sl_voter").value
    voter = voters.read(cookie)  # "c:" and the browser's random id
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert sealed_ballots() == 1 and "INSERT INTO sealed_ballot" in text and voter.startswith("c:")
    assert note not in text and cookie not in text and voter[2:] not in text


@pytest.mark.parametrize("flush", ["FLUSHALL", "FLUSHDB"])
def test_voters_stay_refused_after_redis_loses_its_data(app, database, redis_client, flush):
    """The dedup records' primary key holds B1 whatever Redis lost (or was restored from)."""
    office, _ = open_office()
    voters_ = [app.test_client() for _ in range(4)]
    for voter in voters_:
        token, people = token_and_people(page(voter, office))
        assert voter.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people)).status_code == 200
    redis_client.execute_command(flush)
    for voter in voters_:
        voter.delete_cookie("sl_done")  # a voter who cleared the page's memory too
        token, people = token_and_people(page(voter, office))
        again = voter.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people))
        assert again.status_code == 200 and "您已评价过" in again.get_data(as_text=True)
    newcomer = app.test_client()
    token, people = token_and_people(page(newcomer, office))
    assert newcomer.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people)).status_code == 200
    assert sealed_ballots() == 5


def test_a_claim_whose_reply_was_lost_is_completed_by_sending_the_form_again(app, client, database, redis_client):
    """Redis applied the claim but the reply never came (the voter saw the retry page): the
    same form, sent again, finds its own claim and completes the ballot — exactly once."""
    office, round_ = open_office()
    token, people = token_and_people(page(client, office))
    secret = keys.round_secret(db.session.get(Round, round_.id).key_id)
    nonce = form_tokens.nonce_of(secret, token, round_.id, office.id, identity_of(app, client),
                                 int(dt.datetime.now(dt.UTC).timestamp()))
    claim = f"ballot:claim:{round_.id}:{dedup_key(secret, identity_of(app, client), office.id)}"
    redis_client.set(claim, form_tokens.claim_tag(secret, nonce))  # the lost attempt

    form = all_satisfied(token, people)
    response = client.post(f"/o/{office.code}/ballot", data=form)
    assert response.status_code == 200 and "感谢您的评价" in response.get_data(as_text=True)
    assert sealed_ballots() == 1
    # A double tap of the same form: told it is recorded, still one ballot.
    again = client.post(f"/o/{office.code}/ballot", data=form)
    assert again.status_code == 200 and "评价已记录" in again.get_data(as_text=True) and sealed_ballots() == 1
    # Another form of the same voter is refused as already voted.
    client.delete_cookie("sl_done")
    other, _ = token_and_people(page(client, office))
    refused = client.post(f"/o/{office.code}/ballot", data=all_satisfied(other, people))
    assert "您已评价过" in refused.get_data(as_text=True) and sealed_ballots() == 1


def test_a_database_restored_from_before_the_seal_key_fails_once_then_takes_the_ballot(app, database):
    """A web process keeps its seal key in memory; if the database comes back from a backup taken
    before that key's row was written, its next ballot must not be told "already voted" (the
    refused foreign key is an IntegrityError too): it gets the retry page, and the same form sent
    again is sealed under a new key and recorded, once."""
    from ballot_service.models import SealKey

    office, round_ = open_office()
    first = app.test_client()
    token, people = token_and_people(page(first, office))
    assert first.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people)).status_code == 200
    for table in (SealedBallot, DedupRecord, SealKey):  # the restore: none of that was written yet
        db.session.execute(db.delete(table))
    db.session.commit()

    voter = app.test_client()
    token, people = token_and_people(page(voter, office))
    form = all_satisfied(token, people)
    failed = voter.post(f"/o/{office.code}/ballot", data=form)
    assert failed.status_code == 503 and "请重新提交" in failed.get_data(as_text=True)
    again = voter.post(f"/o/{office.code}/ballot", data=form)
    assert again.status_code == 200 and "感谢您的评价" in again.get_data(as_text=True)
    assert sealed_ballots() == 1 and len(opened(round_.id)) == 1
    assert db.session.scalar(select(func.count()).select_from(SealKey)) == 1


def test_a_commit_that_raised_after_committing_is_acknowledged_once(app, client, database, monkeypatch):
    office, _ = open_office()
    earlier = app.test_client()  # an earlier voter: this process has its seal key already
    token, people = token_and_people(page(earlier, office))
    assert earlier.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people)).status_code == 200
    token, people = token_and_people(page(client, office))
    real_commit, real_insert = db.session.commit, ballot_box.insert_sealed
    calls = []

    def insert_noted(*args):
        stored = real_insert(*args)
        calls.append("insert")
        return stored

    def commit_then_fail():  # the commit after the ballot's INSERT (on PostgreSQL it is a no-op)
        real_commit()
        if calls == ["insert"]:
            calls.append("failed")
            from sqlalchemy.exc import OperationalError

            raise OperationalError("COMMIT", {}, Exception("connection lost after commit"))

    monkeypatch.setattr(ballot_box, "insert_sealed", insert_noted)
    monkeypatch.setattr(db.session, "commit", commit_then_fail)
    response = client.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people))
    monkeypatch.undo()
    assert calls == ["insert", "failed"]
    assert response.status_code == 200 and "感谢您的评价" in response.get_data(as_text=True)
    assert sealed_ballots() == 2


def test_hostile_field_names_and_control_characters_get_4xx(client, database):
    office, _ = open_office()
    token, people = token_and_people(page(client, office))
    odd = client.post(f"/o/{office.code}/ballot", data={**all_satisfied(token, people), "r²": "satisfied"})
    assert odd.status_code == 400
    nul = client.post(f"/o/{office.code}/ballot", data=all_satisfied(
        token, people, **{f"r{people[0]}": "dissatisfied", f"n{people[0]}": "坏\x00字符"}))
    assert nul.status_code == 400 and "不能包含控制字符" in nul.get_data(as_text=True)
    assert client.get("/o/AB%00CD").status_code == 404
    assert client.get("/d/x%00").status_code == 404
    assert sealed_ballots() == 0


@pytest.fixture
def page_cache_on(app):
    from ballot_service.public import page_cache

    page_cache.clear()
    app.config["PAGE_CACHE_SECONDS"] = 30
    yield page_cache
    app.config["PAGE_CACHE_SECONDS"] = 0
    page_cache.clear()


def test_cached_office_page_issues_a_token_per_view_and_the_database_refuses_an_early_close(
        client, database, redis_client, page_cache_on):
    office, round_ = open_office()
    first, people = token_and_people(page(client, office))
    second, _ = token_and_people(page(client, office))
    assert first != second  # the cached render never carries a token of its own
    assert "__BALLOT_TOKEN__" not in page(client, office)
    assert client.post(f"/o/{office.code}/ballot", data=all_satisfied(first, people)).status_code == 200
    assert "您已评价过" in page(client, office)

    voter = client.application.test_client()
    token, people = token_and_people(page(voter, office))
    rounds.close_round(round_.id)  # another process closes the round; this one has the page cached
    redis_client.flushdb()  # and Redis knows nothing of it
    closed = voter.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people))
    assert closed.status_code == 409 and sealed_ballots() == 1
    assert list(redis_client.scan_iter("ballot:claim:*")) == []  # the claim was released


def test_the_token_slot_is_at_the_end_of_the_office_page(app, database):
    """Only what follows the token is compressed per request: it must stay a short tail, whatever
    the page holds above it (the ballot, results, the disclosure)."""
    from ballot_service.public import page_cache

    office, _ = open_office()
    with app.test_request_context():
        cached = page_cache.build(office.code)
    assert len(cached.form.suffix) < 200, cached.form.suffix
    assert b'form="ballot-form"' in cached.form.suffix


def test_token_pages_are_valid_gzip_with_the_token_in_place():
    import gzip

    from ballot_service.public.page_cache import TOKEN_PLACEHOLDER, SlotPage

    html = "<html><body>" + "三亮公示" * 2000 + f'<input name="token" value="{TOKEN_PLACEHOLDER}"></form></html>'
    page = SlotPage(html)
    for token in ("tok-A", "another-token-value"):
        expected = html.replace(TOKEN_PLACEHOLDER, token).encode()
        assert page.html(token) == expected
        assert gzip.decompress(page.gz(token)) == expected  # checks the CRC and the size too
    assert len(page.gz("tok-A")) < len(html.encode()) / 5


def test_office_page_is_sent_gzipped_or_plain_as_asked(client, database):
    import gzip

    office, _ = open_office()
    zipped = client.get(f"/o/{office.code}", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Vary"] == "Accept-Encoding"
    html = gzip.decompress(zipped.data).decode()
    plain = client.get(f"/o/{office.code}", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert token_and_people(html)[1] == token_and_people(plain.get_data(as_text=True))[1]
    assert token_and_people(html)[0] != token_and_people(plain.get_data(as_text=True))[0]


def test_the_office_page_writes_nothing_to_redis(client, database, redis_client):
    office, _ = open_office()
    before = redis_client.dbsize()
    for _ in range(3):
        token_and_people(page(client, office))
    assert redis_client.dbsize() == before


def test_missing_round_keys_are_loud_at_start_and_the_office_takes_no_ballots(app, client, database, caplog):
    import os

    office, round_ = open_office()
    key_id = db.session.get(Round, round_.id).key_id
    os.remove(os.path.join(app.config["KEY_DIR"], f"{key_id}.secret"))
    caplog.set_level(logging.CRITICAL)
    keys.check_at_start(("secret", "private"))
    assert any("密钥缺失" in r.getMessage() and "secret" in r.getMessage() for r in caplog.records)
    html = page(client, office)
    assert "评价服务暂时不可用" in html and 'name="token"' not in html
    response = client.post(f"/o/{office.code}/ballot", data={"token": "x"})
    assert response.status_code == 503 and sealed_ballots() == 0
    ready = client.get("/readyz")
    assert ready.status_code == 503 and any("keys:" in p for p in ready.json["problems"])


def _open_temporary_files() -> int:
    """This process's open files in the temporary folder (unnamed ones show as "(deleted)")."""
    import os
    import tempfile

    folder = tempfile.gettempdir()
    return sum(1 for fd in os.listdir("/proc/self/fd")
               if os.path.realpath(f"/proc/self/fd/{fd}").startswith(folder + os.sep))


def test_a_sealed_ballot_naming_someone_off_the_roster_stops_the_tally_unwritten(database):
    """The unsealing checks every rating against the frozen roster (the plaintext tables have no
    foreign keys to do it): a box that names anyone else stops the tally with a message, writes
    nothing and keeps the round's keys, so it can be looked into and started again."""
    from ballot_service.services.rounds import RoundError
    from ballot_service.services.tally import tally_round
    from tests.ballot_helpers import cast

    office, round_ = open_office(extra_offices=1)
    stranger = f.person(office.department, name="名单外")  # opened after the roster froze: on no ballot
    db.session.commit()
    cast(round_.id, office.id, [RatingValue(stranger.id, "satisfied")])
    db.session.commit()
    rounds.close_round(round_.id)
    spills_before = _open_temporary_files()
    with pytest.raises(RoundError, match="名单不符") as stopped:
        tally_round(round_.id)
    # The unsealing's spill files are closed at once, not when the error's traceback (which holds
    # them, as a job's error report would) is let go.
    assert _open_temporary_files() == spills_before and stopped.traceback
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Ballot)) == 0 and sealed_ballots() == 1
    assert keys.private_key(db.session.get(Round, round_.id).key_id)  # not destroyed


def test_a_token_with_non_ascii_in_its_mac_is_stale_not_a_crash(client, database):
    office, _ = open_office()
    token, people = token_and_people(page(client, office))
    forged = token.rsplit(".", 1)[0] + ".签名"
    response = client.post(f"/o/{office.code}/ballot", data=all_satisfied(forged, people))
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    assert sealed_ballots() == 0


def test_a_claim_left_by_a_form_that_never_stored_does_not_say_already_voted(app, client, database, redis_client):
    """An earlier form's claim stayed (its commit's outcome was unknown, and it had not in fact
    committed); the voter reloads and sends a new form: the database has no record, so the
    claim is only a hint — the new form is recorded, once."""
    office, round_ = open_office()
    token, people = token_and_people(page(client, office))
    secret = keys.round_secret(db.session.get(Round, round_.id).key_id)
    claim = f"ballot:claim:{round_.id}:{dedup_key(secret, identity_of(app, client), office.id)}"
    redis_client.set(claim, "an-earlier-form")
    response = client.post(f"/o/{office.code}/ballot", data=all_satisfied(token, people))
    assert response.status_code == 200 and "感谢您的评价" in response.get_data(as_text=True)
    assert sealed_ballots() == 1 and redis_client.get(claim) != b"an-earlier-form"
    client.delete_cookie("sl_done")
    other, _ = token_and_people(page(client, office))
    again = client.post(f"/o/{office.code}/ballot", data=all_satisfied(other, people))
    assert "您已评价过" in again.get_data(as_text=True) and sealed_ballots() == 1


def test_a_paper_ballot_counted_while_the_tally_unseals_waits_and_is_refused(app, database):
    """The unsealing holds the box (ballot_box.lock_box) until its commit: a paper form counted
    meanwhile waits for it, then sees the round unsealed and writes nothing — never a ballot
    left in an emptied box whose keys are gone."""
    import threading

    from tests.ballot_helpers import cast

    office, round_ = open_office()
    db.session.commit()
    rounds.close_round(round_.id)
    people = [p for p, in db.session.execute(select(Person.id).where(Person.office_id == office.id))]
    ballot_box.lock_box()  # the tally's transaction
    outcome = {}

    def typist():
        with app.app_context():
            try:
                cast(round_.id, office.id, [RatingValue(p, "satisfied") for p in people])
                outcome["stored"] = True
            except AssertionError:
                outcome["stored"] = False  # store() refused: the round was unsealed
            db.session.rollback()
            db.session.remove()

    thread = threading.Thread(target=typist)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive()  # waiting for the unsealing
    db.session.get(Round, round_.id).unsealed = True
    db.session.commit()
    thread.join(10)
    assert outcome == {"stored": False} and sealed_ballots() == 0


def test_a_sealed_ballot_copied_into_a_second_row_stops_the_tally(database):
    """A database administrator who copies a sealed row (a new id: the primary key) to count it
    twice gets a box that no longer opens: the ballot is bound to its own row id."""
    from ballot_service.services.tally import tally_round
    from tests.ballot_helpers import cast

    office, round_ = open_office()
    people = [p for p, in db.session.execute(select(Person.id).where(Person.office_id == office.id))]
    cast(round_.id, office.id, [RatingValue(p, "satisfied") for p in people])
    db.session.commit()
    row = db.session.scalar(select(SealedBallot))
    db.session.add(SealedBallot(id="f" * 32, round_id=row.round_id, seal_key_id=row.seal_key_id, box=row.box))
    db.session.commit()
    rounds.close_round(round_.id)
    with pytest.raises(ballot_box.BoxTampered, match="无法统计"):
        tally_round(round_.id)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Ballot)) == 0 and sealed_ballots() == 2
