"""The matching engine's evaluation harness (``qonto-matcher evaluate``): a seeded
generator of labelled data, the scoring, an "Odoo-like" baseline and the calibration of
the engine's thresholds. A tool, not part of the production matcher."""

from qrecon.matcher_eval.cases import ALL_CASES, MATCHABLE_CASES, NON_MATCHABLE_CASES
from qrecon.matcher_eval.dataset import Dataset, Label, read_labels
from qrecon.matcher_eval.generator import generate
from qrecon.matcher_eval.padding import pad_open_invoices

__all__ = [
    "ALL_CASES",
    "MATCHABLE_CASES",
    "NON_MATCHABLE_CASES",
    "Dataset",
    "Label",
    "generate",
    "pad_open_invoices",
    "read_labels",
]
