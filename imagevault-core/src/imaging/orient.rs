//! EXIF orientation applied to pixels. The pipeline runs this on the resized thumbnail,
//! where it costs a fraction of what it would on the decoded image.

use super::pixels::{Layout, Pixels};

/// Returns the image as it should be displayed for an EXIF orientation. Values outside
/// 2..=8 leave it unchanged.
pub(crate) fn apply_orientation(pixels: Pixels, orientation: u8) -> Pixels {
    if !(2..=8).contains(&orientation) {
        return pixels;
    }
    let oriented = match pixels.layout() {
        Layout::L => transform::<1>(&pixels, orientation),
        Layout::La => transform::<2>(&pixels, orientation),
        Layout::Rgb => transform::<3>(&pixels, orientation),
        Layout::Rgba => transform::<4>(&pixels, orientation),
    };
    // `transform` only fails if `Pixels` broke its length invariant.
    oriented.unwrap_or(pixels)
}

/// For each output pixel (x, y), picks the input pixel it shows. The input is w x h; for
/// orientations 5..=8 the output is h x w.
///
/// | value | transform            | output (x, y) comes from input |
/// |-------|----------------------|--------------------------------|
/// | 2     | flip horizontally    | (w-1-x, y)                     |
/// | 3     | rotate 180           | (w-1-x, h-1-y)                 |
/// | 4     | flip vertically      | (x, h-1-y)                     |
/// | 5     | transpose            | (y, x)                         |
/// | 6     | rotate 90 clockwise  | (y, h-1-x)                     |
/// | 7     | transverse           | (w-1-y, h-1-x)                 |
/// | 8     | rotate 270 clockwise | (w-1-y, x)                     |
fn transform<const C: usize>(pixels: &Pixels, orientation: u8) -> Option<Pixels> {
    let (w, h) = (
        usize::try_from(pixels.width()).ok()?,
        usize::try_from(pixels.height()).ok()?,
    );
    let (src, rest) = pixels.data().as_chunks::<C>();
    if !rest.is_empty() || src.len() != w.checked_mul(h)? {
        return None;
    }
    let swap = orientation >= 5;
    let (out_w, out_h) = if swap { (h, w) } else { (w, h) };
    let mut out: Vec<[u8; C]> = Vec::with_capacity(src.len());
    match orientation {
        // Row-wise cases copy or reverse whole rows.
        2..=4 => {
            for y in 0..out_h {
                let sy = if orientation == 2 { y } else { h - 1 - y };
                let row = src.get(sy * w..(sy + 1) * w)?;
                if orientation == 4 {
                    out.extend_from_slice(row);
                } else {
                    out.extend(row.iter().rev());
                }
            }
        }
        _ => {
            for y in 0..out_h {
                for x in 0..out_w {
                    let (sx, sy) = match orientation {
                        5 => (y, x),
                        6 => (y, h - 1 - x),
                        7 => (w - 1 - y, h - 1 - x),
                        _ => (w - 1 - y, x),
                    };
                    out.push(*src.get(sy * w + sx)?);
                }
            }
        }
    }
    Pixels::new(
        u32::try_from(out_w).ok()?,
        u32::try_from(out_h).ok()?,
        pixels.layout(),
        out.into_flattened(),
    )
}

#[cfg(test)]
mod tests {
    use super::apply_orientation;
    use crate::imaging::pixels::{Layout, Pixels};

    /// A 3x2 grey image whose pixels are 1..=6, read row by row:
    /// ```text
    /// 1 2 3
    /// 4 5 6
    /// ```
    fn sample() -> Pixels {
        Pixels::new(3, 2, Layout::L, vec![1, 2, 3, 4, 5, 6]).expect("valid")
    }

    #[test]
    fn all_eight_orientations() {
        let cases: [(u8, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [1, 2, 3, 4, 5, 6]),
            (2, (3, 2), [3, 2, 1, 6, 5, 4]),
            (3, (3, 2), [6, 5, 4, 3, 2, 1]),
            (4, (3, 2), [4, 5, 6, 1, 2, 3]),
            // transpose: columns become rows
            (5, (2, 3), [1, 4, 2, 5, 3, 6]),
            // rotate 90 CW: the left column, read bottom-up, becomes the top row
            (6, (2, 3), [4, 1, 5, 2, 6, 3]),
            // transverse
            (7, (2, 3), [6, 3, 5, 2, 4, 1]),
            // rotate 270 CW: the right column, read top-down, becomes the top row
            (8, (2, 3), [3, 6, 2, 5, 1, 4]),
        ];
        for (orientation, (w, h), expected) in cases {
            let out = apply_orientation(sample(), orientation);
            assert_eq!(
                (out.width(), out.height()),
                (w, h),
                "orientation {orientation}"
            );
            assert_eq!(out.data(), expected, "orientation {orientation}");
        }
    }

    #[test]
    fn invalid_orientations_are_identity() {
        for o in [0, 9, 255] {
            assert_eq!(apply_orientation(sample(), o), sample());
        }
    }

    #[test]
    fn multi_channel_pixels_move_as_units() {
        let rgba = Pixels::new(2, 1, Layout::Rgba, vec![1, 2, 3, 4, 5, 6, 7, 8]).expect("valid");
        let out = apply_orientation(rgba.clone(), 6);
        assert_eq!((out.width(), out.height()), (1, 2));
        assert_eq!(out.data(), [1, 2, 3, 4, 5, 6, 7, 8]);
        let out = apply_orientation(rgba, 2);
        assert_eq!(out.data(), [5, 6, 7, 8, 1, 2, 3, 4]);
        let la = Pixels::new(1, 2, Layout::La, vec![1, 2, 3, 4]).expect("valid");
        let out = apply_orientation(la, 8);
        assert_eq!((out.width(), out.height()), (2, 1));
        assert_eq!(out.data(), [1, 2, 3, 4]);
        let rgb = Pixels::new(1, 2, Layout::Rgb, vec![1, 2, 3, 4, 5, 6]).expect("valid");
        let out = apply_orientation(rgb, 6);
        assert_eq!(out.data(), [4, 5, 6, 1, 2, 3]);
    }

    #[test]
    fn applying_an_orientation_and_its_inverse_is_identity() {
        let inverse = |o: u8| match o {
            6 => 8,
            8 => 6,
            o => o,
        };
        let img = Pixels::new(5, 3, Layout::L, (0..15).collect()).expect("valid");
        for o in 1..=8 {
            let back = apply_orientation(apply_orientation(img.clone(), o), inverse(o));
            assert_eq!(back, img, "orientation {o}");
        }
    }
}
