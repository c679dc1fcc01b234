"""Fuzzing every operation of the published OpenAPI document against the real app.

schemathesis reads ``/api/v1/openapi.json`` from the real Flask app (WSGI, real database on
both backends, real rule sets published, real cases and tasks) and sends valid and invalid
requests as a team lead (and a few as an offender manager and with no token). The checks:
no server error (5xx), the status is one the operation declares, and the body and content
type match the declared response; afterwards the audit chain verifies. Bounded
for ``make test`` (``IOM_FUZZ_EXAMPLES``, default 12 per operation and mode); ``make fuzz``
runs many more.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from workflow import audit
from workflow.operations import record_pass

EXAMPLES = int(os.environ.get("IOM_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
ROUTES = 47  # every operation the app serves (the test fails if one is not fuzzed)


@schemathesis.serializer("text/csv")
def _csv(ctx, value):
    """CSV bodies: schemathesis generates a string; send it as UTF-8 bytes."""
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else b""


@pytest.fixture
def world(session, published, make_case, make_user, now):
    """A team lead's token and real ids: cases in several states with audit entries."""
    _, token = make_user("lead1", role="team_lead", agency="NPS")
    _, om_token = make_user("om1", role="offender_manager", agency="NPS")
    cases = [make_case(ogrs=81), make_case(state="matrixing", ogrs=60)]
    beat = datetime.now(UTC)  # a scheduler is running: /health/ready answers 200 (not 503)
    record_pass(session, "fuzz:1:1", started=beat, now=beat, seconds=0.0, moved=0)
    session.commit()
    return {"token": token, "om_token": om_token, "case_id": cases[0].id}


def _fuzz(operation, mode, headers, failures, examples=EXAMPLES, **fixed):
    label = f"{operation.label} [{mode.value}{' ' + str(fixed) if fixed else ''}]"

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(case):
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # collected, reported together below
            if sum(f.startswith(label) for f in failures) < 3:
                failures.append(f"{label}: {exc}")

    try:
        run()
    except Unsatisfiable:
        # No invalid request exists for an operation without inputs or token
        # (health/live, health/ready): nothing to fuzz negatively.
        assert mode == GenerationMode.NEGATIVE, label


def test_fuzz_every_operation(app, world, session):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {world['token']}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == ROUTES
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, headers, failures)
        if "{case_id}" in operation.path:
            _fuzz(operation, GenerationMode.POSITIVE, headers, failures,
                  path_parameters={"case_id": world["case_id"]})
        # Another role (403 where it may not) and no token at all (401).
        for other in ({"Authorization": f"Bearer {world['om_token']}"}, {}):
            _fuzz(operation, GenerationMode.POSITIVE, other, failures,
                  examples=max(2, EXAMPLES // 4))
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
    session.expire_all()
    result = audit.verify(session)
    assert result.ok, result
