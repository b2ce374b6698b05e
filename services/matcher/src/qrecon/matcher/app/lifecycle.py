"""Pure rules of a transaction's lifecycle in the service (no I/O).

* A version is applied only if newer than the one held (``updated_at``).
* A *reversal* ends a match: a later version ``declined``, or one that Qonto marks as
  reversed. Qonto documents only ``pending``/``declined``/``completed``; the markers below
  (``reversed``, ``reversed_at``, ``reversal``, ``status_reason``) are a guess kept
  deliberately broad, so that a payment taken back never stays allocated.
* A new version of an auto-matched transaction whose money is unchanged (a note, a label,
  ``pending`` -> ``completed``) keeps its allocations (``lifecycle.carried_forward``): a
  decision, human or automatic, is not re-litigated because a comment was added.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from qrecon.common.schemas import Allocation, MatchResult, QontoTransaction
from qrecon.matcher.core.evidence import payer_iban

ALLOCATING = "auto_matched"
REVIEWABLE = ("suggested", "unmatched")

REASON_DECLINED = "lifecycle.reverted.declined"
REASON_REVERSED = "lifecycle.reverted.reversed"
REASON_CARRIED = "lifecycle.carried_forward"
REASON_CONFLICT = "lifecycle.allocation_conflict"
REASON_REJECTED_GUARD = "knowledge.rejected_pair_filtered"
REASON_CONFIRMED = "review.confirmed"
REASON_REJECTED = "review.rejected"
REASON_MANUAL = "review.manual_match"
REASON_UNDONE = "review.undone"
REASON_SHADOW = "matcher.shadow_mode"  # MATCHER_AUTO_MATCH=false: auto_matched -> suggested

_RESULT_NAMESPACE = uuid.UUID("3f0f6a52-2a57-4c4e-8d7e-5b1b9a6f0c21")


def result_event_id(transaction_id: str, seq: int, organization: str = "") -> str:
    """The ``event-id`` of a transaction's ``seq``-th result: deterministic, so that a
    relay publishing a row twice publishes the same id (consumers deduplicate on it).
    Distinct per organisation (the sentinel ``""`` keeps the ids given before them)."""
    name = (
        f"{transaction_id}#{seq}" if not organization else f"{organization}/{transaction_id}#{seq}"
    )
    return str(uuid.uuid5(_RESULT_NAMESPACE, name))


def reversal_reason(tx: QontoTransaction) -> str | None:
    """Why this version takes the payment back, if it does."""
    if tx.status == "declined":
        return REASON_DECLINED
    extra = tx.model_extra or {}
    if (
        extra.get("reversed") is True
        or extra.get("reversed_at")
        or extra.get("reversal") is True
        or str(extra.get("status_reason") or "").lower() in {"reversed", "reversal"}
    ):
        return REASON_REVERSED
    return None


def transaction_date(tx: QontoTransaction) -> datetime:
    return tx.settled_at or tx.emitted_at or tx.created_at or tx.updated_at


def money_of(tx: QontoTransaction | dict[str, Any]) -> tuple[str, int, str]:
    if isinstance(tx, QontoTransaction):
        return (tx.side, tx.amount_cents, tx.currency)
    return (str(tx.get("side")), int(tx.get("amount_cents") or 0), str(tx.get("currency")))


def allocations_map(allocations: list[Allocation] | list[dict[str, Any]]) -> dict[str, int]:
    """``{invoice_id: amount_cents}`` (amounts of one invoice summed)."""
    out: dict[str, int] = {}
    for item in allocations:
        if isinstance(item, Allocation):
            key, amount = item.invoice_id, item.amount_cents
        else:
            key, amount = str(item["invoice_id"]), int(item["amount_cents"])
        out[key] = out.get(key, 0) + amount
    return out


def reserved_by(result: MatchResult) -> dict[str, int]:
    """What a result holds on invoices: only an ``auto_matched`` result allocates; a
    suggestion proposes and waits for a reviewer."""
    return allocations_map(result.allocations) if result.status == ALLOCATING else {}


def unchanged(
    prev_status: str, prev_result: dict[str, Any], result: MatchResult, held: dict[str, int]
) -> bool:
    """True when deciding again changes nothing worth a new result: same status, same
    allocations, and the allocations held in PostgreSQL are the ones the result needs."""
    return (
        prev_status == result.status
        and allocations_map(prev_result.get("allocations") or [])
        == allocations_map(result.allocations)
        and held == reserved_by(result)
    )


def reversal_result(
    tx: QontoTransaction,
    prev_status: str | None,
    reason: str,
    matcher_version: str,
    *,
    decided_at: datetime,
) -> MatchResult:
    """The result of a version that takes the payment back.

    ``reverted`` when something was matched or suggested (or already reverted), so that a
    downstream consumer undoes what it did; ``unmatched`` when nothing ever was.
    """
    status = "reverted" if prev_status in ("auto_matched", "suggested", "reverted") else "unmatched"
    return MatchResult(
        transaction_id=tx.id,
        transaction_version=tx.version,
        status=status,
        allocations=[],
        residual_cents=tx.amount_cents,
        confidence=1.0 if status == "reverted" else 0.0,
        reasons=[reason, f"status.{tx.status}"],
        matcher_version=matcher_version,
        decided_at=decided_at,
    )


def carried_result(
    prev_result: dict[str, Any], tx: QontoTransaction, *, decided_at: datetime
) -> MatchResult:
    """The previous (allocating) result, restated for a new version of the transaction."""
    previous = MatchResult.model_validate(prev_result)
    reasons = list(dict.fromkeys([*previous.reasons, REASON_CARRIED]))
    return previous.model_copy(
        update={"transaction_version": tx.version, "decided_at": decided_at, "reasons": reasons}
    )


def with_reasons(result: MatchResult, *extra: str) -> MatchResult:
    return result.model_copy(update={"reasons": list(dict.fromkeys([*result.reasons, *extra]))})


def observed_counterparty(tx: QontoTransaction) -> tuple[str, str]:
    """The payer as the bank shows it: (name, IBAN), ``""`` when unknown. The IBAN is the
    engine's reading (``core.evidence.payer_iban``): an account number in another format is
    never learnt as the payer's IBAN."""
    name = tx.clean_counterparty_name or tx.label or ""
    return name.strip(), payer_iban(tx) or ""
