#!/usr/bin/env bash
# The API benchmark: imagevault-server on PostgreSQL under loopback load, beside nginx.
#
# Usage: scripts/bench-api.sh
#   BENCH_DURATION=10 (seconds per load), BENCH_CONNECTIONS=32, BENCH_THREADS=2,
#   BENCH_SIZES=1000,100000,1000000 (images of the list users), BENCH_BURST=50,
#   BENCH_ROUNDS=3 (the wrk loads take turns this many times; medians are reported),
#   BENCH_PG=postgres://postgres@127.0.0.1:5432 (a server where `postgres` may create
#   databases; the database imagevault_bench is dropped and recreated).
#
# Installs what is missing (wrk and nginx with apt-get, Debian), builds the release server,
# and runs scripts/bench_api.py, which starts the server and nginx on loopback, seeds the
# users, runs one bounded wrk load at a time and prints one table. Nothing is checked: the
# figures are reported. Work files go to target/bench-api (removed at the next run).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

# shellcheck source=scripts/bench-tools.sh
. "$repo/scripts/bench-tools.sh"
install_load_tools

echo "building imagevault-server (release)" >&2
cargo build -q --release -p imagevault-server
exec python3 "$repo/scripts/bench_api.py" "$repo/target/release/imagevault-server" "$repo/target/bench-api"
