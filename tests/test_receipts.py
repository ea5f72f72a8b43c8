"""Ballot receipts through the web, tried as the operators would.

A voter gets a receipt code on the thank-you page (the same again for the same form sent
again), and after the tally and publication finds it among the counted ones; a code made up
is not found. Meanwhile the code is nowhere but the voter's page and, sealed, the box: not in
Redis (every key and value), nor in any table in clear, nor in a log line, a URL or a cookie.
After the tally the receipt table holds round and code alone, in code order on the disk
(ctid on PostgreSQL, rowid on SQLite), which says nothing of the ballots' order.
"""

import logging
import re

import pytest
from sqlalchemy import inspect, select, text

from ballot_service.domain import receipts as codes
from ballot_service.domain.ballots import Rating as RatingValue
from ballot_service.extensions import db
from ballot_service.models import Ballot, Rating, Receipt, Round
from ballot_service.services import rounds
from ballot_service.services.tally import tally_round
from tests.ballot_helpers import all_satisfied, cast, open_office, publish, token_and_people
from tests.test_operator_attack import files_hold, operated, pg_files  # noqa: F401  (the private servers)

SHOWN = re.compile(r'<p class="code"><strong>([0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4})'
                   r"</strong></p>")
LINKS = re.compile(r'(?:href|action|src)="([^"]*)"')


def receipt_in(html: str) -> str | None:
    found = SHOWN.findall(html)
    assert len(found) <= 1
    return found[0] if found else None


def needles(receipt: str) -> list[str]:
    """The ways a receipt could be written down: grouped, bare, either case."""
    bare = receipt.replace("-", "")
    return [receipt, bare, receipt.lower(), bare.lower()]


def vote(client, office, note: str | None = None):
    """One voter's office page, then their ballot (all 满意, or the first person 基本满意 with a
    note): (token, form, response)."""
    token, people = token_and_people(client.get(f"/o/{office.code}").get_data(as_text=True))
    form = all_satisfied(token, people)
    if note:
        form.update({f"r{people[0]}": "basically_satisfied", f"n{people[0]}": note})
    return token, form, client.post(f"/o/{office.code}/ballot", data=form)


def redis_everything(r) -> str:
    """Every key of the Redis database with its value(s), whatever their type, as text."""
    parts = []
    read = {"string": r.get, "hash": r.hgetall, "list": lambda k: r.lrange(k, 0, -1), "set": r.smembers,
            "zset": lambda k: r.zrange(k, 0, -1, withscores=True), "stream": r.xrange}
    for key in r.scan_iter(count=1000):
        kind = r.type(key).decode()
        parts.append(f"{key!r} {kind} {read[kind](key)!r}")
    return "\n".join(parts)


def database_everything(but: tuple[str, ...] = ()) -> str:
    """Every row of every table (but those named), as text (bytes as their repr and hex)."""
    parts = []
    for table in db.metadata.sorted_tables:
        if table.name in but:
            continue
        for row in db.session.execute(table.select()):
            for value in row:
                parts.append(f"{value!r} {value.hex()}" if isinstance(value, bytes) else repr(value))
    db.session.rollback()
    return "\n".join(parts)


def physical_order(table: str) -> str:
    return "ctid" if db.engine.dialect.name == "postgresql" else "rowid"


