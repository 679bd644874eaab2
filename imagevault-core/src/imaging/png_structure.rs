//! A walk over every PNG chunk, checking lengths, CRCs and chunk order, without inflating
//! any image data.

use super::colour::ColourSource;
use super::exif::orientation_from_exif_chunk;
use super::info::{Header, check_pixels};
use super::memory::Shape;
use super::sniff::PNG_SIGNATURE;
use super::{ImageError, ImageFormat, ImageLimits};

const FORMAT: ImageFormat = ImageFormat::Png;
/// Chunk lengths and image dimensions are at most 2^31 - 1 in PNG.
const MAX_PNG_U31: u32 = i32::MAX as u32;

/// A chunk type, printable for messages (the walk only accepts ASCII letters).
#[derive(Clone, Copy, PartialEq, Eq)]
struct ChunkType([u8; 4]);

impl ChunkType {
    const IHDR: Self = Self(*b"IHDR");
    const PLTE: Self = Self(*b"PLTE");
    const IDAT: Self = Self(*b"IDAT");
    const IEND: Self = Self(*b"IEND");
    const EXIF: Self = Self(*b"eXIf");
    const ICCP: Self = Self(*b"iCCP");
    const SRGB: Self = Self(*b"sRGB");
    const GAMA: Self = Self(*b"gAMA");
    const CHRM: Self = Self(*b"cHRM");

    fn is_critical(self) -> bool {
        self.0[0].is_ascii_uppercase()
    }
}

impl std::fmt::Display for ChunkType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for &b in &self.0 {
            std::fmt::Write::write_char(f, char::from(b))?;
        }
        Ok(())
    }
}

fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

fn corrupt(detail: impl Into<String>) -> ImageError {
    ImageError::corrupt(FORMAT, detail)
}

fn truncated(detail: impl Into<String>) -> ImageError {
    ImageError::truncated(FORMAT, detail)
}

/// Validated IHDR fields the rest of the walk needs.
struct Ihdr {
    width: u32,
    height: u32,
    color_type: u8,
    bit_depth: u8,
}

fn parse_ihdr(payload: &[u8]) -> Result<Ihdr, ImageError> {
    let [
        w0,
        w1,
        w2,
        w3,
        h0,
        h1,
        h2,
        h3,
        bit_depth,
        color_type,
        compression,
        filter,
        interlace,
    ] = *payload
    else {
        return Err(corrupt(format!(
            "IHDR chunk is {} bytes long; it must be 13",
            payload.len()
        )));
    };
    let width = u32::from_be_bytes([w0, w1, w2, w3]);
    let height = u32::from_be_bytes([h0, h1, h2, h3]);
    if width == 0 || height == 0 || width > MAX_PNG_U31 || height > MAX_PNG_U31 {
        return Err(corrupt(format!(
            "invalid image size {width}x{height}; both sides must be between 1 and {MAX_PNG_U31}"
        )));
    }
    let depth_ok = match color_type {
        0 => matches!(bit_depth, 1 | 2 | 4 | 8 | 16),
        3 => matches!(bit_depth, 1 | 2 | 4 | 8),
        2 | 4 | 6 => matches!(bit_depth, 8 | 16),
        _ => {
            return Err(corrupt(format!(
                "invalid colour type {color_type}; it must be 0, 2, 3, 4 or 6"
            )));
        }
    };
    if !depth_ok {
        return Err(corrupt(format!(
            "bit depth {bit_depth} is not allowed with colour type {color_type}"
        )));
    }
    if compression != 0 || filter != 0 {
        return Err(corrupt(format!(
            "invalid compression method {compression} or filter method {filter}; both must be 0"
        )));
    }
    if interlace > 1 {
        return Err(corrupt(format!(
            "invalid interlace method {interlace}; it must be 0 or 1"
        )));
    }
    Ok(Ihdr {
        width,
        height,
        color_type,
        bit_depth,
    })
}

