#!/usr/bin/env bash
# Side-by-side thumbnail timings and peak memory: imagevault against pyvips, vipsthumbnail
# and Pillow, on the same images in the same run.
#
# Usage: scripts/bench-thumbnails.sh     (BENCH_RUNS=N for best of N, default 5, at most 100;
#                                         BENCH_THREADS=T for the all-cores mode, default nproc;
#                                         BENCH_PROFILE=p3 to measure the corpus converted to
#                                         Display P3 with the profile embedded)
#
# The corpus is $IMAGEVAULT_CORPUS if set. Otherwise this script builds one in
# target/bench-corpus/photos: the small shared corpus (../shared/corpus next to the
# repository, else tests/fixtures) plus seven larger photos from four Debian wallpaper
# packages, fetched with `apt-get download` and unpacked with dpkg-deb (only the seven
# files are extracted). target/bench-corpus/PROVENANCE.tsv records where each file came
# from (package, version, path inside it, sha256); it is printed too. If the packages cannot
# be fetched, the run goes on with the small corpus and says so. Only the seven files are
# kept (about 33 MB); the packages are deleted once they are unpacked.
#
# It then prints three markdown tables (see scripts/bench_thumbnails_peers.py), each with
# imagevault / peer ratios (< 1: imagevault is faster or smaller):
#   1. one thread (every process pinned to one CPU): per image, the wall time to make both
#      the 200 and 400 px thumbnails, and the 400 px output sizes;
#   2. all cores: the wall time of the whole corpus with T workers in parallel (imagevault:
#      T threads; pyvips: libvips' threads, and T processes; Pillow: T processes;
#      vipsthumbnail: T processes at a time), in interleaved rounds;
#   3. peak memory (max RSS, /usr/bin/time -f %M) of one process thumbnailing each photo
#      of 10 megapixels or more.
# With BENCH_PROFILE=p3, every photo is first converted by libvips' icc_transform to Display
# P3 (its built-in profile, embedded; JPEG quality 95, PNG keeping alpha), so that every
# tool converts every file back to sRGB: the cost of colour management. imagevault,
# pyvips and vipsthumbnail convert to sRGB (export_profile=srgb); Pillow does not.
# Installs what is missing: libvips-tools, python3-venv and time with apt-get (Debian),
# pyvips and Pillow into target/bench-venv with pip. The figures are reported, never checked.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export BENCH_RUNS="${BENCH_RUNS:-5}"
[[ "$BENCH_RUNS" =~ ^[0-9]+$ ]] && ((BENCH_RUNS >= 1 && BENCH_RUNS <= 100)) ||
    { echo "BENCH_RUNS must be 1 to 100" >&2; exit 1; }
export BENCH_THREADS="${BENCH_THREADS:-$(nproc)}"
[[ "$BENCH_THREADS" =~ ^[0-9]+$ ]] && ((BENCH_THREADS >= 1 && BENCH_THREADS <= 256)) ||
    { echo "BENCH_THREADS must be 1 to 256" >&2; exit 1; }

sudo=""
[[ "$(id -u)" == 0 ]] || sudo="sudo"
apt_updated=""
apt_update() {
    [[ -n "$apt_updated" ]] && return 0
    $sudo apt-get update -qq >&2
    apt_updated=1
}

# --- the corpus ---------------------------------------------------------------------------

# name in the corpus | Debian package | path inside the package. The names are those of
# ../shared/corpus/README.md, which gives each one's author and licence.
large_photos=(
    "kleiber_6028x3391.jpg|lomiri-wallpapers-20.04|./usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg"
    "elephants_5640x3172.jpg|mate-backgrounds|./usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg"
    "volna_5120x2880.jpg|plasma-workspace-wallpapers|./usr/share/wallpapers/Volna/contents/images/5120x2880.jpg"
    "altai_5120x2880.png|plasma-workspace-wallpapers|./usr/share/wallpapers/Altai/contents/images/5120x2880.png"
    "dragonfly_4224x3168.jpg|lomiri-wallpapers-16.04|./usr/share/backgrounds/Dragonfly_by_Bolly.jpg"
    "wine_2560x3837.jpg|lomiri-wallpapers-16.04|./usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg"
    "dune_1680x1050.jpg|mate-backgrounds|./usr/share/backgrounds/mate/nature/Dune.jpg"
)

# Downloads one package's .deb into $1 (once); prints its path, or nothing on failure.
fetch_deb() {
    local dir="$1" package="$2" deb
    deb="$(find "$dir" -maxdepth 1 -name "${package}_*.deb" -print -quit)"
    if [[ -z "$deb" ]]; then
        if ! (cd "$dir" && apt-get download -q "$package" >&2 2>/dev/null); then
            apt_update || true
            (cd "$dir" && apt-get download -q "$package" >&2) || return 0
        fi
        deb="$(find "$dir" -maxdepth 1 -name "${package}_*.deb" -print -quit)"
    fi
    echo "$deb"
}

