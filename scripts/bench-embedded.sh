#!/usr/bin/env bash
# The embedded default (SQLite, local files, in-process worker) beside PostgreSQL and
# nginx, in one run: list page, detail, thumbnail and original GETs as req/s and ratios,
# and the SQLite list page from 1k to 1M images.
#
# Usage: scripts/bench-embedded.sh
#   BENCH_DURATION=10 (seconds per load), BENCH_CONNECTIONS=32, BENCH_THREADS=2,
#   BENCH_ROUNDS=3, BENCH_UPLOADS=200, BENCH_FLAT_SIZES=1000,1000000,
#   BENCH_PARTS=backends,flat, BENCH_PG=postgres://postgres@127.0.0.1:5432 (the database
#   imagevault_bench_embedded is dropped and recreated).
#
# Installs what is missing (wrk, nginx, psql with apt-get, as scripts/bench-api.sh does),
# builds the release server and runs scripts/bench_embedded.py. Nothing is checked: the
# figures are reported. Work files go to target/bench-embedded (removed at the next run).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=scripts/bench-tools.sh
. "$repo/scripts/bench-tools.sh"
install_load_tools

echo "building imagevault-server (release)" >&2
cargo build -q --release -p imagevault-server
exec python3 "$repo/scripts/bench_embedded.py" "$repo/target/release/imagevault-server" \
    "$repo/target/bench-embedded"
