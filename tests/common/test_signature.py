from qrecon.common.qonto.signature import compute_signature, signature_header


def test_qontos_published_test_vector() -> None:
    expected = "56aff06dc227db80d6568a5070f912c601c31f20451745d257cbc0b5dfa93805"
    assert compute_signature("test-secret", 1704110400, b'{"test":"data"}') == expected
    assert signature_header("test-secret", b'{"test":"data"}', 1704110400) == (
        f"t=1704110400,v1={expected}"
    )
