#!/usr/bin/env bash
# API fuzzing: schemathesis (from PyPI) against /api/schema/ of a running server,
# authenticated. Exits non-zero on any server error, any response that breaks the
# document (status, content type, headers, body), or a panic in the server's log.
#
# Usage: scripts/schemathesis.sh
#   SCHEMATHESIS_SECONDS=120 (time budget of the run, 10..3600), SCHEMATHESIS_SEED=1.
#
# Installs schemathesis in a virtualenv under target/ when missing, builds the debug
# server, starts it on its embedded defaults (SQLite, local files, in-process worker) on a
# free loopback port with a fresh data directory, creates a token for the administrator
# (who is on Enterprise, so every endpoint is reachable with one identity), uploads an
# image with a link so that there is data to find, and runs the examples, coverage,
# fuzzing and stateful phases. Reports go to target/schemathesis/.
#
# `DELETE /api/auth/token/` is left out: it would revoke the run's own token, and every
# later request would be a 401 (it is covered by tests/api/auth.rs). One worker: with two,
# CPython 3.11's parser fails inside hypothesis ("AST constructor recursion depth
# mismatch"), a bug of the interpreter, not of the server.
#
# Two request-side checks are left out; every response-side check runs.
# - `positive_data_acceptance` expects every request that fits the document to succeed,
#   and a document cannot say that `base_image` or `plan` must name an existing row, or
#   that a username must be free.
# - `negative_data_rejection` expects every request outside the document to be refused,
#   and the server reads fields as Django REST Framework does: a number where a string is
#   expected (`"username": 0`), 0 or 1 for a boolean, and a multipart `name` that
#   replaces `?name=`. The document describes the canonical forms only.
# Login throttling is raised out of the way (per username and address, per username, per
# address): schemathesis sends bad credentials on purpose, and after 5 from one address the
# server would answer 429 (documented) where the `ignored_auth` check wants 401.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
seconds="${SCHEMATHESIS_SECONDS:-120}"
seed="${SCHEMATHESIS_SEED:-1}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 10 || seconds > 3600)); then
    echo "SCHEMATHESIS_SECONDS=$seconds is outside 10..3600" >&2
    exit 2
fi
version="4.32.5"
venv="$repo/target/schemathesis-venv"
work="$repo/target/schemathesis"

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
    echo "installing schemathesis $version in $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
fi

echo "building imagevault-server" >&2
cargo build -q -p imagevault-server
rm -rf "$work"
mkdir -p "$work"

password="schemathesis-admin-password"
target/debug/imagevault-server \
    --database "sqlite://$work/data/imagevault.db" --storage "file://$work/data/media" \
    --log warn --login-failures-before-delay 1000000 \
    --login-failures-per-username 1000000 --login-failures-per-address 1000000 \
    serve --bind 127.0.0.1:0 --admin-password "$password" \
    >"$work/server.out" 2>"$work/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT

base=""
for _ in $(seq 600); do
    base="$(sed -n 's/.*imagevault listening on \(http[^ ]*\).*/\1/p' "$work/server.out")"
    [[ -n "$base" ]] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
[[ -n "$base" ]] || { echo "the server did not start within 60 s" >&2; exit 1; }

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
token="$(curl -sf -X POST -H 'Content-Type: application/json' \
    -d "{\"username\": \"admin\", \"password\": \"$password\"}" "$base/api/auth/token/" |
    json_field token)"
image="$(curl -sf -X POST -H "Authorization: Token $token" -H 'Content-Type: image/jpeg' \
    --data-binary @tests/fixtures/storm_1920x1280_orient6.jpg "$base/api/images/" | json_field id)"
curl -sf -o /dev/null -X POST -H "Authorization: Token $token" -H 'Content-Type: application/json' \
    -d "{\"base_image\": \"$image\", \"expiry_in_seconds\": 3600}" "$base/api/expiring-links/"

echo "schemathesis against $base/api/schema/ for ${seconds} s (seed $seed)" >&2
status=0
"$venv/bin/schemathesis" run "$base/api/schema/" \
    --header "Authorization: Token $token" \
    --checks all --exclude-checks positive_data_acceptance,negative_data_rejection \
    --exclude-operation-id revoke_token \
    --max-time "$seconds" --seed "$seed" --workers 1 \
    --generation-database none --no-color \
    --report junit --report-dir "$work" || status=$?

if grep -q "panicked" "$work/server.log"; then
    echo "the server logged a panic; see $work/server.log" >&2
    status=1
fi
kill -0 "$server" 2>/dev/null || { echo "the server died during the run" >&2; status=1; }
exit "$status"
