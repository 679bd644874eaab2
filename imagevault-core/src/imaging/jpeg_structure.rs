//! A walk over every JPEG marker segment and scan from SOI to EOI, without Huffman decoding.

use super::colour::ColourSource;
use super::exif::orientation_from_app1;
use super::info::{Header, check_pixels};
use super::memory::{Sampling, Shape};
use super::{ImageError, ImageFormat, ImageLimits};

const FORMAT: ImageFormat = ImageFormat::Jpeg;

/// Decoders visit every block of a component once per scan, even when the scan carries no
/// data, so a small file with thousands of scans costs minutes of CPU. Encoders write 1 to 4
/// scans for baseline and about 10 (libjpeg) to 20 (tuned mozjpeg) for progressive.
const MAX_SCANS: usize = 100;

pub(crate) const SOI: u8 = 0xD8;
pub(crate) const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
pub(crate) const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
/// What an APP2 segment carrying a chunk of an ICC profile starts with (ICC.1, annex B.4).
const ICC_SIGNATURE: &[u8] = b"ICC_PROFILE\0";
const DAC: u8 = 0xCC;
const DHP: u8 = 0xDE;
const EXP: u8 = 0xDF;

fn corrupt(detail: impl Into<String>) -> ImageError {
    ImageError::corrupt(FORMAT, detail)
}

fn truncated(detail: impl Into<String>) -> ImageError {
    ImageError::truncated(FORMAT, detail)
}

fn unsupported(detected: &'static str) -> ImageError {
    ImageError::UnsupportedFormat { detected }
}

fn be_u16(data: &[u8], at: usize) -> Option<u16> {
    let bytes: [u8; 2] = data.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(bytes))
}

/// The frame header fields the walk needs.
struct Frame {
    width: u16,
    height: u16,
    /// The sampling factors of each component, in order.
    sampling: Vec<Sampling>,
}

/// Checks an SOF0/1/2 payload. Called only for the supported (Huffman, non-differential,
/// non-lossless) frame types.
fn parse_frame(payload: &[u8]) -> Result<Frame, ImageError> {
    let [precision, h0, h1, w0, w1, components, ref specs @ ..] = *payload else {
        return Err(corrupt("the frame header (SOF) is shorter than 6 bytes"));
    };
    if precision == 12 {
        return Err(unsupported("12-bit jpeg"));
    }
    if precision != 8 {
        return Err(corrupt(format!(
            "invalid sample precision {precision}; it must be 8"
        )));
    }
    let height = u16::from_be_bytes([h0, h1]);
    let width = u16::from_be_bytes([w0, w1]);
    if width == 0 {
        return Err(corrupt("the frame header (SOF) gives a width of 0"));
    }
    if height == 0 {
        // Height 0 means "given later in a DNL segment", which decoders rarely support.
        return Err(unsupported("jpeg with the height in a DNL segment"));
    }
    match components {
        1 | 3 | 4 => {}
        0 => return Err(corrupt("the frame header (SOF) lists no components")),
        _ => return Err(unsupported("jpeg with 2 or more than 4 colour components")),
    }
    if specs.len() != 3 * usize::from(components) {
        return Err(corrupt(format!(
            "the frame header (SOF) is {} bytes long; {} components need {}",
            payload.len(),
            components,
            6 + 3 * usize::from(components)
        )));
    }
    let mut factors = Vec::with_capacity(usize::from(components));
    for spec in specs.chunks_exact(3) {
        let [_id, sampling, table] = *spec else {
            continue;
        };
        let (h, v) = (sampling >> 4, sampling & 0x0F);
        factors.push((h, v));
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || table > 3 {
            return Err(corrupt(format!(
                "invalid component sampling factors {h}x{v} or quantization table {table}"
            )));
        }
    }
    Ok(Frame {
        width,
        height,
        sampling: factors,
    })
}

fn check_scan_header(payload: &[u8]) -> Result<(), ImageError> {
    let count = payload.first().copied().unwrap_or(0);
    if !(1..=4).contains(&count) || payload.len() != 1 + 2 * usize::from(count) + 3 {
        return Err(corrupt("invalid scan header (SOS)"));
    }
    Ok(())
}

