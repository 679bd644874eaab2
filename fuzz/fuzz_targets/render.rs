//! The whole decode-to-thumbnail path with the default limits, as the worker runs it: any
//! input gives the thumbnails or an `ImageError`, never a panic, and every thumbnail has the
//! size `thumbnail_size` promises.
#![no_main]

use imagevault_core::imaging::{ImageLimits, render_thumbnails};
use libfuzzer_sys::fuzz_target;

const HEIGHTS: [u32; 2] = [200, 400];

fuzz_target!(|data: &[u8]| {
    let limits = ImageLimits::default();
    if let Ok(thumbnails) = render_thumbnails(data, &HEIGHTS, &limits) {
        assert_eq!(thumbnails.len(), HEIGHTS.len());
        for thumbnail in &thumbnails {
            assert!(!thumbnail.data.is_empty());
            assert!(thumbnail.height <= thumbnail.max_height);
        }
    }
});
