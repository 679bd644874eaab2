//! Removing private metadata from an original without re-encoding it: whole JPEG segments
//! and PNG chunks are left out, every other byte is copied as it is, so the pixels decode
//! exactly as before.

use crate::metadata::{MetadataKind, MetadataRemoved};

use super::jpeg_structure::{self, APP1, EOI, SOI, Segment};
use super::png_structure::{self, Chunk};
use super::{ImageError, ImageFormat, ImageInfo};

const APP0: u8 = 0xE0;
const APP13: u8 = 0xED;
const COM: u8 = 0xFE;
const ORIENTATION_TAG: u16 = 0x0112;
const TYPE_SHORT: u16 = 3;

/// The start of an APP1 payload holding EXIF (some writers put another byte after the NUL).
const EXIF_PREFIX: &[u8] = b"Exif\0";
/// The start of an APP1 payload holding XMP.
const XMP_PREFIX: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
/// The start of an APP1 payload holding part of an extended XMP packet.
const EXTENDED_XMP_PREFIX: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
/// The keyword of a PNG `iTXt` chunk holding XMP.
const PNG_XMP_KEYWORD: &[u8] = b"XML:com.adobe.xmp\0";

/// An original with its private metadata removed (see [`strip_metadata`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    /// The new file: the original's bytes without the removed segments or chunks, with a
    /// minimal EXIF for the orientation where one was needed. Equal to the input when
    /// nothing was removed.
    pub data: Vec<u8>,
    /// What was removed; empty when the original had none of it.
    pub removed: MetadataRemoved,
}

/// Removes private metadata from an image that [`inspect`](super::inspect) accepted as
/// `info`, losslessly, without decoding or re-encoding pixels.
///
/// - JPEG: APP1 EXIF and XMP (extended XMP too), APP13 (IPTC and Photoshop resources) and
///   COM segments go; the ICC profile (APP2), JFIF (APP0), Adobe (APP14, which tells how to
///   convert the colours) and every segment the decoder needs stay.
/// - PNG: `eXIf`, `tEXt`, `zTXt`, `iTXt` and `tIME` chunks go; `iCCP`, `sRGB`, `gAMA`,
///   `cHRM` and every other chunk stay, with their CRCs.
/// - Bytes after the end of the image (JPEG EOI, PNG IEND) go: decoders never read them,
///   and cameras put previews with their own EXIF there.
/// - An orientation other than 1 is kept: a minimal EXIF holding only the Orientation tag
///   is written, as a JPEG APP1 right after SOI (after JFIF APP0 when the file starts
///   with one), or as a PNG `eXIf` chunk right after `IHDR` (so before the image data,
///   and before any animation chunk of an APNG).
///
/// The result passes [`inspect`](super::inspect) with the same `info`. A file that does
/// not match `info` (not the bytes inspected) is [`ImageError::Corrupt`].
///
/// ```
/// use imagevault_core::imaging::{ImageLimits, inspect, strip_metadata};
/// use imagevault_core::testing::images;
/// use imagevault_core::MetadataKind;
///
/// let jpeg = images::jpeg(16, 16);
/// let with_comment = images::with_segment(&jpeg, &images::segment(0xFE, b"shot at home"));
/// let info = inspect(&with_comment, &ImageLimits::default()).unwrap();
/// let stripped = strip_metadata(&with_comment, &info).unwrap();
/// assert_eq!(stripped.data, jpeg);
/// assert_eq!(stripped.removed.kinds(), [MetadataKind::Comment]);
/// ```
pub fn strip_metadata(data: &[u8], info: &ImageInfo) -> Result<Stripped, ImageError> {
    let mut removed = MetadataRemoved::default();
    let data = match info.format {
        ImageFormat::Jpeg => strip_jpeg(data, info.orientation, &mut removed),
        ImageFormat::Png => strip_png(data, info.orientation, &mut removed),
    }
    .ok_or_else(|| {
        ImageError::corrupt(
            info.format,
            "the file's structure changed between inspection and metadata removal",
        )
    })?;
    Ok(Stripped { data, removed })
}

