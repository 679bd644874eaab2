//! ICC colour profiles for tests, built in code with moxcms: standard RGB spaces (Display
//! P3, Adobe RGB), a grey one, a CMYK printer profile from a simple ink model, and the
//! pieces to embed them, whole or damaged, in JPEGs (APP2 `ICC_PROFILE` chunks) and PNGs
//! (`iCCP` chunks). With them tests make photos that are not sRGB, and files whose
//! profiles lie.
//!
//! ```
//! use imagevault_core::testing::profiles::{self, Profile};
//!
//! let p3 = profiles::icc(Profile::DisplayP3);
//! assert_eq!(&p3[36..40], b"acsp");
//! // Pure sRGB red is inside Display P3, where it is less saturated.
//! let converted = profiles::from_srgb(&[255, 0, 0], Profile::DisplayP3);
//! assert!(converted[0] < 255 && converted[1] > 0);
//! ```

use moxcms::{
    ColorProfile, DataColorSpace, Layout, LutDataType, LutStore, LutType, LutWarehouse, Matrix3d,
    ProfileClass, RenderingIntent, TransformOptions,
};

/// The profiles this module builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// sRGB (as moxcms writes it).
    Srgb,
    /// Display P3: P3 primaries, D65, sRGB's curve; what phones photograph in.
    DisplayP3,
    /// Adobe RGB (1998): what cameras offer beside sRGB.
    AdobeRgb,
    /// Greyscale with a gamma of 1.8.
    Grey18,
    /// A CMYK printer profile (see [`cmyk_ink`]).
    Cmyk,
}

fn profile(which: Profile) -> ColorProfile {
    match which {
        Profile::Srgb => ColorProfile::new_srgb(),
        Profile::DisplayP3 => ColorProfile::new_display_p3(),
        Profile::AdobeRgb => ColorProfile::new_adobe_rgb(),
        Profile::Grey18 => ColorProfile::new_gray_with_gamma(1.8),
        Profile::Cmyk => cmyk_profile(),
    }
}

/// The encoded ICC profile.
pub fn icc(which: Profile) -> Vec<u8> {
    profile(which)
        .encode()
        .expect("moxcms encodes its own profiles")
}

/// 8-bit sRGB pixels converted into an RGB profile's space (relative colorimetric).
pub fn from_srgb(rgb: &[u8], which: Profile) -> Vec<u8> {
    let options = TransformOptions {
        rendering_intent: RenderingIntent::RelativeColorimetric,
        ..TransformOptions::default()
    };
    let transform = ColorProfile::new_srgb()
        .create_transform_8bit(Layout::Rgb, &profile(which), Layout::Rgb, options)
        .expect("a transform between RGB profiles");
    let mut out = vec![0; rgb.len()];
    transform
        .transform(rgb, &mut out)
        .expect("whole pixels in and out");
    out
}

