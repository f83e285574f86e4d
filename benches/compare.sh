#!/usr/bin/env bash
# Side by side, in one run: Etupass (SQLite, then PostgreSQL) against the reference OpenID
# Provider, panva's oidc-provider (version pinned in benches/peer/package.json) with its
# in-memory store, the fastest setup that project offers.
#
#   bash benches/compare.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/compare.sh  # (the default)
#
# Each server runs alone, pinned to core SERVER_CPU (taskset; Etupass with one HTTP
# worker), the load generator on core LOAD_CPU. The same wrk runs (a warm-up first) and the
# same flow driver (benches/flow.py) go against each. For every run it records requests
# per second, p50 and p99 latency, and the server's CPU milliseconds per request (utime +
# stime from /proc/PID/stat), then prints one table with the ratio to the peer. Absolute
# numbers on a shared machine are noisy: the ratios and the CPU per request are what count.
# Installs what it lacks: wrk (apt-get), oidc-provider (npm, into benches/peer/node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-3s}"
CONNECTIONS="${CONNECTIONS:-32}"
FLOWS="${FLOWS:-400}"
FLOW_THREADS="${FLOW_THREADS:-4}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
PG_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIRECT="http://127.0.0.1:9/cb"
USERNAME=20000001
PASSWORD="bench password 123"

if ! command -v wrk >/dev/null; then
    [[ $EUID -eq 0 ]] || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk >/dev/null
fi
command -v node >/dev/null || { echo "Node.js 20 or later is needed for the peer" >&2; exit 1; }
(cd benches/peer && npm install --no-audit --no-fund --silent)
if [[ -z "${BIN:-}" ]]; then
    cargo build --release --quiet
    BIN="$PWD/target/release/etupass"
