"""Labelled data and scoring for the matching engine (``qonto-matcher evaluate``)."""

from qrecon.matcher.evaluation.generator import (
    ALL_CASES,
    MATCHABLE_CASES,
    NON_MATCHABLE_CASES,
    Dataset,
    Label,
    generate,
    pad_open_invoices,
    read_labels,
)

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
