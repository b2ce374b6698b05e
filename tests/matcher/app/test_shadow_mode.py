"""Shadow mode (``MATCHER_AUTO_MATCH=false``): what the engine would auto-match is only
suggested, with its reason; nothing is allocated until a reviewer confirms."""

from __future__ import annotations

from qrecon.matcher.app import lifecycle
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.core import EngineConfig, MatchingEngine
from qrecon.matcher.settings import MatcherSettings

from .builders import invoice, invoice_event, transaction, tx_event
from .conftest import clock
from .fakes import ORG, FakeDatabase


async def test_in_shadow_mode_a_sure_match_is_only_suggested() -> None:
    db = FakeDatabase()
    service = MatcherService(
        db,
        MatchingEngine(EngineConfig()),
        MatcherState(),
        clock=clock,
        auto_match=False,
        default_organization=ORG,
    )
    await service.state.load(db)
    inv = invoice("FAC-2025-0100", 120000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(120000, reference="Paiement FAC-2025-0100")

    result = (await service.handle_transaction_event(tx_event(tx))).result

    assert result is not None
    assert result.status == "suggested"
    assert lifecycle.REASON_SHADOW in result.reasons
    assert "reference.invoice_number.exact" in result.reasons
    assert [a.invoice_id for a in result.allocations] == [inv.id]
    assert db.allocations(tx.id) == {}
    assert db.invoice(inv.id).residual_cents == 120000
    assert service.with_database(db).auto_match is False


def test_the_switch_is_matcher_auto_match_and_defaults_to_on() -> None:
    assert MatcherSettings().auto_match is True
    assert MatcherSettings.model_validate({"MATCHER_AUTO_MATCH": "false"}).auto_match is False
