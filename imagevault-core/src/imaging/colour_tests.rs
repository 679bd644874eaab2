//! Colour management end to end through `render_thumbnails`: photos and flat colours in
//! Display P3, Adobe RGB, grey and CMYK profiles come out in sRGB; sRGB profiles and broken
//! or hostile ones change nothing; and the key measurement, a real photo saved in sRGB and
//! in Display P3, gives thumbnails that look the same.

use super::colour::MAX_ICC_PROFILE_BYTES;
use super::colour::tests::without_conversion;
use super::test_support::{chunk, encode_jpeg, png_with};
use super::{ImageLimits, render_thumbnails};
use crate::testing::images::{jpeg_with, with_segment};
use crate::testing::profiles::{
    self, Profile, app2_chunks, cmyk_ink, from_srgb, icc, iccp, mean_ciede2000, srgb_and_p3_jpegs,
    with_app2,
};

/// THE bound of the colour test: the mean CIEDE2000 between the 400 px thumbnails of a photo
/// saved as sRGB and as Display P3. About 1 is the smallest difference a person sees side by
/// side. libvips' colour-managed thumbnails of the same two files differ by 0.84
/// (`scripts/colour-difference.sh`); without any conversion the difference is about 2.2.
const MAX_MEAN_CIEDE2000: f64 = 1.0;

/// Decodes a thumbnail to 8-bit samples, with its channel count.
fn pixels(data: &[u8]) -> (Vec<u8>, usize) {
    if data.starts_with(b"\x89PNG") {
        let decoder = png::Decoder::new(std::io::Cursor::new(data));
        let mut reader = decoder.read_info().expect("png");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let frame = reader.next_frame(&mut buf).expect("frame");
        buf.truncate(frame.buffer_size());
        (buf, frame.color_type.samples())
    } else {
        let mut decoder = jpeg_decoder::Decoder::new(data);
        let out = decoder.decode().expect("jpeg");
        let channels = decoder.info().expect("info").pixel_format.pixel_bytes();
        (out, channels)
    }
}

/// The single thumbnail of `data` at height `height`, decoded.
fn thumbnail(data: &[u8], height: u32) -> (Vec<u8>, usize) {
    let thumbs = render_thumbnails(data, &[height], &ImageLimits::default()).expect("renders");
    pixels(&thumbs[0].data)
}

/// The centre pixel of a thumbnail of a flat image.
fn centre(data: &[u8]) -> Vec<u8> {
    let (pixels, channels) = thumbnail(data, 16);
    let middle = pixels.len() / channels / 2;
    pixels[middle * channels..(middle + 1) * channels].to_vec()
}

#[track_caller]
fn assert_near(got: &[u8], want: &[u8], tolerance: u8, what: &str) {
    assert!(
        got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|(g, w)| g.abs_diff(*w) <= tolerance),
        "{what}: got {got:?}, want {want:?} (±{tolerance})"
    );
}

/// Saturated colours, where wide gamuts differ most from sRGB.
const COLOURS: [[u8; 3]; 4] = [[220, 30, 30], [30, 180, 60], [40, 60, 210], [240, 200, 40]];

fn flat(colour: [u8; 3]) -> Vec<u8> {
    colour.repeat(32 * 32)
}

/// A flat colour through a wide-gamut file and back differs from the original by a few
/// levels where a channel is dark (one level of the wide space is several of sRGB there),
/// so flat colours are compared by how different they look: at most this CIEDE2000.
const FLAT_COLOUR_DELTA_E: f64 = 1.5;

