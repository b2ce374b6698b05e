#!/usr/bin/env bash
# `make backtest-demo`: the demo's month in shadow mode (MATCHER_AUTO_MATCH=false), a
# scripted review session through the review API (a reviewer who knows the emulator's
# ground truth), then `qonto-matcher backtest`; writes services/matcher/docs/
# backtest-demo-month.md. Starts Kafka and PostgreSQL when they are not up (and stops
# them at the end if it did). Arguments go to `qrecon-stack backtest-demo` (--start DATE,
# --seed N, --out FILE).
set -euo pipefail
DEMO_COMMAND=backtest-demo exec "$(dirname "${BASH_SOURCE[0]}")/demo.sh" "$@"
