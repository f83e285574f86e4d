#!/usr/bin/env bash
# HTTP fuzzing of every route, on loopback only: a bounded loop of malformed requests
# (random methods, query strings, form and JSON bodies, headers, cookies, invalid UTF-8,
# oversized values) against a real `etupass serve`. It reports every 5xx answer and every
# panic in the server's log, and exits non-zero if there is any.
#
#   bash benches/fuzz_http.sh                  # SQLite, 4000 requests
#   REQUESTS=20000 SEED=7 bash benches/fuzz_http.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/fuzz_http.sh
#
# BIN=path/to/etupass uses that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS="${REQUESTS:-4000}"
SEED="${SEED:-1}"
source benches/serve.sh
prepare_server fuzz
export ETUPASS_ARGON2_MEMORY_KIB=64 ETUPASS_ARGON2_ITERATIONS=1
export RUST_LOG=info RUST_BACKTRACE=1

CLIENT_JSON="$("$BIN" client add --name fuzz --redirect-uri http://127.0.0.1:9/cb \
    --grant-type authorization_code --grant-type refresh_token --grant-type client_credentials)"
echo "fuzz password 12345 abc" | "$BIN" identity add --number 20000001 --family-name Fuzz \
    --given-name Test --birth-date 2000-01-01 --affiliation student --password-stdin >/dev/null

start_server "$WORK/server.log"

status=0
python3 - "$ISSUER" "$REQUESTS" "$SEED" "$CLIENT_JSON" <<'PY' || status=$?
import http.client, json, random, sys, time, urllib.parse

issuer, total, seed, client = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
host, port = issuer.split("//")[1].split(":")
port = int(port)
rng = random.Random(seed)
routes = [
    "/", "/.well-known/openid-configuration", "/jwks", "/authorize", "/token", "/par",
    "/introspect", "/revoke", "/userinfo", "/end_session", "/register", "/register/" + client["client_id"],
    "/register/nope", "/device_authorization", "/device", "/login", "/login/second-factor", "/logout",
    "/consent", "/charter/accept", "/password/change", "/password/forgot", "/password/reset",
    "/number/forgot", "/activate", "/activate/resend", "/theft", "/theft/confirm",
    "/parents/accept", "/account", "/account/app-passwords", "/account/app-passwords/revoke",
    "/account/apps/disconnect", "/account/contact", "/account/email", "/account/email/confirm",
    "/account/parents", "/account/parents/revoke", "/account/parents/share", "/account/password",
    "/account/second-factor", "/account/second-factor/continue", "/account/second-factor/disable",
    "/account/sessions/end", "/api/app-passwords/mail/check", "/api/app-passwords/x/check",
    "/api/attributes/20000001/print", "/api/attributes/%00/%ff", "/healthz", "/readyz",
    "/static/etupass.css", "/static/strength.js", "/nope", "//double", "/%2e%2e/etc/passwd",
]
names = ["response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt",
         "max_age", "code_challenge", "code_challenge_method", "claims", "request_uri", "request",
         "grant_type", "code", "code_verifier", "refresh_token", "token", "token_type_hint",
         "client_secret", "client_assertion", "client_assertion_type", "csrf_token", "username",
         "password", "confirmation", "current_password", "user_code", "decision", "version",
         "accept_charter", "etupass_signed_in", "id_token_hint", "post_logout_redirect_uri",
         "ui_locales", "login_hint", "acr_values", "end_user", "name", "purpose", "id",
         "session_id", "email", "phone", "birth_date", "family_name", "given_names", "keep_access"]
values = ["", "code", client["client_id"], "http://127.0.0.1:9/cb", "openid", "none", "login",
          "S256", "plain", "-1", "0", "99999999999999999999999", "{", "{\"id_token\":{\"acr\":null}}",
          "urn:ietf:params:oauth:grant-type:device_code", "authorization_code", "refresh_token",
          "client_credentials", "a" * 5000, "\u00e9\u0301", "'; DROP TABLE identities;--",
          "<script>alert(1)</script>", "%", "%zz", "\r\nX-Injected: 1", "../../", "\x00",
          "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "urn:ietf:params:oauth:request_uri:zzz",
          "20000001", "fuzz password 12345 abc", "2000-13-45", "yes", "allow", "BCDF-GHJK"]

def value():
    r = rng.random()
    if r < 0.7:
        return rng.choice(values)
    return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(0, 30)))

def form():
    pairs = [(rng.choice(names), value()) for _ in range(rng.randrange(0, 8))]
    return urllib.parse.urlencode(pairs)

def body_and_type():
    r = rng.random()
    if r < 0.55:
        return form().encode(), "application/x-www-form-urlencoded"
    if r < 0.7:
        doc = {rng.choice(names): rng.choice([value(), 1, None, [value()], {"a": value()}]) for _ in range(rng.randrange(0, 5))}
        return json.dumps(doc).encode(), "application/json"
    if r < 0.8:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))), rng.choice(
            ["application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data; boundary=x"])
    if r < 0.85:
        return b"a=" + b"b" * rng.choice([70_000, 300_000]), "application/x-www-form-urlencoded"
    return b"", rng.choice(["", "application/x-www-form-urlencoded"])

def headers(content_type):
    h = {}
    if content_type:
        h["Content-Type"] = content_type
    if rng.random() < 0.3:
        h["Authorization"] = rng.choice(["Basic " + value(), "Bearer " + value(), "Basic Og==",
                                         "Basic " + "YTpi", "Bearer", "Digest x", value()])
    if rng.random() < 0.3:
        h["Cookie"] = rng.choice(["etupass_session=" + value(), "etupass_csrf=x; etupass_session=y",
                                  "etupass_device=a.b.c", "etupass_device=" + "x" * 200, "=; ;"])
    if rng.random() < 0.2:
        h["X-Forwarded-For"] = rng.choice(["1.2.3.4", "garbage", ", ,", "::1, 10.0.0.1"])
    if rng.random() < 0.2:
        h["Accept-Language"] = rng.choice(["en", "fr;q=0.1", "zz", "*", "\u00e9"])
    return h

statuses, failures = {}, []
start = time.time()
for n in range(total):
    # Mostly the methods the routes answer; the others (404) now and then.
    method = rng.choices(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"],
                         weights=[40, 48, 3, 3, 3, 2, 1])[0]
    path = rng.choice(routes)
    if rng.random() < 0.6:
        path += "?" + form()
    body, content_type = body_and_type() if method in ("POST", "PUT", "PATCH") else (b"", "")
    conn = http.client.HTTPConnection(host, port, timeout=15)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers(content_type).items():
            # Line breaks would end the header: the HTTP client refuses them, so do we here.
            v = v.replace("\r", "").replace("\n", "").replace("\x00", "")
            conn.putheader(k, v.encode("utf-8", "surrogatepass"))
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        status = conn.getresponse().status
    except Exception as error:  # a dropped connection is as bad as a 5xx
        status = f"error: {type(error).__name__}"
    finally:
        conn.close()
    statuses[status] = statuses.get(status, 0) + 1
    if not isinstance(status, int) or status >= 500:
        failures.append((status, method, path[:120]))
elapsed = time.time() - start
print(f"{total} requests in {elapsed:.1f} s; statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)))
for failure in failures[:20]:
    print("5xx or error:", failure)
sys.exit(1 if failures else 0)
PY
if grep -n "panicked" "$WORK/server.log"; then
    echo "the server panicked (above)"
    exit 1
fi
[[ $status -eq 0 ]] && echo "no 5xx, no panic"
exit $status
