#!/usr/bin/env bash
# Side-by-side thumbnail timings: imagevault against pyvips, vipsthumbnail and Pillow.
#
# Usage: scripts/bench-thumbnails.sh            (BENCH_RUNS=N for best of N, default 5)
#
# For every PNG and JPEG of the corpus ($IMAGEVAULT_CORPUS, else ../shared/corpus next to
# the repository, else tests/fixtures), prints one table of the wall time to make both the
# 200 and 400 px thumbnails on one thread, with ratios and the 400 px output sizes. Installs
# what is missing: libvips-tools and python3-venv with apt-get (Debian), pyvips and Pillow
# into target/bench-venv with pip. The figures are reported, never checked.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export BENCH_RUNS="${BENCH_RUNS:-5}"

if [[ -n "${IMAGEVAULT_CORPUS:-}" ]]; then
    corpus="$IMAGEVAULT_CORPUS"
elif [[ -d ../shared/corpus ]]; then
    corpus="$(cd ../shared/corpus && pwd)"
else
    corpus="$repo/tests/fixtures"
fi
[[ -d "$corpus" ]] || { echo "no corpus directory at $corpus" >&2; exit 1; }

# Peers: vipsthumbnail and the venv module from Debian, the Python libraries in a venv
# (the system Python refuses global pip installs).
missing=()
command -v vipsthumbnail >/dev/null || missing+=(libvips-tools)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    echo "installing ${missing[*]} with apt-get" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
venv="$repo/target/bench-venv"
if ! "$venv/bin/python" -c 'import pyvips, PIL' 2>/dev/null; then
    echo "creating $venv with pyvips and Pillow" >&2
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q pyvips Pillow >&2
fi

echo "building and timing imagevault (release, best of $BENCH_RUNS)" >&2
rust_jsonl="$(mktemp -t imagevault-timings.XXXXXX.jsonl)"
trap 'rm -f "$rust_jsonl"' EXIT
cargo run -q --release -p imagevault-core --example thumbnail_timings -- "$corpus" >"$rust_jsonl"

echo "timing pyvips, Pillow and vipsthumbnail" >&2
VIPS_CONCURRENCY=1 "$venv/bin/python" "$repo/scripts/bench_thumbnails_peers.py" "$corpus" "$rust_jsonl"
