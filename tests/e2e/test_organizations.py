"""Many organisations in one deployment, through real Kafka and PostgreSQL.

Two (and ten) organisations keep identical books: the same customers (names, IBANs), the
same invoice ids and numbers, the same payments. An accounting firm's clients look like
this. One matcher replica consumes them all; then, from PostgreSQL and the published
results:

* zero allocations across organisations: every allocation is to an invoice of the
  transaction's own organisation, and each organisation's invoices carry exactly what its
  own payments allocated (were books shared, the second organisation's payment of an
  invoice would find it already paid);
* identical books give identical decisions, whatever the other organisations hold;
* the review API's keys are isolated: one organisation's key gets 404 for another's
  transactions and invoices.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from qrecon.common.db import create_pool
from qrecon.common.schemas import Invoice, InvoiceEvent, QontoTransaction, TransactionEvent
from qrecon.common.topics import Topics
from qrecon.matcher.adapters.postgres_keys import PgKeyStore
from qrecon.matcher.app.keys import ApiKeys
from qrecon.matcher.bootstrap import MatcherRuntime
from qrecon.matcher.settings import MatcherSettings

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(600)]

TOKEN = "e2e-shared-token-0123456789"
NAMESPACE = uuid.UUID("0b7c1d0e-6a43-4c55-9d1f-3e0f9a1c2b77")
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CUSTOMERS = [
    ("Maison Dupont SARL", "FR7630006000011234567890189"),
    ("Boulangerie Martin", "FR7610107001011234567890129"),
    ("Garage Petit SAS", "FR7630004000031234567890143"),
    ("SCI Les Tilleuls", "FR7612548029981234567890161"),
    ("Cabinet Leroy", None),
    ("Transports Moreau SAS", "FR7618206000576025000012345"),
]
INVOICES = 24


def book() -> list[Invoice]:
    """The same books for every organisation (ids and numbers included)."""
    invoices = []
    for n in range(INVOICES):
        name, iban = CUSTOMERS[n % len(CUSTOMERS)]
        issued = date(2026, 1, 5) + timedelta(days=n)
        invoices.append(
            Invoice(
                id=f"inv-{n:03d}",
                number=f"FAC-2026-{n + 1:04d}",
                kind="receivable",
                counterparty_name=name,
                counterparty_iban=iban,
                amount_cents=10_000 + 1_234 * n,
                issue_date=issued,
                due_date=issued + timedelta(days=30),
            )
        )
    return invoices


def payments(org: str) -> list[QontoTransaction]:
    """The same payments for every organisation (Qonto ids differ: they are unique)."""
    invoices = book()
    txs: list[dict[str, Any]] = []
    for n in range(0, INVOICES, 2):  # paid with the invoice number in the reference
        inv = invoices[n]
        txs.append(
            {
                "n": n,
                "amount": inv.amount_cents,
                "name": inv.counterparty_name.upper(),
                "reference": f"VIR {inv.number}",
                "iban": inv.counterparty_iban,
            }
        )
    for n in (1, 7, 13):  # paid by amount and name alone
        inv = invoices[n]
        txs.append(
            {
                "n": n,
                "amount": inv.amount_cents,
                "name": inv.counterparty_name.upper(),
                "reference": None,
                "iban": inv.counterparty_iban,
            }
        )
    for n in (3, 9):  # partial payments quoting the number
        inv = invoices[n]
        txs.append(
            {
                "n": n,
                "amount": inv.amount_cents // 2,
                "name": inv.counterparty_name,
                "reference": f"{inv.number} acompte",
                "iban": None,
            }
        )
    for n, amount in ((90, 1_999), (91, 45_000)):  # nothing of theirs
        txs.append({"n": n, "amount": amount, "name": "SNCF", "reference": None, "iban": None})
    out = []
    for k, spec in enumerate(txs):
        data: dict[str, Any] = {
            "id": str(uuid.uuid5(NAMESPACE, f"{org}/{k}")),
            "transaction_id": f"tx-{org}-{k}",
            "amount_cents": spec["amount"],
            "currency": "EUR",
            "side": "credit",
            "operation_type": "transfer",
            "status": "completed",
            "label": spec["name"],
            "clean_counterparty_name": spec["name"],
            "reference": spec["reference"],
            "settled_at": BASE + timedelta(days=30, minutes=k),
            "emitted_at": BASE + timedelta(days=30, minutes=k),
            "updated_at": BASE + timedelta(days=30, minutes=k),
            "subject_type": "transfer",
        }
        if spec["iban"]:
            data["transfer"] = {
                "counterparty_account_number": spec["iban"],
                "counterparty_account_number_format": "IBAN",
            }
        out.append(QontoTransaction.model_validate(data))
    return out


async def _produce(bootstrap: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def _until(pool: asyncpg.Pool, sql: str, wanted: int) -> None:
    """Poll until ``sql`` counts ``wanted`` (a generous deadline: a busy machine)."""
    deadline = time.monotonic() + 240.0
    count = -1
    while time.monotonic() < deadline:
        count = await pool.fetchval(sql)
        if count == wanted:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{sql}: {count}, expected {wanted}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.mark.parametrize("organisations", [2, 10])
async def test_organisations_sharing_books_never_cross(
    organisations: int,
    kafka_bootstrap: str,
    database_url: str,
    topics: Topics,
    pool: asyncpg.Pool,
) -> None:
    orgs = [f"org-{k:02d}" for k in range(organisations)]
    port = _free_port()
    settings = MatcherSettings(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        DATABASE_URL=database_url,
        KAFKA_TOPIC_PREFIX=topics.prefix,
        MATCHER_GROUP_ID=f"{topics.prefix}matcher",
        MATCHER_PORT=port,
        MATCHER_API_TOKEN=TOKEN,
        MATCHER_CACHE_REFRESH_SECONDS=0.2,
        MATCHER_OUTBOX_POLL_SECONDS=0.1,
        MATCHER_HEARTBEAT_INTERVAL_MS=300,
        LOG_LEVEL="WARNING",
    )  # no MATCHER_DEFAULT_ORGANIZATION: every event names its organisation
    runtime = MatcherRuntime(settings)
    await runtime.start()
    try:
        invoices = [
            (inv.id, InvoiceEvent(invoice=inv.model_copy(update={"organization_id": org})))
            for org in orgs
            for inv in book()
        ]
        await _produce(
            kafka_bootstrap,
            topics.invoices,
            [(k, e.model_dump_json().encode()) for k, e in invoices],
        )
        await _until(pool, "SELECT count(*) FROM matcher_invoices", len(invoices))
        txs = {org: payments(org) for org in orgs}
        events = [
            (
                tx.id,
                TransactionEvent(
                    event_id=str(uuid.uuid4()),
                    source="webhook",
                    organization_id=org,
                    transaction=tx,
                ),
            )
            for org in orgs
            for tx in txs[org]
        ]
        await _produce(
            kafka_bootstrap,
            topics.transactions,
            [(k, e.model_dump_json().encode()) for k, e in events],
        )
        await _until(pool, "SELECT count(*) FROM matcher_transactions", len(events))
        await _until(
            pool,
            "SELECT count(*) FROM matcher_outbox o"
            " WHERE NOT EXISTS (SELECT 1 FROM matcher_outbox_pending p WHERE p.id = o.id)",
            await pool.fetchval("SELECT count(*) FROM matcher_outbox"),
        )

        # Zero allocations across organisations.
        crossing = await pool.fetchval(
            "SELECT count(*) FROM matcher_allocations a"
            " JOIN matcher_transactions t USING (organization_id, transaction_id)"
            " WHERE t.organization_id <> a.organization_id"
            "    OR NOT EXISTS (SELECT 1 FROM matcher_invoices i"
            "                   WHERE i.organization_id = a.organization_id"
            "                     AND i.invoice_id = a.invoice_id)"
        )
        assert crossing == 0
        mismatched = await pool.fetch(
            "SELECT i.organization_id, i.invoice_id FROM matcher_invoices i"
            " WHERE i.allocated_cents <> COALESCE((SELECT sum(a.amount_cents)"
            "   FROM matcher_allocations a WHERE a.organization_id = i.organization_id"
            "   AND a.invoice_id = i.invoice_id), 0)"
        )
        assert mismatched == []

        # Identical books, identical decisions.
        rows = await pool.fetch(
            "SELECT organization_id, transaction_id, result FROM matcher_transactions"
        )
        index = {tx.id: k for org in orgs for k, tx in enumerate(txs[org])}
        decisions: dict[str, list[Any]] = {org: [None] * len(txs[org]) for org in orgs}
        for row in rows:
            result = row["result"]
            assert result["organization_id"] == row["organization_id"]
            decisions[row["organization_id"]][index[row["transaction_id"]]] = (
                result["status"],
                sorted((a["invoice_id"], a["amount_cents"]) for a in result["allocations"]),
                result["reasons"],
            )
        first = decisions[orgs[0]]
        assert all(decisions[org] == first for org in orgs[1:])
        statuses = [status for status, _, _ in first]
        assert statuses.count("auto_matched") >= len(range(0, INVOICES, 2))  # it did match
        assert statuses.count("unmatched") >= 2
        allocated = await pool.fetch(
            "SELECT organization_id, sum(allocated_cents) AS total FROM matcher_invoices"
            " GROUP BY organization_id"
        )
        assert len({row["total"] for row in allocated}) == 1
        assert allocated[0]["total"] > 0

        # Review keys: one organisation's key cannot see another's ids.
        keys = ApiKeys(PgKeyStore(pool))
        first_key = await keys.create(orgs[0], "Alice")
        second_key = await keys.create(orgs[1], "Bob")
        tx_of_first = txs[orgs[0]][0].id
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            own = await http.get(
                f"/v1/transactions/{tx_of_first}",
                headers={"Authorization": f"Bearer {first_key.token}"},
            )
            assert own.status_code == 200, own.text
            assert own.json()["result"]["organization_id"] == orgs[0]
            other = await http.get(
                f"/v1/transactions/{tx_of_first}",
                headers={"Authorization": f"Bearer {second_key.token}"},
            )
            assert other.status_code == 404
            # The same invoice id exists in both: each key sees its own organisation's.
            for key in (first_key, second_key):
                inv = await http.get(
                    "/v1/invoices/inv-000", headers={"Authorization": f"Bearer {key.token}"}
                )
                assert inv.status_code == 200
                assert len(inv.json()["allocations"]) == 1
    finally:
        await runtime.stop()
