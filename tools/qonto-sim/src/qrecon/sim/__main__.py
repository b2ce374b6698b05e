"""``qonto-sim``: serve the Qonto emulator and drive it through its admin API.

qonto-sim serve [--host 127.0.0.1] [--port 8700] [--seed N] [--scenario NAME]
                [--months M] [--size S] [--sandbox]
qonto-sim play --api URL [--seed N] [--months M] [--size S] [--speed X |
               --month-seconds S] [--history-months H] [--wait]
qonto-sim load --api URL [--scenario NAME] [--seed N] [--months M] [--size S]
qonto-sim status --api URL
qonto-sim export --api URL --out DIR
qonto-sim faults --api URL [--drop F] [--duplicate F] [--reorder F] [--delay-ms MS]
                 [--silent F] [--error-rate F] [--slow-ms MS] [--rate-limit-rate F]
                 [--storm-seconds S] [--lost-answer-rate F] [--lose-answers N]
                 [--seed N] [--clear]
qonto-sim subscribe --api URL --callback URL [--secret S] [--types v1/transactions]
qonto-sim credentials --api URL [--env]
qonto-sim reset --api URL
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from qrecon.sim.faults import RateLimits
from qrecon.sim.stores.ground_truth import GROUND_TRUTH_SECTIONS

console = Console(stderr=True)


def _admin(api: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = api.rstrip("/") + path
    try:
        response = httpx.request(method, url, json=body, timeout=120.0)
    except httpx.HTTPError as exc:
        raise SystemExit(f"qonto-sim: cannot reach {url}: {exc}") from exc
    if response.status_code >= 400:
        raise SystemExit(f"qonto-sim: {method} {path} -> {response.status_code} {response.text}")
    return response.json() if response.content else None


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _scenario_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"seed": args.seed, "months": args.months, "size": args.size}
    if getattr(args, "scenario", None):
        body["name"] = args.scenario
    if getattr(args, "start", None):
        body["start"] = args.start
    return body


def _credentials_table(creds: dict[str, str], base_url: str) -> Table:
    table = Table(title=f"Qonto emulator on {base_url}", show_header=False)
    table.add_row("QONTO_API_BASE_URL", base_url)
    for key in (
        "organization_id",
        "login",
        "secret_key",
        "api_key_header",
        "staging_token",
        "client_id",
        "client_secret",
        "redirect_uri",
        "bank_account_id",
        "iban",
    ):
        table.add_row(key, creds.get(key, ""))
    table.add_row("admin API", f"{base_url}/_sim/status")
    return table


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from qrecon.common.http_server import bounded, uvicorn_options
    from qrecon.common.logging import configure_logging
    from qrecon.common.settings import HttpServerSettings
    from qrecon.sim.app import create_app
    from qrecon.sim.player import load_scenario
    from qrecon.sim.state import Simulator

    sim = Simulator(seed=args.seed, sandbox=args.sandbox, strict=args.strict)
    sim.rate_limiter.configure(parse_rate_limits(args.rate_limits, args.retry_after))
    sim.webhook_settings.timeout = args.webhook_timeout
    sim.webhook_settings.max_attempts = args.webhook_attempts
    sim.webhook_settings.backoff_base = args.webhook_backoff
    if args.scenario and args.scenario != "empty":
        summary = load_scenario(
            sim,
            name=args.scenario,
            seed=args.seed,
            months=args.months,
            size=_size(args.size),
        )
        console.print(
            f"scenario {args.scenario!r}: {summary['transactions']} transactions "
            f"in {summary['seconds']} s"
        )
    app = create_app(sim)
    base_url = f"http://{args.host}:{args.port}"
    console.print(_credentials_table(sim.credentials().to_dict(), base_url))
    if args.sandbox:
        console.print("sandbox mode: every request needs X-Qonto-Staging-Token")
    try:
        limits = HttpServerSettings()
        configure_logging(args.log_level)
        uvicorn.run(
            bounded(app, limits),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            **uvicorn_options(limits),
        )
    finally:
        if sim.player is not None:
            sim.player.stop()
        sim.webhooks.close()
    return 0


def parse_rate_limits(spec: str, retry_after: int | None = None) -> RateLimits:
    """``"1000/10,10000/600"`` (requests/seconds per client address) or ``"off"``."""
    if spec.strip().lower() in ("off", "none", "0"):
        return RateLimits(enabled=False, retry_after=retry_after)
    windows = []
    for part in spec.split(","):
        limit, _, seconds = part.strip().partition("/")
        windows.append((int(limit), float(seconds)))
    return RateLimits(windows=windows, retry_after=retry_after)


def _size(value: str) -> str | int:
    return int(value) if value.isdigit() else value


def cmd_play(args: argparse.Namespace) -> int:
    body = _scenario_body(args)
    body["size"] = _size(args.size)
    if args.speed:
        body["speed"] = args.speed
    body["month_seconds"] = args.month_seconds
    body["history_months"] = args.history_months
    body["stamp"] = args.stamp
    status = _admin(args.api, "POST", "/_sim/play", body)
    if not args.wait:
        _print_json(status)
        return 0
    with console.status("playing") as spinner:
        while True:
            player = _admin(args.api, "GET", "/_sim/status")["player"] or {}
            spinner.update(
                f"playing: {player.get('applied', 0)}/{player.get('total', 0)} events, "
                f"business time {player.get('business_time')}"
            )
            if player.get("state") not in ("playing", "ready"):
                break
            time.sleep(0.5)
    _print_json(player)
    return 0 if player.get("state") == "done" else 1


def cmd_load(args: argparse.Namespace) -> int:
    body = _scenario_body(args)
    body["size"] = _size(args.size)
    body["webhooks"] = args.webhooks
    _print_json(_admin(args.api, "POST", "/_sim/scenario", body))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _print_json(_admin(args.api, "GET", "/_sim/status"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with httpx.Client(base_url=args.api.rstrip("/"), timeout=300.0) as client:
        for section in GROUND_TRUTH_SECTIONS:
            path = out / f"{section}.jsonl"
            lines = 0
            with (
                client.stream("GET", f"/_sim/ground_truth/{section}") as response,
                path.open("wb") as handle,
            ):
                if response.status_code != 200:
                    raise SystemExit(f"qonto-sim: export {section}: {response.status_code}")
                for chunk in response.iter_bytes():
                    handle.write(chunk)
                    lines += chunk.count(b"\n")
            counts[section] = lines
    table = Table(title=f"ground truth in {out}")
    table.add_column("file")
    table.add_column("lines", justify="right")
    for section, lines in counts.items():
        table.add_row(f"{section}.jsonl", str(lines))
    console.print(table)
    return 0


FAULT_FLAGS = (
    "drop",
    "duplicate",
    "reorder",
    "delay_ms",
    "silent",
    "error_rate",
    "slow_ms",
    "rate_limit_rate",
    "storm_seconds",
    "lost_answer_rate",
    "lose_answers",
    "seed",
)


def cmd_faults(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        name: getattr(args, name) for name in FAULT_FLAGS if getattr(args, name) is not None
    }
    if args.clear:
        body["clear"] = True
    if not body:
        _print_json(_admin(args.api, "GET", "/_sim/faults"))
    else:
        _print_json(_admin(args.api, "PUT", "/_sim/faults", body))
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"callback_url": args.callback, "types": args.types}
    if args.secret:
        body["secret"] = args.secret
    _print_json(_admin(args.api, "POST", "/_sim/webhook_subscriptions", body))
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    creds = _admin(args.api, "GET", "/_sim/credentials")
    if args.env:
        status = _admin(args.api, "GET", "/_sim/status")
        print(f"QONTO_API_BASE_URL={args.api.rstrip('/')}")
        # As in Qonto's setup guide: the organisation's login and the secret key.
        print(f"QONTO_ORGANIZATION_ID={creds['login']}")
        print(f"QONTO_API_KEY={creds['secret_key']}")
        print(f"QONTO_CLIENT_ID={creds['client_id']}")
        print(f"QONTO_CLIENT_SECRET={creds['client_secret']}")
        if status.get("sandbox"):
            print("QONTO_ENVIRONMENT=sandbox")
            print(f"QONTO_SANDBOX_ORGANIZATION_ID={creds['organization_id']}")
            print(f"QONTO_SANDBOX_API_KEY={creds['api_key_header']}")
            print(f"QONTO_STAGING_TOKEN={creds['staging_token']}")
        else:
            print("QONTO_ENVIRONMENT=production")
    else:
        _print_json(creds)
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    _print_json(_admin(args.api, "POST", "/_sim/reset", {}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qonto-sim", description="Local Qonto emulator.")
    sub = parser.add_subparsers(dest="command", required=True)

    def api(p: argparse.ArgumentParser) -> None:
        p.add_argument("--api", default="http://127.0.0.1:8700", help="emulator base URL")

    def scenario(p: argparse.ArgumentParser, default_name: str | None) -> None:
        p.add_argument("--scenario", default=default_name, help="company | bulk | empty")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--months", type=int, default=1)
        p.add_argument("--size", default="small", help="tiny|small|medium|large or a number")
        p.add_argument("--start", default=None, help="first month (ISO date)")

    serve = sub.add_parser("serve", help="serve the API, OAuth and the admin API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8700)
    serve.add_argument("--sandbox", action="store_true", help="require X-Qonto-Staging-Token")
    serve.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="transactions as Qonto answers them: one status per request (the first of "
        "status[]), bank_account_id or iban required (default); --no-strict: every status "
        "listed, the whole organization without an account",
    )
    serve.add_argument("--log-level", default="warning")
    serve.add_argument(
        "--rate-limits",
        default="1000/10,10000/600",
        help="per-address limits as requests/seconds, comma-separated, or 'off'",
    )
    serve.add_argument("--retry-after", type=int, default=None, help="send Retry-After on 429")
    serve.add_argument("--webhook-timeout", type=float, default=1.0)
    serve.add_argument("--webhook-attempts", type=int, default=6)
    serve.add_argument("--webhook-backoff", type=float, default=1.0, help="first retry delay")
    scenario(serve, None)
    serve.set_defaults(func=cmd_serve)

    play = sub.add_parser("play", help="play a scenario in the background")
    api(play)
    scenario(play, "company")
    play.add_argument("--speed", type=float, default=None, help="business s per real s")
    play.add_argument("--month-seconds", type=float, default=60.0)
    play.add_argument("--history-months", type=int, default=0)
    play.add_argument(
        "--stamp",
        choices=("wall", "business"),
        default="wall",
        help="updated_at at the moment of play, as Qonto does (wall), or the scenario's (business)",
    )
    play.add_argument("--wait", action="store_true", help="wait for the end, show progress")
    play.set_defaults(func=cmd_play)

    load = sub.add_parser("load", help="apply a whole scenario at once")
    api(load)
    scenario(load, "company")
    load.add_argument("--webhooks", action="store_true", help="send webhooks for it")
    load.set_defaults(func=cmd_load)

    status = sub.add_parser("status", help="progress, counts, faults")
    api(status)
    status.set_defaults(func=cmd_status)

    export = sub.add_parser("export", help="write the ground truth as JSONL files")
    api(export)
    export.add_argument("--out", required=True)
    export.set_defaults(func=cmd_export)

    faults = sub.add_parser("faults", help="show or set faults")
    api(faults)
    for name in FAULT_FLAGS:
        kind: type = int if name in ("delay_ms", "slow_ms", "lose_answers", "seed") else float
        faults.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None)
    faults.add_argument("--clear", action="store_true", help="reset every fault first")
    faults.set_defaults(func=cmd_faults)

    subscribe = sub.add_parser("subscribe", help="add a webhook subscription")
    api(subscribe)
    subscribe.add_argument("--callback", required=True)
    subscribe.add_argument("--secret", default=None)
    subscribe.add_argument("--types", nargs="+", default=["v1/transactions"])
    subscribe.set_defaults(func=cmd_subscribe)

    credentials = sub.add_parser("credentials", help="print the default credentials")
    api(credentials)
    credentials.add_argument("--env", action="store_true", help="as QONTO_* variables")
    credentials.set_defaults(func=cmd_credentials)

    reset = sub.add_parser("reset", help="forget everything")
    api(reset)
    reset.set_defaults(func=cmd_reset)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
