//! Colour management: what the structure walk found about an image's colours (an ICC
//! profile, or PNG's `sRGB`, `gAMA` and `cHRM` chunks), and the conversion of its pixels to
//! sRGB with [`moxcms`].
//!
//! Thumbnails are always sRGB and carry no profile. An image without any colour
//! information is taken to be sRGB, as browsers and libvips take it, and costs nothing
//! extra; so does one whose profile is sRGB's (detected from the profile's primaries and
//! curves, as most cameras embed one). Everything else is converted after resizing, on the
//! small thumbnail rather than on the whole decode, as libvips' `thumbnail` does: the
//! resize mixes neighbouring pixels of the source's own encoding either way, and the
//! conversion is a per-pixel function. CMYK is the exception: its four channels become
//! three in the decoder, through the embedded profile, or through a standard press profile
//! (FOGRA39) when the file has none or one that cannot be used.
//!
//! A profile that cannot be used (truncated, larger than [`MAX_ICC_PROFILE_BYTES`], an
//! abstract, device link or named colour profile, a CMYK profile on an RGB image, garbage
//! tags, a transform moxcms refuses to build) is ignored with a `tracing` warning: the
//! image is treated as sRGB, and the upload and its thumbnails never fail for it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock};

use moxcms::{
    Chromaticity, ColorPrimaries, ColorProfile, DataColorSpace, ParsingOptions, ProfileClass,
    RenderingIntent, ToneReprCurve, Transform8BitExecutor, TransformOptions, XyY, Xyzd,
};

use super::ImageInfo;
use super::jpeg_structure::icc_chunks;
use super::memory::Shape;
use super::pixels::{Layout, Pixels};

/// The largest embedded ICC profile that thumbnails are converted from, in bytes,
/// decompressed: larger ones are ignored (the image is treated as sRGB). Firefox's qcms
/// stops at the same 4 MiB; moxcms allows 10 MB, lcms2 has no limit, and a JPEG can carry
/// up to 255 APP2 chunks of 65,519 bytes (16.7 MB).
/// Real profiles are far smaller: sRGB and Display P3 profiles take 0.5 to 4 KB, and large
/// CMYK press profiles (FOGRA39, GRACoL) 0.5 to 2 MB.
pub const MAX_ICC_PROFILE_BYTES: usize = 4 * 1024 * 1024;

/// What the structure walk found about an image's colours, as positions in the file so
/// that [`ImageInfo`] stays small and `Copy`: nothing is read or decompressed until a
/// render needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ColourSource {
    /// No colour information: taken as sRGB.
    #[default]
    Unspecified,
    /// A PNG `sRGB` chunk (and no `iCCP`).
    Srgb,
    /// The payload of a PNG `iCCP` chunk: a name, a compression method and a zlib stream.
    PngIccp {
        /// Offset of the payload in the file.
        start: usize,
        /// Offset just past it.
        end: usize,
    },
    /// JPEG APP2 `ICC_PROFILE` segments: all lie between the marker of the first one and
    /// the end of the last one, possibly with other segments between them.
    JpegIcc {
        /// Offset of the first segment's marker.
        from: usize,
        /// Offset just past the last segment.
        to: usize,
    },
    /// A PNG `gAMA` chunk (and no `iCCP` or `sRGB`), with the `cHRM` chunk if there is one.
    PngGamma {
        /// The encoding gamma times 100000 (45455 for 1/2.2).
        gamma: u32,
        /// White point, red, green and blue x and y, each times 100000.
        chromaticities: Option<[u32; 8]>,
    },
}

/// The channels of the decoded image the profile must describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channels {
    Grey,
    Rgb,
    Cmyk,
}

impl Channels {
    fn of(info: &ImageInfo) -> Self {
        match info.shape {
            Shape::Png {
                color_type: 0 | 4, ..
            } => Self::Grey,
            Shape::Png { .. } => Self::Rgb,
            Shape::Jpeg { components: 1, .. } => Self::Grey,
            Shape::Jpeg { components: 4, .. } => Self::Cmyk,
            Shape::Jpeg { .. } => Self::Rgb,
        }
    }

    fn colour_space(self) -> DataColorSpace {
        match self {
            Self::Grey => DataColorSpace::Gray,
            Self::Rgb => DataColorSpace::Rgb,
            Self::Cmyk => DataColorSpace::Cmyk,
        }
    }
}

