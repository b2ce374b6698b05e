"""Qonto's answers mapped to typed errors carrying its error body and trace_id."""

from __future__ import annotations

import httpx
import pytest

from qrecon.common.qonto.errors import (
    QontoAuthError,
    QontoError,
    QontoForbidden,
    QontoNotFound,
    QontoRateLimited,
    QontoSandboxLoginPage,
    QontoScopeError,
    QontoServerError,
    QontoValidationError,
    error_from_response,
)

from .conftest import MakeClient
from .fakes import FakeQonto, json_response, qonto_error

REQ = httpx.Request("GET", "https://thirdparty.qonto.test/v2/transactions")


def answer(response: httpx.Response) -> httpx.Response:
    response.request = REQ
    return response


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, QontoValidationError),
        (401, QontoAuthError),
        (403, QontoForbidden),
        (404, QontoNotFound),
        (409, QontoError),
        (422, QontoValidationError),
        (429, QontoRateLimited),
        (500, QontoServerError),
        (503, QontoServerError),
    ],
)
def test_status_maps_to_a_typed_error(status: int, cls: type[QontoError]) -> None:
    error = error_from_response(answer(qonto_error(status, "some_code", "Some detail")))
    assert type(error) is cls
    assert error.status == status
    assert error.errors == [{"code": "some_code", "detail": "Some detail"}]
    assert error.codes == ["some_code"]
    assert error.trace_id == f"trace-{status}"
    assert error.body["trace_id"] == f"trace-{status}"
    assert (error.method, error.path) == ("GET", "/v2/transactions")
    assert "Some detail" in str(error)
    assert f"trace_id=trace-{status}" in str(error)


def test_missing_scope_is_a_scope_error() -> None:
    body = {
        "errors": [{"code": "forbidden", "detail": "Missing OAuth scope: client_invoices.read"}],
        "trace_id": "t-1",
    }
    error = error_from_response(answer(json_response(403, body)))
    assert isinstance(error, QontoScopeError)
    assert isinstance(error, QontoForbidden)


def test_html_answer_is_the_sandbox_login_page() -> None:
    page = httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"})
    assert isinstance(error_from_response(answer(page)), QontoSandboxLoginPage)
    redirect = httpx.Response(302, headers={"location": "https://sso.staging.qonto.co/login"})
    assert isinstance(error_from_response(answer(redirect)), QontoSandboxLoginPage)


def test_non_json_and_odd_bodies_do_not_break_mapping() -> None:
    error = error_from_response(answer(httpx.Response(502, text="Bad gateway")))
    assert isinstance(error, QontoServerError)
    assert error.body == "Bad gateway"
    assert error.errors == []
    odd = error_from_response(
        answer(json_response(422, {"errors": {"per_page": ["must be <= 100"]}}))
    )
    assert odd.errors == [{"code": "per_page", "detail": "['must be <= 100']"}]
    header = error_from_response(
        answer(httpx.Response(500, json={}, headers={"x-qonto-trace-id": "hdr-1"}))
    )
    assert header.trace_id == "hdr-1"


async def test_client_raises_typed_errors(fake: FakeQonto, make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(QontoNotFound) as info:
        await client.get_transaction("nope")
    assert info.value.trace_id == "trace-404"
    fake.script.append(qonto_error(422, "invalid_param", "per_page too big"))
    with pytest.raises(QontoValidationError):
        await client.list_transactions()
    # A 4xx is never retried.
    assert len(fake.requests) == 2


async def test_sandbox_without_staging_token_raises_login_page(
    fake: FakeQonto, make_client: MakeClient
) -> None:
    fake.require_staging = True
    with pytest.raises(QontoSandboxLoginPage):
        await make_client().get_organization()
    assert len(fake.requests) == 1  # not retried