#[test]
fn display_p3_and_adobe_rgb_jpegs_come_out_in_srgb() {
    for space in [Profile::DisplayP3, Profile::AdobeRgb] {
        let mut largest_raw_error = 0.0f64;
        for colour in COLOURS {
            let converted = from_srgb(&flat(colour), space);
            let jpeg = jpeg_with((32, 32), jpeg_encoder::ColorType::Rgb, &converted, |e| {
                e.add_icc_profile(&icc(space)).expect("fits");
            });
            let got = centre(&jpeg);
            let error = mean_ciede2000(&got, &colour);
            assert!(
                error <= FLAT_COLOUR_DELTA_E,
                "{space:?} {colour:?}: got {got:?}, CIEDE2000 {error:.2}"
            );
            let raw = without_conversion(|| centre(&jpeg));
            largest_raw_error = largest_raw_error.max(mean_ciede2000(&raw, &colour));
        }
        // The test can fail: shown as sRGB, the same files are visibly off.
        assert!(
            largest_raw_error > 3.0,
            "{space:?}: unconverted, the colours are within CIEDE2000 {largest_raw_error:.2}"
        );
    }
}

#[test]
fn display_p3_pngs_come_out_in_srgb_keeping_alpha() {
    let profile = iccp(&icc(Profile::DisplayP3));
    for colour in COLOURS {
        let converted = from_srgb(&flat(colour), Profile::DisplayP3);
        let rgb = png_with(
            (32, 32),
            (png::ColorType::Rgb, png::BitDepth::Eight),
            &converted,
            |_| {},
            &[(b"iCCP", &profile)],
        );
        assert_near(&centre(&rgb), &colour, 3, &format!("P3 PNG {colour:?}"));
        let rgba: Vec<u8> = converted
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 100])
            .collect();
        let rgba = png_with(
            (32, 32),
            (png::ColorType::Rgba, png::BitDepth::Eight),
            &rgba,
            |_| {},
            &[(b"iCCP", &profile)],
        );
        let want = [colour[0], colour[1], colour[2], 100];
        assert_near(&centre(&rgba), &want, 3, &format!("P3 RGBA PNG {colour:?}"));
    }
}