/// The colour space an image's pixels are in, when it is not sRGB and can be converted.
pub(crate) struct SourceProfile {
    profile: ColorProfile,
    channels: Channels,
    /// The transform built to check the profile, for the layout the decode most likely
    /// gives (no alpha), kept for [`to_srgb`](Self::to_srgb).
    checked: (Layout, Arc<Transform8BitExecutor>),
}

impl std::fmt::Debug for SourceProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceProfile")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

/// Logs why an image's colour information is ignored (the image is then treated as sRGB).
fn ignored(reason: &str) {
    tracing::warn!(
        reason,
        "colour profile ignored; the image is treated as sRGB"
    );
}

impl SourceProfile {
    /// The profile an image's pixels must be converted from, or `None` for sRGB: no
    /// colour information, an sRGB profile or chunk, or information that cannot be used
    /// (logged as a warning).
    pub(crate) fn of(data: &[u8], info: &ImageInfo) -> Option<Self> {
        #[cfg(test)]
        if tests::conversion_disabled() {
            return None;
        }
        let channels = Channels::of(info);
        let profile = match info.colour {
            ColourSource::Unspecified | ColourSource::Srgb => return None,
            ColourSource::PngGamma {
                gamma,
                chromaticities,
            } => gamma_profile(gamma, chromaticities, channels)?,
            ColourSource::PngIccp { start, end } => {
                let bytes = data.get(start..end).and_then(inflate_iccp);
                parse(bytes.as_deref(), channels)?
            }
            ColourSource::JpegIcc { from, to } => {
                parse(jpeg_icc(data, from, to).as_deref(), channels)?
            }
        };
        if is_srgb(&profile) {
            return None;
        }
        // Built here so that a profile moxcms cannot use is found out before decoding (and
        // its warning logged once), not once per thumbnail.
        let layout = match channels {
            Channels::Grey => Layout::L,
            Channels::Rgb => Layout::Rgb,
            Channels::Cmyk => Layout::Rgba,
        };
        let transform = transform(&profile, channels, layout)?;
        Some(Self {
            profile,
            channels,
            checked: (layout, transform),
        })
    }

    /// The converter of pixels in `layout` to sRGB, or `None` (logged) if the profile does
    /// not describe them or moxcms cannot build the transform.
    pub(crate) fn to_srgb(&self, layout: Layout) -> Option<ToSrgb> {
        if self.channels == Channels::Cmyk {
            // Converted in the decoder, which is the only place that sees the inks.
            return None;
        }
        let transform = if self.checked.0 == layout {
            Arc::clone(&self.checked.1)
        } else {
            transform(&self.profile, self.channels, layout)?
        };
        Some(ToSrgb { transform, layout })
    }

    /// CMYK ink amounts (0 = no ink, as jpeg-decoder returns them, Adobe's inversion
    /// undone) converted to sRGB through the profile; `None` (logged) if that fails, for
    /// the caller's naive conversion.
    pub(crate) fn cmyk_to_srgb(&self, cmyk: &[u8]) -> Option<Vec<u8>> {
        if self.channels != Channels::Cmyk {
            return None;
        }
        let mut rgb = vec![0; cmyk.len() / 4 * 3];
        run(self.checked.1.as_ref(), cmyk, &mut rgb).then_some(rgb)
    }
}

/// FOGRA39 (offset printing on coated paper), the standard press condition that CMYK files
/// without a profile are most likely prepared for; its provenance is in `profiles/README.md`.
const STANDARD_CMYK_PROFILE: &[u8] = include_bytes!("profiles/fogra39.icc");

/// The transform of CMYK inks through [`STANDARD_CMYK_PROFILE`] to sRGB, built once on
/// first use (parsing the profile's tables takes longer than converting a thumbnail).
static STANDARD_CMYK: LazyLock<Option<Arc<Transform8BitExecutor>>> = LazyLock::new(|| {
    let profile = parse(Some(STANDARD_CMYK_PROFILE), Channels::Cmyk)?;
    transform(&profile, Channels::Cmyk, Layout::Rgba)
});

/// CMYK ink amounts (as [`SourceProfile::cmyk_to_srgb`] takes them) converted to sRGB
/// through the standard CMYK profile: for CMYK and YCCK JPEGs without a usable profile of
/// their own. `None` (logged) if that fails, for the caller's naive conversion.
pub(crate) fn standard_cmyk_to_srgb(cmyk: &[u8]) -> Option<Vec<u8>> {
    #[cfg(test)]
    if tests::conversion_disabled() {
        return None;
    }
    let transform = STANDARD_CMYK.as_ref()?;
    let mut rgb = vec![0; cmyk.len() / 4 * 3];
    run(transform.as_ref(), cmyk, &mut rgb).then_some(rgb)
}

