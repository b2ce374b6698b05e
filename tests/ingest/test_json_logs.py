"""``qonto-ingest`` as in production writes nothing but JSON lines: its own, uvicorn's (also
in multi-worker mode, where uvicorn's supervisor logs too), aiokafka's and FastStream's,
from start to SIGTERM, whatever the requests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping

import httpx
import pytest

from qrecon.common.testing import json_log_lines

from .conftest import SECRET, IngestProcess, encode, signed_headers, webhook

pytestmark = pytest.mark.integration


def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; what comes back before the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_every_line_of_the_service_is_json(
    ingest_env: Mapping[str, str], workers: str
) -> None:
    ingest = IngestProcess(
        {
            **ingest_env,
            "INGEST_WORKERS": workers,
            "HTTP_HEADER_TIMEOUT_SECONDS": "1",
            "HTTP_BODY_TIMEOUT_SECONDS": "1",
        }
    )
    ingest.log.unlink(missing_ok=True)
    ingest.start()
    try:
        async with httpx.AsyncClient(base_url=ingest.url, timeout=30) as client:
            for _ in range(100):  # every worker's lifespan has started
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.2)
            body = encode(webhook())
            accepted = await client.post(
                "/webhooks/qonto", content=body, headers=signed_headers(body)
            )
            forged = await client.post(
                "/webhooks/qonto", content=body, headers=signed_headers(body, "wrong-secret")
            )
            assert (accepted.status_code // 100, forged.status_code) == (2, 401)
        # uvicorn's own error paths: a request that is not HTTP, a client that stays silent.
        assert _raw(ingest.port, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400")
        assert _raw(ingest.port, b"").startswith(b"HTTP/1.1 408")
        # A signed body (the signature needs all of it) that never finishes.
        whole = encode(webhook())
        head = "".join(f"{k}: {v}\r\n" for k, v in signed_headers(whole).items())
        stalled = (
            f"POST /webhooks/qonto HTTP/1.1\r\nhost: x\r\n{head}"
            f"content-length: {len(whole)}\r\n\r\n"
        ).encode() + whole[:10]
        assert _raw(ingest.port, stalled).startswith(b"HTTP/1.1 408")
    finally:
        assert ingest.terminate() in (0, -15)  # uvicorn re-raises SIGTERM once drained
    output = ingest.log.read_text()
    lines = json_log_lines(output)
    loggers = {line["logger"] for line in lines}
    assert {"qrecon.ingest", "uvicorn.error"} <= loggers, loggers
    assert any(line["event"] == "Invalid HTTP request received." for line in lines)
    assert SECRET not in output
