# Sourced by the benchmark scripts: a real `etupass serve` on a free loopback port, in a
# temporary directory, on SQLite or (with DATABASE_URL) a fresh PostgreSQL database that
# is dropped at exit. Set the ETUPASS_* settings of the run before `start_server`.
#
#   prepare_server NAME      builds the release binary (unless BIN is set), sets BIN, WORK,
#                            PORT, ISSUER and the database; NAME names the database
#   start_server [LOG]       starts it (output to LOG, if given) and waits for /healthz;
#                            SERVER_WRAPPER, if set, is a command that execs it (taskset)
#   prepare_flow_bench [ARG…] one HTTP worker, argon2 made cheap (the flow's own cost
#                            shows), a first-party client for the code flow (CLIENT_ID,
#                            SECRET; ARGs are more `client add` options) and the identity
#                            USERNAME with PASSWORD (REDIRECT, USERNAME, PASSWORD set)
#   ticks PID…               the CPU ticks (user + system) of those processes
#   postgres_ticks           the same for every PostgreSQL process (0 on SQLite)
#
# Cleanup (the server stopped, the database dropped, WORK removed) runs at exit.

prepare_server() {
    if [[ -z "${BIN:-}" ]]; then
        cargo build --release --quiet
        BIN="$PWD/target/release/etupass"
    fi
    BIN="$(realpath "$BIN")"
    WORK="$(mktemp -d)"
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    ISSUER="http://127.0.0.1:$PORT"
    PGDB=""
    if [[ -n "${DATABASE_URL:-}" ]]; then
        # The benches' PostgreSQL is on this machine: TLS over loopback (libpq's default
        # `prefer`, and Debian's server has ssl = on) would encrypt nothing worth it and
        # cost Etupass a tenth to a fifth of its CPU per request (docs/operations.md).
        # PGSSLMODE=prefer measures it anyway.
        export PGSSLMODE="${PGSSLMODE:-disable}"
        PGDB="etupass_${1}_$$"
        psql "$DATABASE_URL" -qc "CREATE DATABASE $PGDB"
        export ETUPASS_DATABASE_URL="${DATABASE_URL%/*}/$PGDB"
    else
        export ETUPASS_DATABASE_URL="sqlite://$WORK/etupass.db"
    fi
    export ETUPASS_KEYS_DIR="$WORK/keys" ETUPASS_ISSUER="$ISSUER" ETUPASS_BIND="127.0.0.1:$PORT"
    export ETUPASS_MAIL_DIR="$WORK/mail"
    trap cleanup_server EXIT
}

cleanup_server() {
    [[ -n "${SERVER:-}" ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
    [[ -n "${PGDB:-}" ]] && psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" || true
    rm -rf "$WORK"
}

start_server() {
    local log="${1:-/dev/stdout}"
    # SERVER_WRAPPER (`taskset -c 0`, say) execs the server: $SERVER is its process.
    (cd "$WORK" && exec ${SERVER_WRAPPER:-} "$BIN" serve >"$log" 2>&1) &
    SERVER=$!
    for _ in $(seq 1 100); do curl -fs "$ISSUER/healthz" >/dev/null && return 0; sleep 0.1; done
    echo "the server did not start" >&2
    [[ -f "$log" ]] && cat "$log" >&2
    exit 1
}

prepare_flow_bench() {
    REDIRECT="http://127.0.0.1:9/cb" USERNAME=20000001 PASSWORD="bench password 123"
    export ETUPASS_ARGON2_MEMORY_KIB=64 ETUPASS_ARGON2_ITERATIONS=1 ETUPASS_WORKERS=1 RUST_LOG=warn
    local client
    client="$("$BIN" client add --name bench --redirect-uri "$REDIRECT" --first-party \
        --grant-type authorization_code "$@")"
    CLIENT_ID="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$client")"
    SECRET="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$client")"
    echo "$PASSWORD" | "$BIN" identity add --number "$USERNAME" --family-name Bench \
        --given-name Load --birth-date 2000-01-01 --affiliation student --password-stdin >/dev/null
}

ticks() {
    local total=0 pid
    for pid in "$@"; do
        # A process may end between the listing and the read (autovacuum workers do).
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

postgres_ticks() {
    if [[ -n "${PGDB:-}" ]]; then ticks $(pgrep -x postgres || true); else echo 0; fi
}