build_corpus() {
    local base="$repo/target/bench-corpus"
    local photos="$base/photos" provenance="$base/PROVENANCE.tsv"
    mkdir -p "$base/debs" "$base/extracted"
    rm -rf "$photos"
    mkdir -p "$photos"
    printf 'file\tbytes\tsha256\tsource\n' >"$provenance"
    local small small_source
    if [[ -d "$repo/../shared/corpus" ]]; then
        small="$(cd "$repo/../shared/corpus" && pwd)"
        small_source="shared corpus (see its README.md)"
    else
        small="$repo/tests/fixtures"
        small_source="tests/fixtures (see its README.md)"
    fi
    local f
    for f in "$small"/*.jpg "$small"/*.jpeg "$small"/*.png; do
        [[ -f "$f" ]] || continue
        ln -s "$f" "$photos/$(basename "$f")"
        printf '%s\t%s\t%s\t%s\n' "$(basename "$f")" "$(stat -Lc %s "$f")" \
            "$(sha256sum <"$f" | cut -d' ' -f1)" "$small_source: $f" >>"$provenance"
    done
    local entry name package member deb version target
    for entry in "${large_photos[@]}"; do
        IFS='|' read -r name package member <<<"$entry"
        target="$base/extracted/$package/$member"
        if [[ ! -f "$target" ]]; then
            deb="$(fetch_deb "$base/debs" "$package")"
            if [[ -z "$deb" ]]; then
                echo "WARNING: could not download $package; $name is left out" >&2
                continue
            fi
            mkdir -p "$base/extracted/$package"
            dpkg-deb -f "$deb" Version >"$base/extracted/$package.version"
            # Only the one member: the packages unpack to hundreds of megabytes.
            dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$base/extracted/$package" "$member" ||
                { echo "WARNING: $member is not in $deb; $name is left out" >&2; continue; }
        fi
        version="$(cat "$base/extracted/$package.version" 2>/dev/null || echo '(unknown version)')"
        ln -s "$target" "$photos/$name"
        printf '%s\t%s\t%s\t%s\n' "$name" "$(stat -Lc %s "$target")" \
            "$(sha256sum <"$target" | cut -d' ' -f1)" \
            "Debian package $package $version: ${member#.}" >>"$provenance"
    done
    # The packages themselves (170 MB) are not kept, only the seven files.
    rm -f "$base"/debs/*.deb
    echo "$photos"
}

if [[ -n "${IMAGEVAULT_CORPUS:-}" ]]; then
    corpus="$IMAGEVAULT_CORPUS"
    provenance=""
else
    echo "building the corpus in target/bench-corpus" >&2
    corpus="$(build_corpus)"
    provenance="$repo/target/bench-corpus/PROVENANCE.tsv"
fi
[[ -d "$corpus" ]] || { echo "no corpus directory at $corpus" >&2; exit 1; }

# Display P3 copies of the corpus (see the top), made once the peers are installed below.
profile="${BENCH_PROFILE:-}"
[[ -z "$profile" || "$profile" == p3 ]] || { echo "BENCH_PROFILE must be p3 or unset" >&2; exit 1; }

# --- the peers ----------------------------------------------------------------------------

# vipsthumbnail and the venv module from Debian, the Python libraries in a venv (the system
# Python refuses global pip installs), GNU time for the peak memory.
missing=()
command -v vipsthumbnail >/dev/null || missing+=(libvips-tools)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]})); then
    echo "installing ${missing[*]} with apt-get" >&2
    apt_update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
venv="$repo/target/bench-venv"
if ! "$venv/bin/python" -c 'import pyvips, PIL' 2>/dev/null; then
    echo "creating $venv with pyvips and Pillow" >&2
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q pyvips Pillow >&2
fi

if [[ "$profile" == p3 ]]; then
    p3="$repo/target/bench-corpus/display-p3"
    rm -rf "$p3"
    mkdir -p "$p3"
    echo "converting the corpus to Display P3 in $p3" >&2
    for f in "$corpus"/*; do
        name="$(basename "$f")"
        target="$p3/$name"
        case "$name" in
        *.jpg | *.jpeg) target="$target[Q=95]" ;;
        *.png) ;;
        *) continue ;;
        esac
        # A greyscale photo has no P3 version: it is measured as it is.
        vips icc_transform "$f" "$target" p3 --embedded 2>/dev/null ||
            { cp "$f" "$p3/$name"; echo "$name: kept as it is (libvips cannot make it P3)" >&2; }
    done
    corpus="$p3"
    provenance=""
    echo "Corpus: converted to Display P3 (profile embedded) by libvips' icc_transform"
    echo
fi

# --- imagevault ---------------------------------------------------------------------------

echo "building imagevault's examples (release)" >&2
cargo build -q --release -p imagevault-core --example thumbnail_timings --example thumbnail_once

# --- the measurements and tables ----------------------------------------------------------

echo "timing imagevault, pyvips, vipsthumbnail and Pillow; measuring peak memory" >&2
revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -z "$(git status --porcelain -- imagevault-core 2>/dev/null)" ]] || revision="$revision+uncommitted"
if [[ -n "$provenance" ]]; then
    echo "Corpus: $corpus, built from (target/bench-corpus/PROVENANCE.tsv):"
    echo
    echo '```'
    column -t -s $'\t' "$provenance" 2>/dev/null || cat "$provenance"
    echo '```'
    echo
fi
IMAGEVAULT_REVISION="$revision" "$venv/bin/python" \
    "$repo/scripts/bench_thumbnails_peers.py" "$corpus" "$repo/target/release/examples"