def test_a_voters_receipt_verifies_on_the_report_card_and_a_made_up_one_does_not(app, client, database):
    office, round_ = open_office()
    second_tab, people = token_and_people(client.get(f"/o/{office.code}").get_data(as_text=True))
    _, form, response = vote(client, office)
    html = response.get_data(as_text=True)
    receipt = receipt_in(html)
    assert response.status_code == 200 and "感谢您的评价" in html and receipt
    assert "您的选票回执码" in html and "回执码不显示您的评价内容" in html and "复制回执码" in html
    assert response.headers["Cache-Control"] == "no-store"

    # The same form sent again (the retry page, a lost response) shows the same receipt.
    again = client.post(f"/o/{office.code}/ballot", data=form)
    assert "您已评价过" in again.get_data(as_text=True) and receipt_in(again.get_data(as_text=True)) == receipt
    assert again.headers["Cache-Control"] == "no-store"
    # A second form of the same voter (another tab) is refused and shows no receipt: its own was
    # never stored, and the stored one is not its to show.
    other = client.post(f"/o/{office.code}/ballot", data=all_satisfied(second_tab, people))
    assert "您已评价过" in other.get_data(as_text=True) and receipt_in(other.get_data(as_text=True)) is None

    # Before publication there is nothing to check against.
    assert client.get(f"/results/{round_.id}/receipts").status_code == 404
    rounds.close_round(round_.id)
    db.session.commit()
    tally_round(round_.id)
    assert "尚未发布" in client.get(f"/results/{round_.id}/receipts").get_data(as_text=True)
    assert client.get(f"/results/{round_.id}/receipts.txt").status_code == 404
    publish(round_.id)

    # Three taps from the report card: 核验我的选票, the code, 核验.
    card = client.get(f"/results/{round_.id}").get_data(as_text=True)
    assert f'href="/results/{round_.id}/receipts">核验我的选票</a>' in card
    department_card = client.get(f"/results/{round_.id}/d/{office.department.code}").get_data(as_text=True)
    assert f'href="/results/{round_.id}/receipts">核验我的选票</a>' in department_card
    page = client.get(f"/results/{round_.id}/receipts")
    assert page.status_code == 200 and 'method="post"' in page.get_data(as_text=True)
    assert "本轮共有1张选票的回执码计入统计" in page.get_data(as_text=True)

    checked = client.post(f"/results/{round_.id}/receipts", data={"code": receipt})
    assert checked.status_code == 200 and "已计入统计" in checked.get_data(as_text=True)
    assert checked.headers["Cache-Control"] == "no-store"
    typed = receipt.lower().replace("-", " ").replace("0", "o").replace("1", "l")  # as typed by hand
    assert "已计入统计" in client.post(f"/results/{round_.id}/receipts", data={"code": typed}).get_data(as_text=True)

    made_up = codes.grouped(next(c for c in ("K7Q42MXA9PBC", "K7Q42MXA9PBD") if c != receipt.replace("-", "")))
    missing = client.post(f"/results/{round_.id}/receipts", data={"code": made_up})
    assert missing.status_code == 200 and "未找到该回执码" in missing.get_data(as_text=True)
    assert "已计入统计</h2>" not in missing.get_data(as_text=True)
    for bad, says in (("K7Q4-2MXA", "回执码格式不对"), ("K7Q4-2MXA-9PBU", "回执码格式不对"), ("", "请输入回执码")):
        refused = client.post(f"/results/{round_.id}/receipts", data={"code": bad})
        assert refused.status_code == 400 and says in refused.get_data(as_text=True), bad
    assert client.post(f"/results/{round_.id}/receipts", data={"code": "K" * 70000}).status_code == 413

    listing = client.get(f"/results/{round_.id}/receipts.txt")
    assert listing.status_code == 200 and listing.mimetype == "text/plain"
    assert listing.get_data(as_text=True) == receipt + "\n"
    assert client.get(f"/results/{round_.id + 99}/receipts").status_code == 404


