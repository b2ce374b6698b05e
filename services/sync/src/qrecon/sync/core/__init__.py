"""The pure core of sync: planning sweeps, watermarks, dedupe, invoice mapping. No I/O."""

from qrecon.sync.core.backfill import Backfill, BackfillRangeError, backfill_range
from qrecon.sync.core.invoices import InvoiceMapping, map_invoice, to_invoice_event
from qrecon.sync.core.sweep import (
    QONTO_EPOCH,
    PageRequest,
    PageSummary,
    Sweep,
    SweepPlan,
    SweepUnstable,
    backoff_delay,
    jittered,
    lag_seconds,
)
from qrecon.sync.core.versions import (
    ObservedVersion,
    Selection,
    classify_observed,
    select_unseen,
)

__all__ = [
    "QONTO_EPOCH",
    "Backfill",
    "BackfillRangeError",
    "InvoiceMapping",
    "ObservedVersion",
    "PageRequest",
    "PageSummary",
    "Selection",
    "Sweep",
    "SweepPlan",
    "SweepUnstable",
    "backfill_range",
    "backoff_delay",
    "classify_observed",
    "jittered",
    "lag_seconds",
    "map_invoice",
    "select_unseen",
    "to_invoice_event",
]
