"""imagevault's thumbnail timings and peak memory next to pyvips, vipsthumbnail and Pillow.

Run by scripts/bench-thumbnails.sh; see there. EXAMPLES_DIR holds imagevault's release
examples `thumbnail_timings` (JSON lines: one per file on one thread, or one for the whole
corpus with `--threads T`) and `thumbnail_once` (one process, one file). Prints three
markdown tables. Every figure is reported, none is checked.

- One thread: the whole process (and so every child) is pinned to one CPU, so that no tool
  can use a second core through helper threads. Per image, imagevault (best of N in its
  own process), then pyvips, vipsthumbnail and Pillow (best of N each), one after another,
  so that they see the same machine load.
- All cores: N rounds; in each, the whole corpus once by every tool and configuration in
  turn, T workers each; the best round of each is reported.
- Peak memory: /usr/bin/time -f %M of one process per photo of 10 megapixels or more.

usage: bench_thumbnails_peers.py CORPUS_DIR EXAMPLES_DIR   (BENCH_RUNS, BENCH_THREADS)
"""

import concurrent.futures
import io
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time

# libvips reads this when it starts: one worker thread, like imagevault's single-thread
# measurement. The all-cores mode raises it with pyvips.concurrency_set.
os.environ["VIPS_CONCURRENCY"] = "1"

import pyvips  # noqa: E402
from PIL import Image  # noqa: E402

HEIGHTS = (200, 400)
# "As wide as it likes": the height decides. libvips caps coordinates at 10_000_000.
BIG_WIDTH = 100_000
MAX_IMAGES = 200
MAX_JSONL_BYTES = 1 << 20
MAX_RUNS = 100
# Peak memory: photos of at least this many megapixels, at most this many of them.
MEMORY_MIN_MP = 10.0
MEMORY_MAX_IMAGES = 8
TIME_BIN = "/usr/bin/time"

# Without this, libvips's operation cache answers every repeated run from memory.
pyvips.cache_set_max(0)
pyvips.cache_set_max_mem(0)
pyvips.cache_set_max_files(0)


def imagevault_json(cmd_args, runs):
    """Runs `thumbnail_timings` and returns its JSON lines."""
    out = subprocess.run(
        cmd_args, check=True, capture_output=True, text=True,
        env={**os.environ, "BENCH_RUNS": str(runs)},
    ).stdout
    if len(out) > MAX_JSONL_BYTES:
        sys.exit(f"{cmd_args[0]} printed more than {MAX_JSONL_BYTES} bytes")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


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
        # export_profile: converted to sRGB from an embedded profile, as imagevault does
        # (libvips leaves an image without a profile alone).
        img = pyvips.Image.thumbnail(
            path, BIG_WIDTH, height=h, size="down", export_profile="srgb"
        )
        if fmt == "jpg":
            out[h] = img.jpegsave_buffer(Q=85, strip=True)
        else:
            out[h] = img.pngsave_buffer()
    return out


def vipsthumbnail(path, fmt, outdir, tag="t", threads=1):
    for h in HEIGHTS:
        target = os.path.join(outdir, f"{tag}{h}.{fmt}")
        spec = f"{target}[Q=85,strip]" if fmt == "jpg" else target
        subprocess.run(
            ["vipsthumbnail", path, "--size", f"{BIG_WIDTH}x{h}>", "--export-profile", "srgb",
             "-o", spec],
            check=True,
            env={**os.environ, "VIPS_CONCURRENCY": str(threads)},
        )


def pillow_thumbnails(path):
    """As the Django original: open, thumbnail((big, h)), save in the source format with
    Pillow's defaults. No explicit draft() (thumbnail() itself still uses JPEG draft mode
    internally, with reducing_gap=2.0), no EXIF transpose. Returns {height: bytes}."""
    out = {}
    for h in HEIGHTS:
        with Image.open(path) as img:
            fmt = img.format
            img.thumbnail((BIG_WIDTH, h))
            buf = io.BytesIO()
            img.save(buf, format=fmt)
            out[h] = buf.getvalue()
    return out


# Pool workers (module level, so that spawned processes can import them). Each job is one
# image, both heights, like one imagevault worker thread's.
def job_pyvips(item):
    path, fmt = item
    pyvips_thumbnails(path, fmt)


def job_pillow(item):
    pillow_thumbnails(item[0])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average():
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "unknown"