/// The transform of pixels in `layout` described by `profile` to sRGB, or `None` (logged)
/// if the profile does not describe them or moxcms cannot build it. CMYK pixels come four
/// bytes each whatever `layout` says, and go out as RGB.
fn transform(
    profile: &ColorProfile,
    channels: Channels,
    layout: Layout,
) -> Option<Arc<Transform8BitExecutor>> {
    let (src_layout, dst_layout, destination) = match (channels, layout) {
        (Channels::Grey, Layout::L) => (moxcms::Layout::Gray, moxcms::Layout::Gray, grey()),
        (Channels::Grey, Layout::La) => {
            (moxcms::Layout::GrayAlpha, moxcms::Layout::GrayAlpha, grey())
        }
        (Channels::Rgb, Layout::Rgb) => (
            moxcms::Layout::Rgb,
            moxcms::Layout::Rgb,
            ColorProfile::new_srgb(),
        ),
        (Channels::Rgb, Layout::Rgba) => (
            moxcms::Layout::Rgba,
            moxcms::Layout::Rgba,
            ColorProfile::new_srgb(),
        ),
        // CMYK comes from the decoder four bytes a pixel, as moxcms' Rgba layout.
        (Channels::Cmyk, _) => (
            moxcms::Layout::Rgba,
            moxcms::Layout::Rgb,
            ColorProfile::new_srgb(),
        ),
        _ => {
            ignored("the profile does not match the decoded channels");
            return None;
        }
    };
    let build = |intent| {
        let options = TransformOptions {
            rendering_intent: intent,
            ..TransformOptions::default()
        };
        profile.create_transform_8bit(src_layout, &destination, dst_layout, options)
    };
    // Relative colorimetric, as libvips' thumbnail; a LUT profile that has no table
    // for it is used through its perceptual one (A2B0), as the ICC specification says.
    let built = catch_unwind(AssertUnwindSafe(|| {
        build(RenderingIntent::RelativeColorimetric).or_else(|_| build(RenderingIntent::Perceptual))
    }));
    match built {
        Ok(Ok(transform)) => Some(transform),
        Ok(Err(error)) => {
            ignored(&format!("no transform to sRGB: {error}"));
            None
        }
        Err(_) => {
            ignored("building the transform to sRGB panicked");
            None
        }
    }
}

/// Converts resized pixels of one layout to sRGB.
pub(crate) struct ToSrgb {
    transform: Arc<Transform8BitExecutor>,
    layout: Layout,
}

impl std::fmt::Debug for ToSrgb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToSrgb")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl ToSrgb {
    /// The pixels in sRGB (alpha kept); unchanged, with a warning, if the transform fails
    /// or they are not of the layout it was built for.
    pub(crate) fn apply(&self, pixels: Pixels) -> Pixels {
        if pixels.layout() != self.layout {
            ignored("the pixels changed layout after the transform was built");
            return pixels;
        }
        let mut out = vec![0; pixels.data().len()];
        if !run(self.transform.as_ref(), pixels.data(), &mut out) {
            return pixels;
        }
        Pixels::new(pixels.width(), pixels.height(), self.layout, out).unwrap_or(pixels)
    }
}

/// Runs a transform; `false` (logged) if it fails or panics.
fn run(transform: &Transform8BitExecutor, src: &[u8], dst: &mut [u8]) -> bool {
    match catch_unwind(AssertUnwindSafe(|| transform.transform(src, dst))) {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            ignored(&format!("the transform to sRGB failed: {error}"));
            false
        }
        Err(_) => {
            ignored("the transform to sRGB panicked");
            false
        }
    }
}

/// sRGB's transfer function as an ICC parametric curve (type 3).
fn srgb_curve() -> ToneReprCurve {
    ToneReprCurve::Parametric(vec![2.4, 1. / 1.055, 0.055 / 1.055, 1. / 12.92, 0.04045])
}

/// The greyscale destination: sRGB's white and transfer function, as libvips and browsers
/// show grey.
fn grey() -> ColorProfile {
    let mut profile = ColorProfile::new_gray_with_gamma(2.2);
    profile.gray_trc = Some(srgb_curve());
    profile
}

