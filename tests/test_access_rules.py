"""The scope rules of domain/access.py, without an app: which places each kind of scope covers."""

from ballot_service.domain.access import PERMISSIONS, Level, Permission, Place, Scope, UserRole, allowed

CITY = Scope(Level.CITY, region_id=1)
COUNTY = Scope(Level.REGION, region_id=2)
DEPARTMENT = Scope(Level.DEPARTMENT, region_id=2, department_id=20)
HALL = Scope(Level.OFFICES, region_id=2, office_ids=frozenset({200}))

IN_COUNTY_OFFICE = Place(2, 20, 200)  # county 2, department 20, office 200
SAME_DEPARTMENT_OTHER_OFFICE = Place(2, 20, 201)
OTHER_DEPARTMENT_SAME_COUNTY = Place(2, 21, 210)
OTHER_COUNTY = Place(3, 30, 300)
COUNTY_ROUND = Place(2)
OTHER_COUNTY_ROUND = Place(3)
CITY_WIDE = Place(None)  # a webhook subscriber: every region's results


def covered(scope: Scope) -> list[bool]:
    return [scope.covers(p) for p in (IN_COUNTY_OFFICE, SAME_DEPARTMENT_OTHER_OFFICE, OTHER_DEPARTMENT_SAME_COUNTY,
                                      OTHER_COUNTY, COUNTY_ROUND, OTHER_COUNTY_ROUND, CITY_WIDE)]


def test_city_scope_covers_everything():
    assert covered(CITY) == [True] * 7


def test_county_scope_covers_its_county_only():
    assert covered(COUNTY) == [True, True, True, False, True, False, False]


def test_department_scope_covers_its_offices_and_its_county_rounds():
    assert covered(DEPARTMENT) == [True, True, False, False, True, False, False]


def test_hall_manager_scope_covers_its_offices_and_its_county_rounds():
    assert covered(HALL) == [True, False, False, False, True, False, False]


def test_user_management_stays_inside_the_managers_scope():
    assert CITY.covers_scope(COUNTY) and CITY.covers_scope(CITY)
    assert COUNTY.covers_scope(DEPARTMENT) and COUNTY.covers_scope(HALL) and COUNTY.covers_scope(COUNTY)
    assert not COUNTY.covers_scope(CITY)
    assert not COUNTY.covers_scope(Scope(Level.REGION, region_id=3))
    assert not DEPARTMENT.covers_scope(DEPARTMENT)  # only coordinators manage users


def test_roles_grant_what_the_issue_lists():
    assert all(allowed(UserRole.COORDINATOR, p) for p in Permission)
    assert PERMISSIONS[UserRole.HALL_MANAGER] == {Permission.ROSTER_READ, Permission.ROSTER_KEEP,
                                                  Permission.POSTERS_RENDER, Permission.OWN_ACCOUNT}
    assert allowed(UserRole.DEPARTMENT_ADMIN, Permission.ROSTER_KEEP)
    assert not allowed(UserRole.AUDITOR, Permission.ROSTER_KEEP)
    assert not allowed(UserRole.AUDITOR, Permission.ROUNDS_MANAGE)
    assert allowed(UserRole.AUDITOR, Permission.AUDIT_READ) and allowed(UserRole.AUDITOR, Permission.CONSEQUENCES_READ)
    assert allowed(UserRole.DEPARTMENT_ADMIN, Permission.COMMENTS_READ)
    assert not allowed(UserRole.DEPARTMENT_ADMIN, Permission.CONSEQUENCES_READ)

