"""The Alembic migrations build exactly the schema the models describe (on this backend)."""

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
