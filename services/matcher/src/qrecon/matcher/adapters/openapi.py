"""The statuses each kind of review-API route answers, for its OpenAPI (``responses=``).

Every error body is the common one (:mod:`qrecon.common.http_errors`); what differs is
which statuses a route can answer:

* every route: 500 (a bug, answered as JSON);
* every ``/v1`` route: 401 (no or wrong bearer token, with ``WWW-Authenticate``), 503 (no
  ``MATCHER_API_TOKEN`` configured) and 422 (parameters or body not valid);
* reads of one resource: 404; decisions: 400 (body not JSON), 404 (unknown transaction or
  invoice), 409 (the result changed, or the decision does not apply to it), 413 (body over
  the limit).
"""

from __future__ import annotations

from typing import Any

from qrecon.common.http_errors import Readiness, bearer_challenge, error_responses

Responses = dict[int | str, dict[str, Any]]

_DESCRIPTIONS = {
    401: "No bearer token, or not the right one.",
    404: "Unknown transaction or invoice.",
    409: "The transaction's result changed since it was read (`expected_result_seq`), "
    "or the decision does not apply to it.",
    403: "Not an admin key.",
    422: "Parameters or body not valid (never echoed back).",
    503: "The review API is off: MATCHER_API_TOKEN is not configured (or, with that shared"
    " token, MATCHER_DEFAULT_ORGANIZATION is not).",
}


def _errors(*statuses: int) -> Responses:
    return error_responses(*statuses, descriptions=_DESCRIPTIONS, headers=bearer_challenge())


OPERABILITY: Responses = error_responses(500)
METRICS: Responses = error_responses(500, text_route=True)
READINESS: Responses = {
    200: {"model": Readiness, "description": "Ready."},
    503: {"model": Readiness, "description": "Not ready; `checks` says which dependency is down."},
    **error_responses(500),
}
LISTING: Responses = _errors(401, 422, 500, 503)
ITEM: Responses = _errors(401, 404, 422, 500, 503)
DECISION: Responses = _errors(400, 401, 404, 409, 413, 422, 500, 503)
ADMIN: Responses = _errors(401, 403, 500, 503)

__all__ = ["ADMIN", "DECISION", "ITEM", "LISTING", "METRICS", "OPERABILITY", "READINESS"]