/// Walks the chunks from the signature to IEND. Stops with [`ImageError::TooManyPixels`]
/// as soon as IHDR is read, so an oversized image costs no more than its first 33 bytes.
pub(crate) fn walk(data: &[u8], limits: &ImageLimits) -> Result<Header, ImageError> {
    match data.get(..PNG_SIGNATURE.len()) {
        None => return Err(truncated("the file ends inside the png signature")),
        Some(sig) if sig != PNG_SIGNATURE => {
            return Err(corrupt(
                "invalid png signature (the file was probably transferred in text mode)",
            ));
        }
        Some(_) => {}
    }

    let mut pos = PNG_SIGNATURE.len();
    let mut ihdr: Option<Ihdr> = None;
    let mut seen_plte = false;
    let mut idat_state = IdatState::NotYet;
    let mut orientation = None;
    let mut colour = Colour::default();

    loop {
        if pos == data.len() {
            return Err(truncated("the file ends before the IEND chunk"));
        }
        let (Some(length), Some(kind)) = (be_u32(data, pos), data.get(pos + 4..pos + 8)) else {
            return Err(truncated(format!(
                "the chunk header at byte {pos} runs past the end of the file"
            )));
        };
        let kind = match <[u8; 4]>::try_from(kind) {
            Ok(kind) if kind.iter().all(u8::is_ascii_alphabetic) => ChunkType(kind),
            _ => return Err(corrupt(format!("invalid chunk type at byte {pos}"))),
        };
        if length > MAX_PNG_U31 {
            return Err(corrupt(format!(
                "chunk {kind} claims {length} bytes; chunks are at most {MAX_PNG_U31} bytes"
            )));
        }
        let payload_start = pos + 8;
        // `length` fits in 31 bits, so none of this overflows on 64-bit or 32-bit targets
        // for any slice that fits in memory; checked anyway for clarity.
        let payload_end = usize::try_from(length)
            .ok()
            .and_then(|len| payload_start.checked_add(len));
        let crc_end = payload_end.and_then(|end| end.checked_add(4));
        let (Some(payload_end), Some(crc_end)) = (payload_end, crc_end) else {
            return Err(truncated(format!(
                "chunk {kind} runs past the end of the file"
            )));
        };
        let (Some(payload), Some(stored_crc)) = (
            data.get(payload_start..payload_end),
            be_u32(data, payload_end),
        ) else {
            return Err(truncated(format!(
                "chunk {kind} runs past the end of the file"
            )));
        };
        // The CRC covers the type and the payload.
        let crc_input = data.get(pos + 4..payload_end).unwrap_or_default();
        if crc32fast::hash(crc_input) != stored_crc {
            return Err(corrupt(format!("CRC mismatch in chunk {kind}")));
        }

        if ihdr.is_none() && kind != ChunkType::IHDR {
            return Err(corrupt(format!(
                "the first chunk is {kind}; a png must start with IHDR"
            )));
        }
        if idat_state == IdatState::Inside && kind != ChunkType::IDAT {
            idat_state = IdatState::Done;
        }

        match kind {
            ChunkType::IHDR => {
                if ihdr.is_some() {
                    return Err(corrupt("more than one IHDR chunk"));
                }
                let header = parse_ihdr(payload)?;
                check_pixels(header.width, header.height, limits)?;
                ihdr = Some(header);
            }
            ChunkType::PLTE => {
                let color_type = ihdr.as_ref().map_or(0, |h| h.color_type);
                if matches!(color_type, 0 | 4) {
                    return Err(corrupt("PLTE chunk in a greyscale image"));
                }
                if seen_plte {
                    return Err(corrupt("more than one PLTE chunk"));
                }
                if idat_state != IdatState::NotYet {
                    return Err(corrupt("PLTE chunk after image data"));
                }
                if payload.is_empty() || payload.len() % 3 != 0 || payload.len() > 256 * 3 {
                    return Err(corrupt(format!(
                        "PLTE chunk is {} bytes long; it must hold 1 to 256 RGB entries",
                        payload.len()
                    )));
                }
                seen_plte = true;
            }
            ChunkType::IDAT => match idat_state {
                IdatState::NotYet => {
                    if ihdr.as_ref().is_some_and(|h| h.color_type == 3) && !seen_plte {
                        return Err(corrupt("palette image has no PLTE chunk before IDAT"));
                    }
                    idat_state = IdatState::Inside;
                }
                IdatState::Inside => {}
                IdatState::Done => {
                    return Err(corrupt("IDAT chunks are not consecutive"));
                }
            },
            ChunkType::IEND => {
                if idat_state == IdatState::NotYet {
                    return Err(corrupt(
                        "no IDAT chunk before IEND; the image has no pixel data",
                    ));
                }
                if length != 0 {
                    return Err(corrupt("IEND chunk is not empty"));
                }
                // Bytes after IEND are ignored, as every decoder does.
                break;
            }
            ChunkType::EXIF if orientation.is_none() => {
                orientation = orientation_from_exif_chunk(payload);
            }
            // Colour chunks count before the image data only, as PNG requires and libpng
            // reads them; the first of each kind counts.
            ChunkType::ICCP if idat_state == IdatState::NotYet => {
                colour.iccp.get_or_insert((payload_start, payload_end));
            }
            ChunkType::SRGB if idat_state == IdatState::NotYet => colour.srgb = true,
            ChunkType::GAMA if idat_state == IdatState::NotYet && colour.gamma.is_none() => {
                colour.gamma = be_u32(payload, 0).filter(|_| payload.len() == 4);
            }
            ChunkType::CHRM if idat_state == IdatState::NotYet && colour.chrm.is_none() => {
                colour.chrm = chromaticities(payload);
            }
            other if other.is_critical() => {
                return Err(corrupt(format!(
                    "unknown critical chunk {other}; it cannot be safely ignored"
                )));
            }
            _ => {}
        }
        pos = crc_end;
    }

    let ihdr = ihdr.ok_or_else(|| corrupt("no IHDR chunk"))?;
    Ok(Header {
        format: FORMAT,
        width: ihdr.width,
        height: ihdr.height,
        orientation: orientation.unwrap_or(1),
        shape: Shape::Png {
            color_type: ihdr.color_type,
            bit_depth: ihdr.bit_depth,
        },
        colour: colour.source(),
    })
}

