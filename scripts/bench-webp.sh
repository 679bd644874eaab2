#!/usr/bin/env bash
# Encode time per thumbnail for JPEG, PNG, WebP and AVIF, and WebP sizes beside libvips'
# `webpsave` at the same quality (issue 21: AVIF is offered only if its encode time per
# thumbnail is at most 3x WebP's).
#
# Usage: scripts/bench-webp.sh     (BENCH_RUNS=N for best of N, default 9; AVIF_SPEED=S,
#                                   default 6; AVIF_QUALITY=Q, default the WebP quality)
#
# Builds scripts/bench-webp (a crate of its own, release, into target/bench-webp) and runs
# it on the shared corpus ($IMAGEVAULT_CORPUS, else ../shared/corpus next to the
# repository, else tests/fixtures), pinned to one CPU. Each image is decoded and resized
# (Lanczos3) to 200 and 400 px high once; only the encoders are timed, with imagevault's
# settings (JPEG quality 85 with averaged 4:2:0 chroma, PNG fast compression, WebP lossy at
# imaging::WEBP_QUALITY, read from the source), and ravif for AVIF on one thread. libvips
# (`vips webpsave --Q <same>`) encodes the same pixels, from a lossless PNG, for the size
# comparison. Installs libvips-tools (for `vips`) and nasm (rav1e's assembly, without which
# AVIF would be measured slower than it is) with apt-get when missing. The figures are
# printed, never checked.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
runs="${BENCH_RUNS:-9}"
[[ "$runs" =~ ^[0-9]+$ ]] && ((runs >= 1 && runs <= 100)) ||
    { echo "BENCH_RUNS must be 1 to 100" >&2; exit 1; }
# The one constant the worker uses, read from the source rather than repeated here.
quality="$(sed -n 's/^pub const WEBP_QUALITY: u8 = \([0-9]*\);$/\1/p' \
    imagevault-core/src/imaging/encode.rs)"
[[ -n "$quality" ]] || { echo "WEBP_QUALITY not found in encode.rs" >&2; exit 1; }
avif_speed="${AVIF_SPEED:-6}"
avif_quality="${AVIF_QUALITY:-$quality}"

if [[ -n "${IMAGEVAULT_CORPUS:-}" ]]; then
    corpus="$IMAGEVAULT_CORPUS"
elif [[ -d "$repo/../shared/corpus" ]]; then
    corpus="$repo/../shared/corpus"
else
    corpus="$repo/tests/fixtures"
fi

missing=()
command -v vips >/dev/null || missing+=(libvips-tools)
command -v nasm >/dev/null || missing+=(nasm)
if ((${#missing[@]} > 0)); then
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq "${missing[@]}" >&2
fi

cargo build --release --quiet --manifest-path scripts/bench-webp/Cargo.toml \
    --target-dir target/bench-webp
out="$repo/target/bench-webp/out"
rm -rf "$out"
mkdir -p "$out"
mapfile -t images < <(find "$corpus" -maxdepth 1 \( -name '*.jpg' -o -name '*.png' \) | sort)
((${#images[@]} > 0)) || { echo "no images in $corpus" >&2; exit 1; }

echo "corpus: $corpus (${#images[@]} images); best of $runs (AVIF: of $((runs < 3 ? runs : 3)))"
echo "WebP quality $quality (libwebp via the webp crate; vips $(vips --version | cut -d' ' -f1 | cut -d- -f2) webpsave --Q $quality)"
echo "AVIF: ravif quality $avif_quality, speed $avif_speed, one thread"
echo
taskset -c 0 target/bench-webp/release/bench-webp "$out" "$runs" "$quality" "$avif_quality" \
    "$avif_speed" "${images[@]}" >"$out/timings.tsv"

for webp in "$out"/*.webp; do
    base="${webp%.webp}"
    vips webpsave "$base.png" "$base.vips.webp" --Q "$quality" --strip 2>/dev/null ||
        vips webpsave "$base.png" "$base.vips.webp" --Q "$quality"
done

python3 - "$out" <<'PY'
import collections, os, statistics, sys
out = sys.argv[1]
rows = [line.rstrip("\n").split("\t") for line in open(os.path.join(out, "timings.tsv"))]
times = collections.defaultdict(dict)
sizes = collections.defaultdict(dict)
for name, height, fmt, ms, size in rows:
    times[(name, height)][fmt] = float(ms)
    sizes[(name, height)][fmt] = int(size)
formats = ["jpeg", "png", "webp", "avif"]
print("| image | height | " + " | ".join(f"{f} ms" for f in formats) + " | avif/webp |")
print("| --- | --- | " + " | ".join("---" for _ in formats) + " | --- |")
ratios = []
for (name, height), t in times.items():
    ratio = t["avif"] / t["webp"]
    ratios.append(ratio)
    print(f"| {name} | {height} | " + " | ".join(f"{t[f]:.2f}" for f in formats)
          + f" | {ratio:.1f}x |")
for height in ("200", "400"):
    mean = {f: statistics.mean(t[f] for (n, h), t in times.items() if h == height) for f in formats}
    print(f"| **mean** | {height} | " + " | ".join(f"{mean[f]:.2f}" for f in formats)
          + f" | {mean['avif'] / mean['webp']:.1f}x |")
print()
print(f"AVIF / WebP encode time per thumbnail: median {statistics.median(ratios):.1f}x, "
      f"range {min(ratios):.1f}x to {max(ratios):.1f}x (offered only if at most 3x)")
print()
print("| image | height | jpeg bytes | webp bytes | vips webp bytes | webp/vips | avif bytes |")
print("| --- | --- | --- | --- | --- | --- | --- |")
ours_total = vips_total = 0
for (name, height), s in sizes.items():
    vips = os.path.getsize(os.path.join(out, f"{name}_{height}.vips.webp"))
    ours_total += s["webp"]; vips_total += vips
    print(f"| {name} | {height} | {s['jpeg']} | {s['webp']} | {vips} | {s['webp'] / vips:.2f} | {s['avif']} |")
print(f"| **total** | | | {ours_total} | {vips_total} | {ours_total / vips_total:.2f} | |")
PY
