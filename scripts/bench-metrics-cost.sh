#!/usr/bin/env bash
# What the metrics cost: the list page (GET /api/images/?limit=20, token auth, a user with
# BENCH_IMAGES images) in requests per second, served by two release servers on one SQLite
# database, one with --metrics-bind and one without, measured in turns in one run.
#
# Usage: scripts/bench-metrics-cost.sh
#   BENCH_IMAGES=200, BENCH_DURATION=10 (seconds per load), BENCH_CONNECTIONS=32,
#   BENCH_THREADS=2, BENCH_ROUNDS=3 (each server is loaded this many times, alternating;
#   medians are compared).
#
# Everything runs on loopback and every load is bounded by wrk's duration (and `timeout`).
# Prints each load's figure, the medians and the ratio on/off. Nothing is checked: the
# figures are reported. Work files go to target/bench-metrics (removed at the next run).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
images="${BENCH_IMAGES:-200}"
duration="${BENCH_DURATION:-10}"
connections="${BENCH_CONNECTIONS:-32}"
threads="${BENCH_THREADS:-2}"
rounds="${BENCH_ROUNDS:-3}"
password="bench-admin-password"
work="$repo/target/bench-metrics"

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
echo "building imagevault-server (release)" >&2
cargo build -q --release -p imagevault-server
binary="$repo/target/release/imagevault-server"

rm -rf "$work"
mkdir -p "$work"
# Each server's pid is in a file: `start` runs in a command substitution's subshell, so a
# variable it set would not reach this shell.
trap 'for file in "$work"/*.pid; do kill "$(cat "$file")" 2>/dev/null || true; done' EXIT

# Starts `serve` with the extra arguments; prints its API URL once it listens.
start() {
    local name="$1"
    shift
    (cd "$work" && IMAGEVAULT_ADMIN_PASSWORD="$password" IMAGEVAULT_LOG=warn \
        exec "$binary" serve --bind 127.0.0.1:0 --sweep-every-secs 0 "$@" \
        >"$work/$name.out" 2>"$work/$name.log") &
    echo "$!" >"$work/$name.pid"
    for _ in $(seq 600); do
        if url="$(grep -o 'http://[^ ]*' <(grep '^imagevault listening on' "$work/$name.out"))"; then
            echo "$url"
            return
        fi
        sleep 0.1
    done
    echo "$name did not start:" >&2
    cat "$work/$name.log" >&2
    exit 1
}

seeder="$(start seeder)"
echo "seeding $images images" >&2
token="$(curl -sf -X POST "$seeder/api/auth/token/" -H 'Content-Type: application/json' \
    -d "{\"username\": \"admin\", \"password\": \"$password\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"
for _ in $(seq "$images"); do
    curl -sf -o /dev/null -H "Authorization: Token $token" \
        -F "image=@tests/fixtures/chelsea_451x300.png" "$seeder/api/images/"
done
# The thumbnails are made before any load starts, so that no worker competes with it.
for _ in $(seq 1200); do
    pending="$(curl -sf -H "Authorization: Token $token" "$seeder/api/images/?limit=100" |
        grep -c '"pending"' || true)"
    [[ "$pending" == 0 ]] && break
    sleep 0.25
done
# The seeding server is stopped, so that the two measured servers both start on the seeded
# database, with nothing else behind them.
seeder_pid="$(cat "$work/seeder.pid")"
kill "$seeder_pid"
while kill -0 "$seeder_pid" 2>/dev/null; do sleep 0.1; done
rm "$work/seeder.pid"
off="$(start off)"
on="$(start on --metrics-bind 127.0.0.1:0)"
metrics="$(grep -o 'http://[^ ]*' <(grep '^imagevault metrics on' "$work/on.out"))"

# One bounded load of the list page on $1; prints its requests per second.
load() {
    timeout $((duration + 30)) wrk -t"$threads" -c"$connections" -d"${duration}s" \
        -H "Authorization: Token $token" "$1/api/images/?limit=20" |
        awk '/^Requests\/sec:/ { print $2 }'
}

# A short warm-up of each, then the loads in turns.
load "$off" >/dev/null
load "$on" >/dev/null
declare -a on_figures off_figures
# The order alternates, so that neither server is always the one loaded second.
for round in $(seq "$rounds"); do
    if ((round % 2)); then
        off_figures+=("$(load "$off")")
        on_figures+=("$(load "$on")")
    else
        on_figures+=("$(load "$on")")
        off_figures+=("$(load "$off")")
    fi
    echo "round $round: metrics off ${off_figures[-1]} req/s, metrics on ${on_figures[-1]} req/s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
off_median="$(median "${off_figures[@]}")"
on_median="$(median "${on_figures[@]}")"
echo "median: metrics off $off_median req/s, metrics on $on_median req/s"
awk -v on="$on_median" -v off="$off_median" \
    'BEGIN { printf "ratio on/off: %.3f (cost %.1f%%)\n", on / off, (1 - on / off) * 100 }'
curl -sf "$metrics/metrics" >"$work/scrape.txt"
echo "scrape of the server with metrics (whole scrape in $work/scrape.txt), list route only:"
grep 'route="/api/images/"' "$work/scrape.txt" | grep -v '_bucket' || true
