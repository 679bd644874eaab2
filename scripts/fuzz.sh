#!/usr/bin/env bash
# Fuzzes imagevault's parsers of untrusted input with cargo-fuzz (libFuzzer):
#   inspect  format sniffing and header parsing (imaging::inspect)
#   render   the whole decode-to-thumbnail path with the default limits
#   cursor   page cursors sent back by clients
#   icc      any bytes as the colour profile of a valid JPEG and PNG (never a failed render)
#
# Usage: scripts/fuzz.sh [TARGET...]     (default: all four, one after the other)
#   FUZZ_SECONDS=600 per target (at most 86400); FUZZ_JOBS=1 parallel jobs per target.
#
# Installs cargo-fuzz when missing. The toolchain here is stable, and libFuzzer needs
# nightly-only flags (-Zsanitizer), so the build runs with RUSTC_BOOTSTRAP=1. Corpora start
# from the test fixtures of 256 KiB or less and the generated hostile files of
# tests/api/hostile.rs of 64 KiB or less (written by its hostile_seeds test), and live in
# fuzz/corpus/<target> (not committed); the icc corpus starts from the system's ICC profiles
# under /usr/share/color/icc, if any (Debian's colord-data and icc-profiles-free); a crash or timeout is saved under
# fuzz/artifacts/<target>/ and must become a regression test in imagevault-core. Prints each target's final libFuzzer statistics.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo/fuzz"
seconds="${FUZZ_SECONDS:-600}"
jobs="${FUZZ_JOBS:-1}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1 || seconds > 86400)); then
    echo "FUZZ_SECONDS must be 1..86400" >&2
    exit 2
fi
targets=("$@")
((${#targets[@]})) || targets=(inspect render cursor icc)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# An ordinary test build (before RUSTC_BOOTSTRAP is set) writes the hostile files.
seeds="$(mktemp -d -t imagevault-hostile-seeds.XXXXXX)"
trap 'rm -rf "$seeds"' EXIT
(cd "$repo" && IMAGEVAULT_WRITE_HOSTILE_SEEDS="$seeds" \
    cargo test --quiet --all-features --test api hostile_seeds >/dev/null)
export RUSTC_BOOTSTRAP=1

for target in "${targets[@]}"; do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    if [[ "$target" == icc ]]; then
        if [[ -d /usr/share/color/icc ]]; then
            find /usr/share/color/icc -type f -size -257k -exec cp -n {} "$corpus/" \;
        fi
    elif [[ "$target" != cursor ]]; then
        find "$repo/tests/fixtures" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' \) \
            -size -257k -exec cp -n {} "$corpus/" \;
        cp -n "$seeds"/* "$corpus/"
    fi
    log="$(mktemp -t "fuzz-$target.XXXXXX.log")"
    echo "fuzzing $target for $seconds s (log: $log)" >&2
    parallel=()
    ((jobs > 1)) && parallel=(-jobs="$jobs" -workers="$jobs")
    status=0
    cargo fuzz run -O "$target" "$corpus" -- \
        -max_total_time="$seconds" -max_len=262144 -timeout=10 -rss_limit_mb=2048 \
        "${parallel[@]}" -print_final_stats=1 >"$log" 2>&1 || status=$?
    echo "== $target: exit $status"
    grep -E '^(stat::|#[0-9]+ +DONE)|SUMMARY|artifact_prefix|Test unit written' "$log" || tail -20 "$log"
    ls "artifacts/$target" 2>/dev/null | sed 's/^/artifact: /' || true
done
