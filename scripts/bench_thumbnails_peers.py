"""Peers of imagevault's thumbnail timings, and the joined table.

Run by scripts/bench-thumbnails.sh; see there. Reads the JSON lines of
`cargo run --release -p imagevault-core --example thumbnail_timings` (one per image),
times the same files with pyvips in-process, the vipsthumbnail command and Pillow, and
prints one table. Every figure is reported, none is checked.

usage: bench_thumbnails_peers.py CORPUS_DIR RUST_JSONL
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import time

# libvips reads this when it starts: one worker thread, like imagevault's measurement.
os.environ["VIPS_CONCURRENCY"] = "1"

import pyvips  # noqa: E402
from PIL import Image  # noqa: E402

HEIGHTS = (200, 400)
# "As wide as it likes": the height decides. libvips caps coordinates at 10_000_000.
BIG_WIDTH = 100_000
MAX_IMAGES = 200
MAX_JSONL_BYTES = 1 << 20
MAX_RUNS = 100

# Without this, libvips's operation cache answers every repeated run from memory.
pyvips.cache_set_max(0)
pyvips.cache_set_max_mem(0)
pyvips.cache_set_max_files(0)


def best_ms(runs, fn):
    fn()  # warm-up, untimed, like the Rust side
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - start) * 1000.0)
    return best


def pyvips_thumbnails(path, fmt):
    """Both heights, encoded in memory; returns {height: bytes}."""
    out = {}
    for h in HEIGHTS:
        # size="down": never upscale, as imagevault (the 451x300 image stays 451x300 at 400).
        img = pyvips.Image.thumbnail(path, BIG_WIDTH, height=h, size="down")
        if fmt == "jpg":
            out[h] = img.jpegsave_buffer(Q=85, strip=True)
        else:
            out[h] = img.pngsave_buffer()
    return out


def vipsthumbnail(path, fmt, outdir):
    for h in HEIGHTS:
        target = os.path.join(outdir, f"t{h}.{fmt}")
        spec = f"{target}[Q=85,strip]" if fmt == "jpg" else target
        subprocess.run(
            ["vipsthumbnail", path, "--size", f"{BIG_WIDTH}x{h}>", "-o", spec],
            check=True,
            env={**os.environ, "VIPS_CONCURRENCY": "1"},
        )


def pillow_thumbnails(path):
    """As the Django original: open, thumbnail((big, h)), save in the source format with
    Pillow's defaults. No explicit draft() (thumbnail() itself still uses JPEG draft mode
    internally, with reducing_gap=2.0), no EXIF transpose."""
    for h in HEIGHTS:
        with Image.open(path) as img:
            fmt = img.format
            img.thumbnail((BIG_WIDTH, h))
            buf = io.BytesIO()
            img.save(buf, format=fmt)


def main():
    corpus, jsonl = sys.argv[1], sys.argv[2]
    runs = min(max(int(os.environ.get("BENCH_RUNS", "5")), 1), MAX_RUNS)
    with open(jsonl, "rb") as f:
        raw = f.read(MAX_JSONL_BYTES + 1)
    if len(raw) > MAX_JSONL_BYTES:
        sys.exit(f"{jsonl} is larger than {MAX_JSONL_BYTES} bytes")
    rows = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    rows = rows[:MAX_IMAGES]
    if not rows:
        sys.exit("imagevault measured no images")

    header = (
        "image", "MP", "fmt", "imagevault", "pyvips", "iv/pyvips",
        "Pillow", "iv/Pillow", "vipsthumbnail*", "400px B iv", "400px B pyvips",
    )
    table = []
    totals = dict(iv=0.0, pv=0.0, pil=0.0, vt=0.0, biv=0, bpv=0)
    with tempfile.TemporaryDirectory(prefix="bench-thumbnails-") as outdir:
        for row in rows:
            name, fmt = row["name"], row["format"]
            path = os.path.join(corpus, name)
            mp = row["width"] * row["height"] / 1e6
            iv = row["best_ms"]
            pv = best_ms(runs, lambda: pyvips_thumbnails(path, fmt))
            pil = best_ms(runs, lambda: pillow_thumbnails(path))
            vt = best_ms(runs, lambda: vipsthumbnail(path, fmt, outdir))
            biv = row["bytes"]["400"]
            bpv = len(pyvips_thumbnails(path, fmt)[400])
            for key, value in zip(("iv", "pv", "pil", "vt", "biv", "bpv"), (iv, pv, pil, vt, biv, bpv)):
                totals[key] += value
            table.append((
                name, f"{mp:.1f}", fmt, f"{iv:.1f}", f"{pv:.1f}", f"{iv / pv:.2f}",
                f"{pil:.1f}", f"{iv / pil:.2f}", f"{vt:.1f}", str(biv), str(bpv),
            ))
            print(f"  measured {name}", file=sys.stderr)
    t = totals
    table.append((
        "TOTAL", "", "", f"{t['iv']:.1f}", f"{t['pv']:.1f}", f"{t['iv'] / t['pv']:.2f}",
        f"{t['pil']:.1f}", f"{t['iv'] / t['pil']:.2f}", f"{t['vt']:.1f}", str(t["biv"]), str(t["bpv"]),
    ))

    widths = [max(len(str(c)) for c in col) for col in zip(header, *table)]
    right = [False, True, False] + [True] * 8

    def line(cells):
        return "| " + " | ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)
        ) + " |"

    print(
        f"Wall ms to make BOTH the 200 and 400 px thumbnails, best of {runs}, one thread "
        f"(libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, "
        f"pyvips {pyvips.__version__}, Pillow {Image.__version__}). Corpus: {corpus}"
    )
    print(line(header))
    print("|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right)) + "|")
    for row in table:
        print(line(row))
    print(
        "imagevault: render_thumbnails(bytes, [200, 400]) in memory. pyvips: "
        "Image.thumbnail(path, ...) per height + save to memory (JPEG Q85 strip, PNG defaults). "
        "Pillow: open + thumbnail + save (source format, Pillow defaults) per height. "
        "* vipsthumbnail: one process per height, process start included. "
        "Ratios < 1 mean imagevault is faster."
    )


if __name__ == "__main__":
    main()
