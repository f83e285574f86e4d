#!/usr/bin/env bash
# One instance against two on one PostgreSQL database: how close two `etupass serve`
# processes, each pinned to its own core, come to twice one instance.
#
#   bash benches/scale.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/scale.sh  # (the default)
#
# Instance A runs on core 0; for the second half, instance B joins on core 1 and the load
# is split between them (two wrk processes, two flow drivers, half the connections each).
# The load generators are not pinned: on a 2-core machine they share the cores with the
# instances and with PostgreSQL, so two instances cannot reach twice one here; the table
# gives what they do reach, with the CPU each request costs Etupass and PostgreSQL, which
# says where the next core would go. Works: client_credentials (opaque tokens) and the
# code + PKCE flow (benches/flow.py, argon2 made cheap so the flow's own cost shows).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
FLOWS="${FLOWS:-400}"
FLOW_THREADS="${FLOW_THREADS:-4}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

source benches/serve.sh
prepare_server scale
SECOND=""
trap '[[ -n "$SECOND" ]] && { kill "$SECOND" 2>/dev/null; wait "$SECOND" 2>/dev/null; }; cleanup_server' EXIT
prepare_flow_bench --grant-type client_credentials
SERVER_WRAPPER="taskset -c 0" start_server "$WORK/a.log"
FIRST="$SERVER" A="$ISSUER"

LUA="$WORK/cc.lua"
printf 'wrk.method = "POST"\nwrk.body = "grant_type=client_credentials"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.headers["Authorization"] = "Basic %s"\n' \
    "$(printf '%s:%s' "$CLIENT_ID" "$SECRET" | base64 -w0)" >"$LUA"

# cc LABEL PIDS URLS: client_credentials against each URL at once, the connections split.
cc() {
    local label="$1" pids="$2" urls=($3) per out requests=0 rps=0 before pg_before
    per=$((CONNECTIONS / ${#urls[@]}))
    for url in "${urls[@]}"; do wrk -t1 -c"$per" -d2s -s "$LUA" "$url/token" >/dev/null & done
    wait_load
    before="$(ticks $pids)" pg_before="$(postgres_ticks)"
    local i=0
    for url in "${urls[@]}"; do i=$((i + 1)); wrk -t1 -c"$per" -d"$DURATION" -s "$LUA" "$url/token" >"$WORK/wrk.$i" & done
    wait_load
    report "$label" "client_credentials, opaque" "$before" "$(ticks $pids)" "$pg_before" \
        "$(cat "$WORK"/wrk.* | awk '/requests in/ { n += $1 } END { print n }')" \
        "$(cat "$WORK"/wrk.* | awk '/Requests\/sec/ { r += $2 } END { print r }')"
    rm -f "$WORK"/wrk.*
}

# flows LABEL PIDS URLS: the code flow against each URL at once, the flows split.
flows() {
    local label="$1" pids="$2" urls=($3) per before pg_before start seconds
    per=$((FLOWS / ${#urls[@]}))
    before="$(ticks $pids)" pg_before="$(postgres_ticks)" start="$(date +%s.%N)"
    for url in "${urls[@]}"; do
        python3 benches/flow.py etupass "$url" "$CLIENT_ID" "$SECRET" "$REDIRECT" "$USERNAME" \
            "$PASSWORD" "$per" "$((FLOW_THREADS / ${#urls[@]} > 0 ? FLOW_THREADS / ${#urls[@]} : 1))" >/dev/null &
    done
    wait_load
    seconds="$(python3 -c "import time; print(time.time() - $start)")"
    report "$label" "code + PKCE flow" "$before" "$(ticks $pids)" "$pg_before" \
        "$((per * ${#urls[@]}))" "$(python3 -c "print($((per * ${#urls[@]})) / $seconds)")"
}

wait_load() { # every background job but the servers
    local job
    for job in $(jobs -p); do
        [[ "$job" == "$FIRST" || "$job" == "$SECOND" ]] || wait "$job"
    done
}

ROWS="$WORK/rows"
report() { # LABEL WORK TICKS_BEFORE TICKS_AFTER PG_TICKS_BEFORE COUNT RATE
    local hz
    hz="$(getconf CLK_TCK)"
    python3 - "$@" "$(postgres_ticks)" "$hz" >>"$ROWS" <<'PY'
import json, sys
label, work, before, after, pg_before, count, rate, pg_after, hz = sys.argv[1:10]
count = max(int(count), 1)
print(json.dumps({"instances": label, "work": work, "rate": float(rate),
    "etupass_ms": (int(after) - int(before)) * 1000 / int(hz) / count,
    "postgres_ms": (int(pg_after) - int(pg_before)) * 1000 / int(hz) / count}))
PY
}

echo "== one instance (core 0)" >&2
cc one "$FIRST" "$A"
flows one "$FIRST" "$A"

PORT_B="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
B="http://127.0.0.1:$PORT_B"
(cd "$WORK" && ETUPASS_BIND="127.0.0.1:$PORT_B" ETUPASS_ISSUER="$B" exec taskset -c 1 "$BIN" serve >"$WORK/b.log" 2>&1) &
SECOND=$!
for _ in $(seq 1 100); do curl -fs "$B/healthz" >/dev/null && break; sleep 0.1; done
curl -fs "$B/healthz" >/dev/null || { echo "the second instance did not start" >&2; cat "$WORK/b.log" >&2; exit 1; }
echo "== two instances (cores 0 and 1)" >&2
cc two "$FIRST $SECOND" "$A $B"
flows two "$FIRST $SECOND" "$A $B"

python3 - "$ROWS" "$CONNECTIONS" "$DURATION" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
one = {r["work"]: r for r in rows if r["instances"] == "one"}
print(f"\nOne PostgreSQL; wrk -t1 -c{sys.argv[2]} -d{sys.argv[3]} split between the instances\n")
print("| work | instances | per second | Etupass CPU ms each | PostgreSQL CPU ms each | two over one |")
print("|---|---|---|---|---|---|")
for r in rows:
    ratio = f'{r["rate"] / one[r["work"]]["rate"]:.2f}×' if r["instances"] == "two" else "-"
    print(f'| {r["work"]} | {r["instances"]} | {r["rate"]:.0f} | {r["etupass_ms"]:.3f} | {r["postgres_ms"]:.3f} | {ratio} |')
PY