def test_the_receipt_is_nowhere_but_the_voters_page_and_the_sealed_box(app, client, database, redis_client, caplog):
    caplog.set_level(logging.DEBUG)
    office, round_ = open_office()
    shown, responses = [], []
    for n in range(6):
        voter = app.test_client()
        _, form, response = vote(voter, office, None if n % 2 else f"意见{n}")
        responses.append(response)
        shown.append(receipt_in(response.get_data(as_text=True)))
        responses.append(voter.post(f"/o/{office.code}/ballot", data=form))  # sent again
    assert all(shown) and len(set(shown)) == 6
    cast(round_.id, office.id, [RatingValue(p, "satisfied") for p in token_and_people(
        client.get(f"/o/{office.code}").get_data(as_text=True))[1]], channel="paper")  # a paper ballot

    def nowhere(where: str) -> None:
        for receipt in shown:
            for needle in needles(receipt):
                assert needle not in where, needle

    # In no URL, redirect or cookie the service gave out; in no log line.
    for response in responses:
        html = response.get_data(as_text=True)
        nowhere("\n".join(LINKS.findall(html)))
        nowhere(response.headers.get("Location", "") + "\n".join(response.headers.getlist("Set-Cookie")))
    # During the round: not in Redis, not in any table in clear (the box is ciphertext).
    nowhere(redis_everything(redis_client))
    nowhere(database_everything())

    rounds.close_round(round_.id)
    db.session.commit()
    tally_round(round_.id)
    publish(round_.id)
    nowhere(redis_everything(redis_client))
    nowhere("\n".join(record.getMessage() + repr(record.args) for record in caplog.records))

    # After the tally: the receipts of the six online ballots and none for the paper one, in
    # the receipt table alone, which holds round and code and nothing else, in code order on disk.
    assert db.session.scalar(select(db.func.count()).select_from(Ballot)) == 7
    stored = db.session.scalars(select(Receipt.code).where(Receipt.round_id == round_.id)).all()
    assert sorted(stored) == sorted(r.replace("-", "") for r in shown)
    assert {c["name"] for c in inspect(db.engine).get_columns("receipt")} == {"round_id", "code"}
    on_disk = db.session.scalars(text(f"SELECT code FROM receipt ORDER BY {physical_order('receipt')}")).all()
    assert on_disk == sorted(on_disk)
    nowhere(database_everything(but=("receipt",)))  # no ballot, rating, result or audit row names one
    listing = app.test_client().get(f"/results/{round_.id}/receipts.txt").get_data(as_text=True)
    assert listing.splitlines() == sorted(shown)


def test_receipt_order_on_disk_is_code_order_not_cast_order(app, database):
    """Many ballots: the receipt rows' physical order is exactly code order, whatever order the
    ballots were cast in or the tally opened them in."""
    office, round_ = open_office()
    shown = []
    for n in range(40):
        voter = app.test_client()
        _, _, response = vote(voter, office, f"第{n}张")
        shown.append(receipt_in(response.get_data(as_text=True)).replace("-", ""))
    assert shown != sorted(shown)  # cast order is not code order (1 chance in 40!)
    rounds.close_round(round_.id)
    db.session.commit()
    tally_round(round_.id)
    position = physical_order("receipt")
    rows = db.session.execute(text(f"SELECT round_id, code FROM receipt ORDER BY {position}")).all()
    assert rows == [(round_.id, code) for code in sorted(shown)]
    # The ballots' rows: in random order, no receipt among their values.
    ballots = db.session.scalars(text(f"SELECT id FROM ballot ORDER BY {physical_order('ballot')}")).all()
    assert len(ballots) == 40 and not set(ballots) & set(shown)


def test_a_ballot_sealed_before_receipts_opens_and_has_none(app, database):
    """A ballot sealed as three elements (before receipts) is counted and writes no receipt row."""
    from ballot_service.domain import sealing
    from ballot_service.services import ballot_box

    office, round_ = open_office()
    round_row = db.session.get(Round, round_.id)
    people = [p for p, in db.session.execute(text("SELECT person_id FROM round_roster WHERE office_id = :o"),
                                             {"o": office.id})]
    old = b"[%d,\"online\",[%s]]" % (office.id, b",".join(b'[%d,"satisfied",[],null]' % p for p in people))
    connection = db.session.connection()
    seal_key_id, seal_key = ballot_box._new_seal_key(connection, round_.id, round_row.public_key)
    box = sealing.seal(seal_key, round_.id, seal_key_id, "b" * 32, round_row.sealed_size, old)
    connection.execute(text("INSERT INTO sealed_ballot (id, round_id, seal_key_id, box) VALUES (:i, :r, :k, :b)"),
                       {"i": "b" * 32, "r": round_.id, "k": seal_key_id, "b": box})
    db.session.commit()
    rounds.close_round(round_.id)
    db.session.commit()
    tally_round(round_.id)
    assert db.session.scalar(select(db.func.count()).select_from(Rating)) == len(people)
    assert db.session.scalar(select(db.func.count()).select_from(Receipt)) == 0