/// The sRGB value of linear light `v` (0 to 1).
fn srgb_encode(v: f64) -> u8 {
    let e = if v <= 0.003_130_8 {
        12.92 * v
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let level = (e * 255.0).round().clamp(0.0, 255.0) as u8;
    level
}

#[test]
fn grey_profiles_and_gamma_chunks_convert_grey() {
    // A grey JPEG with a gamma 1.8 grey profile: level 100 is linear (100/255)^1.8.
    let jpeg = jpeg_with(
        (32, 32),
        jpeg_encoder::ColorType::Luma,
        &[100; 32 * 32],
        |e| {
            e.add_icc_profile(&icc(Profile::Grey18)).expect("fits");
        },
    );
    let want = srgb_encode((100.0f64 / 255.0).powf(1.8));
    assert_near(&centre(&jpeg), &[want], 2, "grey 1.8 JPEG");
    assert!(want.abs_diff(100) > 10, "the case shows a difference");
    // A linear grey PNG with alpha (gAMA 1.0): level 50 is 0.196 linear light.
    let gamma = 100_000u32.to_be_bytes();
    let png = png_with(
        (32, 32),
        (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight),
        &[50, 200].repeat(32 * 32),
        |_| {},
        &[(b"gAMA", &gamma)],
    );
    let want = srgb_encode(50.0 / 255.0);
    assert_near(&centre(&png), &[want, 200], 2, "linear grey PNG");
    // A linear RGB PNG: every channel alike.
    let png = png_with(
        (32, 32),
        (png::ColorType::Rgb, png::BitDepth::Eight),
        &[50, 100, 200].repeat(32 * 32),
        |_| {},
        &[(b"gAMA", &gamma)],
    );
    let want = [50.0, 100.0, 200.0].map(|v: f64| srgb_encode(v / 255.0));
    assert_near(&centre(&png), &want, 2, "linear RGB PNG");
}

#[test]
fn cmyk_jpegs_convert_through_their_profile() {
    // Full cyan ink, in a baseline and an Adobe-inverted YCCK file.
    let expected: Vec<u8> = cmyk_ink()[0].iter().map(|&v| srgb_encode(v)).collect();
    for color in [
        jpeg_encoder::ColorType::Cmyk,
        jpeg_encoder::ColorType::CmykAsYcck,
    ] {
        let cyan = [255, 0, 0, 0].repeat(32 * 32);
        let jpeg = jpeg_with((32, 32), color, &cyan, |e| {
            e.add_icc_profile(&icc(Profile::Cmyk)).expect("fits");
        });
        assert_near(&centre(&jpeg), &expected, 8, &format!("{color:?} cyan"));
        // Without a profile, through the standard FOGRA39 press profile: Fogra's measured
        // cyan (not the naive formula's pure (0, 255, 255)).
        let plain = jpeg_with((32, 32), color, &cyan, |_| {});
        assert_near(&centre(&plain), &[0, 160, 228], 12, "FOGRA39 cyan");
    }
}

#[test]
fn srgb_profiles_change_nothing() {
    let rgb = crate::testing::images::pattern(64, 48, 3);
    let plain = encode_jpeg(64, 48, 3, &rgb, 90);
    let tagged = with_app2(&plain, &app2_chunks(&icc(Profile::Srgb), 60_000));
    assert_eq!(thumbnail(&tagged, 24), thumbnail(&plain, 24));
    let png = |chunks: &[(&[u8; 4], &[u8])]| {
        png_with(
            (64, 48),
            (png::ColorType::Rgb, png::BitDepth::Eight),
            &rgb,
            |_| {},
            chunks,
        )
    };
    let reference = thumbnail(&png(&[]), 24);
    let iccp_srgb = iccp(&icc(Profile::Srgb));
    let (srgb, gamma_2_2, linear) = ([0u8], 45_455u32.to_be_bytes(), 100_000u32.to_be_bytes());
    let cases: [Vec<(&[u8; 4], &[u8])>; 4] = [
        vec![(b"sRGB", srgb.as_slice())],
        vec![(b"gAMA", gamma_2_2.as_slice())],
        vec![(b"iCCP", iccp_srgb.as_slice())],
        // sRGB's chunk wins over a gAMA that says otherwise.
        vec![(b"sRGB", srgb.as_slice()), (b"gAMA", linear.as_slice())],
    ];
    for chunks in &cases {
        assert_eq!(thumbnail(&png(chunks), 24), reference, "{chunks:?}");
    }
}

/// Profiles that must be ignored, the image treated as sRGB and rendered all the same.
fn hostile_profiles() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let p3 = icc(Profile::DisplayP3);
    let mut wrong_class = p3.clone();
    wrong_class[12..16].copy_from_slice(b"abst");
    let mut link = p3.clone();
    link[12..16].copy_from_slice(b"link");
    let mut garbage_tags = p3.clone();
    for byte in garbage_tags.iter_mut().skip(132) {
        *byte = byte.wrapping_mul(31).wrapping_add(7);
    }
    let mut huge_tag_count = p3.clone();
    huge_tag_count[128..132].copy_from_slice(&u32::MAX.to_be_bytes());
    let chunks = app2_chunks(&p3, 100);
    let mut repeated = chunks.clone();
    repeated[1] = repeated[0].clone();
    let mut miscounted = chunks.clone();
    miscounted[0][13] = 200;
    let mut sequence_zero = chunks.clone();
    sequence_zero[0][12] = 0;
    // Over the bound by a P3 profile's worth.
    let huge = [p3.clone(), vec![0; MAX_ICC_PROFILE_BYTES]].concat();
    vec![
        ("truncated", vec![p3[..p3.len() / 2].to_vec()]),
        ("wrong class (abstract)", vec![wrong_class]),
        ("device link", vec![link]),
        ("CMYK profile on RGB", vec![icc(Profile::Cmyk)]),
        ("grey profile on RGB", vec![icc(Profile::Grey18)]),
        ("garbage tags", vec![garbage_tags]),
        ("huge tag count", vec![huge_tag_count]),
        ("empty", vec![Vec::new()]),
        ("not a profile", vec![b"hello, colour world".to_vec()]),
    ]
    .into_iter()
    .map(|(name, profiles)| {
        let segments = profiles
            .iter()
            .flat_map(|p| app2_chunks(p, 60_000))
            .collect();
        (name, segments)
    })
    .chain([
        ("chunk missing", chunks[1..].to_vec()),
        ("chunk repeated", repeated),
        ("counts disagree", miscounted),
        ("sequence zero", sequence_zero),
        ("too large", app2_chunks(&huge, 65_519)),
    ])
    .collect()
}

