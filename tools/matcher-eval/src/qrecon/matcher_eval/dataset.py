"""A labelled dataset: invoices, transactions and, for each transaction, its
:class:`Label` (``invoices.jsonl``, ``transactions.jsonl``, ``labels.jsonl``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class Label:
    """The truth about one transaction line (``labels.jsonl``)."""

    line: int
    transaction_id: str
    case: str
    matchable: bool
    truth: list[dict[str, Any]]  # [{"invoice_id", "amount_cents"}]
    residual_cents: int

    def truth_map(self) -> dict[str, int]:
        return {str(a["invoice_id"]): int(a["amount_cents"]) for a in self.truth}


@dataclass(slots=True)
class Dataset:
    seed: int
    invoices: list[dict[str, Any]]
    transactions: list[dict[str, Any]]
    labels: list[Label]

    def write(self, out_dir: Path) -> dict[str, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {
            "invoices": out_dir / "invoices.jsonl",
            "transactions": out_dir / "transactions.jsonl",
            "labels": out_dir / "labels.jsonl",
        }
        _write_jsonl(paths["invoices"], self.invoices)
        _write_jsonl(paths["transactions"], self.transactions)
        _write_jsonl(paths["labels"], [asdict(label) for label in self.labels])
        return paths


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")


def read_labels(path: Path) -> list[Label]:
    with path.open(encoding="utf-8") as handle:
        return [Label(**json.loads(line)) for line in handle if line.strip()]
