#!/usr/bin/env bash
# `make demo`: the whole month on DEMO_MEMBERS members — seed, settle, notify, deliver, report
# (the HTML report of the month is written to .stack/demo/report-<month>.html).
set -euo pipefail
BIN=.venv/bin
MEMBERS=${DEMO_MEMBERS:-2000}
MONTH=${DEMO_MONTH:-2026-11}
LOGS=.stack/demo
mkdir -p "$LOGS"

# Bills of MONTH go out in the month after, on each member's preferred day. The demo sets the
# system's clock (TELEBILL_CLOCK_OFFSET_S, a setting every process reads) to the last day of that
# month at 14:00 Seoul time, so every member's day has come and the sends happen now. Retries are
# shortened the same way (settings), so a simulated failure is retried within the demo.
TELEBILL_CLOCK_OFFSET_S=$($BIN/python - "$MONTH" <<'PY'
import sys
from datetime import datetime, time
from zoneinfo import ZoneInfo

from telebill.clock import offset_to
from telebill.domain.month import parse_month
from telebill.domain.send_window import scheduled_day

last = scheduled_day(parse_month(sys.argv[1]), 31)  # the send month's last day
print(int(offset_to(datetime.combine(last, time(14, 0), ZoneInfo("Asia/Seoul")))))
PY
)
export TELEBILL_CLOCK_OFFSET_S
export TELEBILL_RETRY_BASE_DELAY_S=${TELEBILL_RETRY_BASE_DELAY_S:-5}
export TELEBILL_RETRY_FACTOR=${TELEBILL_RETRY_FACTOR:-2}
# Every member's bill starts on the channel they chose (seeded: KakaoTalk, e-mail, the app or
# text messages); KakaoTalk and the app fall back to e-mail, everything ends in SMS, then the DLQ.
export TELEBILL_CHANNEL_CHAINS=${TELEBILL_CHANNEL_CHAINS:-"alimtalk>email>sms;push>email>sms"}
CHANNELS=$($BIN/python -c 'from telebill.config import get_settings as g; from telebill.domain.chain import chain_channels as c; print(" ".join(c(g().channel_chains)))')

$BIN/telebill stack up >/dev/null  # the topics of every channel of the chains
$BIN/telebill stack check
$BIN/telebill seed --members "$MEMBERS" --month "$MONTH"
$BIN/telebill templates install-defaults
$BIN/telebill schedules install
$BIN/telebill blackout list

# The long-running processes of a deployment: a Temporal worker and the three consumers.
pids=()
stop() { [ ${#pids[@]} -eq 0 ] || { kill -TERM "${pids[@]}" 2>/dev/null; wait "${pids[@]}"; } || true; }
trap stop EXIT
$BIN/telebill worker >"$LOGS/worker.log" 2>&1 & pids+=($!)
for kind in $CHANNELS dlq; do
  $BIN/telebill consume "$kind" >"$LOGS/consume-$kind.log" 2>&1 & pids+=($!)
done

$BIN/telebill settle --month "$MONTH" --wait
echo "notifying $MONTH (clock set to its send month's last day, 14:00 Asia/Seoul)…"
$BIN/telebill status --month "$MONTH" --follow
$BIN/telebill lag
UI=$($BIN/python -c 'from telebill.config import get_settings as g; print(g().temporal_ui_url or "")')
if [ -n "$UI" ]; then
  echo "Temporal UI: $UI/namespaces/default/workflows?query=BillingMonth%3D%22$MONTH%22"
  echo "  filter by state, e.g. NotifyStatus=\"DELIVERED_SMS\" or NotifyStatus=\"STUCK\""
fi
echo "logs of the worker and consumers: $LOGS/"
# The month as operators look at it: one HTML page with its charts (open it in any browser).
$BIN/telebill report --month "$MONTH" --html "$LOGS/report-$MONTH.html"

# The admin console over the same installation, left running after the demo (reads need nothing
# else; its send buttons need `telebill worker` and the consumers, as above). A demo admin is
# (re)created with a fresh token each run.
# serve NAME URL-OF-ITS-HEALTH: (re)start `telebill NAME serve` in the background, left
# running after the demo, and wait until it answers.
serve() {
  if [ -f "$LOGS/$1.pid" ]; then kill "$(cat "$LOGS/$1.pid")" 2>/dev/null || true; sleep 1; fi
  setsid nohup $BIN/telebill "$1" serve >"$LOGS/$1.log" 2>&1 </dev/null &
  echo $! >"$LOGS/$1.pid"
  for _ in $(seq 100); do
    $BIN/python -c "import httpx; httpx.get('$2').raise_for_status()" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "telebill $1 serve did not answer at $2: see $LOGS/$1.log" >&2
}
$BIN/telebill api user remove --name demo-admin >/dev/null 2>&1 || true
TOKEN=$($BIN/telebill api user add --name demo-admin --role admin | sed -n 's/.*(shown once): //p')
API=$($BIN/python -c 'from telebill.config import get_settings as g; s = g(); print(f"http://{s.api_host}:{s.api_port}")')
serve api "$API/api/health"
echo "admin console: $API/console (sign in with the token $TOKEN); API: $API/docs"
echo "  stop it: kill \$(cat $LOGS/api.pid)"

# The members' bill page over the same installation, left running too: the link each message
# carries (AlimTalk's button, a push's web fallback, the e-mail's "view in browser") opens its
# bill there.
WEB=$($BIN/python -c 'from telebill.config import get_settings as g; print(g().web_url)')
serve web "$WEB/healthz"
echo "bill page: $WEB (a bill's link: telebill templates preview --channel alimtalk --bill <id>)"
echo "  stop it: kill \$(cat $LOGS/web.pid)"