/// Parses an ICC profile and checks that it can describe the image: `None` (logged) if
/// it is absent, broken, of a class that does not describe images, or of another colour
/// space than the decoded channels.
fn parse(bytes: Option<&[u8]>, channels: Channels) -> Option<ColorProfile> {
    let Some(bytes) = bytes else {
        ignored("the embedded profile is incomplete, damaged or too large");
        return None;
    };
    let options = ParsingOptions {
        max_profile_size: MAX_ICC_PROFILE_BYTES,
        ..ParsingOptions::default()
    };
    let profile = match catch_unwind(|| ColorProfile::new_from_slice_with_options(bytes, options)) {
        Ok(Ok(profile)) => profile,
        Ok(Err(error)) => {
            ignored(&format!("the embedded profile does not parse: {error}"));
            return None;
        }
        Err(_) => {
            ignored("parsing the embedded profile panicked");
            return None;
        }
    };
    if !matches!(
        profile.profile_class,
        ProfileClass::InputDevice
            | ProfileClass::DisplayDevice
            | ProfileClass::OutputDevice
            | ProfileClass::ColorSpace
    ) {
        ignored(&format!(
            "a {:?} profile does not describe an image's colours",
            profile.profile_class
        ));
        return None;
    }
    if profile.color_space != channels.colour_space() {
        ignored(&format!(
            "a {:?} profile on a {:?} image",
            profile.color_space,
            channels.colour_space()
        ));
        return None;
    }
    if !matches!(profile.pcs, DataColorSpace::Xyz | DataColorSpace::Lab) {
        ignored("the profile connection space is neither XYZ nor Lab");
        return None;
    }
    Some(profile)
}

/// Whether a profile is sRGB's in effect (its primaries within 0.002 and its curves within
/// 0.002 of linear light everywhere sampled), so that converting would change nothing.
fn is_srgb(profile: &ColorProfile) -> bool {
    if profile.color_space != DataColorSpace::Rgb || !profile.is_matrix_shaper() {
        return false;
    }
    let srgb = ColorProfile::new_srgb();
    let close = |a: Xyzd, b: Xyzd| {
        (a.x - b.x).abs() < 0.002 && (a.y - b.y).abs() < 0.002 && (a.z - b.z).abs() < 0.002
    };
    if !(close(profile.red_colorant, srgb.red_colorant)
        && close(profile.green_colorant, srgb.green_colorant)
        && close(profile.blue_colorant, srgb.blue_colorant))
    {
        return false;
    }
    let Ok(reference) = srgb_curve().make_linear_evaluator() else {
        return false;
    };
    [&profile.red_trc, &profile.green_trc, &profile.blue_trc]
        .into_iter()
        .all(|curve| {
            let Some(Ok(evaluator)) = curve.as_ref().map(ToneReprCurve::make_linear_evaluator)
            else {
                return false;
            };
            (0..=32u8).all(|i| {
                let v = f32::from(i) / 32.0;
                (evaluator.evaluate_value(v) - reference.evaluate_value(v)).abs() < 0.002
            })
        })
}

/// The `gAMA` values taken as sRGB's: 1/2.2 give or take 1%. Browsers and libpng treat
/// such files as sRGB; the curves differ only in the darkest shadows (a pure 2.2 power law
/// against sRGB's linear toe), by less than a step of 8 bits almost everywhere.
const SRGB_LIKE_GAMMA: std::ops::RangeInclusive<u32> = 45_000..=45_910;

/// sRGB's `cHRM` values: white point, red, green, blue (x, y each, times 100000).
const SRGB_CHROMATICITIES: [u32; 8] = [
    31_270, 32_900, 64_000, 33_000, 30_000, 60_000, 15_000, 6_000,
];

