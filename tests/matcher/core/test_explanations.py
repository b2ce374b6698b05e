"""Every reason code the engine (or the review lifecycle) can emit has a sentence in French
and in English, with its parameters filled in from the result."""

from __future__ import annotations

import inspect
import re
from types import ModuleType
from typing import Any

from qrecon.matcher.app import lifecycle
from qrecon.matcher.core import candidates, engine, evidence, scoring
from qrecon.matcher.core.explanations import SENTENCES, explain, explain_reasons

from .conftest import IBAN_DUPONT, Make

_CODE = re.compile(
    r'"((?:status|noise|amount|reference|counterparty|competitor|knowledge|duplicate|date|'
    r'direction|review|lifecycle)\.[a-z_.]+)"'
)


def _codes(*modules: ModuleType) -> set[str]:
    return {code for module in modules for code in _CODE.findall(inspect.getsource(module))}


def test_every_code_written_in_the_engine_and_the_lifecycle_has_both_sentences() -> None:
    codes = _codes(engine, scoring, candidates, evidence, lifecycle)
    assert len(codes) > 40
    missing = sorted(code for code in codes if code not in SENTENCES)
    assert missing == []
    for code in codes:
        fr, en = SENTENCES[code]
        assert fr.strip()
        assert en.strip()
        assert fr != en


def test_the_sentences_name_the_invoices_and_the_fee(make: Make, run: Any) -> None:
    book = make.book(make.invoice("FAC-2025-0123", "Maison Dupont SARL", 120000))
    result = run(make.tx(118500, label="MAISON DUPONT", reference="FAC-2025-0123"), book)
    texts = {t.code: t for t in explain(result)}
    assert texts["reference.invoice_number.exact"].fr == "Le libellé cite la facture FAC-2025-0123"
    assert texts["reference.invoice_number.exact"].en == (
        "The remittance text names invoice FAC-2025-0123"
    )
    assert "15,00 €" in texts["amount.fee_shortfall"].fr


def test_every_reason_of_real_decisions_is_explained(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("FAC-2025-0101", "Maison Dupont SARL", 60000, iban=IBAN_DUPONT),
        make.invoice("FAC-2025-0102", "Maison Dupont SARL", 20000),
        make.invoice("FAC-2025-0103", "Maison Dupont SARL", 40000),
    )
    for tx in (
        make.tx(60000, label="MAISON DUPONT SARL", iban=IBAN_DUPONT),
        make.tx(60000, label="MAISON DUPONT SARL", status="pending"),
        make.tx(4500, label="CB AMAZON", operation_type="card"),
        make.tx(99, label="Qonto", operation_type="qonto_fee", side="debit"),
    ):
        result = run(tx, book)
        for text in explain(result):
            assert not text.fr.startswith("Signal "), text.code


def test_an_unknown_code_still_gets_a_sentence() -> None:
    [text] = explain_reasons(["something.new"])
    assert text.code == "something.new"
    assert "something.new" in text.en
    [status] = explain_reasons(["status.pending"])
    assert status.fr == "Statut de l'opération : en attente"
