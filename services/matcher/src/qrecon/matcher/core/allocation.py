"""A candidate's allocations: which invoice gets how much of the payment, and what is left
(see ``engine`` for the signs and the residual)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qrecon.common.schemas import Allocation

if TYPE_CHECKING:
    from qrecon.matcher.core.candidates import Proposal

__all__ = ["allocate"]


def allocate(c: Proposal, amount: int) -> tuple[list[Allocation], int]:
    """Allocations in each invoice's sign, and the residual (see the ``engine`` doc)."""
    if c.fit in ("exact", "fee", "over"):
        out = [
            Allocation.model_construct(
                invoice_id=e.id, invoice_number=e.invoice.number, amount_cents=e.residual
            )
            for e in c.entries
        ]
        return out, amount - c.total
    return _allocate_partial(c, amount)


def _allocate_partial(c: Proposal, amount: int) -> tuple[list[Allocation], int]:
    """Net what reduces the amount due (credit notes) first, then oldest first."""
    remaining = amount
    parts: dict[str, int] = {}
    for e in c.entries:
        effective = c.sign * e.residual
        if effective < 0:
            parts[e.id] = effective
            remaining -= effective
    for e in c.entries:
        effective = c.sign * e.residual
        if effective > 0 and remaining > 0:
            take = min(effective, remaining)
            parts[e.id] = take
            remaining -= take
    out: list[Allocation] = []
    for e in c.entries:
        if parts.get(e.id):
            out.append(
                Allocation.model_construct(
                    invoice_id=e.id,
                    invoice_number=e.invoice.number,
                    amount_cents=c.sign * parts[e.id],
                )
            )
    return out, remaining