/// What a JPEG segment is, if it is one the stripper removes.
fn jpeg_metadata(marker: u8, payload: &[u8]) -> Option<MetadataKind> {
    match marker {
        APP1 if payload.starts_with(EXIF_PREFIX) => Some(MetadataKind::Exif),
        APP1 if payload.starts_with(XMP_PREFIX) || payload.starts_with(EXTENDED_XMP_PREFIX) => {
            Some(MetadataKind::Xmp)
        }
        APP13 => Some(MetadataKind::Iptc),
        COM => Some(MetadataKind::Comment),
        _ => None,
    }
}

fn strip_jpeg(data: &[u8], orientation: u8, removed: &mut MetadataRemoved) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    // Copied up to here; the bytes between kept segments (stray bytes libjpeg skips) are
    // copied as they are.
    let mut copied = 0;
    let mut exif_at = None;
    let mut first = true;
    let mut end = None;
    jpeg_structure::visit_segments(data, |segment: Segment| {
        let payload = data
            .get(segment.payload_start..segment.payload_end)
            .unwrap_or_default();
        match segment.marker {
            SOI => {}
            // The minimal EXIF goes after a JFIF APP0 that starts the file, else after SOI.
            APP0 if first && payload.starts_with(b"JFIF\0") => exif_at = Some(segment.end),
            EOI => end = Some(segment.end),
            marker => {
                if let Some(kind) = jpeg_metadata(marker, payload) {
                    removed.insert(kind);
                    out.extend_from_slice(data.get(copied..segment.start).unwrap_or_default());
                    copied = segment.end;
                }
            }
        }
        if segment.marker != SOI {
            first = false;
        }
    })?;
    let end = end?;
    out.extend_from_slice(data.get(copied..end)?);
    if end < data.len() {
        removed.insert(MetadataKind::Trailing);
    }
    if orientation != 1 {
        // `exif_at` is in the input; no segment before it was removed, so it is the same
        // place in the output.
        let at = exif_at.unwrap_or(2);
        let mut payload = EXIF_PREFIX.to_vec();
        payload.push(0);
        payload.extend_from_slice(&orientation_tiff(orientation));
        let segment = jpeg_segment(APP1, &payload)?;
        out.splice(at..at, segment);
    }
    Some(out)
}

fn jpeg_segment(marker: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let length = u16::try_from(payload.len() + 2).ok()?;
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// What a PNG chunk is, if it is one the stripper removes.
fn png_metadata(kind: [u8; 4], payload: &[u8]) -> Option<MetadataKind> {
    match &kind {
        b"eXIf" => Some(MetadataKind::Exif),
        b"iTXt" if payload.starts_with(PNG_XMP_KEYWORD) => Some(MetadataKind::Xmp),
        b"tEXt" | b"zTXt" | b"iTXt" => Some(MetadataKind::Text),
        b"tIME" => Some(MetadataKind::Time),
        _ => None,
    }
}

fn strip_png(data: &[u8], orientation: u8, removed: &mut MetadataRemoved) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut copied = 0;
    let mut end = None;
    let mut exif_written = orientation == 1;
    png_structure::visit_chunks(data, |chunk: Chunk| {
        let payload = data
            .get(chunk.payload_start..chunk.payload_end)
            .unwrap_or_default();
        if let Some(kind) = png_metadata(chunk.kind, payload) {
            removed.insert(kind);
            out.extend_from_slice(data.get(copied..chunk.start).unwrap_or_default());
            copied = chunk.end;
        }
        if &chunk.kind == b"IHDR" && !exif_written {
            out.extend_from_slice(data.get(copied..chunk.end).unwrap_or_default());
            copied = chunk.end;
            out.extend_from_slice(&png_chunk(b"eXIf", &orientation_tiff(orientation)));
            exif_written = true;
        }
        if &chunk.kind == b"IEND" {
            end = Some(chunk.end);
        }
    })?;
    let end = end?;
    out.extend_from_slice(data.get(copied..end)?);
    if end < data.len() {
        removed.insert(MetadataKind::Trailing);
    }
    Some(out)
}

