#!/usr/bin/env bash
# What one code + PKCE flow costs: Etupass's CPU, and on PostgreSQL the server's CPU (every
# `postgres` process) and transactions (pg_stat_database), per flow.
#
#   bash benches/flow_cost.sh                                                   # SQLite
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/flow_cost.sh
#
# Etupass runs on core SERVER_CPU (one HTTP worker, argon2 made cheap so the flow's own
# cost shows), the flow driver (benches/flow.py, FLOW_THREADS browsers) on LOAD_CPU; FLOWS
# flows are measured after a warm-up. Compare two binaries by running it with BIN set to
# each, interleaved: on a shared machine one run alone says little.
set -euo pipefail
cd "$(dirname "$0")/.."

FLOWS="${FLOWS:-400}"
FLOW_THREADS="${FLOW_THREADS:-4}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"

source benches/serve.sh
prepare_server flow_cost
prepare_flow_bench
SERVER_WRAPPER="taskset -c $SERVER_CPU" start_server "$WORK/server.log"

flows() {
    taskset -c "$LOAD_CPU" python3 benches/flow.py etupass "$ISSUER" "$CLIENT_ID" "$SECRET" \
        "$REDIRECT" "$USERNAME" "$PASSWORD" "$1" "$FLOW_THREADS"
}
transactions() {
    [[ -n "$PGDB" ]] || { echo 0; return; }
    psql "$DATABASE_URL" -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = '$PGDB'"
}

flows 40 >/dev/null
before=("$(ticks "$SERVER")" "$(postgres_ticks)" "$(transactions)")
out="$(flows "$FLOWS")"
after=("$(ticks "$SERVER")" "$(postgres_ticks)")
sleep 1 # the statistics collector reports about once a second
after+=("$(transactions)")
python3 - "$FLOWS" "$(getconf CLK_TCK)" "$out" "${before[@]}" "${after[@]}" "${PGDB:+PostgreSQL}" <<'PY'
import sys
flows, hz, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
b_etu, b_pg, b_tx, a_etu, a_pg, a_tx = map(int, sys.argv[4:10])
backend = sys.argv[10] if len(sys.argv) > 10 and sys.argv[10] else "SQLite"
done, seconds = out.split()
ms = lambda ticks: ticks * 1000 / hz / flows
line = f"{backend}: {int(done) / float(seconds):.0f} flows/s, Etupass {ms(a_etu - b_etu):.2f} ms CPU per flow"
if backend == "PostgreSQL":
    line += f", PostgreSQL {ms(a_pg - b_pg):.2f} ms CPU and {(a_tx - b_tx) / flows:.1f} transactions per flow"
print(line)
PY
