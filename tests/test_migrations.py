"""The Alembic migrations build exactly the schema the models describe (on this backend)."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ballot_service.extensions import db


def test_autogenerate_finds_no_difference(database):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_upgraded_database_is_at_head(database):
    from alembic.script import ScriptDirectory
    from flask import current_app

    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    assert current == script.get_current_head()


def test_ratings_get_their_ballots_round_and_office_when_upgraded_with_data(database):
    """0006 -> 0007 on a database that holds ballots: SQLite rebuilds the tables (with the
    foreign keys switched off meanwhile and enforced again afterwards), PostgreSQL alters them."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    at_revision_with("0006", (
        "INSERT INTO region (id, code, name, kind, sort_order) VALUES (1, 'c', '市', 'city', 0)",
        "INSERT INTO department (id, code, name, region_id, is_stationed, active, sort_order) "
        "VALUES (1, 'd', '部门', 1, false, true, 0)",
        "INSERT INTO office (id, department_id, code, name, active, sort_order) VALUES (7, 1, 'ABC234', '科室', true, 0)",
        "INSERT INTO person (id, department_id, office_id, role, name, post, phone, active, sort_order) "
        "VALUES (5, 1, 7, 'staff', '人', '职务', '13900000000', true, 0)",
        "INSERT INTO round (id, name, region_id, opens_at, closes_at, status, require_wechat, config) "
        "VALUES (3, '轮', 1, '2026-01-01', '2026-02-01', 'tallied', false, '{}')",
        "INSERT INTO ballot (id, round_id, office_id, day, channel) VALUES ('b1', 3, 7, '2026-01-02', 'online')",
        "INSERT INTO rating (ballot_id, person_id, level) VALUES ('b1', 5, 'satisfied')",
        "INSERT INTO rating_tag (ballot_id, person_id, tag) VALUES ('b1', 5, 'slow')",
    ))
    rows = db.session.execute(text("SELECT ballot_id, round_id, office_id, person_id FROM rating")).all()
    assert [tuple(row) for row in rows] == [("b1", 3, 7, 5)]
    assert db.session.execute(text("SELECT count(*) FROM rating_tag")).scalar() == 1
    db.session.commit()
    with pytest.raises(IntegrityError):  # the keys are enforced again: a rating of another office
        db.session.execute(text("INSERT INTO rating (ballot_id, round_id, office_id, person_id, level) "
                                "VALUES ('b1', 3, 8, 5, 'satisfied')"))
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("status", ["open", "closed"])
def test_the_sealed_box_waits_for_rounds_under_the_old_rules(database, status):
    """0007 -> 0008 refuses while a round is open or closed but untallied, and changes nothing."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    db.session.commit()
    downgrade(revision="0007")
    try:
        for statement in (
            "INSERT INTO region (id, code, name, kind, sort_order) VALUES (1, 'c', '市', 'city', 0)",
            "INSERT INTO round (id, name, region_id, opens_at, closes_at, status, require_wechat, config) "
            f"VALUES (3, '轮', 1, '2026-01-01', '2026-02-01', '{status}', false, '{{}}')",
        ):
            db.session.execute(text(statement))
        db.session.commit()
        from alembic import command
        from flask import current_app

        with pytest.raises(RuntimeError, match="升级前请先完成"):
            command.upgrade(current_app.extensions["migrate"].migrate.get_config(), "head")
        db.session.rollback()
        with db.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == "0007"
    finally:
        db.session.rollback()
        db.session.execute(text("DELETE FROM round"))
        db.session.execute(text("DELETE FROM region"))
        db.session.commit()
        upgrade()


def test_results_tallied_before_0009_get_the_ballots_behind_them(database):
    """0008 -> 0009: a person's scored ratings; an office's ballots; a department's, its offices'
    (under the department they were tallied in); the round's, its departments'."""
    from sqlalchemy import text

    result = ("INSERT INTO result (round_id, subject_kind, subject_id, department_id, counts, tags, scored, "
                  "unknown, low_sample, uncertain) VALUES (3, '{}', {}, {}, '{{}}', '{{}}', {}, 0, false, false)")
    at_revision_with("0008", (
        "INSERT INTO region (id, code, name, kind, sort_order) VALUES (1, 'c', '市', 'city', 0)",
        "INSERT INTO department (id, code, name, region_id, is_stationed, active, sort_order) "
        "VALUES (1, 'd', '部门', 1, false, true, 0)",
        *(f"INSERT INTO office (id, department_id, code, name, active, sort_order) "
          f"VALUES ({i}, 1, 'ABC23{i}', '科室{i}', true, 0)" for i in (7, 8)),
        "INSERT INTO round (id, name, region_id, opens_at, closes_at, status, require_wechat, config, unsealed) "
        "VALUES (3, '轮', 1, '2026-01-01', '2026-02-01', 'tallied', false, '{}', true)",
        *(f"INSERT INTO ballot (id, round_id, office_id, channel) VALUES ('b{n}', 3, {office}, 'online')"
          for n, office in enumerate([7, 7, 7, 8])),
        result.format("person", 5, 1, 2), result.format("office", 7, 1, 3), result.format("office", 8, 1, 1),
        result.format("department", 1, 1, 4), result.format("region", 1, "NULL", 4),
    ))
    rows = db.session.execute(text("SELECT subject_kind, subject_id, ballots FROM result")).all()
    assert sorted(tuple(row) for row in rows) == [("department", 1, 4), ("office", 7, 3), ("office", 8, 1),
                                                  ("person", 5, 2), ("region", 1, 4)]


def at_revision_with(revision: str, statements) -> None:
    """Downgrade to `revision`, run `statements` there (rows as that schema had them), and
    upgrade back to the head whatever happens."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    db.session.commit()
    downgrade(revision=revision)
    try:
        for statement in statements:
            db.session.execute(text(statement))
        db.session.commit()
    finally:
        db.session.rollback()
        upgrade()