/// Skips entropy-coded data starting at `pos` and returns the position of the marker that
/// ends it. Inside a scan 0xFF is followed by 0x00 (a stuffed data byte), by RST0..RST7, or
/// by more 0xFF fill bytes; anything else is the next marker.
fn skip_entropy_coded_data(data: &[u8], mut pos: usize) -> Result<usize, ImageError> {
    loop {
        let rest = data.get(pos..).unwrap_or_default();
        let Some(offset) = rest.iter().position(|&b| b == 0xFF) else {
            return Err(truncated(
                "the file ends inside the compressed data of a scan, before EOI",
            ));
        };
        pos += offset;
        match data.get(pos + 1) {
            None => {
                return Err(truncated(
                    "the file ends inside the compressed data of a scan, before EOI",
                ));
            }
            Some(0x00 | 0xD0..=0xD7) => pos += 2,
            Some(0xFF) => pos += 1,
            Some(_) => return Ok(pos),
        }
    }
}

/// Walks the markers from SOI to EOI. Stops with [`ImageError::TooManyPixels`] as soon as
/// the frame header is read.
pub(crate) fn walk(data: &[u8], limits: &ImageLimits) -> Result<Header, ImageError> {
    if data.get(..2) != Some(&[0xFF, SOI]) {
        return Err(corrupt("the file does not start with an SOI marker"));
    }
    let mut pos = 2;
    let mut frame: Option<(Frame, bool)> = None;
    let mut scans = 0usize;
    let mut orientation = None;
    // From the marker of the first ICC chunk to the end of the last, before the first scan
    // (where libjpeg's readers stop looking).
    let mut icc: Option<(usize, usize)> = None;

    loop {
        // Find the next marker. Stray bytes between segments are not allowed by the
        // standard but libjpeg skips them, and so do we.
        let rest = data.get(pos..).unwrap_or_default();
        let Some(offset) = rest.iter().position(|&b| b == 0xFF) else {
            return Err(truncated("the file ends before the EOI marker"));
        };
        pos += offset;
        // Any number of 0xFF fill bytes may precede the marker code.
        let rest = data.get(pos..).unwrap_or_default();
        let fill = rest.iter().take_while(|&&b| b == 0xFF).count();
        pos += fill;
        let Some(&marker) = data.get(pos) else {
            return Err(truncated("the file ends before the EOI marker"));
        };
        pos += 1;

        match marker {
            // Not a marker (a stuffed zero outside a scan): skip it like other stray bytes.
            0x00 => continue,
            EOI => {
                if frame.is_none() {
                    return Err(corrupt("no frame header (SOF) before EOI"));
                }
                if scans == 0 {
                    return Err(corrupt(
                        "no scan (SOS) before EOI; the image has no pixel data",
                    ));
                }
                // Bytes after EOI are ignored: cameras store previews and depth maps there.
                break;
            }
            SOI => return Err(corrupt("a second SOI marker inside the image")),
            // Markers without a length: RST0..RST7 and TEM.
            0xD0..=0xD7 | 0x01 => continue,
            _ => {}
        }

        let Some(length) = be_u16(data, pos) else {
            return Err(truncated(format!(
                "the segment of marker 0xFF{marker:02X} runs past the end of the file"
            )));
        };
        if length < 2 {
            return Err(corrupt(format!(
                "the segment of marker 0xFF{marker:02X} has invalid length {length}"
            )));
        }
        let end = pos + usize::from(length);
        let Some(payload) = data.get(pos + 2..end) else {
            return Err(truncated(format!(
                "the segment of marker 0xFF{marker:02X} runs past the end of the file"
            )));
        };

        match marker {
            0xC0..=0xC2 => {
                if frame.is_some() {
                    return Err(corrupt("more than one frame header (SOF)"));
                }
                let parsed = parse_frame(payload)?;
                check_pixels(u32::from(parsed.width), u32::from(parsed.height), limits)?;
                frame = Some((parsed, marker == 0xC2));
            }
            0xC3 | 0xCB => return Err(unsupported("lossless jpeg")),
            0xC5..=0xC7 | 0xCD..=0xCF | DHP | EXP => return Err(unsupported("hierarchical jpeg")),
            0xC9 | 0xCA | DAC => return Err(unsupported("arithmetic-coded jpeg")),
            SOS => {
                if frame.is_none() {
                    return Err(corrupt("a scan (SOS) comes before the frame header (SOF)"));
                }
                check_scan_header(payload)?;
                scans += 1;
                if scans > MAX_SCANS {
                    return Err(corrupt(format!(
                        "the image has more than {MAX_SCANS} scans; at most {MAX_SCANS} are allowed"
                    )));
                }
                pos = skip_entropy_coded_data(data, end)?;
                continue;
            }
            APP1 if orientation.is_none() => orientation = orientation_from_app1(payload),
            APP2 if scans == 0 && payload.starts_with(ICC_SIGNATURE) => {
                // `pos` is just past the marker code: the segment starts 2 bytes before.
                let from = icc.map_or(pos - 2, |(from, _)| from);
                icc = Some((from, end));
            }
            _ => {}
        }
        pos = end;
    }

    let (frame, progressive) = frame.ok_or_else(|| corrupt("no frame header (SOF)"))?;
    let (width, height) = (u32::from(frame.width), u32::from(frame.height));
    Ok(Header {
        format: FORMAT,
        width,
        height,
        orientation: orientation.unwrap_or(1),
        shape: Shape::jpeg(&frame.sampling, progressive),
        colour: icc.map_or(ColourSource::Unspecified, |(from, to)| {
            ColourSource::JpegIcc { from, to }
        }),
    })
}

