"""The emulator's HTTP face: Qonto's API (``/v2``), OAuth (``/oauth2``) and the admin API
(``/_sim``), as one ASGI app over a ``Simulator`` (routers in ``qrecon.sim.routes``)."""

from __future__ import annotations

import random

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from qrecon.sim.idempotency import LostAnswers
from qrecon.sim.routes import (
    admin,
    admin_data,
    consent,
    edge,
    invoices,
    oauth,
    organization,
    subscriptions,
    transactions,
)
from qrecon.sim.routes.common import qonto_error
from qrecon.sim.state import Simulator

__all__ = ["create_app", "qonto_error"]


def create_app(sim: Simulator) -> FastAPI:
    """Qonto's API + OAuth + the admin API (``/_sim``) over ``sim``."""
    # Swagger UI's assets are served by the emulator itself, never from a CDN.
    app = FastAPIOffline(title="qonto-sim", docs_url="/docs", openapi_url="/_sim/openapi.json")
    app.state.sim = sim
    edge.install_error_handlers(app, sim)
    app.add_middleware(edge.QontoEdge, sim=sim, rng=random.Random(sim.faults.seed))
    for module in (
        organization,
        transactions,
        invoices,
        subscriptions,
        oauth,
        admin,
        admin_data,
        consent,
    ):
        app.include_router(module.router)
    # outermost: answers are lost after processing
    app.add_middleware(LostAnswers, faults=sim.fault_state)
    return app