#[test]
fn hostile_jpeg_profiles_are_ignored() {
    let rgb = crate::testing::images::pattern(64, 48, 3);
    let plain = encode_jpeg(64, 48, 3, &rgb, 90);
    let reference = thumbnail(&plain, 24);
    for (name, segments) in hostile_profiles() {
        let data = with_app2(&plain, &segments);
        assert_eq!(thumbnail(&data, 24), reference, "{name}");
    }
    // A grey JPEG with an RGB profile, a CMYK one with a grey profile.
    let grey = encode_jpeg(64, 48, 1, &crate::testing::images::pattern(64, 48, 1), 90);
    let tagged = with_app2(&grey, &app2_chunks(&icc(Profile::DisplayP3), 60_000));
    assert_eq!(thumbnail(&tagged, 24), thumbnail(&grey, 24), "RGB on grey");
    let cmyk = crate::testing::images::make_cmyk_jpeg(64, 48, false);
    let tagged = with_app2(&cmyk, &app2_chunks(&icc(Profile::Grey18), 60_000));
    assert_eq!(thumbnail(&tagged, 24), thumbnail(&cmyk, 24), "grey on CMYK");
    // An ICC-looking APP2 with no room for its sequence numbers.
    let stub = with_segment(
        &plain,
        &crate::testing::images::segment(0xE2, b"ICC_PROFILE\0"),
    );
    assert_eq!(thumbnail(&stub, 24), reference, "stub");
}

#[test]
fn hostile_png_profiles_are_ignored() {
    let rgb = crate::testing::images::pattern(64, 48, 3);
    let png = |chunks: &[(&[u8; 4], &[u8])]| {
        png_with(
            (64, 48),
            (png::ColorType::Rgb, png::BitDepth::Eight),
            &rgb,
            |_| {},
            chunks,
        )
    };
    let reference = thumbnail(&png(&[]), 24);
    let bomb = iccp(&vec![0; MAX_ICC_PROFILE_BYTES + 1]);
    assert!(
        bomb.len() < 20_000,
        "a small chunk that inflates past the bound"
    );
    let mut broken_stream = iccp(&icc(Profile::DisplayP3));
    let last = broken_stream.len() - 1;
    broken_stream[last] ^= 0xFF;
    let mut iccps: Vec<(&str, Vec<u8>)> = hostile_profiles()
        .into_iter()
        .filter(|(_, segments)| segments.len() == 1)
        .map(|(name, segments)| (name, iccp(&segments[0][14..])))
        .collect();
    iccps.extend([
        ("bomb", bomb),
        ("broken zlib", broken_stream),
        ("no name", [b"\0\0".as_slice(), &iccp(b"x")[14..]].concat()),
        ("method 1", b"name\0\x01xyz".to_vec()),
        ("empty", Vec::new()),
    ]);
    for (name, payload) in &iccps {
        assert_eq!(
            thumbnail(&png(&[(b"iCCP", payload)]), 24),
            reference,
            "{name}"
        );
    }
    // Nonsense gAMA and cHRM values.
    for (gama, chrm) in [
        (0u32, None),
        (1, None),
        (u32::MAX, None),
        (100_000, Some([0u32; 8])),
        (100_000, Some([u32::MAX; 8])),
    ] {
        let gama = gama.to_be_bytes();
        let chrm: Option<Vec<u8>> = chrm.map(|c| c.iter().flat_map(|v| v.to_be_bytes()).collect());
        let mut chunks: Vec<(&[u8; 4], &[u8])> = vec![(b"gAMA", gama.as_slice())];
        if let Some(chrm) = &chrm {
            chunks.push((b"cHRM", chrm.as_slice()));
        }
        assert_eq!(thumbnail(&png(&chunks), 24), reference, "gAMA {gama:?}");
    }
    // An iCCP after the image data is not the image's profile.
    let mut late = png(&[]);
    let iend = late.len() - 12;
    let p3 = iccp(&icc(Profile::DisplayP3));
    late.splice(iend..iend, chunk(b"iCCP", &p3));
    assert_eq!(thumbnail(&late, 24), reference, "iCCP after IDAT");
}