/// The ICC chunks of APP2 segments from `from` (a marker that [`walk`] found) to the end of
/// `data` (cut where the walk's last chunk ends), as (sequence number, count, body). Stray
/// and fill bytes between segments are skipped as the walk skips them; a segment that runs
/// past the end stops the iteration.
pub(crate) fn icc_chunks(data: &[u8], from: usize) -> impl Iterator<Item = (u8, u8, &[u8])> {
    let mut pos = from;
    std::iter::from_fn(move || {
        loop {
            let start = pos + data.get(pos..)?.iter().position(|&b| b == 0xFF)?;
            let code = start
                + data
                    .get(start..)?
                    .iter()
                    .take_while(|&&b| b == 0xFF)
                    .count();
            let marker = *data.get(code)?;
            pos = code + 1;
            if matches!(marker, 0x00 | 0xD0..=0xD7 | 0x01) {
                continue;
            }
            let end = pos.checked_add(usize::from(be_u16(data, pos)?))?;
            let payload = data.get(pos.checked_add(2)?..end)?;
            pos = end;
            if marker != APP2 {
                continue;
            }
            if let Some(rest) = payload.strip_prefix(ICC_SIGNATURE)
                && let [sequence, count, body @ ..] = rest
            {
                return Some((*sequence, *count, body));
            }
        }
    })
}

/// For a progressive JPEG, the file without its AC scans (those whose spectral selection
/// starts after coefficient 0), as pieces of `data` to read one after another; `None` for a
/// baseline file, a progressive one without AC scans, or anything [`walk`] would not accept.
///
/// A decode at 1/8 scale uses nothing but the DC coefficient of each block, and AC scans
/// never touch it (the refinements of the DC coefficient are scans with Ss = 0, and are
/// kept), so a decoder gives the same pixels from these pieces while skipping most of the
/// entropy-coded data. Damage inside a skipped scan goes unnoticed.
pub(crate) fn without_ac_scans(data: &[u8]) -> Option<Vec<&[u8]>> {
    if data.get(..2) != Some(&[0xFF, SOI]) {
        return None;
    }
    let mut pieces = Vec::new();
    let mut kept_from = 0;
    let mut pos = 2;
    let mut progressive = false;
    let mut scans = 0usize;
    loop {
        // As in `walk`: stray bytes, then fill bytes, then the marker code.
        let start = pos + data.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        pos = start
            + data
                .get(start..)?
                .iter()
                .take_while(|&&b| b == 0xFF)
                .count();
        let marker = *data.get(pos)?;
        pos += 1;
        match marker {
            EOI => break,
            0x00 | 0xD0..=0xD7 | 0x01 => continue,
            _ => {}
        }
        let end = pos.checked_add(usize::from(be_u16(data, pos)?))?;
        let payload = data.get(pos.checked_add(2)?..end)?;
        match marker {
            0xC2 => progressive = true,
            SOS => {
                scans += 1;
                if scans > MAX_SCANS {
                    return None;
                }
                let count = usize::from(*payload.first()?);
                let spectral_start = *payload.get(1 + 2 * count)?;
                let next = skip_entropy_coded_data(data, end).ok()?;
                if spectral_start > 0 {
                    pieces.push(data.get(kept_from..start)?);
                    kept_from = next;
                }
                pos = next;
                continue;
            }
            _ => {}
        }
        pos = end;
    }
    if !progressive || pieces.is_empty() {
        return None;
    }
    // Up to and with EOI: what follows it is not part of the image.
    pieces.push(data.get(kept_from..pos)?);
    Some(pieces)
}

