//! Run with `cargo run --release -p imagevault-core --example thumbnail_timings [-- [--threads T] DIR]`
//!
//! Times `render_thumbnails` for the 200 and 400 px heights (both from one call, as the
//! worker does) on every PNG and JPEG in a directory.
//!
//! - By default, on this one thread: one JSON line per file with its name, size, format, the
//!   best wall time of N runs in milliseconds, and the encoded size of each thumbnail.
//! - With `--threads T`: the whole directory at once by T threads, each taking the next
//!   image as the worker pool's threads do: one JSON line with the best wall time of N runs
//!   for the whole set (`"mode":"threads"`). The files are read into memory first.
//!
//! `scripts/bench-thumbnails.sh` joins these lines with its pyvips, vipsthumbnail and Pillow
//! figures. The directory (or a single file) is the argument, else `$IMAGEVAULT_CORPUS`, else
//! `../shared/corpus` next to the repository, else the test fixtures; N is `$BENCH_RUNS`
//! (default 5, at most 100); T is at most 256. Timings are figures, not checks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use imagevault_core::imaging::{ImageLimits, inspect, render_thumbnails};

const HEIGHTS: [u32; 2] = [200, 400];
/// At most this many files are loaded, and none larger than this many bytes.
const MAX_FILES: usize = 200;
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
const MAX_RUNS: usize = 100;
const MAX_THREADS: usize = 256;

fn corpus_dir(arg: Option<std::ffi::OsString>) -> PathBuf {
    if let Some(dir) = arg {
        return PathBuf::from(dir);
    }
    let repository = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let shared = repository.join("../shared/corpus");
    std::env::var_os("IMAGEVAULT_CORPUS").map_or_else(
        || {
            if shared.is_dir() {
                shared
            } else {
                repository.join("tests/fixtures")
            }
        },
        PathBuf::from,
    )
}

/// The PNG and JPEG files of a directory in name order, or the one file named.
fn image_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .filter(|path| {
            std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= MAX_FILE_BYTES)
        })
        .collect();
    files.sort();
    files.truncate(MAX_FILES);
    Ok(files)
}

/// A JSON string literal (names are file names: only quotes, backslashes and controls need escaping).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The whole set rendered by `threads` threads, each taking the next image; returns the
/// wall time in milliseconds.
fn render_all(images: &[Vec<u8>], threads: usize, limits: &ImageLimits) -> Result<f64, String> {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(data) = images.get(i) else {
                            return Ok(());
                        };
                        let rendered =
                            render_thumbnails(std::hint::black_box(data), &HEIGHTS, limits)
                                .map_err(|e| e.to_string())?;
                        std::hint::black_box(rendered);
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| "a thread panicked".to_owned())?)
    })?;
    Ok(start.elapsed().as_secs_f64() * 1000.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = match std::env::var("BENCH_RUNS") {
        Ok(value) => value.parse::<usize>()?.clamp(1, MAX_RUNS),
        Err(_) => 5,
    };
    let mut args = std::env::args_os().skip(1).peekable();
    let mut threads = None;
    if args.peek().is_some_and(|a| a == "--threads") {
        args.next();
        let value = args.next().ok_or("--threads needs a number")?;
        let value: usize = value.to_str().ok_or("--threads needs a number")?.parse()?;
        threads = Some(value.clamp(1, MAX_THREADS));
    }
    let dir = corpus_dir(args.next());
    let limits = ImageLimits::default();
    if let Some(threads) = threads {
        return time_all(&dir, threads, runs, &limits);
    }
    for path in image_files(&dir)? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        let data = std::fs::read(&path)?;
        let info = match inspect(&data, &limits) {
            Ok(info) => info,
            Err(e) => {
                eprintln!("skipping {name}: {e}");
                continue;
            }
        };
        // One untimed run to warm caches and check the file renders.
        let thumbnails = match render_thumbnails(&data, &HEIGHTS, &limits) {
            Ok(thumbnails) => thumbnails,
            Err(e) => {
                eprintln!("skipping {name}: {e}");
                continue;
            }
        };
        let mut best = f64::INFINITY;
        for _ in 0..runs {
            let start = Instant::now();
            let rendered = render_thumbnails(std::hint::black_box(&data), &HEIGHTS, &limits)?;
            let elapsed = start.elapsed().as_secs_f64() * 1000.0;
            std::hint::black_box(rendered);
            best = best.min(elapsed);
        }
        let bytes: Vec<String> = thumbnails
            .iter()
            .map(|t| format!("\"{}\":{}", t.max_height, t.data.len()))
            .collect();
        println!(
            "{{\"name\":{},\"width\":{},\"height\":{},\"format\":\"{}\",\"runs\":{},\"best_ms\":{:.3},\"bytes\":{{{}}}}}",
            json_string(&name),
            info.width,
            info.height,
            info.format.extension(),
            runs,
            best,
            bytes.join(",")
        );
    }
    Ok(())
}

/// `--threads`: every image that renders, in name order, by `threads` threads at once.
fn time_all(
    dir: &Path,
    threads: usize,
    runs: usize,
    limits: &ImageLimits,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut images = Vec::new();
    for path in image_files(dir)? {
        let data = std::fs::read(&path)?;
        // The same files as the single-thread mode: those that render.
        match render_thumbnails(&data, &HEIGHTS, limits) {
            Ok(_) => images.push(data),
            Err(e) => eprintln!("skipping {}: {e}", path.display()),
        }
    }
    if images.is_empty() {
        return Err(format!("no image renders in {}", dir.display()).into());
    }
    render_all(&images, threads, limits)?; // warm-up, untimed
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        best = best.min(render_all(&images, threads, limits)?);
    }
    println!(
        "{{\"mode\":\"threads\",\"threads\":{threads},\"images\":{},\"runs\":{runs},\"best_ms\":{best:.3}}}",
        images.len()
    );
    Ok(())
}