#[test]
fn sixteen_bit_samples_are_rounded() {
    // (16-bit sample, 8-bit level): truncation would give 1, 127, 254 and 0.
    for (sample, level) in [(0x01FEu16, 2u8), (0x7FFF, 127), (0xFEFF, 254), (0x00FF, 1)] {
        let png = png_with(
            (4, 4),
            (png::ColorType::Grayscale, png::BitDepth::Sixteen),
            &sample.to_be_bytes().repeat(16),
            |_| {},
            &[],
        );
        // Not resized (4 px is the image's own height): the decoded levels themselves.
        let (pixels, _) = thumbnail(&png, 4);
        assert!(
            pixels.iter().all(|&p| p == level),
            "{sample:#06x}: {pixels:?}"
        );
    }
    // Every 16-bit value rounds to the nearest level.
    let all: Vec<u8> = (0..=u16::MAX).flat_map(u16::to_be_bytes).collect();
    let png = png_with(
        (256, 256),
        (png::ColorType::Grayscale, png::BitDepth::Sixteen),
        &all,
        |_| {},
        &[],
    );
    let (pixels, _) = thumbnail(&png, 256);
    for (value, &level) in (0..=u16::MAX).zip(&pixels) {
        let exact = f64::from(value) * 255.0 / 65_535.0;
        assert!((f64::from(level) - exact).abs() <= 0.5, "{value}: {level}");
    }
}

/// The key measurement: the corpus photo `bythewater` saved as sRGB and as Display P3 (both
/// JPEG quality 95) must give 400 px thumbnails within [`MAX_MEAN_CIEDE2000`] of each other,
/// and without the conversion (the test-only switch) must not.
#[test]
fn srgb_and_display_p3_photos_give_the_same_thumbnails() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/bythewater_2560x1600.jpg"
    );
    let photo = std::fs::read(path).expect("the fixture is in the repository");
    let (srgb, p3) = srgb_and_p3_jpegs(&photo);
    let (a, channels) = thumbnail(&srgb, 400);
    assert_eq!(channels, 3);
    let (b, _) = thumbnail(&p3, 400);
    let converted = mean_ciede2000(&a, &b);
    let (c, _) = without_conversion(|| thumbnail(&p3, 400));
    let unconverted = mean_ciede2000(&a, &c);
    eprintln!(
        "bythewater sRGB vs Display P3 at 400 px: mean CIEDE2000 {converted:.3} converted, \
         {unconverted:.3} without conversion (bound {MAX_MEAN_CIEDE2000})"
    );
    assert!(
        converted <= MAX_MEAN_CIEDE2000,
        "converted: mean CIEDE2000 {converted:.3} > {MAX_MEAN_CIEDE2000}"
    );
    assert!(
        unconverted > MAX_MEAN_CIEDE2000,
        "the test cannot fail: without conversion {unconverted:.3}"
    );
    // The measure itself: identical images differ by 0.
    assert!(profiles::mean_ciede2000(&a, &a).abs() < 1e-9);
}
