#!/usr/bin/env bash
# Sign-in timing by kind of account: does a failed sign-in take the same time whether
# the name exists or not? (It must: the time would otherwise tell which numbers exist.)
#
#   bash benches/sign_in_timing.sh            # SQLite
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/sign_in_timing.sh
#
# Builds the release binary, starts `etupass serve` with the DEFAULT argon2id cost on a
# free loopback port, provisions an active account, one awaiting activation (no
# password), a locked one, an alumnus and a parent, then POSTs /login TRIES times per
# case (a wrong password, or an unknown name) and prints the median time of each case
# and its ratio to a wrong password on the active account. Throttling is raised for the
# run (each case is tried more often than a person would be allowed).
set -euo pipefail
cd "$(dirname "$0")/.."

TRIES="${TRIES:-30}"
source benches/serve.sh
prepare_server timing
export ETUPASS_THROTTLE_ACCOUNT_FREE_ATTEMPTS=1000 ETUPASS_THROTTLE_IP_FREE_ATTEMPTS=100000
export ETUPASS_THROTTLE_ACCOUNT_LOCKOUT_AFTER=100 RUST_LOG=warn

add() { # number affiliation [password]
    local args=(identity add --number "$1" --family-name Timing --given-name Case
        --birth-date 2000-01-01 --affiliation "$2" --personal-email "$1@personal.example")
    if [[ $# -ge 3 ]]; then
        echo "$3" | "$BIN" "${args[@]}" --password-stdin >/dev/null
    else
        "$BIN" "${args[@]}" >/dev/null
    fi
}
PASSWORD="timing bench password 42"
add 20000101 student "$PASSWORD"
add 20000102 student
add 20000103 student "$PASSWORD"
"$BIN" identity lock 20000103 >/dev/null
add 20000104 student "$PASSWORD"
"$BIN" identity graduate 20000104 >/dev/null
add 20000105 parent "$PASSWORD"

start_server

python3 - "$ISSUER" "$TRIES" <<'PY'
import http.cookiejar, re, statistics, sys, time, urllib.parse, urllib.request, urllib.error

issuer, tries = sys.argv[1], int(sys.argv[2])
cases = [
    ("wrong password, active account", "20000101"),
    ("unknown number", "29999999"),
    ("unknown e-mail", "nobody@univ.example"),
    ("account awaiting activation (no password)", "20000102"),
    ("locked account", "20000103"),
    ("alumnus", "20000104"),
    ("parent", "20000105"),
]

def attempt(name):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(issuer + "/login").read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": csrf, "request": "", "username": name,
                                   "password": "a wrong password, surely"}).encode()
    start = time.perf_counter()
    try:
        opener.open(issuer + "/login", data=body)
        status = 200
    except urllib.error.HTTPError as error:
        status = error.code
    return time.perf_counter() - start, status

medians = {}
for label, name in cases:
    attempt(name)  # warm-up
    times, statuses = [], set()
    for _ in range(tries):
        elapsed, status = attempt(name)
        times.append(elapsed)
        statuses.add(status)
    medians[label] = statistics.median(times)
    print(f"{label:45} median {medians[label] * 1000:7.1f} ms  statuses {sorted(statuses)}")
base = medians[cases[0][0]]
print()
for label, _ in cases[1:]:
    print(f"{label:45} / wrong password: {medians[label] / base:5.2f}")
PY
