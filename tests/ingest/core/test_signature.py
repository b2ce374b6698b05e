"""The pure signature core: Qonto's test vector, tolerance, rotation, hostile headers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qrecon.common.qonto.signature import compute_signature, signature_header
from qrecon.ingest.core.signature import (
    SignatureError,
    parse_signature_header,
    verify,
)

VECTOR_BODY = b'{"test":"data"}'
VECTOR_SECRET = b"test-secret"
VECTOR_HEADER = "t=1704110400,v1=56aff06dc227db80d6568a5070f912c601c31f20451745d257cbc0b5dfa93805"
VECTOR_T = 1704110400


def test_qontos_test_vector_verifies() -> None:
    header = verify(VECTOR_HEADER, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T + 10)
    assert header.timestamp == VECTOR_T


def test_the_body_is_verified_byte_for_byte() -> None:
    with pytest.raises(SignatureError) as err:
        verify(VECTOR_HEADER, b'{"test": "data"}', [VECTOR_SECRET], now=VECTOR_T)
    assert err.value.code == "invalid_signature"


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(SignatureError) as err:
        verify(VECTOR_HEADER, VECTOR_BODY, [b"other"], now=VECTOR_T)
    assert err.value.code == "invalid_signature"


@pytest.mark.parametrize("offset", [-301, 301, -86400, 10**9])
def test_timestamps_outside_the_tolerance_are_stale_in_the_past_and_the_future(
    offset: int,
) -> None:
    with pytest.raises(SignatureError) as err:
        verify(VECTOR_HEADER, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T - offset)
    assert err.value.code == "stale_timestamp"


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_inside_the_tolerance_pass(offset: int) -> None:
    verify(VECTOR_HEADER, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T + offset)


def test_tolerance_is_configurable() -> None:
    with pytest.raises(SignatureError):
        verify(VECTOR_HEADER, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T + 61, tolerance=60)


def test_any_of_several_v1_values_and_any_of_several_secrets() -> None:
    good = compute_signature("new-secret", VECTOR_T, VECTOR_BODY)
    header = f"t={VECTOR_T},v1={'0' * 64},v1={good}"
    verify(header, VECTOR_BODY, [b"old-secret", b"new-secret"], now=VECTOR_T)
    verify(
        signature_header("old-secret", VECTOR_BODY, VECTOR_T),
        VECTOR_BODY,
        [b"old-secret", b"new-secret"],
        now=VECTOR_T,
    )
    with pytest.raises(SignatureError):
        verify(header, VECTOR_BODY, [b"old-secret"], now=VECTOR_T)


def test_lenient_layout_spaces_order_case_and_unknown_schemes() -> None:
    digest = VECTOR_HEADER.split("v1=")[1]
    header = f" v0=abc , v1={digest.upper()} , t={VECTOR_T} "
    verify(header, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("   ", "missing_signature"),
        ("garbage", "malformed_signature"),
        ("t=1704110400", "malformed_signature"),
        ("v1=" + "a" * 64, "malformed_signature"),
        ("t=abc,v1=" + "a" * 64, "malformed_signature"),
        ("t=-5,v1=" + "a" * 64, "malformed_signature"),
        ("t=1,t=2,v1=" + "a" * 64, "malformed_signature"),
        ("t=1704110400,v1=xyz", "malformed_signature"),
        ("t=1704110400,v1=" + "g" * 64, "malformed_signature"),
        ("t=1704110400,,v1=" + "a" * 64, "malformed_signature"),
        ("t=١٢٣,v1=" + "a" * 64, "malformed_signature"),  # non-ASCII digits
        ("t=1," + ",".join(["v1=" + "a" * 64] * 17), "malformed_signature"),
        ("t=1,v1=" + "a" * 5000, "malformed_signature"),
    ],
)
def test_malformed_headers(header: str | None, code: str) -> None:
    with pytest.raises(SignatureError) as err:
        parse_signature_header(header)
    assert err.value.code == code


_header_text = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.tuples(
            st.sampled_from(["t", "v1", "v0", "", " t ", "T", "v1 "]),
            st.one_of(
                st.text(alphabet="0123456789abcdefABCDEF-+ ", max_size=70),
                st.text(max_size=20),
                st.integers().map(str),
            ),
        ),
        max_size=6,
    ).map(lambda items: ",".join(f"{k}={v}" for k, v in items)),
)


@settings(max_examples=400, deadline=None)
@given(header=_header_text, body=st.binary(max_size=64), now=st.floats(allow_nan=True))
def test_property_only_signature_errors_escape(header: str, body: bytes, now: float) -> None:
    codes = {"missing_signature", "malformed_signature", "stale_timestamp", "invalid_signature"}
    try:
        verify(header, body, [b"k1", b"k2"], now=now)
    except SignatureError as exc:
        code = exc.code
    else:
        pytest.fail("a random header verified")
    assert code in codes


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=256),
    secret=st.binary(min_size=1, max_size=64),
    t=st.integers(0, 10**11),
)
def test_property_what_the_emulator_signs_verifies(body: bytes, secret: bytes, t: int) -> None:
    verify(signature_header(secret, body, t), body, [secret], now=t)
    with pytest.raises(SignatureError):
        verify(signature_header(secret, body, t), body + b" ", [secret], now=t)
