//! Run with `cargo run --release -p imagevault-core --example thumbnail_timings [-- DIR]`
//!
//! Times `render_thumbnails` for the 200 and 400 px heights (both from one call, as the
//! worker does) on every PNG and JPEG in a directory, on this one thread, and prints one JSON
//! line per file: name, size, format, the best wall time of N runs in milliseconds, and the
//! encoded size of each thumbnail. `scripts/bench-thumbnails.sh` joins these lines with its
//! pyvips, vipsthumbnail and Pillow figures. The directory is the argument, else
//! `$IMAGEVAULT_CORPUS`, else `../shared/corpus` next to the repository, else the test
//! fixtures; N is `$BENCH_RUNS` (default 5, at most 100). Timings are figures, not checks.

use std::path::{Path, PathBuf};
use std::time::Instant;

use imagevault_core::imaging::{ImageLimits, inspect, render_thumbnails};

const HEIGHTS: [u32; 2] = [200, 400];
/// At most this many files are loaded, and none larger than this many bytes.
const MAX_FILES: usize = 200;
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
const MAX_RUNS: usize = 100;

fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::args_os().nth(1) {
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

fn image_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = match std::env::var("BENCH_RUNS") {
        Ok(value) => value.parse::<usize>()?.clamp(1, MAX_RUNS),
        Err(_) => 5,
    };
    let dir = corpus_dir();
    let limits = ImageLimits::default();
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
