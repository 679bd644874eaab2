#!/usr/bin/env bash
# Every benchmark of imagevault against its peers, one after the other, as one report:
# the thumbnail tables of scripts/bench-thumbnails.sh (pyvips, vipsthumbnail, Pillow) and
# the embedded default's table of scripts/bench-embedded.sh (SQLite and PostgreSQL beside
# nginx) and the API table of scripts/bench-api.sh (PostgreSQL, wrk, nginx). Each script installs what
# it needs and bounds its loads; see them for their settings (BENCH_RUNS, BENCH_THREADS,
# BENCH_DURATION, BENCH_CONNECTIONS, BENCH_SIZES, BENCH_BURST, BENCH_PG). Progress goes to
# stderr, the report to stdout. Nothing is checked: the figures are reported.
#
# Usage: scripts/bench.sh > report.md
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

echo "# imagevault benchmarks"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)," \
    "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), " \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)."
echo
echo "## Thumbnails"
echo
"$repo/scripts/bench-thumbnails.sh"
echo
echo "## The embedded default beside PostgreSQL and nginx"
echo
"$repo/scripts/bench-embedded.sh"
echo
echo "## API"
echo
"$repo/scripts/bench-api.sh"
