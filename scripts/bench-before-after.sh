#!/usr/bin/env bash
# Two server binaries side by side in one sitting: the list page and the image detail on
# PostgreSQL (scripts/bench_api.py) and the JSON list page and the gallery on SQLite
# (scripts/bench_console.py), the binaries taking turns so that a noisy neighbour hurts
# both alike. For a refactoring that must not make the list page slower.
#
# Usage: scripts/bench-before-after.sh BEFORE_BINARY AFTER_BINARY
#   BENCH_TURNS=2 (how many times each binary runs each benchmark), and the variables of
#   bench_api.py and bench_console.py (BENCH_DURATION, BENCH_ROUNDS, BENCH_CONNECTIONS, ...).
#   Build a binary with `cargo build --release -p imagevault-server` at each commit and copy
#   target/release/imagevault-server away. wrk and nginx come from scripts/bench-api.sh.
# Nothing is checked: every figure is printed with the binary it belongs to.
set -euo pipefail

(($# == 2)) || { sed -n '7,11p' "$0" >&2; exit 2; }
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
before="$(realpath "$1")"
after="$(realpath "$2")"
turns="${BENCH_TURNS:-2}"
work="$repo/target/bench-before-after"
export BENCH_SIZES="${BENCH_SIZES:-1000}" BENCH_LOADS="${BENCH_LOADS:-list,detail}"
export BENCH_DURATION="${BENCH_DURATION:-5}" BENCH_IMAGES="${BENCH_IMAGES:-100}"
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/bench-api.sh once" >&2; exit 1; }

for ((turn = 1; turn <= turns; turn++)); do
    for which in before after; do
        binary="$before"
        [[ $which == after ]] && binary="$after"
        echo "== turn $turn, $which ($binary)"
        python3 "$repo/scripts/bench_api.py" "$binary" "$work/api" 2>/dev/null |
            grep -E '^\| (list page|image detail)' | sed "s/^/$which /"
        python3 "$repo/scripts/bench_console.py" "$binary" "$work/console" 2>/dev/null |
            grep -E '^- ' | sed "s/^/$which SQLite /"
    done
done
