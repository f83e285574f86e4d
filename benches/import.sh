#!/usr/bin/env bash
# Enrollment benchmark: imports ROWS (default 50,000) generated identities with the
# release binary, then imports the same file again (the idempotent path).
#
#   bash benches/import.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash benches/import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-50000}"
cargo build --release --quiet
BIN="$PWD/target/release/etupass"
WORK="$(mktemp -d)"
PGDB=""
if [[ -n "${DATABASE_URL:-}" ]]; then
    PGDB="etupass_import_$$"
    psql "$DATABASE_URL" -qc "CREATE DATABASE $PGDB"
    export ETUPASS_DATABASE_URL="${DATABASE_URL%/*}/$PGDB"
else
    export ETUPASS_DATABASE_URL="sqlite://$WORK/etupass.db"
fi
export ETUPASS_KEYS_DIR="$WORK/keys"
cleanup() {
    [[ -n "$PGDB" ]] && psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" || true
    rm -rf "$WORK"
}
trap cleanup EXIT

python3 - "$ROWS" "$WORK/registrar.csv" <<'PY'
import random, sys
rows, path = int(sys.argv[1]), sys.argv[2]
random.seed(7)
families = ["Martin", "Bernard", "Le Fèvre", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefèbvre", "Michel", "Garcia", "N'Diaye", "Nguyen"]
givens = ["Élodie", "Lucas", "Zoé", "Hugo", "Chloé", "Louis", "Inès", "Jules", "Léa", "Noah", "Anaïs", "Gabriel", "Maëlys", "Arthur", "Jean-Luc"]
with open(path, "w", encoding="utf-8") as out:
    out.write("numero;nom;prenom;date_naissance;affiliation;mail_perso\n")
    for i in range(rows):
        out.write(f"{22000000 + i};{random.choice(families)};{random.choice(givens)};"
                  f"{random.randint(1990, 2007)}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d};"
                  f"student;perso{i}@mail.example\n")
PY
"$BIN" migrate >/dev/null
echo "backend: $([[ -n "$PGDB" ]] && echo postgresql || echo sqlite), $ROWS rows"
start=$(date +%s.%N); "$BIN" identity import "$WORK/registrar.csv"; end=$(date +%s.%N)
python3 -c "print(f'first import: {$end - $start:.2f} s')"
start=$(date +%s.%N); "$BIN" identity import "$WORK/registrar.csv"; end=$(date +%s.%N)
python3 -c "print(f're-import (unchanged): {$end - $start:.2f} s')"