fi
export BIN
RESULTS="$(mktemp)"
trap 'rm -f "$RESULTS"' EXIT
LOAD=(taskset -c "$LOAD_CPU")

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
post_lua() { # file, body, Authorization header
    printf 'wrk.method = "POST"\nwrk.body = "%s"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.headers["Authorization"] = "%s"\n' "$2" "$3" >"$1"
}
bearer_lua() { printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$2" >"$1"; }

# measure SERVER WORK PID URL [LUA]: a warm-up, then the measured run.
measure() {
    local server="$1" work="$2" pid="$3" url="$4" script=() out before after
    [[ -n "${5:-}" ]] && script=(-s "$5")
    "${LOAD[@]}" wrk -t2 -c"$CONNECTIONS" -d"$WARMUP" "${script[@]}" "$url" >/dev/null
    before="$(cpu_ticks "$pid")"
    out="$("${LOAD[@]}" wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "${script[@]}" "$url")"
    after="$(cpu_ticks "$pid")"
    python3 - "$server" "$work" "$before" "$after" "$(getconf CLK_TCK)" "$out" >>"$RESULTS" <<'PY'
import json, re, sys
server, work, before, after, hz, out = sys.argv[1:7]
def ms(text):
    found = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not found:
        sys.exit(f"unreadable latency {text!r} in:\n{out}")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
if "Latency Distribution" not in out:
    sys.exit(f"wrk failed on {work} ({server}):\n{out}")
requests = int(re.search(r"(\d+) requests in", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print(json.dumps({
    "server": server, "work": work, "requests": requests,
    "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
    "p50": ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
    "p99": ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
    "cpu_ms": (int(after) - int(before)) * 1000 / int(hz) / max(requests, 1),
    "errors": int(bad.group(1)) if bad else 0,
}))
PY
}

# measure_flows SERVER KIND PID BASE CLIENT_ID SECRET
measure_flows() {
    local server="$1" kind="$2" pid="$3" base="$4" before after out
    "${LOAD[@]}" python3 benches/flow.py "$kind" "$base" "$5" "$6" "$REDIRECT" "$USERNAME" "$PASSWORD" 40 "$FLOW_THREADS" >/dev/null
    before="$(cpu_ticks "$pid")"
    out="$("${LOAD[@]}" python3 benches/flow.py "$kind" "$base" "$5" "$6" "$REDIRECT" "$USERNAME" "$PASSWORD" "$FLOWS" "$FLOW_THREADS")"
    after="$(cpu_ticks "$pid")"
    python3 - "$server" "$before" "$after" "$(getconf CLK_TCK)" "$out" >>"$RESULTS" <<'PY'
import json, sys
server, before, after, hz, out = sys.argv[1:6]
flows, seconds = out.split()
flows, seconds = int(flows), float(seconds)
print(json.dumps({
    "server": server, "work": "code + PKCE flow (per flow)", "requests": flows,
    "rps": flows / seconds, "p50": None, "p99": None,
    "cpu_ms": (int(after) - int(before)) * 1000 / int(hz) / flows, "errors": 0,
}))
PY
}

# run_all SERVER KIND PID BASE PATH_PREFIX...: the same works against one server.
run_all() {
    local server="$1" kind="$2" pid="$3" base="$4" introspect="$5" userinfo="$6"
    local client="$7" secret="$8" jwt_client="$9" jwt_secret="${10}" work basic token
    work="$(mktemp -d)"
    basic="Basic $(printf '%s:%s' "$client" "$secret" | base64 -w0)"
    measure "$server" "discovery" "$pid" "$base/.well-known/openid-configuration"
    measure "$server" "JWKS" "$pid" "$base/jwks"
    post_lua "$work/cc.lua" "grant_type=client_credentials" "$basic"
    measure "$server" "client_credentials, opaque" "$pid" "$base/token" "$work/cc.lua"
    token="$(curl -fs -u "$client:$secret" -d grant_type=client_credentials "$base/token" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
    post_lua "$work/introspect.lua" "token=$token" "$basic"
    measure "$server" "introspection" "$pid" "$base$introspect" "$work/introspect.lua"
    token="$(python3 benches/flow.py "$kind" "$base" "$client" "$secret" "$REDIRECT" "$USERNAME" "$PASSWORD" 0 1)"
    bearer_lua "$work/userinfo.lua" "$token"
    measure "$server" "userinfo" "$pid" "$base$userinfo" "$work/userinfo.lua"
    post_lua "$work/jwt.lua" "grant_type=client_credentials" \
        "Basic $(printf '%s:%s' "$jwt_client" "$jwt_secret" | base64 -w0)"
    measure "$server" "client_credentials, JWT RS256" "$pid" "$base/token" "$work/jwt.lua"
    measure_flows "$server" "$kind" "$pid" "$base" "$client" "$secret"
    rm -rf "$work"
}

run_peer() {
    local port secret pid
    port="$(free_port)"
    secret="bench-peer-secret-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
    (cd benches/peer && PORT="$port" CLIENT_SECRET="$secret" REDIRECT_URI="$REDIRECT" \
        exec taskset -c "$SERVER_CPU" node server.js >/dev/null 2>&1) &
    pid=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/jwks" >/dev/null && break; sleep 0.1; done
    echo "== oidc-provider $(node -p 'require("./benches/peer/node_modules/oidc-provider/package.json").version') (in memory), node $(node --version)" >&2
    run_all "oidc-provider" peer "$pid" "http://127.0.0.1:$port" /token/introspection /me \
        bench "$secret" bench-jwt "$secret"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_etupass() { # NAME, database URL or empty for SQLite
    (
        if [[ -n "$2" ]]; then export DATABASE_URL="$2"; else unset DATABASE_URL; fi
        source benches/serve.sh
        prepare_server compare
        export ETUPASS_ARGON2_MEMORY_KIB=64 ETUPASS_ARGON2_ITERATIONS=1 ETUPASS_WORKERS=1 RUST_LOG=warn
        bench="$("$BIN" client add --name bench --redirect-uri "$REDIRECT" --first-party --introspect \
            --grant-type authorization_code --grant-type client_credentials)"
        jwt="$("$BIN" client add --name bench-jwt --redirect-uri "$REDIRECT" \
            --grant-type client_credentials --access-token-format jwt)"
        field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
        echo "$PASSWORD" | "$BIN" identity add --number "$USERNAME" --family-name Bench \
            --given-name Load --birth-date 2000-01-01 --affiliation student --password-stdin >/dev/null
        SERVER_WRAPPER="taskset -c $SERVER_CPU" start_server "$WORK/server.log"
        echo "== Etupass ($1), one HTTP worker" >&2
        run_all "Etupass, $1" etupass "$SERVER" "$ISSUER" /introspect /userinfo \
            "$(field client_id <<<"$bench")" "$(field client_secret <<<"$bench")" \
            "$(field client_id <<<"$jwt")" "$(field client_secret <<<"$jwt")"
    )
}

# The ceiling a JWT run is held to: RSA-2048 signatures per second on the server's core
# (openssl, the library Etupass signs with; field 4 of its machine-readable line).
ceiling="$(taskset -c "$SERVER_CPU" openssl speed -seconds 3 -mr rsa2048 2>/dev/null \
    | awk -F: '/^\+F2:/ { printf "%.0f", $4 }')"
echo "{\"server\": \"openssl speed\", \"work\": \"RSA-2048 signatures, the ceiling\", \"requests\": 0, \"rps\": ${ceiling:-0}, \"p50\": null, \"p99\": null, \"cpu_ms\": $(python3 -c "print(1000 / max(${ceiling:-1}, 1))"), \"errors\": 0}" >>"$RESULTS"

# SERVERS chooses the runs (all three by default; the ratios need the peer's).
SERVERS="${SERVERS:-peer sqlite postgresql}"
[[ " $SERVERS " == *" peer "* ]] && run_peer
[[ " $SERVERS " == *" sqlite "* ]] && run_etupass SQLite ""
[[ " $SERVERS " == *" postgresql "* ]] && run_etupass PostgreSQL "$PG_URL"

python3 - "$RESULTS" "$CONNECTIONS" "$DURATION" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
peer = {r["work"]: r for r in rows if r["server"] == "oidc-provider"}
ceiling = next((r["rps"] for r in rows if r["server"] == "openssl speed"), 0)
print(f"\nwrk -t2 -c{sys.argv[2]} -d{sys.argv[3]} (warm-up first); each server alone on one core\n")
print("| work | server | req/s | p50 ms | p99 ms | CPU ms/request | ratio to peer |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    base = peer.get(r["work"])
    if r["work"].endswith("RS256") and ceiling:
        # Held to the signing ceiling too: the share of it the JWT run reaches.
        base = None
    if r["server"] == "openssl speed":
        ratio = "-"
    elif r["work"].startswith("code"):
        # Fewer CPU milliseconds per flow is better: the peer's CPU over ours.
        ratio = f'{base["cpu_ms"] / r["cpu_ms"]:.2f}× (CPU)' if base and r["cpu_ms"] else "-"
    else:
        ratio = f'{r["rps"] / base["rps"]:.2f}×' if base else "-"
        if r["work"].endswith("RS256") and ceiling:
            peer_rps = peer.get(r["work"], {}).get("rps")
            ratio = (f'{r["rps"] / peer_rps:.2f}×, ' if peer_rps else "") + f'{100 * r["rps"] / ceiling:.0f} % of the ceiling'
    p50 = "-" if r["p50"] is None else f'{r["p50"]:.2f}'
    p99 = "-" if r["p99"] is None else f'{r["p99"]:.2f}'
    errors = f' ({r["errors"]} errors)' if r["errors"] else ""
    print(f'| {r["work"]} | {r["server"]} | {r["rps"]:.0f}{errors} | {p50} | {p99} | {r["cpu_ms"]:.3f} | {ratio} |')
PY
