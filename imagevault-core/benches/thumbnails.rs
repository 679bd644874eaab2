//! Run with `cargo bench -p imagevault-core --bench thumbnails`
//!
//! Renders the 200 and 400 px thumbnails of every image in the corpus, one benchmark per
//! file, single-threaded. The corpus is `$IMAGEVAULT_CORPUS`, else `../shared/corpus` next
//! to the repository, else the repository's own test fixtures.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use imagevault_core::imaging::{ImageLimits, render_thumbnails};

const HEIGHTS: [u32; 2] = [200, 400];

fn corpus() -> Vec<(String, Vec<u8>)> {
    let repository = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let shared = repository.join("../shared/corpus");
    let dir = std::env::var_os("IMAGEVAULT_CORPUS").map_or_else(
        || {
            if shared.is_dir() {
                shared
            } else {
                repository.join("tests/fixtures")
            }
        },
        PathBuf::from,
    );
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("no corpus at {}; nothing to benchmark", dir.display());
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "png" | "jpg" | "jpeg"))
        })
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            Some((name, std::fs::read(&path).ok()?))
        })
        .collect();
    files.sort();
    files
}

fn thumbnails(c: &mut Criterion) {
    let limits = ImageLimits::default();
    let mut group = c.benchmark_group("thumbnails");
    for (name, data) in corpus() {
        if let Err(e) = render_thumbnails(&data, &HEIGHTS, &limits) {
            eprintln!("skipping {name}: {e}");
            continue;
        }
        group.bench_function(&name, |b| {
            b.iter(|| render_thumbnails(black_box(&data), &HEIGHTS, &limits))
        });
    }
    group.finish();
}

criterion_group!(benches, thumbnails);
criterion_main!(benches);
