"""The emulator's HTTP routes, one ``APIRouter`` per resource, each taking the simulator
from ``app.state.sim`` (``common.SimDep``); ``qrecon.sim.app.create_app`` includes them.

``edge`` holds what runs before any route (sandbox, rate limits, API faults, idempotency)
and the error handlers."""
