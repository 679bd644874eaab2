//! Downscaling with `fast_image_resize` (SIMD convolution).

use fast_image_resize as fir;

use super::pixels::{Layout, Pixels};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The filter for every thumbnail. Lanczos3 is what libvips uses for reductions and keeps
/// photos sharp. CatmullRom would resize large PNGs faster, but JPEGs reach the resizer
/// already DCT-scaled to less than twice the target, where the filter's cost is small
/// either way.
const FILTER: fir::FilterType = fir::FilterType::Lanczos3;

fn pixel_type(layout: Layout) -> fir::PixelType {
    match layout {
        Layout::L => fir::PixelType::U8,
        Layout::La => fir::PixelType::U8x2,
        Layout::Rgb => fir::PixelType::U8x3,
        Layout::Rgba => fir::PixelType::U8x4,
    }
}

fn has_alpha(layout: Layout) -> bool {
    matches!(layout, Layout::La | Layout::Rgba)
}

/// Resizes one decoded image to any number of sizes, reusing scratch buffers.
///
/// Layouts with alpha are premultiplied once, in place, for all sizes: colour is multiplied
/// by alpha for the convolution and divided back afterwards, so transparent pixels do not
/// bleed their (meaningless) colour into visible ones.
pub(crate) struct Resizer {
    width: u32,
    height: u32,
    layout: Layout,
    /// What the convolution reads: the decoded pixels, premultiplied if they have alpha.
    source: Vec<u8>,
    /// The decoded pixels as they were, kept only when they are premultiplied in `source`
    /// and one of the outputs is the source size.
    original: Option<Pixels>,
    inner: fir::Resizer,
    mul_div: fir::MulDiv,
}

impl std::fmt::Debug for Resizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resizer")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl Resizer {
    /// Takes the decoded image; `sizes` are the outputs that will be asked for, so that an
    /// unresized copy is kept only if one of them needs it.
    pub(crate) fn new(src: Pixels, sizes: &[(u32, u32)]) -> Result<Self, BoxError> {
        let (width, height, layout) = (src.width(), src.height(), src.layout());
        let mul_div = fir::MulDiv::new();
        let (source, original) = if has_alpha(layout) {
            let original = sizes.contains(&(width, height)).then(|| src.clone());
            let mut image = fir::images::Image::from_vec_u8(
                width,
                height,
                src.into_data(),
                pixel_type(layout),
            )?;
            mul_div.multiply_alpha_inplace(&mut image)?;
            (image.into_vec(), original)
        } else {
            (src.into_data(), None)
        };
        Ok(Self {
            width,
            height,
            layout,
            source,
            original,
            inner: fir::Resizer::new(),
            mul_div,
        })
    }

    /// The source resized to exactly `width` x `height`.
    pub(crate) fn resize(&mut self, width: u32, height: u32) -> Result<Pixels, BoxError> {
        let pixel_type = pixel_type(self.layout);
        let alpha = has_alpha(self.layout);
        let same_size = (self.width, self.height) == (width, height);
        if same_size && !alpha {
            return Pixels::new(width, height, self.layout, self.source.clone())
                .ok_or_else(|| "the source has the wrong size".into());
        }
        if same_size && let Some(original) = &self.original {
            return Ok(original.clone());
        }
        let mut dst = if same_size {
            // Not announced in `new`: undo the premultiplication on a copy.
            fir::images::Image::from_vec_u8(width, height, self.source.clone(), pixel_type)?
        } else {
            let view =
                fir::images::ImageRef::new(self.width, self.height, &self.source, pixel_type)?;
            let mut dst = fir::images::Image::new(width, height, pixel_type);
            let options = fir::ResizeOptions::new()
                .resize_alg(fir::ResizeAlg::Convolution(FILTER))
                .use_alpha(false);
            self.inner.resize(&view, &mut dst, &options)?;
            dst
        };
        if alpha {
            self.mul_div.divide_alpha_inplace(&mut dst)?;
        }
        Pixels::new(width, height, self.layout, dst.into_vec())
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
            let mut resizer = Resizer::new(src, &[]).expect("resizer");
            for (w, h) in [(10, 5), (20, 10), (1, 1)] {
                let out = resizer.resize(w, h).expect("resizes");
                assert_eq!((out.width(), out.height(), out.layout()), (w, h, layout));
                // A flat image stays flat.
                assert!(out.data().iter().all(|&v| v == 200), "{layout:?}");
            }
        }
    }

    #[test]
    fn same_size_is_a_copy() {
        let src = Pixels::new(
            3,
            2,
            Layout::La,
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        )
        .expect("valid");
        // Announced: the exact original, even where little alpha leaves little precision.
        let mut resizer = Resizer::new(src.clone(), &[(3, 2)]).expect("resizer");
        assert_eq!(resizer.resize(3, 2).expect("copy"), src);
        // Not announced: recovered from the premultiplied pixels, exact where opaque.
        let opaque = Pixels::new(2, 1, Layout::La, vec![10, 255, 200, 255]).expect("valid");
        let mut resizer = Resizer::new(opaque.clone(), &[]).expect("resizer");
        assert_eq!(resizer.resize(2, 1).expect("copy"), opaque);
        let grey = Pixels::new(2, 1, Layout::L, vec![7, 9]).expect("valid");
        let mut resizer = Resizer::new(grey.clone(), &[]).expect("resizer");
        assert_eq!(resizer.resize(2, 1).expect("copy"), grey);
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
        let mut resizer = Resizer::new(src, &[]).expect("resizer");
        for (w, h) in [(4, 2), (8, 4)] {
            let out = resizer.resize(w, h).expect("resizes");
            for px in out.data().chunks_exact(4) {
                if px[3] > 0 {
                    // Visible pixels are pure red: no green from the transparent half.
                    assert!(px[1] <= 2 && px[0] >= 250, "{px:?}");
                }
            }
        }
        // The same holds for grey with alpha.
        let mut data = Vec::new();
        for _ in 0..8 {
            for x in 0..16 {
                data.extend_from_slice(if x < 8 { &[255, 255] } else { &[0, 0] });
            }
        }
        let src = Pixels::new(16, 8, Layout::La, data).expect("valid");
        let out = Resizer::new(src, &[])
            .expect("resizer")
            .resize(4, 2)
            .expect("resizes");
        for px in out.data().chunks_exact(2) {
            if px[1] > 0 {
                assert!(px[0] >= 250, "{px:?}");
            }
        }
    }
}
