"""``make backtest-demo``: the demo's month in shadow mode, a review session, the back-test.

1. plays the demo's month through the whole system with ``MATCHER_AUTO_MATCH=false``
   (shadow mode: every result is a suggestion) on a stack of its own (free ports, its own
   database and topic prefix);
2. reviews every transaction through the review API as a careful reviewer who knows the
   emulator's ground truth (:mod:`.review_session`);
3. runs ``qonto-matcher backtest --json`` on that database and writes a Markdown report
   (dates, counts, the session, precision and coverage per reason, reliability).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from qrecon.devstack.review_session import DeskRefused, Proposal, SessionTally, review
from qrecon.devstack.run import PlayOptions, RunResult, accuracy, play_and_settle
from qrecon.devstack.stack import Stack, StackConfig, _script


class HttpDesk:
    """The review API of a running matcher, with the stack's shared token (it acts for
    ``MATCHER_DEFAULT_ORGANIZATION``, the emulated company)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def proposal(self, transaction_id: str) -> Proposal | None:
        response = await self.client.get(f"/v1/transactions/{transaction_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body = response.json()
        result = body["result"]
        allocations: dict[str, int] = {}
        for a in result.get("allocations", []):
            allocations[a["invoice_id"]] = allocations.get(a["invoice_id"], 0) + int(
                a["amount_cents"]
            )
        return Proposal(str(result["status"]), allocations, int(body["result_seq"]))

    async def _post(self, transaction_id: str, action: str, body: dict[str, Any]) -> None:
        response = await self.client.post(f"/v1/transactions/{transaction_id}/{action}", json=body)
        if response.status_code in (404, 409, 422):
            error = response.json().get("error", {})
            raise DeskRefused(str(error.get("code", response.status_code)), error.get("detail", ""))
        response.raise_for_status()

    async def confirm(self, transaction_id: str, seq: int) -> None:
        await self._post(transaction_id, "confirm", {"expected_result_seq": seq})

    async def reject(self, transaction_id: str, invoice_ids: list[str], seq: int) -> None:
        await self._post(
            transaction_id, "reject", {"invoice_ids": invoice_ids, "expected_result_seq": seq}
        )

    async def match(self, transaction_id: str, allocations: dict[str, int], seq: int) -> None:
        body = {
            "allocations": [
                {"invoice_id": i, "amount_cents": a} for i, a in sorted(allocations.items())
            ],
            "expected_result_seq": seq,
        }
        await self._post(transaction_id, "match", body)


def truths_of(result: RunResult) -> tuple[dict[str, dict[str, int]], list[str]]:
    """The true allocation of each completed transaction, and the transactions in the order
    they were settled (the order a reviewer goes through the month)."""
    truths: dict[str, dict[str, int]] = {}
    for tx_id, row in result.allocations.items():
        paid: dict[str, int] = {}
        for a in row.get("allocations", []):
            paid[str(a["invoice_id"])] = paid.get(str(a["invoice_id"]), 0) + int(a["amount_cents"])
        if paid:
            truths[tx_id] = paid
    completed = [tx for tx in result.truth if tx.get("status") == "completed"]
    completed.sort(key=lambda tx: (str(tx.get("settled_at") or tx.get("emitted_at")), tx["id"]))
    return truths, [str(tx["id"]) for tx in completed]


def run_backtest(stack: Stack, organization: str) -> dict[str, Any]:
    """``qonto-matcher backtest --json`` on the stack's database, as an operator runs it."""
    c = stack.config
    done = subprocess.run(  # noqa: S603 - argv built by the project
        [_script("qonto-matcher"), "backtest", "--json", "--organization", organization,
         "--database-url", c.database_url],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env={**os.environ, "LOG_FORMAT": "json"},
    )  # fmt: skip
    data: dict[str, Any] = json.loads(done.stdout)
    return data


async def what_was_taught(database_url: str, organization: str) -> dict[str, Any]:
    """The aliases the session's decisions taught (names, IBANs) and, of the payer names
    and IBANs not learnt, why (``core.aliases``; the decisions' ``not_learnt``)."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE observed_counterparty <> '') AS names,"
            " count(*) FILTER (WHERE observed_iban <> '') AS ibans"
            " FROM matcher_aliases WHERE organization_id = $1",
            organization,
        )
        refused = await conn.fetch(
            "SELECT why.value AS why, count(*) AS n FROM matcher_decisions,"
            " jsonb_each_text(payload -> 'not_learnt') AS why"
            " WHERE organization_id = $1 AND undone_at IS NULL GROUP BY why.value",
            organization,
        )
    finally:
        await conn.close()
    return {
        "names": int(row["names"]) if row else 0,
        "ibans": int(row["ibans"]) if row else 0,
        "not_learnt": {r["why"]: int(r["n"]) for r in refused},
    }


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _pct(value: object) -> str:
    return "-" if value is None else f"{100 * float(str(value)):.2f}%"


def render(
    options: PlayOptions,
    result: RunResult,
    tally: SessionTally,
    report: dict[str, Any],
    organization: str,
    taught: Mapping[str, Any] | None = None,
) -> str:
    """The Markdown report of a run."""
    end = options.start + timedelta(days=30)
    acc = accuracy(result)
    statuses = result.observation.statuses()
    untouched = int(report["would_auto_match"]) - int(report["overall"]["auto"])
    lines = [
        "# Back-test on the demo's month, after a scripted review session",
        "",
        "Produced by `make backtest-demo` (`scripts/backtest-demo.sh`): the demo's month played"
        " through the whole system in shadow mode (`MATCHER_AUTO_MATCH=false`), every"
        " transaction reviewed through the review API by a careful reviewer who knows the"
        " emulator's ground truth (`qrecon.devstack.review_session`), then"
        " `qonto-matcher backtest --organization " + organization + "`.",
        "",
        f"Reproduce: `scripts/backtest-demo.sh --start {options.start.isoformat()}"
        f" --seed {options.seed} --size {options.size}` (or `make backtest-demo` for the 30"
        " days that end today).",
        "",
        "## The month",
        "",
        f"- business days {options.start.isoformat()} to {end.isoformat()} (seed {options.seed},"
        f" size {options.size}, {options.drop:.0%} of webhooks dropped)",
        f"- transactions in Qonto: {len(result.truth)}; paying invoices: {acc.matchable};"
        f" invoices published: {result.invoices_published}",
        "- results before review (shadow mode): "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
        f"- settled: {'yes' if result.settled else 'NO'} in {result.elapsed:.0f} s",
        "",
        "## The review session",
        "",
        f"- transactions reviewed: {tally.reviewed}",
        f"- decisions: {_counts(tally.decisions)}",
        f"- outcomes: {_counts(tally.outcomes)}",
        f"- refused by the API: {_counts(tally.refused)}",
    ]
    if taught is not None:
        lines.append(
            f"- aliases taught (`core.aliases`): {taught['names']} payer names,"
            f" {taught['ibans']} IBANs; not learnt: {_counts(taught['not_learnt'])}"
        )
    lines += [
        "",
        "## Back-test",
        "",
        f"{report['transactions']} transactions replayed; the engine would auto-match"
        f" {report['would_auto_match']}, {untouched} of them on lines no reviewer decided"
        " (nothing to reconcile by the ground truth).",
        "",
        "*reviewed*: transactions a reviewer decided carrying the reason; *with truth*: of"
        " them, confirmed or matched by hand; *auto*: the engine would auto-match them;"
        " *precision*: right auto-matches / auto; *coverage*: right auto-matches / with"
        " truth; *suggested*, *suggestion ok*: the engine would only suggest, and rightly"
        " (`qrecon.matcher.core.backtest`).",
        "",
        "| reason | reviewed | with truth | auto | precision | coverage | suggested |"
        " suggestion ok |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in [report["overall"], *report["reasons"]]:
        lines.append(
            f"| {row['reason']} | {row['reviewed']} | {row['with_truth']} | {row['auto']} |"
            f" {_pct(row['precision'])} | {_pct(row['coverage'])} | {row['suggested']} |"
            f" {row['suggested_correct']} |"
        )
    rel = report["reliability"]
    lines += [
        "",
        f"### Reliability on reviewers' decisions ({rel['n']})",
        "",
        f"Expected calibration error {100 * float(rel['ece']):.2f} points; confidence ≥ the auto"
        f" threshold {rel['auto_threshold']}: {rel['at_or_above_threshold']} decisions,"
        f" precision {_pct(rel['precision_at_or_above_threshold'])}.",
        "",
        "| confidence | n | mean confidence | observed precision |",
        "|---|--:|--:|--:|",
    ]
    for bucket in rel["buckets"]:
        lines.append(
            f"| {bucket.get('bin', '')} | {bucket.get('n', 0)} |"
            f" {float(bucket.get('mean_confidence', 0)):.3f} |"
            f" {float(bucket.get('accuracy', 0)):.3f} |"
        )
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


async def run_backtest_demo(
    run_dir: Path, kafka: str, database_url: str, options: PlayOptions, out: Path
) -> int:
    config = StackConfig.private(
        run_dir,
        kafka,
        database_url,
        extra_env={"matcher": {"MATCHER_AUTO_MATCH": "false"}},
    )
    stack = Stack(config)
    started = time.monotonic()
    print("backtest-demo: starting the stack in shadow mode (MATCHER_AUTO_MATCH=false) …")
    await asyncio.to_thread(stack.start_all)
    try:
        organization = stack.emulated_organization()
        if organization is None:
            raise RuntimeError("the emulator does not answer")
        print(f"backtest-demo: playing the 30 days from {options.start.isoformat()} …")
        result = await play_and_settle(stack, options)
        if not result.settled:
            print(f"backtest-demo: {len(result.missing())} transactions did not settle")
        truths, order = truths_of(result)
        print(f"backtest-demo: reviewing {len(order)} transactions through the review API …")
        headers = {"Authorization": f"Bearer {config.matcher_token}"}
        async with httpx.AsyncClient(
            base_url=config.matcher_url, headers=headers, timeout=60.0
        ) as client:
            tally = await review(HttpDesk(client), truths, order)
        print(f"backtest-demo: session done {tally.as_dict()}; running the back-test …")
        taught = await what_was_taught(config.database_url, organization)
        report = await asyncio.to_thread(run_backtest, stack, organization)
    finally:
        await asyncio.to_thread(stack.stop_all)
    text = render(options, result, tally, report, organization, taught)
    await asyncio.to_thread(_write, out, text)
    print(f"backtest-demo: wrote {out} ({time.monotonic() - started:.0f} s)")
    return 0 if result.settled else 1
