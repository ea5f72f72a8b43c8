"""Property-based fuzzing of the JSON API from its own OpenAPI document (schemathesis).

Every operation is called with generated inputs — valid and invalid — by a signed-in city
coordinator (who may call every operation) over a small city; no answer may be a 5xx.
"""

import datetime as dt

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from ballot_service.domain.roles import Role
from ballot_service.services import rounds

from . import factories
from .admin_helpers import api_token, make_user

EXAMPLES = 50


@pytest.fixture
def coordinator_token(database):
    city = factories.region(code="city", name="全市", kind="city")
    department = factories.department(region=city)
    office = factories.office(department)
    factories.person(department, Role.MAIN_LEADER)
    factories.person(department, Role.STAFF, office=office)
    factories.service_item(office)
    now = rounds.utcnow()
    round_ = rounds.create_round("测试轮次", city.code, now - dt.timedelta(hours=1), now + dt.timedelta(days=1))
    rounds.open_round(round_.id)
    return api_token(make_user("coordinator", region=city))


def test_api_never_answers_5xx(app, coordinator_token):
    # schemathesis' own pytest loader does not run under pytest 9 yet, so each operation is
    # driven here with Hypothesis directly, from the same generated strategies.
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {coordinator_token}"}
    failures, operations, calls = [], 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def no_server_error(case):
            response = case.call(headers=headers)
            calls.append(response.status_code)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}"

        try:
            no_server_error()
        except (AssertionError, ExceptionGroup) as error:
            failures.append(str(error).splitlines()[0])
    assert failures == []
    assert operations >= 40 and len(calls) >= operations * 5
    # Not all refused: the generated inputs reach the operations themselves.
    assert sum(200 <= code < 300 for code in calls) > len(calls) // 10