/// One marker segment of a JPEG that [`walk`] accepted, as byte ranges of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// The marker code (the byte after 0xFF).
    pub(crate) marker: u8,
    /// Where the segment starts: its first 0xFF, fill bytes included.
    pub(crate) start: usize,
    /// Where it ends: after its payload, and for a scan after its entropy-coded data.
    pub(crate) end: usize,
    /// Where its payload (after the length field) starts; `start..payload_start` for a
    /// marker without a length (SOI, EOI, RST, TEM) is the marker alone.
    pub(crate) payload_start: usize,
    /// Where its payload ends (for a scan, the end of the scan header).
    pub(crate) payload_end: usize,
}

/// Hands every segment from SOI to EOI to `visit`, in order, as [`walk`] sees them (stray
/// bytes between segments are part of none); `None` as soon as the file is not one
/// [`walk`] accepts, after the segments before the fault were visited. What follows EOI
/// starts at the `end` of the last segment visited. Nothing is collected, so a file of
/// many small segments costs no memory.
pub(crate) fn visit_segments(data: &[u8], mut visit: impl FnMut(Segment)) -> Option<()> {
    if data.get(..2) != Some(&[0xFF, SOI]) {
        return None;
    }
    visit(Segment {
        marker: SOI,
        start: 0,
        end: 2,
        payload_start: 2,
        payload_end: 2,
    });
    let mut pos = 2;
    loop {
        // As in `walk`: stray bytes, then fill bytes, then the marker code.
        let start = pos + data.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        pos = start
            + data
                .get(start..)?
                .iter()
                .take_while(|&&b| b == 0xFF)
                .count();
        let marker = *data.get(pos)?;
        pos += 1;
        match marker {
            0x00 => continue,
            EOI | 0xD0..=0xD7 | 0x01 => {
                visit(Segment {
                    marker,
                    start,
                    end: pos,
                    payload_start: pos,
                    payload_end: pos,
                });
                if marker == EOI {
                    return Some(());
                }
                continue;
            }
            _ => {}
        }
        let length = usize::from(be_u16(data, pos)?);
        let payload_start = pos.checked_add(2)?;
        let payload_end = pos.checked_add(length)?;
        if length < 2 || payload_end > data.len() {
            return None;
        }
        let end = if marker == SOS {
            skip_entropy_coded_data(data, payload_end).ok()?
        } else {
            payload_end
        };
        visit(Segment {
            marker,
            start,
            end,
            payload_start,
            payload_end,
        });
        pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::{walk, without_ac_scans};
    use crate::imaging::test_support::{
        corpus_file, expect_corrupt, expect_truncated, make_jpeg, make_progressive_jpeg, segment,
        with_jpeg_exif,
    };
    use crate::imaging::{ImageError, ImageLimits};

    fn limits() -> ImageLimits {
        ImageLimits::default()
    }

    /// Position of the first occurrence of a marker (0xFF, code) in the file.
    fn find_marker(data: &[u8], code: u8) -> usize {
        data.windows(2)
            .position(|w| w == [0xFF, code])
            .expect("marker present")
    }

    /// Replaces the SOF0 marker code of an encoded file.
    fn with_sof(data: &[u8], code: u8) -> Vec<u8> {
        let mut out = data.to_vec();
        let at = find_marker(&out, 0xC0);
        out[at + 1] = code;
        out
    }

    #[test]
    fn valid_baseline_progressive_and_grey() {
        for (data, w, h) in [
            (make_jpeg(33, 17, 3, 85), 33, 17),
            (make_jpeg(8, 8, 1, 85), 8, 8),
            (make_progressive_jpeg(64, 40), 64, 40),
        ] {
            let header = walk(&data, &limits()).expect("valid");
            assert_eq!((header.width, header.height, header.orientation), (w, h, 1));
        }
    }

    #[test]
    fn orientation_from_app1_in_both_byte_orders() {
        let jpeg = make_jpeg(16, 8, 3, 85);
        for big_endian in [false, true] {
            for o in 1..=8 {
                let header = walk(&with_jpeg_exif(&jpeg, o, big_endian), &limits()).expect("valid");
                assert_eq!(header.orientation, o);
            }
        }
    }

    #[test]
    fn missing_eoi_and_truncations() {
        let jpeg = make_jpeg(32, 32, 3, 85);
        assert_eq!(jpeg[jpeg.len() - 2..], [0xFF, 0xD9]);
        expect_truncated(
            walk(&jpeg[..jpeg.len() - 2], &limits()),
            "the file ends inside the compressed data of a scan, before EOI",
        );
        let sos = find_marker(&jpeg, 0xDA);
        expect_truncated(
            walk(&jpeg[..sos + 3], &limits()),
            "the segment of marker 0xFFDA runs past the end of the file",
        );
        expect_truncated(
            walk(&jpeg[..sos], &limits()),
            "the file ends before the EOI marker",
        );
        for len in 0..jpeg.len() {
            assert!(
                walk(&jpeg[..len], &limits()).is_err(),
                "prefix {len} accepted"
            );
        }
        let progressive = make_progressive_jpeg(48, 48);
        for len in 0..progressive.len() {
            assert!(
                walk(&progressive[..len], &limits()).is_err(),
                "prefix {len} accepted"
            );
        }
    }

    #[test]
    fn stuffing_restart_markers_and_fill_bytes() {
        // A scan body with stuffed 0xFF00, RST markers and fill bytes before EOI.
        let jpeg = make_jpeg(8, 8, 1, 85);
        let sos = find_marker(&jpeg, 0xDA);
        let sos_len = usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
        let mut data = jpeg[..sos + 2 + sos_len].to_vec();
        data.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF, 0xD7]);
        data.extend_from_slice(&[0x00, 0xFF, 0xFF, 0xFF, 0xD9]);
        assert!(walk(&data, &limits()).is_ok());
        // Trailing data after EOI is ignored.
        data.extend_from_slice(b"\xFF\xD8 appended preview");
        assert!(walk(&data, &limits()).is_ok());
    }

    #[test]
    fn unsupported_coding_processes() {
        let jpeg = make_jpeg(16, 16, 3, 85);
        for (code, detected) in [
            (0xC3, "lossless jpeg"),
            (0xC5, "hierarchical jpeg"),
            (0xC6, "hierarchical jpeg"),
            (0xC7, "hierarchical jpeg"),
            (0xC9, "arithmetic-coded jpeg"),
            (0xCA, "arithmetic-coded jpeg"),
            (0xCB, "lossless jpeg"),
            (0xCD, "hierarchical jpeg"),
            (0xCE, "hierarchical jpeg"),
            (0xCF, "hierarchical jpeg"),
        ] {
            match walk(&with_sof(&jpeg, code), &limits()) {
                Err(ImageError::UnsupportedFormat { detected: d }) => assert_eq!(d, detected),
                other => panic!("SOF 0x{code:02X}: expected UnsupportedFormat, got {other:?}"),
            }
        }
        for code in [0xC1, 0xC2] {
            assert!(
                walk(&with_sof(&jpeg, code), &limits()).is_ok(),
                "0x{code:02X}"
            );
        }
        let err = walk(&with_sof(&jpeg, 0xC9), &limits()).expect_err("arithmetic");
        assert_eq!(
            err.to_string(),
            "unsupported image type arithmetic-coded jpeg; accepted types are png and 8-bit baseline or progressive huffman-coded jpeg"
        );
        // A DAC segment also means arithmetic coding.
        let mut with_dac = jpeg[..2].to_vec();
        with_dac.extend_from_slice(&segment(0xCC, &[0x00, 0x10]));
        with_dac.extend_from_slice(&jpeg[2..]);
        assert!(matches!(
            walk(&with_dac, &limits()),
            Err(ImageError::UnsupportedFormat {
                detected: "arithmetic-coded jpeg"
            })
        ));
    }

    #[test]
    fn frame_header_checks() {
        let jpeg = make_jpeg(16, 16, 3, 85);
        let sof = find_marker(&jpeg, 0xC0);
        let patch = |offset: usize, value: u8| {
            let mut d = jpeg.clone();
            d[sof + 4 + offset] = value;
            d
        };
        match walk(&patch(0, 12), &limits()) {
            Err(ImageError::UnsupportedFormat { detected }) => assert_eq!(detected, "12-bit jpeg"),
            other => panic!("{other:?}"),
        }
        expect_corrupt(walk(&patch(0, 7), &limits()), "invalid sample precision 7");
        let mut zero_width = patch(3, 0);
        zero_width[sof + 8] = 0;
        expect_corrupt(walk(&zero_width, &limits()), "gives a width of 0");
        let mut zero_height = patch(1, 0);
        zero_height[sof + 6] = 0;
        assert!(matches!(
            walk(&zero_height, &limits()),
            Err(ImageError::UnsupportedFormat { .. })
        ));
        // Sampling factor 0 for the first component.
        expect_corrupt(
            walk(&patch(7, 0x01), &limits()),
            "invalid component sampling factors 0x1",
        );
        // Two SOF segments.
        let sof_len = usize::from(u16::from_be_bytes([jpeg[sof + 2], jpeg[sof + 3]]));
        let mut two = jpeg[..sof + 2 + sof_len].to_vec();
        two.extend_from_slice(&jpeg[sof..]);
        expect_corrupt(walk(&two, &limits()), "more than one frame header (SOF)");
    }

    #[test]
    fn structure_errors() {
        let jpeg = make_jpeg(16, 16, 3, 85);
        // EOI right after SOI.
        expect_corrupt(
            walk(&[0xFF, 0xD8, 0xFF, 0xD9], &limits()),
            "no frame header (SOF) before EOI",
        );
        // SOF but no scan.
        let sos = find_marker(&jpeg, 0xDA);
        let mut no_scan = jpeg[..sos].to_vec();
        no_scan.extend_from_slice(&[0xFF, 0xD9]);
        expect_corrupt(walk(&no_scan, &limits()), "no scan (SOS) before EOI");
        // A scan before the frame header.
        let mut early_scan = vec![0xFF, 0xD8];
        early_scan.extend_from_slice(&segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        early_scan.extend_from_slice(&[0xFF, 0xD9]);
        expect_corrupt(
            walk(&early_scan, &limits()),
            "a scan (SOS) comes before the frame header",
        );
        // Segment length below 2.
        let mut bad_len = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01];
        bad_len.extend_from_slice(&jpeg[2..]);
        expect_corrupt(walk(&bad_len, &limits()), "has invalid length 1");
        // A second SOI.
        let mut two_soi = jpeg[..2].to_vec();
        two_soi.extend_from_slice(&jpeg);
        expect_corrupt(walk(&two_soi, &limits()), "a second SOI marker");
    }

    #[test]
    fn too_many_scans() {
        let jpeg = make_jpeg(8, 8, 1, 85);
        let sos = find_marker(&jpeg, 0xDA);
        let eoi = jpeg.len() - 2;
        let mut data = jpeg[..eoi].to_vec();
        for _ in 0..super::MAX_SCANS {
            data.extend_from_slice(&jpeg[sos..eoi]);
        }
        data.extend_from_slice(&[0xFF, 0xD9]);
        expect_corrupt(walk(&data, &limits()), "more than 100 scans");
        let mut data = jpeg[..eoi].to_vec();
        for _ in 1..super::MAX_SCANS {
            data.extend_from_slice(&jpeg[sos..eoi]);
        }
        data.extend_from_slice(&[0xFF, 0xD9]);
        assert!(walk(&data, &limits()).is_ok());
    }

    #[test]
    fn over_limit_pixels_from_the_header_alone() {
        // SOI and an SOF0 claiming 60000x60000 (JPEG sides are 16-bit), nothing else.
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend_from_slice(&segment(
            0xC0,
            &[
                8, 0xEA, 0x60, 0xEA, 0x60, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
            ],
        ));
        match walk(&jpeg, &limits()) {
            Err(err @ ImageError::TooManyPixels { .. }) => assert_eq!(
                err.to_string(),
                "image is 60000x60000 (3600000000 pixels); at most 50000000 pixels are allowed"
            ),
            other => panic!("expected TooManyPixels, got {other:?}"),
        }
    }

    #[test]
    fn corpus_jpegs_are_valid() {
        for (name, w, h, o) in [
            ("bythewater_2560x1600.jpg", 2560, 1600, 1),
            ("grey_2560x1600.jpg", 2560, 1600, 1),
            ("seeding_5312x2988.jpg", 5312, 2988, 1),
            ("storm_1920x1280_orient6.jpg", 1920, 1280, 6),
            ("sunset_4272x2848.jpg", 4272, 2848, 1),
        ] {
            let Some(data) = corpus_file(name) else {
                return;
            };
            let header = walk(&data, &limits()).expect(name);
            assert_eq!(
                (header.width, header.height, header.orientation),
                (w, h, o),
                "{name}"
            );
            // Cutting off the EOI or the end of the last scan is detected.
            assert!(matches!(
                walk(&data[..data.len() - 2], &limits()),
                Err(ImageError::Truncated { .. })
            ));
            assert!(matches!(
                walk(&data[..data.len() / 2], &limits()),
                Err(ImageError::Truncated { .. })
            ));
        }
    }

    /// The spectral selection start (Ss) of every scan of a file.
    fn scan_starts(data: &[u8]) -> Vec<u8> {
        let mut starts = Vec::new();
        let mut at = 0;
        while let Some(offset) = data[at..].windows(2).position(|w| w == [0xFF, 0xDA]) {
            let sos = at + offset;
            let count = usize::from(data[sos + 4]);
            starts.push(data[sos + 5 + 2 * count]);
            at = sos + 2;
        }
        starts
    }

    #[test]
    fn ac_scans_are_left_out_of_progressive_files_only() {
        assert!(without_ac_scans(&make_jpeg(64, 48, 3, 85)).is_none());
        assert!(without_ac_scans(&make_jpeg(64, 48, 1, 85)).is_none());
        assert!(without_ac_scans(b"not a jpeg").is_none());

        let progressive = make_progressive_jpeg(64, 48);
        let starts = scan_starts(&progressive);
        assert!(
            starts.contains(&0) && starts.iter().any(|&s| s > 0),
            "{starts:?}"
        );
        let pieces = without_ac_scans(&progressive).expect("progressive with AC scans");
        let dc_only: Vec<u8> = pieces.concat();
        assert!(dc_only.len() < progressive.len());
        // Every DC scan is kept, no AC scan is, and the rest is still a valid file.
        assert_eq!(
            scan_starts(&dc_only),
            starts
                .iter()
                .copied()
                .filter(|&s| s == 0)
                .collect::<Vec<_>>()
        );
        let header = walk(&dc_only, &limits()).expect("still valid");
        assert_eq!((header.width, header.height), (64, 48));
        assert!(dc_only.ends_with(&[0xFF, 0xD9]));

        // Bytes after EOI stay out; no prefix of the file makes it panic.
        let mut trailing = progressive.clone();
        trailing.extend_from_slice(b"\xFF\xD8 appended preview");
        assert_eq!(
            without_ac_scans(&trailing).expect("progressive").concat(),
            dc_only
        );
        for len in 0..progressive.len() {
            assert!(
                without_ac_scans(&progressive[..len]).is_none(),
                "prefix {len}"
            );
        }
    }
}