/// The profile a PNG's `gAMA` (and `cHRM`) describe, or `None` when they describe sRGB
/// (gamma near 1/2.2 and sRGB's primaries or none) or nonsense (logged).
///
/// Without an `iCCP` or `sRGB` chunk, PNG says these two chunks are the image's colour
/// space, and browsers (Chromium's skcms, Firefox's qcms) apply them. A file that gives
/// only `gAMA` keeps sRGB's primaries.
fn gamma_profile(
    gamma: u32,
    chromaticities: Option<[u32; 8]>,
    channels: Channels,
) -> Option<ColorProfile> {
    let srgb_primaries = chromaticities.is_none_or(|c| {
        c.iter()
            .zip(SRGB_CHROMATICITIES)
            .all(|(&a, b)| a.abs_diff(b) <= 1_000)
    });
    if SRGB_LIKE_GAMMA.contains(&gamma) && (srgb_primaries || channels == Channels::Grey) {
        return None;
    }
    // The decoding exponent: gAMA holds the encoding one, times 100000.
    let exponent = 100_000.0 / f64::from(gamma);
    if !(0.2..=5.0).contains(&exponent) {
        ignored("the gAMA chunk gives an implausible gamma");
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    let exponent = exponent as f32;
    let curve = moxcms::curve_from_gamma(exponent);
    match channels {
        Channels::Grey => {
            let mut profile = ColorProfile::new_gray_with_gamma(exponent);
            profile.gray_trc = Some(curve);
            Some(profile)
        }
        Channels::Rgb => {
            let mut profile = ColorProfile::new_srgb();
            profile.cicp = None;
            if let Some(c) = chromaticities.filter(|_| !srgb_primaries) {
                let xy = |i: usize| {
                    #[allow(clippy::cast_precision_loss)]
                    let v = |n: u32| n as f32 / 100_000.0;
                    Chromaticity::new(v(c[i]), v(c[i + 1]))
                };
                let (white, red, green, blue) = (xy(0), xy(2), xy(4), xy(6));
                if !plausible_primaries([white, red, green, blue]) {
                    ignored("the cHRM chunk gives degenerate chromaticities");
                    return None;
                }
                profile.update_rgb_colorimetry(
                    XyY::new(f64::from(white.x), f64::from(white.y), 1.0),
                    ColorPrimaries { red, green, blue },
                );
            }
            profile.red_trc = Some(curve.clone());
            profile.green_trc = Some(curve.clone());
            profile.blue_trc = Some(curve);
            Some(profile)
        }
        Channels::Cmyk => None,
    }
}

/// Chromaticities that make an invertible matrix: every y positive, every x + y at most 1,
/// and the primaries a triangle of some area.
fn plausible_primaries(points: [Chromaticity; 4]) -> bool {
    if !points
        .iter()
        .all(|p| p.y > 0.001 && p.x >= 0.0 && p.x + p.y <= 1.0)
    {
        return false;
    }
    let [_, r, g, b] = points;
    let area = ((g.x - r.x) * (b.y - r.y) - (b.x - r.x) * (g.y - r.y)).abs() / 2.0;
    area > 0.001
}

/// The profile of a PNG `iCCP` payload (a name of 1 to 79 bytes, NUL, compression method
/// 0, a zlib stream), inflated to at most [`MAX_ICC_PROFILE_BYTES`]; `None` if damaged or
/// larger.
fn inflate_iccp(payload: &[u8]) -> Option<Vec<u8>> {
    let nul = payload.iter().take(80).position(|&b| b == 0)?;
    let (&method, stream) = payload.get(nul + 1..)?.split_first()?;
    if nul == 0 || method != 0 {
        return None;
    }
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(stream, MAX_ICC_PROFILE_BYTES).ok()
}

/// The profile of a JPEG's APP2 `ICC_PROFILE` chunks between `from` and `to`, put together
/// in the order of their sequence numbers; `None` if a chunk is missing, repeated or out of
/// range, the chunks disagree on their count, or the total exceeds
/// [`MAX_ICC_PROFILE_BYTES`].
fn jpeg_icc(data: &[u8], from: usize, to: usize) -> Option<Vec<u8>> {
    let mut chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut count = None;
    let mut total = 0usize;
    for (sequence, of, body) in icc_chunks(data.get(..to)?, from) {
        if sequence == 0 || sequence > of || *count.get_or_insert(of) != of {
            return None;
        }
        total = total.checked_add(body.len())?;
        if total > MAX_ICC_PROFILE_BYTES {
            return None;
        }
        chunks.push((sequence, body));
    }
    chunks.sort_unstable_by_key(|&(sequence, _)| sequence);
    let complete = chunks.len() == usize::from(count?)
        && chunks
            .iter()
            .zip(1..)
            .all(|(&(sequence, _), expected)| sequence == expected);
    complete.then(|| chunks.iter().flat_map(|&(_, body)| body).copied().collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    use super::*;

    thread_local! {
        static DISABLED: Cell<bool> = const { Cell::new(false) };
    }

    /// Whether [`without_conversion`] is running on this thread.
    pub(crate) fn conversion_disabled() -> bool {
        DISABLED.with(Cell::get)
    }

    /// Runs `f` with colour conversion switched off on this thread, as imagevault rendered
    /// before it read profiles: the test-only switch that shows the colour tests can fail.
    pub(crate) fn without_conversion<T>(f: impl FnOnce() -> T) -> T {
        DISABLED.with(|d| d.set(true));
        let out = f();
        DISABLED.with(|d| d.set(false));
        out
    }

    #[test]
    fn srgb_profiles_are_detected_and_others_are_not() {
        assert!(is_srgb(&ColorProfile::new_srgb()));
        let encoded = ColorProfile::new_srgb().encode().expect("encodes");
        let parsed = parse(Some(encoded.as_slice()), Channels::Rgb).expect("parses");
        assert!(is_srgb(&parsed), "an encoded and parsed sRGB profile");
        for other in [
            ColorProfile::new_display_p3(),
            ColorProfile::new_adobe_rgb(),
            ColorProfile::new_bt2020(),
        ] {
            assert!(!is_srgb(&other));
        }
    }

    #[test]
    fn gamma_near_one_over_2_2_is_srgb() {
        assert!(gamma_profile(45_455, None, Channels::Rgb).is_none());
        assert!(gamma_profile(45_455, Some(SRGB_CHROMATICITIES), Channels::Rgb).is_none());
        assert!(gamma_profile(45_455, None, Channels::Grey).is_none());
        // Gamma 1.0 (linear) and 1.8 (old Macs) are not.
        assert!(gamma_profile(100_000, None, Channels::Rgb).is_some());
        assert!(gamma_profile(55_556, None, Channels::Grey).is_some());
        // sRGB's gamma with wide primaries is not sRGB either.
        let wide = [
            31_270, 32_900, 70_800, 29_200, 17_000, 79_700, 13_100, 4_600,
        ];
        assert!(gamma_profile(45_455, Some(wide), Channels::Rgb).is_some());
        // Nonsense is ignored.
        assert!(gamma_profile(0, None, Channels::Rgb).is_none());
        assert!(gamma_profile(u32::MAX, None, Channels::Rgb).is_none());
        let flat = [
            31_270, 32_900, 30_000, 30_000, 30_000, 30_000, 30_000, 30_000,
        ];
        assert!(gamma_profile(100_000, Some(flat), Channels::Rgb).is_none());
        let zero = [0; 8];
        assert!(gamma_profile(100_000, Some(zero), Channels::Rgb).is_none());
    }

    #[test]
    fn profiles_of_the_wrong_class_or_space_are_ignored() {
        let p3 = ColorProfile::new_display_p3().encode().expect("encodes");
        assert!(parse(Some(p3.as_slice()), Channels::Rgb).is_some());
        assert!(
            parse(Some(p3.as_slice()), Channels::Grey).is_none(),
            "RGB on grey"
        );
        assert!(
            parse(Some(p3.as_slice()), Channels::Cmyk).is_none(),
            "RGB on CMYK"
        );
        for class in [b"abst", b"link", b"nmcl"] {
            let mut wrong = p3.clone();
            wrong[12..16].copy_from_slice(class);
            assert!(
                parse(Some(wrong.as_slice()), Channels::Rgb).is_none(),
                "{class:?}"
            );
        }
        assert!(parse(None, Channels::Rgb).is_none());
        assert!(
            parse(Some(&p3[..100]), Channels::Rgb).is_none(),
            "truncated"
        );
        assert!(parse(Some(b"garbage"), Channels::Rgb).is_none());
    }

    #[test]
    fn iccp_inflates_within_the_bound() {
        use miniz_oxide::deflate::compress_to_vec_zlib;
        let profile = ColorProfile::new_display_p3().encode().expect("encodes");
        let payload = [b"P3\0\0".as_slice(), &compress_to_vec_zlib(&profile, 6)].concat();
        assert_eq!(inflate_iccp(&payload).as_deref(), Some(&profile[..]));
        // No name, another method, a broken stream, and a bomb over the bound.
        let stream = compress_to_vec_zlib(&profile, 6);
        assert!(inflate_iccp(&[b"\0\0".as_slice(), &stream].concat()).is_none());
        assert!(inflate_iccp(&[b"P3\0\x01".as_slice(), &stream].concat()).is_none());
        assert!(inflate_iccp(b"P3\0\0not zlib").is_none());
        let bomb = compress_to_vec_zlib(&vec![0; MAX_ICC_PROFILE_BYTES + 1], 9);
        assert!(bomb.len() < 20_000);
        assert!(inflate_iccp(&[b"big\0\0".as_slice(), &bomb].concat()).is_none());
    }
}
