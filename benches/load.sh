#!/usr/bin/env bash
# Load benchmark of the HTTP endpoints, on loopback only.
#
#   bash benches/load.sh            # SQLite
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/load.sh
#
# Builds the release binary, starts `etupass serve` in a temporary directory on a free
# port, provisions a first-party client and a test identity with cheap argon2 parameters
# (so the flow's own cost shows, not the hash), then measures with wrk (Debian package):
# discovery, JWKS, userinfo, and the whole sign-in flow (GET /authorize, POST /login,
# POST /token: benches/signin_flow.lua). Every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
FLOW_CONNECTIONS="${FLOW_CONNECTIONS:-4}"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
source benches/serve.sh
prepare_server bench
export ETUPASS_ARGON2_MEMORY_KIB=64 ETUPASS_ARGON2_ITERATIONS=1 RUST_LOG=warn

REDIRECT="http://127.0.0.1:9/cb"
CLIENT_JSON="$("$BIN" client add --name bench --redirect-uri "$REDIRECT" --first-party \
    --grant-type authorization_code --grant-type client_credentials)"
DEVICE_JSON="$("$BIN" client add --name kiosk --public --grant-type device_code)"
DEVICE_CLIENT_ID="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$DEVICE_JSON")"
CLIENT_ID="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$CLIENT_JSON")"
CLIENT_SECRET="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$CLIENT_JSON")"
echo "bench password 123" | "$BIN" identity add --number 20000001 --family-name Bench --given-name Load \
    --birth-date 2000-01-01 --affiliation student --password-stdin >/dev/null

start_server

# One sign-in flow with curl, for the bearer token the userinfo run needs.
flow() {
    local jar verifier challenge page csrf request location code
    jar="$(mktemp -p "$WORK")"
    verifier="$(head -c 48 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | cut -c1-64)"
    challenge="$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')"
    page="$(curl -fs -c "$jar" -b "$jar" "$ISSUER/authorize?response_type=code&client_id=$CLIENT_ID&redirect_uri=$REDIRECT&scope=openid%20profile&state=s&nonce=n&code_challenge=$challenge&code_challenge_method=S256")"
    csrf="$(grep -o 'name="csrf_token" value="[^"]*"' <<<"$page" | sed 's/.*value="//; s/"$//')"
    request="$(grep -o 'name="request" value="[^"]*"' <<<"$page" | sed 's/.*value="//; s/"$//; s/&amp;/\&/g; s/&#x3D;/=/g')"
    location="$(curl -fs -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" \
        --data-urlencode "csrf_token=$csrf" --data-urlencode "request=$request" \
        --data-urlencode "username=20000001" --data-urlencode "password=bench password 123" "$ISSUER/login")"
    code="$(sed 's/.*[?&]code=\([^&]*\).*/\1/' <<<"$location")"
    curl -fs -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "grant_type=authorization_code" \
        --data-urlencode "code=$code" --data-urlencode "redirect_uri=$REDIRECT" \
        --data-urlencode "code_verifier=$verifier" "$ISSUER/token" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
    rm -f "$jar"
}

TOKEN="$(flow)"
[[ -n "$TOKEN" ]] || { echo "the sign-in flow failed" >&2; exit 1; }

LUA="$WORK/bearer.lua"
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$TOKEN" >"$LUA"

echo "backend: $([[ -n "$PGDB" ]] && echo postgresql || echo sqlite); wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
for endpoint in "/.well-known/openid-configuration" "/jwks"; do
    echo "== GET $endpoint"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$ISSUER$endpoint" | grep -E "Requests/sec|Latency|50%|99%"
done
echo "== GET /userinfo (bearer)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA" "$ISSUER/userinfo" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"

# Token requests: one HTTP Basic check, one random token, one insert; a pushed request
# (RFC 9126) is a validation and one insert; a device authorization two digests and an insert.
post_lua() { # body, authorization header (or empty)
    printf 'wrk.method = "POST"\nwrk.body = "%s"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n' "$1"
    [[ -n "$2" ]] && printf 'wrk.headers["Authorization"] = "%s"\n' "$2"
    return 0
}
BASIC="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
post_lua "grant_type=client_credentials" "$BASIC" >"$WORK/cc.lua"
post_lua "response_type=code&redirect_uri=$REDIRECT&scope=openid%20profile&state=s" "$BASIC" >"$WORK/par.lua"
post_lua "client_id=$DEVICE_CLIENT_ID&scope=openid" "" >"$WORK/device.lua"
for run in "POST /token (client_credentials):/token:cc" "POST /par:/par:par" "POST /device_authorization:/device_authorization:device"; do
    IFS=: read -r title path script <<<"$run"
    echo "== $title"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/$script.lua" "$ISSUER$path" \
        | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
done

echo "== whole sign-in flow (GET /authorize + POST /login + POST /token; cheap argon2), wrk -t$FLOW_CONNECTIONS -c$FLOW_CONNECTIONS"
FLOW_VERIFIER="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
FLOW_CHALLENGE="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
export FLOW_VERIFIER FLOW_REDIRECT_URI="$REDIRECT" FLOW_USERNAME=20000001 FLOW_PASSWORD="bench password 123"
export FLOW_BASIC="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
export FLOW_AUTHORIZE_PATH="/authorize?response_type=code&client_id=$CLIENT_ID&redirect_uri=$REDIRECT&scope=openid%20profile&state=s&nonce=n&code_challenge=$FLOW_CHALLENGE&code_challenge_method=S256"
wrk -t"$FLOW_CONNECTIONS" -c"$FLOW_CONNECTIONS" -d"$DURATION" --latency -s benches/signin_flow.lua "$ISSUER" \
    | tee "$WORK/flow.txt" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|errors"
python3 - "$WORK/flow.txt" <<'PY'
import re, sys
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", open(sys.argv[1]).read()).group(1))
print(f"=> {rps / 3:.0f} complete sign-in flows/s (3 requests each)")
PY
