"""Property-based: hypothesis-generated requests from the API's own OpenAPI schema.

Schemathesis reads ``/openapi.json`` and sends requests that fit it (and
some that do not); every response must be a documented status, never a 500,
and match the documented response schema.
"""

import pytest

pytest.importorskip("schemathesis", reason="the web test extras are not installed")
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from digitnet.web.app import create_app

from web_helpers import SHIPPED

app = create_app(SHIPPED)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_honours_its_schema(case):
    response = case.call()
    assert response.status_code < 500, response.text
    # A picture can fit the schema and still show no digit (a blank PNG, a
    # one-pixel JPEG): that is the documented 400, so "valid data must get a
    # 2xx" does not apply. Every other check does, including that invalid
    # data is refused.
    case.validate_response(response, excluded_checks=[positive_data_acceptance])
