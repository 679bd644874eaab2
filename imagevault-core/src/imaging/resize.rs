//! Downscaling with `fast_image_resize` (SIMD convolution).

use fast_image_resize as fir;

use super::pixels::{Layout, Pixels};

/// The filter for every thumbnail. Lanczos3 is what libvips uses for reductions and keeps
/// photos sharp; the source is at most twice the target after JPEG DCT scaling, so its
/// wider kernel costs little.
const FILTER: fir::FilterType = fir::FilterType::Lanczos3;

/// A reusable resizer: its scratch buffers survive between the thumbnails of one image.
#[derive(Debug, Default)]
pub(crate) struct Resizer {
    inner: fir::Resizer,
}

fn pixel_type(layout: Layout) -> fir::PixelType {
    match layout {
        Layout::L => fir::PixelType::U8,
        Layout::La => fir::PixelType::U8x2,
        Layout::Rgb => fir::PixelType::U8x3,
        Layout::Rgba => fir::PixelType::U8x4,
    }
}

impl Resizer {
    /// Resizes to exactly `width` x `height`. Layouts with alpha are premultiplied for the
    /// convolution and divided back afterwards, so transparent pixels do not bleed their
    /// (meaningless) colour into visible neighbours.
    pub(crate) fn resize(
        &mut self,
        src: &Pixels,
        width: u32,
        height: u32,
    ) -> Result<Pixels, Box<dyn std::error::Error + Send + Sync>> {
        if (src.width(), src.height()) == (width, height) {
            return Ok(src.clone());
        }
        let pixel_type = pixel_type(src.layout());
        let src_image =
            fir::images::ImageRef::new(src.width(), src.height(), src.data(), pixel_type)?;
        let mut dst_image = fir::images::Image::new(width, height, pixel_type);
        let options = fir::ResizeOptions::new()
            .resize_alg(fir::ResizeAlg::Convolution(FILTER))
            .use_alpha(true);
        self.inner.resize(&src_image, &mut dst_image, &options)?;
        Pixels::new(width, height, src.layout(), dst_image.into_vec())
            .ok_or_else(|| "the resizer returned a buffer of the wrong size".into())
    }
}

#[cfg(test)]
mod tests {
    use super::Resizer;
    use crate::imaging::pixels::{Layout, Pixels};

    #[test]
    fn resizes_every_layout() {
        for layout in [Layout::L, Layout::La, Layout::Rgb, Layout::Rgba] {
            let c = layout.channels();
            let src = Pixels::new(40, 20, layout, vec![200; 40 * 20 * c]).expect("valid");
            let out = Resizer::default().resize(&src, 10, 5).expect("resizes");
            assert_eq!((out.width(), out.height(), out.layout()), (10, 5, layout));
            // A flat image stays flat.
            assert!(out.data().iter().all(|&v| v == 200), "{layout:?}");
        }
    }

    #[test]
    fn same_size_is_a_copy() {
        let src = Pixels::new(3, 2, Layout::L, vec![1, 2, 3, 4, 5, 6]).expect("valid");
        assert_eq!(Resizer::default().resize(&src, 3, 2).expect("copy"), src);
    }

    #[test]
    fn transparent_pixels_do_not_bleed_colour() {
        // Left half opaque red, right half fully transparent green.
        let mut data = Vec::new();
        for _ in 0..8 {
            for x in 0..16 {
                data.extend_from_slice(if x < 8 {
                    &[255, 0, 0, 255]
                } else {
                    &[0, 255, 0, 0]
                });
            }
        }
        let src = Pixels::new(16, 8, Layout::Rgba, data).expect("valid");
        let out = Resizer::default().resize(&src, 4, 2).expect("resizes");
        for px in out.data().chunks_exact(4) {
            if px[3] > 0 {
                // Visible pixels are pure red: no green from the transparent half.
                assert!(px[1] <= 2 && px[0] >= 250, "{px:?}");
            }
        }
    }
}