def test_consequences_tallied_before_0010_are_reviewed_by_their_round(database):
    """0009 -> 0010: a published round's consequences count as confirmed; an unpublished round's
    wait for the review, each knowing whether its grade rests on a low sample, and lose the ledger
    entries the old tally wrote (publication writes them now, of confirmed cards only)."""
    from sqlalchemy import text

    rounds_ = [(3, "tallied"), (4, "published")]
    at_revision_with("0009", (
        "INSERT INTO region (id, code, name, kind, sort_order) VALUES (1, 'c', '市', 'city', 0)",
        *(f"INSERT INTO round (id, name, region_id, opens_at, closes_at, status, require_wechat, config, unsealed) "
          f"VALUES ({r}, '轮{r}', 1, '2026-01-01', '2026-02-01', '{s}', false, '{{}}', true)" for r, s in rounds_),
        *(f"INSERT INTO result (round_id, subject_kind, subject_id, department_id, counts, tags, scored, unknown, "
          f"low_sample, uncertain, ballots) VALUES ({r}, 'office', 7, 1, '{{}}', '{{}}', 3, 0, {low}, false, 3)"
          for r, low in ((3, "true"), (4, "false"))),
        *(f"INSERT INTO consequence (id, round_id, kind, subject_kind, subject_id, people, includes_department, "
          f"deduction_each, actions, authority) VALUES ({r}, {r}, 'yellow_card', 'office', 7, '[5]', false, 10, "
          f"'[]', NULL)" for r, _ in rounds_),
        *(f"INSERT INTO ledger_entry (round_id, consequence_id, recipient_kind, recipient_id, points) "
          f"VALUES ({r}, {r}, 'person', 5, -10)" for r, _ in rounds_),
    ))
    rows = db.session.execute(text("SELECT round_id, decision, low_sample FROM consequence ORDER BY round_id")).all()
    assert [tuple(r) for r in rows] == [(3, "pending", True), (4, "confirmed", False)]
    assert db.session.execute(text("SELECT round_id FROM ledger_entry")).scalars().all() == [4]
