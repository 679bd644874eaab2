#!/usr/bin/env bash
# Hostile load on the server: 50 concurrent 25 MiB uploads and decompression bombs fired
# 10 at a time, with RSS and /healthz watched throughout.
#
# Usage: scripts/stress.sh
#   STRESS_UPLOADS=50 (concurrent big uploads), STRESS_ROUNDS=3 (rounds of bombs).
#
# Builds the release server and runs scripts/stress.py, which starts it on its embedded
# defaults (SQLite, local files, in-process worker) on a free loopback port, and prints
# one table with the measured peak RSS against the stated bound and the /healthz
# latencies against 100 ms. Work files go to target/stress (removed at the next run).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
echo "building imagevault-server (release)" >&2
cargo build -q --release -p imagevault-server
exec python3 "$repo/scripts/stress.py" "$repo/target/release/imagevault-server" "$repo/target/stress"