/// A PNG chunk with its length and CRC.
fn png_chunk(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(payload.len() + 12);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[4..]);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// A big-endian TIFF structure whose IFD0 holds only the Orientation tag: 26 bytes.
fn orientation_tiff(orientation: u8) -> Vec<u8> {
    let mut tiff = b"MM\0*".to_vec();
    tiff.extend_from_slice(&8u32.to_be_bytes()); // IFD0 right after the header
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&ORIENTATION_TAG.to_be_bytes());
    tiff.extend_from_slice(&TYPE_SHORT.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes()); // one value
    tiff.extend_from_slice(&[0, orientation, 0, 0]); // a SHORT, left-justified
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no IFD1
    tiff
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::imaging::decode::decode;
    use crate::imaging::exif::orientation_tiff as camera_tiff;
    use crate::imaging::test_support::{
        chunk, exif_app1, make_jpeg, make_png, make_progressive_jpeg, png_with, segment,
        with_segment,
    };
    use crate::imaging::{ImageLimits, inspect};
    use crate::testing::images::zlib_stored;

    const SECRET: &[u8] = b"GPS 52.0123N 4.3567E at home";
    const ICC: &[u8] = b"ICC_PROFILE\0\x01\x01 a profile kept as it is";
    const ADOBE: &[u8] = b"Adobe\0\x64\0\0\0\0\x01";

    fn limits() -> ImageLimits {
        ImageLimits::default()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    /// Decodes in full with our decoder and with the `image` crate's, which must agree
    /// between the original and the stripped file.
    fn assert_same_pixels(original: &[u8], stripped: &[u8]) {
        let (a, b) = (
            inspect(original, &limits()).unwrap(),
            inspect(stripped, &limits()).unwrap(),
        );
        // The same image; only where the colour information sits in the file moved.
        assert_eq!(
            std::mem::discriminant(&a.colour),
            std::mem::discriminant(&b.colour),
            "the same colour information"
        );
        assert_eq!(
            ImageInfo {
                colour: b.colour,
                ..a
            },
            b,
            "inspect sees the same image"
        );
        let full = (a.stored_width, a.stored_height);
        let ours =
            |data: &[u8], info: &ImageInfo| decode(data, info, full, &limits(), None).unwrap();
        let (pa, pb) = (ours(original, &a), ours(stripped, &b));
        assert_eq!((pa.width(), pa.height()), (pb.width(), pb.height()));
        assert!(pa.data() == pb.data(), "our decoder gives other pixels");
        let theirs = |data: &[u8]| image::load_from_memory(data).unwrap().into_bytes();
        assert!(
            theirs(original) == theirs(stripped),
            "the image crate gives other pixels"
        );
    }

    /// Camera EXIF with the orientation, followed by the GPS secret.
    fn camera_exif(orientation: u16) -> Vec<u8> {
        [exif_app1(&camera_tiff(true, orientation)), SECRET.to_vec()].concat()
    }

    /// `jpeg` (which starts with SOI and a JFIF APP0) with `segments` after the APP0.
    fn after_app0(jpeg: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
        assert_eq!(&jpeg[2..4], [0xFF, APP0], "the encoder writes JFIF first");
        let end = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
        [&jpeg[..end], &segments.concat(), &jpeg[end..]].concat()
    }

    /// Every segment marker of a JPEG, in order.
    fn markers(jpeg: &[u8]) -> Vec<u8> {
        let mut markers = Vec::new();
        jpeg_structure::visit_segments(jpeg, |segment| markers.push(segment.marker)).unwrap();
        markers
    }

    /// One part of an extended XMP packet: the GUID of the packet (32 hex digits), its
    /// whole length and this part's offset, then the part.
    fn extended_xmp() -> Vec<u8> {
        let length = u32::try_from(SECRET.len()).unwrap().to_be_bytes();
        [
            EXTENDED_XMP_PREFIX,
            b"0123456789ABCDEF0123456789ABCDEF",
            &length,
            &0u32.to_be_bytes(),
            SECRET,
        ]
        .concat()
    }

    fn private_segments(orientation: u16) -> Vec<Vec<u8>> {
        vec![
            segment(APP1, &camera_exif(orientation)),
            segment(0xE2, ICC),
            segment(
                APP1,
                &[XMP_PREFIX, b"<x:xmpmeta>", SECRET, b"</x:xmpmeta>"].concat(),
            ),
            segment(APP1, &extended_xmp()),
            segment(APP13, &[b"Photoshop 3.0\0".as_slice(), SECRET].concat()),
            segment(0xEE, ADOBE),
            segment(COM, SECRET),
        ]
    }

    #[test]
    fn a_jpeg_loses_exif_xmp_iptc_comments_and_trailing_bytes_but_keeps_its_orientation() {
        for base in [make_jpeg(67, 45, 3, 90), make_progressive_jpeg(64, 48)] {
            let mut original = after_app0(&base, &private_segments(6));
            original.extend_from_slice(&[b"\xFF\xD8".as_slice(), SECRET].concat());
            let info = inspect(&original, &limits()).unwrap();
            assert_eq!(info.orientation, 6);

            let stripped = strip_metadata(&original, &info).unwrap();
            assert_eq!(
                stripped.removed.to_string(),
                "exif xmp iptc comment trailing"
            );
            let data = &stripped.data;
            assert!(!contains(data, SECRET), "a secret is left");
            assert!(!contains(data, b"Foo\0"), "the camera make is left");
            assert!(data.len() < original.len());
            // The ICC profile and the Adobe segment are kept whole, and a minimal EXIF
            // with the orientation alone follows JFIF.
            assert!(contains(data, &segment(0xE2, ICC)));
            assert!(contains(data, &segment(0xEE, ADOBE)));
            assert_eq!(markers(data)[..4], [SOI, APP0, APP1, 0xE2]);
            let minimal = [EXIF_PREFIX, b"\0", &orientation_tiff(6)].concat();
            assert!(contains(data, &segment(APP1, &minimal)));
            assert_eq!(minimal.len(), 32);
            assert!(data.ends_with(&[0xFF, EOI]));
            assert_same_pixels(&original, data);
        }
    }

    #[test]
    fn an_upright_jpeg_gets_no_exif_and_one_without_metadata_is_unchanged() {
        let base = make_jpeg(40, 24, 1, 85);
        let original = after_app0(&base, &private_segments(1));
        let stripped = strip_metadata(&original, &inspect(&original, &limits()).unwrap()).unwrap();
        assert_eq!(stripped.removed.to_string(), "exif xmp iptc comment");
        assert!(!markers(&stripped.data).contains(&APP1));
        assert_eq!(inspect(&stripped.data, &limits()).unwrap().orientation, 1);
        assert_same_pixels(&original, &stripped.data);

        let info = inspect(&base, &limits()).unwrap();
        let unchanged = strip_metadata(&base, &info).unwrap();
        assert_eq!(unchanged.data, base);
        assert!(unchanged.removed.is_empty());
    }

    #[test]
    fn exif_before_jfif_is_replaced_right_after_soi() {
        let base = make_jpeg(16, 16, 3, 85);
        let original = with_segment(&base, &segment(APP1, &camera_exif(8)));
        let stripped = strip_metadata(&original, &inspect(&original, &limits()).unwrap()).unwrap();
        assert_eq!(markers(&stripped.data)[..3], [SOI, APP1, APP0]);
        assert_eq!(inspect(&stripped.data, &limits()).unwrap().orientation, 8);
        assert!(!contains(&stripped.data, SECRET));
    }

    #[test]
    fn other_app1_segments_stay() {
        // Neither EXIF nor XMP: not on the list, so kept.
        let base = make_jpeg(16, 16, 3, 85);
        let other = segment(APP1, b"vendor data");
        let original = after_app0(&base, std::slice::from_ref(&other));
        let stripped = strip_metadata(&original, &inspect(&original, &limits()).unwrap()).unwrap();
        assert_eq!(stripped.data, original);
        assert!(stripped.removed.is_empty());
    }

    #[test]
    fn the_camera_fixture_keeps_orientation_6_and_its_pixels() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/storm_1920x1280_orient6.jpg"
        );
        let original = std::fs::read(path).unwrap();
        let info = inspect(&original, &limits()).unwrap();
        let stripped = strip_metadata(&original, &info).unwrap();
        assert!(stripped.removed.contains(MetadataKind::Exif));
        assert!(contains(&original, b"Canon"), "the fixture has camera EXIF");
        assert!(
            !contains(&stripped.data, b"Canon"),
            "the camera EXIF is gone"
        );
        let after = inspect(&stripped.data, &limits()).unwrap();
        assert_eq!(
            (after.orientation, after.width, after.height),
            (6, 1280, 1920)
        );
        assert!(stripped.data.len() < original.len());
        assert_same_pixels(&original, &stripped.data);
    }

    fn private_png(orientation: Option<u8>) -> Vec<u8> {
        let icc = [
            b"p3\0\0".as_slice(),
            &zlib_stored(b"a profile kept as it is"),
        ]
        .concat();
        let exif =
            orientation.map(|o| [camera_tiff(false, u16::from(o)), SECRET.to_vec()].concat());
        let text = [b"Comment\0".as_slice(), SECRET].concat();
        let ztxt = [b"Author\0\0".as_slice(), &zlib_stored(SECRET)[..]].concat();
        let itxt = [b"Title\0\0\0\0\0".as_slice(), SECRET].concat();
        let xmp = [PNG_XMP_KEYWORD, b"\0\0\0\0", SECRET].concat();
        let time = [0x07, 0xEA, 12, 7, 13, 30, 0];
        let mut chunks: Vec<(&[u8; 4], &[u8])> = vec![
            (b"iCCP", &icc),
            (b"tEXt", &text),
            (b"zTXt", &ztxt),
            (b"iTXt", &itxt),
            (b"iTXt", &xmp),
            (b"tIME", &time),
        ];
        if let Some(exif) = &exif {
            chunks.push((b"eXIf", exif));
        }
        let pixels = crate::imaging::test_support::pattern(30, 20, 3);
        let mut png = png_with(
            (30, 20),
            (png::ColorType::Rgb, png::BitDepth::Eight),
            &pixels,
            |_| {},
            &chunks,
        );
        // Text after the image data too, and something appended after IEND.
        let iend = png.len() - 12;
        png.splice(iend..iend, chunk(b"tEXt", &text));
        png.extend_from_slice(SECRET);
        png
    }

    fn chunk_kinds(png: &[u8]) -> Vec<[u8; 4]> {
        let mut kinds = Vec::new();
        png_structure::visit_chunks(png, |chunk| kinds.push(chunk.kind)).unwrap();
        kinds
    }

    #[test]
    fn a_png_loses_exif_text_time_and_trailing_bytes_but_keeps_icc_and_orientation() {
        let original = private_png(Some(5));
        let info = inspect(&original, &limits()).unwrap();
        assert_eq!(info.orientation, 5);
        let stripped = strip_metadata(&original, &info).unwrap();
        assert_eq!(stripped.removed.to_string(), "exif xmp text time trailing");
        let data = &stripped.data;
        assert!(!contains(data, SECRET));
        assert!(data.len() < original.len());
        assert_eq!(
            chunk_kinds(data),
            [*b"IHDR", *b"eXIf", *b"iCCP", *b"IDAT", *b"IEND"]
        );
        assert!(contains(data, &chunk(b"eXIf", &orientation_tiff(5))));
        // Every CRC is right: inspect checks them.
        assert_eq!(inspect(data, &limits()).unwrap().orientation, 5);
        assert_same_pixels(&original, data);

        let upright = private_png(None);
        let stripped = strip_metadata(&upright, &inspect(&upright, &limits()).unwrap()).unwrap();
        assert_eq!(stripped.removed.to_string(), "xmp text time trailing");
        assert_eq!(
            chunk_kinds(&stripped.data),
            [*b"IHDR", *b"iCCP", *b"IDAT", *b"IEND"]
        );
        assert_same_pixels(&upright, &stripped.data);

        let plain = make_png(9, 7, png::ColorType::Rgba, png::BitDepth::Sixteen, None);
        let unchanged = strip_metadata(&plain, &inspect(&plain, &limits()).unwrap()).unwrap();
        assert_eq!(unchanged.data, plain);
        assert!(unchanged.removed.is_empty());
    }

    #[test]
    fn bytes_that_are_not_the_inspected_file_are_refused_without_panicking() {
        let jpeg = after_app0(&make_jpeg(16, 16, 3, 85), &private_segments(6));
        let png = private_png(Some(6));
        for original in [jpeg, png] {
            let info = inspect(&original, &limits()).unwrap();
            for len in 0..original.len() {
                // A cut inside the trailing bytes is still a whole image.
                let _ = strip_metadata(&original[..len], &info);
            }
            assert!(strip_metadata(&original[..original.len() / 2], &info).is_err());
        }
    }
}
