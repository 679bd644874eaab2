//! Run with `cargo run --release -p imagevault-core --example thumbnail_once -- FILE [OUT_DIR]`
//!
//! One process, one image: reads FILE, renders its 200 and 400 px thumbnails with one
//! `render_thumbnails` call (as the worker does), writes them to OUT_DIR (if given) as
//! `thumb_200.<ext>` and `thumb_400.<ext>`, and prints one JSON line with the sizes.
//! `scripts/bench-thumbnails.sh` runs it under `/usr/bin/time -f %M` to compare the peak
//! memory (max RSS) of the whole process with libvips' and Pillow's; `render_bytes` in
//! the output is what the vault weighs the render by, to compare with that peak.

use std::path::PathBuf;

use imagevault_core::imaging::{ImageLimits, inspect, render_thumbnails};

const HEIGHTS: [u32; 2] = [200, 400];
/// Larger files are refused rather than read.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let file = PathBuf::from(args.next().ok_or("usage: thumbnail_once FILE [OUT_DIR]")?);
    let out_dir = args.next().map(PathBuf::from);
    let len = std::fs::metadata(&file)?.len();
    if len > MAX_FILE_BYTES {
        return Err(format!("{} is larger than {MAX_FILE_BYTES} bytes", file.display()).into());
    }
    let data = std::fs::read(&file)?;
    let limits = ImageLimits::default();
    let thumbnails = render_thumbnails(&data, &HEIGHTS, &limits)?;
    let info = inspect(&data, &limits)?;
    let ext = info.format.extension();
    let mut sizes = Vec::new();
    for t in &thumbnails {
        if let Some(dir) = &out_dir {
            std::fs::write(dir.join(format!("thumb_{}.{ext}", t.max_height)), &t.data)?;
        }
        sizes.push(format!(
            "{{\"max_height\":{},\"width\":{},\"height\":{},\"bytes\":{}}}",
            t.max_height,
            t.width,
            t.height,
            t.data.len()
        ));
    }
    println!(
        "{{\"render_bytes\":{},\"thumbnails\":[{}]}}",
        info.render_bytes(&HEIGHTS),
        sizes.join(",")
    );
    Ok(())
}