/// The sRGB colour (0 to 1, linear light) that each ink of [`Profile::Cmyk`] leaves on white
/// paper at full strength: process cyan, magenta, yellow and a black that is not quite
/// black, roughly as a coated-paper press prints them. Full cyan ink shows as about sRGB
/// (0, 160, 230): not the (0, 255, 255) of the naive conversion.
pub fn cmyk_ink() -> [[f64; 3]; 4] {
    let linear = |v: f64| {
        let v = v / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    [
        [0.0, 160.0, 230.0],
        [230.0, 0.0, 140.0],
        [255.0, 240.0, 0.0],
        [30.0, 28.0, 30.0],
    ]
    .map(|ink| ink.map(linear))
}

/// Grid points per ink of [`Profile::Cmyk`]'s table.
const CMYK_GRID: u8 = 9;

/// A CMYK output profile: a 9-point lut16 A2B0 table from ink amounts to XYZ (D50), each
/// ink a filter multiplying the light in linear sRGB (see [`cmyk_ink`]).
fn cmyk_profile() -> ColorProfile {
    let ink = cmyk_ink();
    let srgb = ColorProfile::new_srgb();
    // Linear sRGB to XYZ relative to D50, the connection space.
    let to_xyz = srgb.rgb_to_xyz_matrix();
    let steps = usize::from(CMYK_GRID);
    let mut clut = Vec::with_capacity(steps.pow(4) * 3);
    for index in 0..steps.pow(4) {
        // The first ink varies slowest.
        let amounts = [3, 2, 1, 0].map(|place| {
            #[allow(clippy::cast_precision_loss)]
            let step = ((index / steps.pow(place)) % steps) as f64;
            step / f64::from(CMYK_GRID - 1)
        });
        let mut rgb = [1.0f64; 3];
        for (amount, colour) in amounts.iter().zip(&ink) {
            for (channel, filter) in rgb.iter_mut().zip(colour) {
                *channel *= 1.0 - amount * (1.0 - filter);
            }
        }
        for row in to_xyz.v {
            let value = row[0] * rgb[0] + row[1] * rgb[1] + row[2] * rgb[2];
            // lut16 XYZ: 1.0 is 0x8000.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            clut.push((value * 32768.0).round().clamp(0.0, 65535.0) as u16);
        }
    }
    let identity = |channels: usize| LutStore::Store16([0, 65535].repeat(channels));
    let table = LutDataType {
        num_input_channels: 4,
        num_output_channels: 3,
        num_clut_grid_points: CMYK_GRID,
        matrix: Matrix3d::IDENTITY,
        num_input_table_entries: 2,
        num_output_table_entries: 2,
        input_table: identity(4),
        clut_table: LutStore::Store16(clut),
        output_table: identity(3),
        lut_type: LutType::Lut16,
    };
    let mut profile = ColorProfile::default();
    profile.profile_class = ProfileClass::OutputDevice;
    profile.color_space = DataColorSpace::Cmyk;
    profile.pcs = DataColorSpace::Xyz;
    profile.rendering_intent = RenderingIntent::Perceptual;
    profile.white_point = srgb.white_point;
    profile.media_white_point = srgb.media_white_point;
    profile.lut_a_to_b_perceptual = Some(LutWarehouse::Lut(table));
    profile
}

/// The payloads of the APP2 segments that carry `profile` in a JPEG, `chunk` bytes of it
/// each (at most 65,519): `ICC_PROFILE\0`, the sequence number from 1, the count, the bytes.
/// Build damaged sequences by dropping, repeating or editing them.
pub fn app2_chunks(profile: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let pieces: Vec<&[u8]> = profile.chunks(chunk.max(1)).collect();
    let count = u8::try_from(pieces.len()).expect("at most 255 chunks");
    pieces
        .iter()
        .zip(1u8..)
        .map(|(piece, sequence)| [b"ICC_PROFILE\0".as_slice(), &[sequence, count], piece].concat())
        .collect()
}

/// A JPEG with `segments` (APP2 payloads, see [`app2_chunks`]) inserted right after SOI.
pub fn with_app2(jpeg: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    let inserted: Vec<u8> = segments
        .iter()
        .flat_map(|payload| super::images::segment(0xE2, payload))
        .collect();
    [&jpeg[..2], &inserted, &jpeg[2..]].concat()
}

/// The payload of a PNG `iCCP` chunk holding `profile`: a name, NUL, compression method 0,
/// and the profile as a zlib stream.
pub fn iccp(profile: &[u8]) -> Vec<u8> {
    [
        b"test profile\0\0".as_slice(),
        &miniz_oxide::deflate::compress_to_vec_zlib(profile, 6),
    ]
    .concat()
}

/// The colour test's pair of files: `photo` (a colour JPEG) decoded and encoded again as
/// an sRGB JPEG, and as a Display P3 JPEG (its pixels converted to P3, the P3 profile
/// embedded), both at quality 95. Shown right, the two look the same.
pub fn srgb_and_p3_jpegs(photo: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut decoder = jpeg_decoder::Decoder::new(photo);
    let rgb = decoder.decode().expect("the photo decodes");
    let info = decoder.info().expect("decoded");
    assert_eq!(
        info.pixel_format,
        jpeg_decoder::PixelFormat::RGB24,
        "a colour photo"
    );
    let encode = |pixels: &[u8], profile: Option<&[u8]>| {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 95);
        if let Some(profile) = profile {
            encoder.add_icc_profile(profile).expect("the profile fits");
        }
        encoder
            .encode(
                pixels,
                info.width,
                info.height,
                jpeg_encoder::ColorType::Rgb,
            )
            .expect("encodes");
        out
    };
    let p3 = from_srgb(&rgb, Profile::DisplayP3);
    (
        encode(&rgb, None),
        encode(&p3, Some(&icc(Profile::DisplayP3))),
    )
}

/// The mean CIEDE2000 colour difference between two images of 8-bit sRGB pixels (RGB,
/// interleaved, the same size), as a person sees it: about 1 is the smallest difference
/// visible side by side, 2 to 3 a clear one. Lab is taken relative to D65, as
/// scikit-image's `rgb2lab` takes it; the difference is `deltae`'s CIEDE2000.
pub fn mean_ciede2000(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images of the same size");
    assert_eq!(a.len() % 3, 0, "RGB pixels");
    let pixels = a.len() / 3;
    let total: f64 = a
        .chunks_exact(3)
        .zip(b.chunks_exact(3))
        .map(|(x, y)| {
            let delta = deltae::DeltaE::new(lab(x), lab(y), deltae::DEMethod::DE2000);
            f64::from(*delta.value())
        })
        .sum();
    #[allow(clippy::cast_precision_loss)]
    let mean = total / pixels.max(1) as f64;
    mean
}

/// CIE L*a*b* (D65) of an 8-bit sRGB pixel.
fn lab(rgb: &[u8]) -> deltae::LabValue {
    let linear = |v: u8| {
        let v = f64::from(v) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let [r, g, b] = [linear(rgb[0]), linear(rgb[1]), linear(rgb[2])];
    // IEC 61966-2-1's matrix, and D65's white.
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let f = |t: f64| {
        if t > 216.0 / 24_389.0 {
            t.cbrt()
        } else {
            (24_389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    #[allow(clippy::cast_possible_truncation)]
    deltae::LabValue {
        l: (116.0 * fy - 16.0) as f32,
        a: (500.0 * (fx - fy)) as f32,
        b: (200.0 * (fy - fz)) as f32,
    }
}