def markdown(header, rows, right):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells):
        return "| " + " | ".join(
            str(c).rjust(w) if r else str(c).ljust(w) for c, w, r in zip(cells, widths, right)
        ) + " |"

    out = [line(header)]
    out.append("|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right)) + "|")
    out.extend(line(row) for row in rows)
    return "\n".join(out)


def ratio(a, b):
    return f"{a / b:.2f}" if b else "-"


def single_thread_table(corpus, names, timings_bin, runs, outdir):
    header = (
        "image", "MP", "fmt", "imagevault", "pyvips", "iv/pyvips", "vipsthumbnail*",
        "iv/vt", "Pillow", "iv/Pillow", "400px B iv", "400px B pyvips", "iv/pyvips B",
    )
    table = []
    totals = dict(iv=0.0, pv=0.0, vt=0.0, pil=0.0, biv=0, bpv=0)
    png_totals = dict(biv=0, bpv=0)
    rows = []
    for name in names:
        path = os.path.join(corpus, name)
        measured = imagevault_json([timings_bin, path], runs)
        if not measured:
            print(f"  single thread: imagevault skipped {name}", file=sys.stderr)
            continue
        row = measured[0]
        rows.append(row)
        fmt = row["format"]
        mp = row["width"] * row["height"] / 1e6
        iv = row["best_ms"]
        pv = best_ms(runs, lambda: pyvips_thumbnails(path, fmt))
        vt = best_ms(runs, lambda: vipsthumbnail(path, fmt, outdir))
        pil = best_ms(runs, lambda: pillow_thumbnails(path))
        biv = row["bytes"]["400"]
        bpv = len(pyvips_thumbnails(path, fmt)[400])
        for key, value in zip(("iv", "pv", "vt", "pil", "biv", "bpv"), (iv, pv, vt, pil, biv, bpv)):
            totals[key] += value
        if fmt == "png":
            png_totals["biv"] += biv
            png_totals["bpv"] += bpv
        table.append((
            name, f"{mp:.1f}", fmt, f"{iv:.1f}", f"{pv:.1f}", ratio(iv, pv), f"{vt:.1f}",
            ratio(iv, vt), f"{pil:.1f}", ratio(iv, pil), biv, bpv, ratio(biv, bpv),
        ))
        print(f"  single thread: {name}", file=sys.stderr)
    t = totals
    table.append((
        "TOTAL", "", "", f"{t['iv']:.1f}", f"{t['pv']:.1f}", ratio(t["iv"], t["pv"]),
        f"{t['vt']:.1f}", ratio(t["iv"], t["vt"]), f"{t['pil']:.1f}", ratio(t["iv"], t["pil"]),
        t["biv"], t["bpv"], ratio(t["biv"], t["bpv"]),
    ))
    table.append((
        "TOTAL png only", "", "png", "", "", "", "", "", "", "",
        png_totals["biv"], png_totals["bpv"], ratio(png_totals["biv"], png_totals["bpv"]),
    ))
    return markdown(header, table, [False, True, False] + [True] * 10), rows


def all_cores_table(corpus, rows, timings_bin, threads, runs, outdir):
    n = threads
    items = [(os.path.join(corpus, r["name"]), r["format"]) for r in rows]
    context = multiprocessing.get_context("spawn")

    def imagevault_all():
        # One round in its own process (it reads the files, renders each once to check and
        # warm up, then times one pass): only the timed pass counts.
        lines = imagevault_json([timings_bin, "--threads", str(n), corpus], 1)
        line = [x for x in lines if x.get("mode") == "threads"][0]
        if line["images"] != len(items):
            sys.exit("imagevault's all-cores run saw a different number of images")
        return line["best_ms"]

    def timed(fn):
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1000.0

    def pyvips_threaded():
        # One process, images one after another, libvips' own threads inside each image
        # (libvips' default is one per core; the VIPS_CONCURRENCY=1 of this script is lifted).
        pyvips.concurrency_set(n)
        try:
            return timed(lambda: [pyvips_thumbnails(p, f) for p, f in items])
        finally:
            pyvips.concurrency_set(1)

    def vips_command(vips_threads):
        def run_all():
            with concurrent.futures.ThreadPoolExecutor(n) as ex:
                jobs = [
                    ex.submit(vipsthumbnail, p, f, outdir, f"p{i}_", vips_threads)
                    for i, (p, f) in enumerate(items)
                ]
                for j in jobs:
                    j.result()

        return lambda: timed(run_all)

    # N processes each taking the next image, started and warmed up before the clock,
    # one libvips thread each.
    with context.Pool(n) as pyvips_pool, context.Pool(n) as pillow_pool:
        configs = [
            ("imagevault", f"{n} threads each taking the next image", imagevault_all),
            ("pyvips", f"1 process, libvips threads = {n}", pyvips_threaded),
            ("pyvips", f"{n} processes, 1 libvips thread each",
             lambda: timed(lambda: pyvips_pool.map(job_pyvips, items, chunksize=1))),
            ("Pillow", f"{n} processes",
             lambda: timed(lambda: pillow_pool.map(job_pillow, items, chunksize=1))),
        ]
        for vips_threads in sorted({1, n}):
            configs.append((
                "vipsthumbnail",
                f"{n} processes at a time, {vips_threads} libvips thread(s) each",
                vips_command(vips_threads),
            ))
        for _, _, fn in configs[1:]:
            fn()  # warm-up, untimed (imagevault warms up inside its own run)
        best = [float("inf")] * len(configs)
        for round_ in range(runs):
            for i, (_, _, fn) in enumerate(configs):
                best[i] = min(best[i], fn())
            print(f"  all cores: round {round_ + 1} of {runs}", file=sys.stderr)

    iv = best[0]
    header = ("tool", "how", "wall ms, whole corpus", "images/s", "iv/this")
    table = [
        (peer, how, f"{ms:.1f}", f"{len(items) / ms * 1000:.1f}", ratio(iv, ms))
        for (peer, how, _), ms in zip(configs, best)
    ]
    best_peer = {}
    for (peer, how, _), ms in zip(configs[1:], best[1:]):
        if peer not in best_peer or ms < best_peer[peer][1]:
            best_peer[peer] = (how, ms)
    summary = "; ".join(
        f"{peer} best = {ms:.1f} ms ({how}), iv/{peer} = {ratio(iv, ms)}"
        for peer, (how, ms) in best_peer.items()
    )
    return markdown(header, table, [False, False, True, True, True]), summary


def max_rss_kb(cmd, env=None):
    """Peak resident set size of one process, in KiB, as GNU time reports it."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        subprocess.run(
            [TIME_BIN, "-f", "%M", "-o", out.name, *cmd],
            check=True,
            stdout=subprocess.DEVNULL,
            env=env or os.environ,
        )
        return int(out.read().strip().splitlines()[-1])


# One process making both thumbnails, as the Python peers' users would; with no file, the
# same interpreter and library loaded and started, which is subtracted.
PYVIPS_ONCE = """
import os, sys
os.environ["VIPS_CONCURRENCY"] = "1"
import pyvips
pyvips.cache_set_max(0)
pyvips.Image.black(8, 8).avg()
if len(sys.argv) > 1:
    path, fmt = sys.argv[1], sys.argv[2]
    for h in (200, 400):
        img = pyvips.Image.thumbnail(path, 100000, height=h, size="down")
        (img.jpegsave_buffer(Q=85, strip=True) if fmt == "jpg" else img.pngsave_buffer())
"""

PILLOW_ONCE = """
import io, sys
from PIL import Image
Image.new("RGB", (8, 8)).save(io.BytesIO(), format="PNG")
Image.new("RGB", (8, 8)).save(io.BytesIO(), format="JPEG")
if len(sys.argv) > 1:
    for h in (200, 400):
        with Image.open(sys.argv[1]) as img:
            fmt = img.format
            img.thumbnail((100000, h))
            img.save(io.BytesIO(), format=fmt)
"""


def memory_table(corpus, rows, once_bin, outdir):
    big = [r for r in rows if r["width"] * r["height"] / 1e6 >= MEMORY_MIN_MP]
    big = sorted(big, key=lambda r: -r["width"] * r["height"])[:MEMORY_MAX_IMAGES]
    if not big:
        return "(no image of 10 megapixels or more in the corpus)", ""
    py = sys.executable
    # The bare processes: imagevault's example on a 1x1 PNG, the interpreters with the
    # library loaded and started but no image.
    tiny = os.path.join(outdir, "tiny.png")
    Image.new("RGB", (1, 1)).save(tiny)
    iv_base = max_rss_kb([once_bin, tiny])
    pyvips_base = max_rss_kb([py, "-c", PYVIPS_ONCE])
    pillow_base = max_rss_kb([py, "-c", PILLOW_ONCE])
    header = (
        "image", "MP", "fmt", "file KiB", "imagevault", "vipsthumbnail", "iv/vt",
        "imagevault net", "pyvips net", "iv/pyvips net", "Pillow net", "iv/Pillow net",
    )
    table = []
    for r in sorted(big, key=lambda r: r["name"]):
        name, fmt = r["name"], r["format"]
        path = os.path.join(corpus, name)
        iv = max_rss_kb([once_bin, path, outdir])
        vt = 0
        for h in HEIGHTS:
            target = os.path.join(outdir, f"m{h}.{fmt}")
            spec = f"{target}[Q=85,strip]" if fmt == "jpg" else target
            vt = max(vt, max_rss_kb(
                ["vipsthumbnail", path, "--size", f"{BIG_WIDTH}x{h}>", "-o", spec],
                env={**os.environ, "VIPS_CONCURRENCY": "1"},
            ))
        iv_net = iv - iv_base
        pv = max_rss_kb([py, "-c", PYVIPS_ONCE, path, fmt]) - pyvips_base
        pil = max_rss_kb([py, "-c", PILLOW_ONCE, path]) - pillow_base
        table.append((
            name, f"{r['width'] * r['height'] / 1e6:.1f}", fmt, os.path.getsize(path) // 1024,
            iv, vt, ratio(iv, vt), iv_net, pv, ratio(iv_net, pv), pil, ratio(iv_net, pil),
        ))
        print(f"  memory: {name}", file=sys.stderr)
    note = (
        f"Whole processes: imagevault is `thumbnail_once FILE DIR` (reads the whole file into "
        f"memory, one render_thumbnails call for 200 and 400 px, writes both); vipsthumbnail "
        f"makes one size per run, so it runs once per height (VIPS_CONCURRENCY=1) and the "
        f"larger figure is shown. Net: the same minus the bare process, for imagevault "
        f"`thumbnail_once` on a 1x1 PNG ({iv_base} KiB), for pyvips and Pillow one "
        f"`python -c` process making both heights (pyvips: VIPS_CONCURRENCY=1, cache off) "
        f"minus that process with the library loaded and started but no image "
        f"({pyvips_base} KiB for pyvips, {pillow_base} KiB for Pillow). libvips and Pillow "
        f"read the file as they decode; imagevault's figures include the whole file held in "
        f"memory, as the worker holds the upload. Max RSS from {TIME_BIN} -f %M."
    )
    return markdown(header, table, [False, True, False] + [True] * 9), note


def main():
    corpus, examples = sys.argv[1:3]
    runs = min(max(int(os.environ.get("BENCH_RUNS", "5")), 1), MAX_RUNS)
    threads = min(max(int(os.environ.get("BENCH_THREADS", str(os.cpu_count() or 1))), 1), 256)
    timings_bin = os.path.join(examples, "thumbnail_timings")
    once_bin = os.path.join(examples, "thumbnail_once")
    names = sorted(
        n for n in os.listdir(corpus)
        if n.lower().endswith((".png", ".jpg", ".jpeg")) and os.path.isfile(os.path.join(corpus, n))
    )[:MAX_IMAGES]
    if not names:
        sys.exit(f"no PNG or JPEG file in {corpus}")

    vt_version = subprocess.run(
        ["vipsthumbnail", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    all_cpus = os.sched_getaffinity(0)
    one_cpu = max(all_cpus)
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-thumbnails-") as outdir:
        os.sched_setaffinity(0, {one_cpu})
        try:
            single, rows = single_thread_table(corpus, names, timings_bin, runs, outdir)
        finally:
            os.sched_setaffinity(0, all_cpus)
        if not rows:
            sys.exit("imagevault rendered no image")
        cores, cores_summary = all_cores_table(corpus, rows, timings_bin, threads, runs, outdir)
        memory, memory_note = memory_table(corpus, rows, once_bin, outdir)
    load_after = load_average()

    print(
        f"imagevault {os.environ.get('IMAGEVAULT_REVISION', '?')} | libvips "
        f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)} (vipsthumbnail: "
        f"{vt_version}), pyvips {pyvips.__version__}, Pillow {Image.__version__}, Python "
        f"{platform.python_version()} | CPU: {cpu_model()}, {len(all_cpus)} usable logical cores | "
        f"load average (1/5/15 min) {load_before} at the start, {load_after} at the end | "
        f"corpus: {corpus}, {len(rows)} images, "
        f"{sum(r['width'] * r['height'] for r in rows) / 1e6:.1f} MP"
    )
    print()
    print(
        f"### 1. One thread: wall ms to make BOTH the 200 and 400 px thumbnails, best of {runs}, "
        f"every process pinned to CPU {one_cpu}"
    )
    print()
    print(single)
    print()
    print(
        "imagevault: render_thumbnails(bytes, [200, 400]) in memory (one decode for both). "
        "pyvips: Image.thumbnail(path, ...) per height + save to memory (JPEG Q85 strip, PNG "
        "defaults), VIPS_CONCURRENCY=1. * vipsthumbnail: one process per height, process "
        "start included, VIPS_CONCURRENCY=1. Pillow: as the Django original, open + "
        "thumbnail((big, h)) + save (source format, Pillow defaults) per height. "
        "Ratios iv/peer < 1 mean imagevault is faster (or its files smaller)."
    )
    print()
    print(
        f"### 2. All cores: wall ms for the whole corpus ({len(rows)} images, both heights "
        f"each), {threads} workers, best of {runs} interleaved rounds"
    )
    print()
    print(cores)
    print()
    print(
        "Every worker takes the next image in name order. Process pools are started (and "
        "warmed up once) before the clock; vipsthumbnail's process starts are included. "
        + cores_summary + "."
    )
    print()
    print("### 3. Peak memory (max RSS, KiB) of one process making both thumbnails of one photo of 10 MP or more")
    print()
    print(memory)
    print()
    print(memory_note + " Ratios < 1 mean imagevault needs less.")


if __name__ == "__main__":
    main()