/// One chunk of a PNG that [`walk`] accepted, as byte ranges of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// The chunk type.
    pub(crate) kind: [u8; 4],
    /// Where the chunk starts: its length field.
    pub(crate) start: usize,
    /// Where its payload starts.
    pub(crate) payload_start: usize,
    /// Where its payload ends and its CRC starts.
    pub(crate) payload_end: usize,
    /// Where it ends, after the CRC.
    pub(crate) end: usize,
}

/// Hands every chunk from IHDR to IEND to `visit`, in order; `None` as soon as a chunk's
/// length runs past the end of the file or the file ends before IEND. Only the framing is
/// read (no CRC or order checks: call it on files [`walk`] accepted). What follows IEND
/// starts at the `end` of the last chunk visited. Nothing is collected, so a file of many
/// small chunks costs no memory.
pub(crate) fn visit_chunks(data: &[u8], mut visit: impl FnMut(Chunk)) -> Option<()> {
    if data.get(..PNG_SIGNATURE.len())? != PNG_SIGNATURE {
        return None;
    }
    let mut pos = PNG_SIGNATURE.len();
    loop {
        let length = usize::try_from(be_u32(data, pos)?).ok()?;
        let kind: [u8; 4] = data.get(pos + 4..pos + 8)?.try_into().ok()?;
        let payload_start = pos.checked_add(8)?;
        let payload_end = payload_start.checked_add(length)?;
        let end = payload_end.checked_add(4)?;
        if end > data.len() {
            return None;
        }
        visit(Chunk {
            kind,
            start: pos,
            payload_start,
            payload_end,
            end,
        });
        if ChunkType(kind) == ChunkType::IEND {
            return Some(());
        }
        pos = end;
    }
}

/// The colour chunks a walk has seen.
#[derive(Default)]
struct Colour {
    iccp: Option<(usize, usize)>,
    srgb: bool,
    gamma: Option<u32>,
    chrm: Option<[u32; 8]>,
}

