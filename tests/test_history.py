"""Deactivating keeps rows; the database refuses to delete rows that others still point at."""

import pytest
from sqlalchemy.exc import IntegrityError

from ballot_service.domain.roles import Role
from ballot_service.models import Department, Office, Person
from tests import factories as f


def test_deactivated_people_leave_the_page_but_keep_their_row(client, database):
    dept = f.department()
    office = f.office(dept)
    person = f.person(dept, Role.STAFF, office=office, name="调走的人")
    database.session.commit()
    assert "调走的人" in client.get(f"/o/{office.code}").get_data(as_text=True)
    person.active = False
    database.session.commit()
    assert "调走的人" not in client.get(f"/o/{office.code}").get_data(as_text=True)
    assert database.session.get(Person, person.id).name == "调走的人"


@pytest.mark.parametrize("model", [Office, Department])
def test_rows_still_referenced_cannot_be_deleted(database, model):
    dept = f.department()
    office = f.office(dept)
    f.person(dept, Role.STAFF, office=office)
    database.session.commit()
    target = office if model is Office else dept
    with pytest.raises(IntegrityError):
        database.session.execute(model.__table__.delete().where(model.id == target.id))
        database.session.flush()
    database.session.rollback()
    assert database.session.get(model, target.id) is not None
