"""Small builders for test rows; each returns the flushed object."""

from itertools import count

from ballot_service.domain.office_codes import new_office_code
from ballot_service.domain.roles import Role
from ballot_service.extensions import db, redis_ext
from ballot_service.models import Department, Office, Person, Region, ServiceItem

_seq = count(1)


def region(**fields) -> Region:
    n = next(_seq)
    row = Region(**{"code": f"r{n}", "name": f"测试区{n}", "kind": "county", **fields})
    db.session.add(row)
    db.session.flush()
    return row


def department(**fields) -> Department:
    n = next(_seq)
    fields.setdefault("region", fields.get("region") or region())
    row = Department(**{"code": f"d{n}", "name": f"测试局{n}", **fields})
    db.session.add(row)
    db.session.flush()
    return row


def office(department: Department, **fields) -> Office:
    n = next(_seq)
    row = Office(**{"department": department, "name": f"测试科{n}", "code": new_office_code(), **fields})
    db.session.add(row)
    db.session.flush()
    return row


def person(department: Department, role: Role = Role.STAFF, **fields) -> Person:
    n = next(_seq)
    row = Person(
        **{
            "department": department,
            "role": role.value,
            "name": f"张{n}",
            "post": "科员",
            "phone": f"1390000{n:04d}",
            **fields,
        }
    )
    db.session.add(row)
    db.session.flush()
    return row


def service_item(office: Office, **fields) -> ServiceItem:
    n = next(_seq)
    row = ServiceItem(**{"office": office, "name": f"事项{n}", **fields})
    db.session.add(row)
    db.session.flush()
    return row


def empty_database() -> None:
    """Every table's rows gone, and Redis emptied: what each test leaves behind."""
    db.session.rollback()
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()
    redis_ext.client.flushdb()