impl Colour {
    /// What describes the colours, in PNG's order of precedence: `iCCP`, then `sRGB`, then
    /// `gAMA` with `cHRM` (a `cHRM` alone says nothing about the curve and is ignored).
    fn source(&self) -> ColourSource {
        match (self.iccp, self.srgb, self.gamma) {
            (Some((start, end)), _, _) => ColourSource::PngIccp { start, end },
            (None, true, _) => ColourSource::Srgb,
            (None, false, Some(gamma)) => ColourSource::PngGamma {
                gamma,
                chromaticities: self.chrm,
            },
            (None, false, None) => ColourSource::Unspecified,
        }
    }
}

/// The eight values of a `cHRM` payload, or `None` if it is not 32 bytes.
fn chromaticities(payload: &[u8]) -> Option<[u32; 8]> {
    if payload.len() != 32 {
        return None;
    }
    let mut values = [0; 8];
    for (i, value) in values.iter_mut().enumerate() {
        *value = be_u32(payload, 4 * i)?;
    }
    Some(values)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum IdatState {
    NotYet,
    Inside,
    Done,
}

#[cfg(test)]
mod tests {
    use super::walk;
    use crate::imaging::test_support::{
        PngChunks, chunk, corpus_file, expect_corrupt, expect_truncated, make_png, png_from_chunks,
    };
    use crate::imaging::{ImageError, ImageLimits};

    fn limits() -> ImageLimits {
        ImageLimits::default()
    }

    #[test]
    fn valid_png_header_and_orientation() {
        let png = make_png(7, 5, png::ColorType::Rgb, png::BitDepth::Eight, None);
        let header = walk(&png, &limits()).expect("valid");
        assert_eq!((header.width, header.height, header.orientation), (7, 5, 1));

        let png = make_png(7, 5, png::ColorType::Rgba, png::BitDepth::Eight, Some(6));
        let header = walk(&png, &limits()).expect("valid");
        assert_eq!((header.width, header.height, header.orientation), (7, 5, 6));
    }

    #[test]
    fn crc_mismatch() {
        let mut png = make_png(4, 4, png::ColorType::Rgb, png::BitDepth::Eight, None);
        // Flip a bit in the IHDR width: the CRC no longer matches.
        png[18] ^= 0x01;
        expect_corrupt(walk(&png, &limits()), "CRC mismatch in chunk IHDR");

        let mut png = make_png(4, 4, png::ColorType::Rgb, png::BitDepth::Eight, None);
        let idat = PngChunks::new(&png).find_chunk(b"IDAT").expect("has IDAT");
        png[idat.payload_start] ^= 0x40;
        expect_corrupt(walk(&png, &limits()), "CRC mismatch in chunk IDAT");
    }

    #[test]
    fn truncations() {
        let png = make_png(16, 16, png::ColorType::Rgb, png::BitDepth::Eight, None);
        let idat = PngChunks::new(&png).find_chunk(b"IDAT").expect("has IDAT");
        expect_truncated(
            walk(&png[..idat.payload_start + 2], &limits()),
            "chunk IDAT runs past the end of the file",
        );
        expect_truncated(
            walk(&png[..5], &limits()),
            "the file ends inside the png signature",
        );
        expect_truncated(
            walk(&png[..8], &limits()),
            "the file ends before the IEND chunk",
        );
        expect_truncated(
            walk(&png[..10], &limits()),
            "the chunk header at byte 8 runs past the end of the file",
        );
        // Missing IEND: everything up to it is intact.
        let iend = PngChunks::new(&png).find_chunk(b"IEND").expect("has IEND");
        expect_truncated(
            walk(&png[..iend.start], &limits()),
            "the file ends before the IEND chunk",
        );
        // Every prefix is rejected, never accepted and never a panic.
        for len in 0..png.len() {
            assert!(
                walk(&png[..len], &limits()).is_err(),
                "prefix {len} accepted"
            );
        }
    }

    #[test]
    fn trailing_bytes_after_iend_are_ignored() {
        let mut png = make_png(3, 3, png::ColorType::Grayscale, png::BitDepth::Eight, None);
        png.extend_from_slice(b"trailing garbage");
        assert!(walk(&png, &limits()).is_ok());
    }

    #[test]
    fn ihdr_validation() {
        let ihdr = |w: u32, h: u32, depth: u8, color: u8| {
            let mut p = Vec::new();
            p.extend_from_slice(&w.to_be_bytes());
            p.extend_from_slice(&h.to_be_bytes());
            p.extend_from_slice(&[depth, color, 0, 0, 0]);
            p
        };
        let idat = chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        let iend = chunk(b"IEND", &[]);
        let file = |ihdr_payload: &[u8]| {
            png_from_chunks(&[chunk(b"IHDR", ihdr_payload), idat.clone(), iend.clone()])
        };
        assert!(walk(&file(&ihdr(1, 1, 8, 2)), &limits()).is_ok());
        expect_corrupt(
            walk(&file(&ihdr(0, 1, 8, 2)), &limits()),
            "invalid image size 0x1",
        );
        expect_corrupt(
            walk(&file(&ihdr(1, 0, 8, 2)), &limits()),
            "invalid image size 1x0",
        );
        expect_corrupt(
            walk(&file(&ihdr(1 << 31, 1, 8, 2)), &limits()),
            "invalid image size",
        );
        expect_corrupt(
            walk(&file(&ihdr(1, 1, 4, 2)), &limits()),
            "bit depth 4 is not allowed with colour type 2",
        );
        expect_corrupt(
            walk(&file(&ihdr(1, 1, 16, 3)), &limits()),
            "bit depth 16 is not allowed with colour type 3",
        );
        expect_corrupt(
            walk(&file(&ihdr(1, 1, 8, 5)), &limits()),
            "invalid colour type 5",
        );
        for (depth, color) in [
            (1, 0),
            (2, 0),
            (4, 0),
            (16, 0),
            (16, 2),
            (1, 3),
            (8, 4),
            (16, 6),
        ] {
            let payload = ihdr(1, 1, depth, color);
            let plte = chunk(b"PLTE", &[0, 0, 0]);
            let chunks = if color == 3 {
                vec![chunk(b"IHDR", &payload), plte, idat.clone(), iend.clone()]
            } else {
                vec![chunk(b"IHDR", &payload), idat.clone(), iend.clone()]
            };
            assert!(
                walk(&png_from_chunks(&chunks), &limits()).is_ok(),
                "{depth}/{color}"
            );
        }
        let mut bad = ihdr(1, 1, 8, 2);
        bad[10] = 1;
        expect_corrupt(walk(&file(&bad), &limits()), "invalid compression method 1");
        let mut bad = ihdr(1, 1, 8, 2);
        bad[12] = 2;
        expect_corrupt(walk(&file(&bad), &limits()), "invalid interlace method 2");
        expect_corrupt(
            walk(&file(&[0; 12]), &limits()),
            "IHDR chunk is 12 bytes long",
        );
    }

    #[test]
    fn chunk_order_rules() {
        let ihdr_rgb = {
            let mut p = Vec::new();
            p.extend_from_slice(&1u32.to_be_bytes());
            p.extend_from_slice(&1u32.to_be_bytes());
            p.extend_from_slice(&[8, 2, 0, 0, 0]);
            chunk(b"IHDR", &p)
        };
        let idat = chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        let iend = chunk(b"IEND", &[]);
        let text = chunk(b"tEXt", b"Comment\0hi");

        expect_corrupt(
            walk(
                &png_from_chunks(&[text.clone(), ihdr_rgb.clone(), idat.clone(), iend.clone()]),
                &limits(),
            ),
            "the first chunk is tEXt; a png must start with IHDR",
        );
        expect_corrupt(
            walk(
                &png_from_chunks(&[ihdr_rgb.clone(), iend.clone()]),
                &limits(),
            ),
            "no IDAT chunk before IEND",
        );
        expect_corrupt(
            walk(
                &png_from_chunks(&[
                    ihdr_rgb.clone(),
                    idat.clone(),
                    text.clone(),
                    idat.clone(),
                    iend.clone(),
                ]),
                &limits(),
            ),
            "IDAT chunks are not consecutive",
        );
        expect_corrupt(
            walk(
                &png_from_chunks(&[
                    ihdr_rgb.clone(),
                    ihdr_rgb.clone(),
                    idat.clone(),
                    iend.clone(),
                ]),
                &limits(),
            ),
            "more than one IHDR chunk",
        );
        expect_corrupt(
            walk(
                &png_from_chunks(&[
                    ihdr_rgb.clone(),
                    chunk(b"ABCD", b""),
                    idat.clone(),
                    iend.clone(),
                ]),
                &limits(),
            ),
            "unknown critical chunk ABCD",
        );
        expect_corrupt(
            walk(
                &png_from_chunks(&[ihdr_rgb.clone(), idat.clone(), chunk(b"IEND", b"x")]),
                &limits(),
            ),
            "IEND chunk is not empty",
        );
        // Ancillary chunks, known or not, are fine anywhere after IHDR.
        assert!(
            walk(
                &png_from_chunks(&[
                    ihdr_rgb.clone(),
                    chunk(b"abCd", b"x"),
                    text.clone(),
                    idat.clone(),
                    text.clone(),
                    iend.clone()
                ]),
                &limits(),
            )
            .is_ok()
        );
        let ihdr_palette = {
            let mut p = Vec::new();
            p.extend_from_slice(&1u32.to_be_bytes());
            p.extend_from_slice(&1u32.to_be_bytes());
            p.extend_from_slice(&[8, 3, 0, 0, 0]);
            chunk(b"IHDR", &p)
        };
        expect_corrupt(
            walk(
                &png_from_chunks(&[ihdr_palette.clone(), idat.clone(), iend.clone()]),
                &limits(),
            ),
            "palette image has no PLTE chunk before IDAT",
        );
        expect_corrupt(
            walk(
                &png_from_chunks(&[
                    ihdr_palette.clone(),
                    chunk(b"PLTE", &[0, 0]),
                    idat.clone(),
                    iend.clone(),
                ]),
                &limits(),
            ),
            "PLTE chunk is 2 bytes long",
        );
        // Invalid chunk type bytes.
        let bad = png_from_chunks(&[
            ihdr_rgb.clone(),
            chunk(b"te1t", b""),
            idat.clone(),
            iend.clone(),
        ]);
        expect_corrupt(walk(&bad, &limits()), "invalid chunk type at byte 33");
        // A length with the top bit set.
        let mut bad = png_from_chunks(&[ihdr_rgb, idat, iend]);
        bad[33] = 0x80;
        expect_corrupt(walk(&bad, &limits()), "chunk IDAT claims 2147483656 bytes");
    }

    #[test]
    fn over_limit_pixels_from_the_header_alone() {
        // Just the signature and an IHDR claiming 100000x100000: rejected for its size
        // before the walk notices there is nothing else.
        let mut p = Vec::new();
        p.extend_from_slice(&100_000u32.to_be_bytes());
        p.extend_from_slice(&100_000u32.to_be_bytes());
        p.extend_from_slice(&[8, 6, 0, 0, 0]);
        let png = png_from_chunks(&[chunk(b"IHDR", &p)]);
        match walk(&png, &limits()) {
            Err(ImageError::TooManyPixels {
                width: 100_000,
                height: 100_000,
                limit: 50_000_000,
            }) => {}
            other => panic!("expected TooManyPixels, got {other:?}"),
        }
    }

    #[test]
    fn corpus_pngs_are_valid() {
        for (name, w, h) in [
            ("arc-colors-transparent_2140x1200.png", 2140, 1200),
            ("astronaut_512x512.png", 512, 512),
            ("camera_512x512.png", 512, 512),
            ("chelsea_451x300.png", 451, 300),
        ] {
            let Some(data) = corpus_file(name) else {
                return;
            };
            let header = walk(&data, &limits()).expect(name);
            assert_eq!(
                (header.width, header.height, header.orientation),
                (w, h, 1),
                "{name}"
            );
        }
    }
}
