//! Format sniffing and header parsing: `inspect` walks a whole PNG or JPEG structure (chunks
//! and CRCs, markers and scans, EXIF orientation) without decoding pixels. Any input must
//! give `Ok` or an `ImageError`, never a panic, within the default limits.
#![no_main]

use imagevault_core::imaging::{ImageLimits, inspect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ImageLimits::default();
    if let Ok(info) = inspect(data, &limits) {
        // What inspect accepts is within the limits it was given.
        assert!(u64::from(info.width) * u64::from(info.height) <= limits.max_pixels);
        assert!(info.width > 0 && info.height > 0);
    }
});
