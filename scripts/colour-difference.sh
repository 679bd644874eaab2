#!/usr/bin/env bash
# The colour test's measurement for imagevault and libvips side by side: a photo saved as an
# sRGB JPEG and as a Display P3 JPEG (pixels converted, profile embedded; both quality 95),
# and the mean CIEDE2000 between the 400 px thumbnails of the two. A colour-managed
# thumbnailer makes them look the same (a small figure); one that ignores the profile shows
# the P3 file dull (about 2.2).
#
# Usage: scripts/colour-difference.sh [PHOTO]   (default tests/fixtures/bythewater_2560x1600.jpg;
#                                                BENCH_RUNS=N for the timings, default 10)
#
# imagevault's side is the release example colour_difference (the same files and measure as
# the unit test imaging::colour_tests::srgb_and_display_p3_photos_give_the_same_thumbnails);
# libvips' side is pyvips' thumbnail with export_profile=srgb (its default intent, relative),
# saved as JPEG quality 85 like imagevault's thumbnails, measured by the same example.
# Installs what is missing: libvips-tools and python3-venv with apt-get (Debian), pyvips
# into target/bench-venv with pip (shared with scripts/bench-thumbnails.sh). Prints figures,
# checks nothing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
photo="${1:-$repo/tests/fixtures/bythewater_2560x1600.jpg}"
work="$repo/target/colour-difference"

sudo=""
[[ "$(id -u)" == 0 ]] || sudo="sudo"
missing=()
command -v vips >/dev/null || missing+=(libvips-tools)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    echo "installing ${missing[*]} with apt-get" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
venv="$repo/target/bench-venv"
if ! "$venv/bin/python" -c 'import pyvips' 2>/dev/null; then
    echo "creating $venv with pyvips" >&2
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q pyvips >&2
fi

echo "building the colour_difference example (release)" >&2
cargo build -q --release -p imagevault-core --example colour_difference
example="$repo/target/release/examples/colour_difference"

rm -rf "$work"
"$example" make "$work" "$photo" >&2
"$venv/bin/python" - "$work" <<'PY'
import sys

import pyvips

work = sys.argv[1]
print(f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}", file=sys.stderr)
for name in ("srgb", "p3"):
    # 400 px high, any width, converted to sRGB when the file has a profile.
    image = pyvips.Image.thumbnail(f"{work}/{name}.jpg", 100_000, height=400,
                                   export_profile="srgb")
    image.jpegsave(f"{work}/vips-{name}.jpg", Q=85, strip=True)
PY
echo "photo: $photo"
"$example" measure "$work"
