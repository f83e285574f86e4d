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
#
# Then a burst: BURST (300) concurrent wrong sign-ins from 127.0.0.50 while a student on
# 127.0.0.51 signs in every 0.2 s; it prints how the burst was answered and how long the
# student's sign-ins took meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."

TRIES="${TRIES:-30}"
source benches/serve.sh
prepare_server timing
export ETUPASS_THROTTLE_ACCOUNT_FREE_ATTEMPTS=1000 ETUPASS_THROTTLE_IP_FREE_ATTEMPTS=100000
export ETUPASS_THROTTLE_ACCOUNT_LOCKOUT_AFTER=100 RUST_LOG=warn
[[ -n "${CHEAP_HASH:-}" ]] && export ETUPASS_ARGON2_MEMORY_KIB=64 ETUPASS_ARGON2_ITERATIONS=1

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
add 20000106 student "$PASSWORD"

start_server

python3 - "$ISSUER" "$TRIES" "${BURST:-300}" "$PASSWORD" <<'PY'
import http.cookiejar, re, statistics, sys, time, urllib.parse, urllib.request, urllib.error

issuer, tries, burst, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
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

# Round-robin in a shuffled order each round: the machine's drift falls on every case
# alike instead of on whichever ran during a slow minute.
import random
times = {label: [] for label, _ in cases}
statuses = {label: set() for label, _ in cases}
for _, name in cases:
    attempt(name)  # warm-up
for _ in range(tries):
    for label, name in random.sample(cases, len(cases)):
        elapsed, status = attempt(name)
        times[label].append(elapsed)
        statuses[label].add(status)
medians = {}
for label, _ in cases:
    medians[label] = statistics.median(times[label])
    print(f"{label:45} median {medians[label] * 1000:7.1f} ms  statuses {sorted(statuses[label])}")
base = medians[cases[0][0]]
print()
for label, _ in cases[1:]:
    print(f"{label:45} / wrong password: {medians[label] / base:5.2f}")

# The burst, from one address, while someone else signs in from another.
import http.client, threading
host, port = issuer.split("//")[1].split(":")
port = int(port)

def sign_in_from(source, name, secret):
    conn = http.client.HTTPConnection(host, port, timeout=60, source_address=(source, 0))
    conn.request("GET", "/login")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = "; ".join(h.split(";")[0] for k, h in response.getheaders() if k.lower() == "set-cookie")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": csrf, "request": "", "username": name, "password": secret})
    start = time.perf_counter()
    conn.request("POST", "/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    status = conn.getresponse().status
    elapsed = time.perf_counter() - start
    conn.close()
    return status, elapsed

burst_statuses = {}
lock = threading.Lock()
def attacker(n):
    status, _ = sign_in_from("127.0.0.50", f"2990{n:04d}", "a wrong password, surely")
    with lock:
        burst_statuses[status] = burst_statuses.get(status, 0) + 1

student = []
done = threading.Event()
def sign_ins():
    while not done.is_set():
        student.append(sign_in_from("127.0.0.51", "20000106", password))
        time.sleep(0.2)

before = [sign_in_from("127.0.0.51", "20000106", password)[1] for _ in range(5)]
watcher = threading.Thread(target=sign_ins)
watcher.start()
start = time.perf_counter()
threads = [threading.Thread(target=attacker, args=(n,)) for n in range(burst)]
for t in threads:
    t.start()
for t in threads:
    t.join()
burst_time = time.perf_counter() - start
done.set()
watcher.join()
print()
print(f"burst of {burst} wrong sign-ins from one address, answered in {burst_time:.2f} s: "
      + ", ".join(f"{k}: {v}" for k, v in sorted(burst_statuses.items())))
times = [t for _, t in student]
print(f"the student's sign-ins from another address: before the burst median "
      f"{statistics.median(before) * 1000:.0f} ms; during it {len(times)} sign-ins, statuses "
      f"{sorted(set(s for s, _ in student))}, median {statistics.median(times) * 1000:.0f} ms, "
      f"slowest {max(times) * 1000:.0f} ms")
PY
