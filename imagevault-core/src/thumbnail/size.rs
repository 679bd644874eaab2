/// The size of the thumbnail of a `width` x `height` image (as displayed) for `max_height`.
///
/// Images no taller than `max_height` keep their size: thumbnails never upscale. Taller
/// images are scaled to exactly `max_height` rows, and the width keeps the aspect ratio,
/// rounded half up and at least 1:
/// `(max(1, round_half_up(width * max_height / height)), max_height)`, computed exactly in
/// integers.
///
/// ```
/// use imagevault_core::imaging::thumbnail_size;
///
/// assert_eq!(thumbnail_size(1280, 1920, 200), (133, 200));
/// assert_eq!(thumbnail_size(451, 300, 400), (451, 300));
/// assert_eq!(thumbnail_size(3, 4000, 200), (1, 200));
/// ```
pub fn thumbnail_size(width: u32, height: u32, max_height: u32) -> (u32, u32) {
    if height <= max_height {
        return (width, height);
    }
    // height > max_height >= 0, so height > 0.
    let numerator = u64::from(width) * u64::from(max_height);
    let denominator = u64::from(height);
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    // remainder < denominator < 2^32, so doubling cannot overflow.
    let rounded = if 2 * remainder >= denominator {
        quotient + 1
    } else {
        quotient
    };
    // max_height < height, so rounded <= width and fits in u32.
    let width = u32::try_from(rounded).unwrap_or(u32::MAX).max(1);
    (width, max_height)
}

#[cfg(test)]
mod tests {
    use super::thumbnail_size;

    #[test]
    fn never_upscales() {
        assert_eq!(thumbnail_size(451, 300, 400), (451, 300));
        assert_eq!(thumbnail_size(451, 300, 300), (451, 300));
        assert_eq!(thumbnail_size(1, 1, 200), (1, 1));
        assert_eq!(thumbnail_size(100_000, 10, 200), (100_000, 10));
    }

    #[test]
    fn scales_to_max_height() {
        assert_eq!(thumbnail_size(1280, 1920, 200), (133, 200)); // 133.33
        assert_eq!(thumbnail_size(1280, 1920, 400), (267, 400)); // 266.67
        assert_eq!(thumbnail_size(5312, 2988, 200), (356, 200)); // 355.56
        assert_eq!(thumbnail_size(5312, 2988, 400), (711, 400)); // 711.11
        assert_eq!(thumbnail_size(2140, 1200, 400), (713, 400)); // 713.33
        assert_eq!(thumbnail_size(512, 512, 200), (200, 200));
        assert_eq!(thumbnail_size(451, 300, 200), (301, 200)); // 300.67
    }

    #[test]
    fn rounds_half_up() {
        assert_eq!(thumbnail_size(3, 2, 1), (2, 1)); // 1.5
        assert_eq!(thumbnail_size(5, 2, 1), (3, 1)); // 2.5
        assert_eq!(thumbnail_size(5, 4, 2), (3, 2)); // 2.5
        assert_eq!(thumbnail_size(7, 4, 1), (2, 1)); // 1.75
        assert_eq!(thumbnail_size(5, 4, 1), (1, 1)); // 1.25
        assert_eq!(thumbnail_size(301, 400, 200), (151, 200)); // 150.5
        assert_eq!(thumbnail_size(299, 400, 200), (150, 200)); // 149.5
        assert_eq!(thumbnail_size(301, 401, 200), (150, 200)); // 150.12
    }

    #[test]
    fn width_is_at_least_one() {
        assert_eq!(thumbnail_size(1, 10_000, 200), (1, 200)); // 0.02
        assert_eq!(thumbnail_size(1, 65_535, 1), (1, 1));
        assert_eq!(thumbnail_size(2, 1000, 200), (1, 200)); // 0.4
        assert_eq!(thumbnail_size(3, 1000, 200), (1, 200)); // 0.6
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        assert_eq!(
            thumbnail_size(u32::MAX, u32::MAX, u32::MAX - 1),
            (u32::MAX - 1, u32::MAX - 1)
        );
        assert_eq!(thumbnail_size(u32::MAX, u32::MAX, 1), (1, 1));
        assert_eq!(thumbnail_size(u32::MAX, 2, 1), (u32::MAX / 2 + 1, 1));
        assert_eq!(thumbnail_size(0, 0, 0), (0, 0));
        assert_eq!(thumbnail_size(10, 5, 0), (1, 0));
    }
}
