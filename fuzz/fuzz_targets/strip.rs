//! Metadata removal at upload: whatever `inspect` accepts, `strip_metadata` turns into a
//! file that `inspect` accepts again as the same image (format, size, orientation), never
//! larger than the input but for the minimal EXIF it may add, with nothing to remove the
//! second time, and never a panic.
#![no_main]

use imagevault_core::imaging::{ImageLimits, inspect, strip_metadata};
use libfuzzer_sys::fuzz_target;

/// The most a minimal orientation EXIF adds: a JPEG APP1 of 36 bytes, or a PNG eXIf of 38.
const MINIMAL_EXIF_BYTES: usize = 38;

fuzz_target!(|data: &[u8]| {
    let limits = ImageLimits::default();
    let Ok(info) = inspect(data, &limits) else {
        return;
    };
    let stripped = strip_metadata(data, &info).expect("an inspected file strips");
    assert!(stripped.data.len() <= data.len() + MINIMAL_EXIF_BYTES);
    let again = inspect(&stripped.data, &limits).expect("the stripped file inspects");
    assert_eq!(again, info);
    let twice = strip_metadata(&stripped.data, &again).expect("strips again");
    // Only the minimal EXIF is found the second time, and it comes back the same.
    assert_eq!(twice.data, stripped.data);
});
