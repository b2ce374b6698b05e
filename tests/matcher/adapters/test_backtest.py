"""``qonto-matcher backtest`` on a real database: the history the service recorded
(invoices, transactions, a confirmation, a rejection, a match by hand) read back and
replayed; the command prints the report and writes nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg

from qrecon.matcher.__main__ import build_parser
from qrecon.matcher.adapters.postgres_backtest import load_history
from qrecon.matcher.app.service import MatcherService

from .factories import invoice, invoice_event, transaction, tx_event


async def _record(service: MatcherService, tx: Any) -> str:
    await service.handle_transaction_event(tx_event(tx))
    return str(tx.id)


async def test_the_history_and_reviewers_verdicts_are_replayed(
    service: MatcherService, pool: asyncpg.Pool, database_url: str, capsys: Any
) -> None:
    sure = invoice("FAC-2025-0100", 120000)
    unsure = invoice("FAC-2025-0200", 80000, counterparty="Tilleuls Immobilier")
    other = invoice("FAC-2025-0300", 50000, counterparty="Roux SCI")
    for inv in (sure, unsure, other):
        await service.handle_invoice_event(invoice_event(inv))
    auto = await _record(service, transaction(120000, reference="FAC-2025-0100"))
    confirmed = await _record(
        service, transaction(80000, counterparty="SCI TILLEULS IMMOBILIER GESTION")
    )
    await service.for_organization().reviews.confirm(confirmed, actor="alice")
    rejected = await _record(service, transaction(50000, counterparty="ROUX SCI"))
    await service.for_organization().reviews.reject(rejected, actor="alice")
    by_hand = await _record(service, transaction(3300, counterparty="Inconnu"))
    await service.for_organization().reviews.match_manually(by_hand, {other.id: 3300}, actor="bob")

    history = await load_history(pool, service.for_organization().organization)

    assert {inv.id for inv in history.invoices} == {sure.id, unsure.id, other.id}
    assert {tx.id for tx in history.transactions} == {auto, confirmed, rejected, by_hand}
    verdicts = history.verdicts
    assert verdicts[confirmed].truth == {unsure.id: 80000}
    assert verdicts[rejected].action == "reject"
    assert verdicts[rejected].rejected == {other.id}
    assert verdicts[by_hand].truth == {other.id: 3300}
    assert auto not in verdicts

    before = await pool.fetchval("SELECT count(*) FROM matcher_results")
    args = build_parser().parse_args(["backtest", "--database-url", database_url, "--json"])
    capsys.readouterr()  # the service's own logs so far
    assert await asyncio.to_thread(args.handler, args) == 0  # the command runs its own loop
    report = json.loads(capsys.readouterr().out)
    assert report["transactions"] == 4
    assert report["overall"]["reviewed"] == 3
    assert report["overall"]["with_truth"] == 2
    assert {"reliability", "reasons"} <= report.keys()
    assert await pool.fetchval("SELECT count(*) FROM matcher_results") == before
    args = build_parser().parse_args(["backtest", "--database-url", database_url])
    assert await asyncio.to_thread(args.handler, args) == 0
    assert "per reason" in capsys.readouterr().out