def test_a_form_whose_round_has_no_room_for_a_receipt_is_taken_without_one(app, client, database):
    """A round opened before receipts (its sealed size without their room): the ballot is sealed
    and counted without a receipt rather than refused, and the page shows none."""
    from ballot_service.domain import sealing
    from tests.ballot_helpers import opened

    office, round_ = open_office()
    _, people = token_and_people(client.get(f"/o/{office.code}").get_data(as_text=True))
    row = db.session.get(Round, round_.id)
    # Exactly the room this ballot takes without a receipt (its length is that of any order).
    row.sealed_size = 4 + len(sealing.encode(office.id, "online", [RatingValue(p, "satisfied") for p in people]))
    db.session.commit()
    _, _, response = vote(client, office)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "感谢您的评价" in html
    assert receipt_in(html) is None and "您的选票回执码" not in html
    [(_office, _channel, ratings)] = opened(round_.id)
    assert sorted(r.person_id for r in ratings) == people


def test_a_round_without_online_ballots_publishes_an_empty_list(app, client, database):
    office, round_ = open_office()
    cast(round_.id, office.id, [], channel="paper")
    rounds.close_round(round_.id)
    db.session.commit()
    tally_round(round_.id)
    publish(round_.id)
    assert client.get(f"/results/{round_.id}/receipts.txt").get_data(as_text=True) == ""
    assert "本轮共有0张选票的回执码计入统计" in client.get(f"/results/{round_.id}/receipts").get_data(as_text=True)


@pytest.fixture
def limiter_kept():
    """The rate limiter as the session's app bound it, back after a test with an app of its own
    (create_app rebinds the one limiter to that app's Redis, which the test then stops)."""
    from ballot_service.extensions import limiter

    saved = dict(vars(limiter))
    yield
    vars(limiter).clear()
    vars(limiter).update(saved)


def test_the_operators_find_receipts_only_in_the_published_table(limiter_kept, operated):  # noqa: F811
    """T1 and T2 with their own tools (tests/test_operator_attack.py's private PostgreSQL and AOF
    Redis, read as files): during the round no heap, WAL, AOF or RDB file holds a receipt; after
    the tally Redis's files still hold none, and the receipt table's pages hold one live tuple per
    receipt, no dead one, in code order."""
    import redis

    app, pg, rs = operated
    r = redis.Redis.from_url(rs.url)
    office, round_ = open_office(extra_offices=2)
    shown = []
    for n in range(12):
        _, _, response = vote(app.test_client(), office, f"暗记{n}")
        shown.append(receipt_in(response.get_data(as_text=True)))
    assert all(shown)
    wanted = [needle.encode() for receipt in shown for needle in needles(receipt)]
    r.bgrewriteaof()
    r.save()
    assert files_hold(pg_files(pg), wanted) == []
    assert files_hold(rs.files(), wanted) == []

    rounds.close_round(round_.id)
    db.session.commit()
    tally_round(round_.id)
    r.bgrewriteaof()
    r.save()
    assert files_hold(rs.files(), wanted) == []
    tuples = db.session.execute(text(
        "SELECT t_xmax::text, t_data FROM heap_page_items(get_raw_page('receipt', 0)) ORDER BY lp")).all()
    bare = sorted(receipt.replace("-", "") for receipt in shown)
    assert [xmax for xmax, _ in tuples] == ["0"] * 12  # twelve live tuples, none dead
    assert [next(c for c in bare if c.encode() in bytes(data)) for _, data in tuples] == bare
    assert db.session.scalars(text("SELECT code FROM receipt ORDER BY ctid")).all() == bare

