"""The review API on a keep-alive connection, as browsers and HTTP clients use it.

The matcher binds its own listening socket; bound with protocol 0, asyncio never set
TCP_NODELAY on the accepted sockets, and every response after the first waited for the
client's delayed ACK (44-48 ms). The accepted sockets must have TCP_NODELAY, and many
requests in a row on one connection all succeed (their latency is in ``make bench``).
"""

from __future__ import annotations

import socket

import httpx

from .conftest import RuntimeFactory, free_port

TOKEN = "keep-alive-token-0123456789abcdef"


async def test_accepted_connections_have_tcp_nodelay(runtimes: RuntimeFactory) -> None:
    port = free_port()
    runtime = await runtimes(MATCHER_API_ENABLED=True, MATCHER_PORT=port, MATCHER_API_TOKEN=TOKEN)
    assert runtime.server is not None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
        for _ in range(50):
            assert (await client.get("/v1/suggestions", params={"limit": 1})).status_code == 200
        (connection,) = runtime.server.server_state.connections  # one connection for all
        sock = connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
