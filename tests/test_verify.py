"""`flask verify`: every published score and grade recomputed from the published level counts,
and their digest checked against the one recorded at publication — also as a database
administrator who edits a result, or someone who edits the downloaded counts."""

import json

import pytest
from sqlalchemy import select, update

from ballot_service.extensions import db
from ballot_service.models import Result
from ballot_service.services import appeals, rounds
from ballot_service.services.tally import tally_round
from tests.ballot_helpers import publish
from tests.test_results import set_k
from tests.test_tally import city, first_round  # noqa: F401  (fixture and round builder)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def published(city, k: int) -> int:  # noqa: F811
    r = first_round(city)
    set_k(r, k)
    rounds.close_round(r)
    tally_round(r)
    publish(r)
    return r


def test_verify_recomputes_every_published_score(client, runner, city, tmp_path):  # noqa: F811
    r = published(city, 1)
    result = runner.invoke(args=["verify", str(r)])
    assert result.exit_code == 0, result.output
    # 6 people, 3 offices, 2 departments and the city: all shown at k = 1, all recomputed.
    assert "重算得分和等次 12 项，不一致 0 项" in result.output and "与发布时记录的一致" in result.output

    downloaded = client.get(f"/results/{r}/counts.json")
    assert downloaded.status_code == 200
    document = downloaded.get_json()
    assert {s["kind"] for s in document["subjects"]} == {"person", "office", "department", "region"}
    assert "ballot" not in json.dumps(document)  # counts only, never a ballot
    path = tmp_path / "counts.json"
    path.write_bytes(downloaded.data)
    assert runner.invoke(args=["verify", str(r), "--file", str(path)]).exit_code == 0

    s1 = next(s for s in document["subjects"] if s["kind"] == "person" and s["id"] == city["S1"])
    s1["counts"]["dissatisfied"] = 0  # S1 30, 60 → 60 alone: published 45.00 no longer follows
    path.write_text(json.dumps(document, ensure_ascii=False))
    tampered = runner.invoke(args=["verify", str(r), "--file", str(path)])
    assert tampered.exit_code == 1
    assert "不一致" in tampered.output and f"person {city['S1']}：公布为 45.00 fail，重算为 60.00 average" in tampered.output


def test_a_result_edited_in_the_database_fails_the_digest(runner, city):  # noqa: F811
    r = published(city, 1)
    db.session.execute(update(Result).where(Result.round_id == r, Result.subject_kind == "person",
                                            Result.subject_id == city["S1"]).values(score="60.00", grade="average",
                                                                                     counts={"basically_satisfied": 1}))
    db.session.commit()
    result = runner.invoke(args=["verify", str(r)])
    assert result.exit_code == 1 and "与发布时记录的" in result.output and "不一致" in result.output


def test_hidden_counts_are_named_not_recomputed(runner, city):  # noqa: F811
    r = published(city, 5)  # k = 5: every office has fewer ballots; those cells and their people stay hidden
    result = runner.invoke(args=["verify", str(r)])
    assert result.exit_code == 0, result.output
    assert "无法重算" in result.output


def test_verify_follows_a_retally(runner, city):  # noqa: F811
    r = published(city, 1)
    appeal = appeals.file_appeal(r, city["A"], "person", city["S1"], "该同志本轮未在岗，评价不应计入统计。")
    appeals.decide_appeal(appeal.id, "upheld", "经核实未在岗，申诉成立。")
    db.session.commit()
    result = runner.invoke(args=["verify", str(r)])
    assert result.exit_code == 0, result.output
    assert "第2版结果" in result.output and "与发布时记录的一致" in result.output
    assert db.session.scalar(select(Result.score).where(Result.round_id == r, Result.subject_kind == "person",
                                                        Result.subject_id == city["S1"])) is None
