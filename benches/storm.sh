#!/usr/bin/env bash
# A storm of 1,000 sign-ins at once on a real `etupass serve`, with the default argon2id
# parameters, while the server's memory is sampled (benches/storm.py).
#
#   bash benches/storm.sh                  # SQLite
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/storm.sh
#
# All browsers come from 127.0.0.1 and name one account, so the per-address limit on
# sign-ins in progress and the guessing counters are raised here: what is measured is
# the hash queue's bound (password_hash_queue), past which a sign-in is answered 503 at
# once, and the memory the storm costs.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-1000}"
ulimit -n 65536 2>/dev/null || true
source benches/serve.sh
prepare_server storm
export RUST_LOG=warn ETUPASS_SIGN_IN_CONCURRENCY_PER_ADDRESS="$COUNT" \
    ETUPASS_THROTTLE_IP_FREE_ATTEMPTS=1000000 ETUPASS_THROTTLE_ACCOUNT_FREE_ATTEMPTS=1000000
echo "storm password 123456" | "$BIN" identity add --number 20000002 --family-name Storm \
    --given-name Sign --birth-date 2000-01-01 --affiliation student --password-stdin >/dev/null
start_server "$WORK/server.log"
python3 benches/storm.py "$ISSUER" "$SERVER" 20000002 "storm password 123456" "$COUNT"
