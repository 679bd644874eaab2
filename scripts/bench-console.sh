#!/usr/bin/env bash
# The console benchmark: requests per second of the gallery page (GET /, HTML, with a
# session cookie from the login form) against the JSON list page (GET /api/images/, with a
# token) for one user's images on SQLite, measured in one run on loopback.
#
# Usage: scripts/bench-console.sh
#   BENCH_IMAGES=100 (the user's images), BENCH_DURATION=10 (seconds per load),
#   BENCH_CONNECTIONS=32, BENCH_THREADS=2, BENCH_ROUNDS=3 (the two loads take turns this
#   many times; medians are reported).
#
# Installs wrk when it is missing (apt-get, Debian), builds the release server and runs
# scripts/bench_console.py, which starts the server, seeds the user, runs one bounded wrk
# load at a time and prints both figures and their ratio. Nothing is checked: the figures
# are reported. Work files go to target/bench-console (removed at the next run).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

if ! command -v wrk >/dev/null; then
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    echo "installing wrk with apt-get" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >&2
fi

echo "building imagevault-server (release)" >&2
cargo build -q --release -p imagevault-server
exec python3 "$repo/scripts/bench_console.py" "$repo/target/release/imagevault-server" "$repo/target/bench-console"
