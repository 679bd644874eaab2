//! Test helpers: the optional photo corpus and small images built in code.
#![allow(clippy::unwrap_used)]

use std::fmt::Debug;
use std::path::PathBuf;

use super::ImageError;
use super::exif::orientation_tiff;

/// The real-photo corpus: `$IMAGEVAULT_CORPUS`, else `/work/shared/corpus`.
pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("IMAGEVAULT_CORPUS")
        .map_or_else(|| PathBuf::from("/work/shared/corpus"), PathBuf::from);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: corpus folder {} is absent", dir.display());
        None
    }
}

/// A corpus file's bytes, or `None` (with a note on stderr) when the corpus is absent.
pub(crate) fn corpus_file(name: &str) -> Option<Vec<u8>> {
    let path = corpus_dir()?.join(name);
    match std::fs::read(&path) {
        Ok(data) => Some(data),
        Err(e) => {
            eprintln!("skipping: cannot read {}: {e}", path.display());
            None
        }
    }
}

/// Deterministic xorshift64* generator, so failures reproduce.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough value in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }
}

/// A smooth gradient with some noise: compresses like a photo, not like a flat fill.
pub(crate) fn pattern(width: u32, height: u32, channels: usize) -> Vec<u8> {
    let mut rng = Rng::new(u64::from(width) << 32 | u64::from(height));
    let mut out = Vec::with_capacity(width as usize * height as usize * channels);
    for y in 0..height {
        for x in 0..width {
            for c in 0..channels {
                let base = (x * 255 / width.max(1) + y * 128 / height.max(1)) as usize + c * 60;
                let noise = rng.below(16);
                out.push(u8::try_from((base + noise) % 256).unwrap());
            }
        }
    }
    out
}

/// A PNG chunk with its length and CRC.
pub(crate) fn chunk(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 12);
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(kind);
    hasher.update(payload);
    out.extend_from_slice(&hasher.finalize().to_be_bytes());
    out
}

/// The PNG signature followed by the given chunks.
pub(crate) fn png_from_chunks(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = super::sniff::PNG_SIGNATURE.to_vec();
    for c in chunks {
        out.extend_from_slice(c);
    }
    out
}

/// A chunk's position in a PNG file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkPos {
    pub(crate) start: usize,
    pub(crate) kind: [u8; 4],
    pub(crate) payload_start: usize,
    pub(crate) payload_end: usize,
}

/// Iterates over the chunks of a well-formed PNG.
pub(crate) struct PngChunks<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> PngChunks<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 8 }
    }

    pub(crate) fn find_chunk(mut self, kind: &[u8; 4]) -> Option<ChunkPos> {
        self.find(|c| &c.kind == kind)
    }
}

impl Iterator for PngChunks<'_> {
    type Item = ChunkPos;

    fn next(&mut self) -> Option<ChunkPos> {
        let len = u32::from_be_bytes(self.data.get(self.pos..self.pos + 4)?.try_into().ok()?);
        let kind: [u8; 4] = self.data.get(self.pos + 4..self.pos + 8)?.try_into().ok()?;
        let start = self.pos;
        let payload_start = start + 8;
        let payload_end = payload_start + len as usize;
        self.pos = payload_end + 4;
        Some(ChunkPos {
            start,
            kind,
            payload_start,
            payload_end,
        })
    }
}

/// Encodes 8- or 16-bit pixels as PNG, optionally with an eXIf orientation chunk.
pub(crate) fn encode_png(
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    pixels: &[u8],
    orientation: Option<u8>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    if color == png::ColorType::Indexed {
        let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, 255 - i, i / 2]).collect();
        encoder.set_palette(palette);
    }
    let mut writer = encoder.write_header().unwrap();
    if let Some(o) = orientation {
        writer
            .write_chunk(
                png::chunk::ChunkType(*b"eXIf"),
                &orientation_tiff(true, u16::from(o)),
            )
            .unwrap();
    }
    writer.write_image_data(pixels).unwrap();
    writer.finish().unwrap();
    out
}

/// A patterned PNG of any colour type and depth.
pub(crate) fn make_png(
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    orientation: Option<u8>,
) -> Vec<u8> {
    let samples = color.samples();
    let bits = samples * depth as usize;
    let row_bytes = (width as usize * bits).div_ceil(8);
    let pixels = pattern(u32::try_from(row_bytes).unwrap(), height, 1);
    encode_png(width, height, color, depth, &pixels, orientation)
}

/// Encodes 1-channel (grey), 3-channel (RGB) or 4-channel (CMYK ink amounts) pixels as a
/// baseline JPEG.
pub(crate) fn encode_jpeg(
    width: u32,
    height: u32,
    channels: usize,
    pixels: &[u8],
    quality: u8,
) -> Vec<u8> {
    let color = match channels {
        1 => jpeg_encoder::ColorType::Luma,
        3 => jpeg_encoder::ColorType::Rgb,
        4 => jpeg_encoder::ColorType::Cmyk,
        _ => panic!("unsupported channel count {channels}"),
    };
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder
        .encode(
            pixels,
            u16::try_from(width).unwrap(),
            u16::try_from(height).unwrap(),
            color,
        )
        .unwrap();
    out
}

/// A patterned baseline JPEG, grey (1) or colour (3).
pub(crate) fn make_jpeg(width: u32, height: u32, channels: usize, quality: u8) -> Vec<u8> {
    encode_jpeg(
        width,
        height,
        channels,
        &pattern(width, height, channels),
        quality,
    )
}

/// A patterned progressive colour JPEG with restart markers.
pub(crate) fn make_progressive_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
    encoder.set_progressive(true);
    encoder.set_restart_interval(2);
    encoder
        .encode(
            &pattern(width, height, 3),
            u16::try_from(width).unwrap(),
            u16::try_from(height).unwrap(),
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    out
}

/// A 4-component (CMYK, no subsampling) JPEG of smooth ink ramps, progressive or baseline.
pub(crate) fn make_cmyk_jpeg(width: u32, height: u32, progressive: bool) -> Vec<u8> {
    let mut inks = Vec::with_capacity(width as usize * height as usize * 4);
    for y in 0..height {
        for x in 0..width {
            let (u, v) = ((x * 255 / width) as u8, (y * 255 / height) as u8);
            inks.extend_from_slice(&[u, v, 255 - u, v / 4]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
    encoder.set_progressive(progressive);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
    encoder
        .encode(
            &inks,
            u16::try_from(width).unwrap(),
            u16::try_from(height).unwrap(),
            jpeg_encoder::ColorType::Cmyk,
        )
        .unwrap();
    out
}

/// A JPEG marker segment with its length.
pub(crate) fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The JPEG with an APP1 EXIF segment holding the orientation inserted after SOI.
pub(crate) fn with_jpeg_exif(jpeg: &[u8], orientation: u8, big_endian: bool) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&orientation_tiff(big_endian, u16::from(orientation)));
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&segment(0xE1, &payload));
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[track_caller]
pub(crate) fn expect_corrupt<T: Debug>(result: Result<T, ImageError>, detail_part: &str) {
    match result {
        Err(ImageError::Corrupt { detail, .. }) if detail.contains(detail_part) => {}
        other => panic!("expected Corrupt containing {detail_part:?}, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn expect_truncated<T: Debug>(result: Result<T, ImageError>, detail_part: &str) {
    match result {
        Err(ImageError::Truncated { detail, .. }) if detail.contains(detail_part) => {}
        other => panic!("expected Truncated containing {detail_part:?}, got {other:?}"),
    }
}

/// Recomputes the CRC of every complete chunk, so that mutations inside chunk payloads
/// get past the structure walk and reach the decoder.
pub(crate) fn fix_png_crcs(data: &mut [u8]) {
    let chunks: Vec<ChunkPos> = PngChunks::new(data).collect();
    for c in chunks {
        let (Some(body), Some(_)) = (
            data.get(c.start + 4..c.payload_end),
            data.get(c.payload_end..c.payload_end + 4),
        ) else {
            break;
        };
        let crc = crc32fast::hash(body).to_be_bytes();
        data[c.payload_end..c.payload_end + 4].copy_from_slice(&crc);
    }
}

/// A zlib stream of stored (uncompressed) deflate blocks.
pub(crate) fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65_535).collect()
    };
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).unwrap();
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// An Adam7-interlaced 8-bit RGB PNG of the given pixels (the png encoder cannot write
/// interlaced files).
pub(crate) fn interlaced_rgb_png(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    const PASSES: [(u32, u32, u32, u32); 7] = [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ];
    let mut raw = Vec::new();
    for (x0, y0, dx, dy) in PASSES {
        if x0 >= width || y0 >= height {
            continue; // empty pass: no rows, no filter bytes
        }
        for y in (y0..height).step_by(dy as usize) {
            raw.push(0); // filter: none
            for x in (x0..width).step_by(dx as usize) {
                let at = (y as usize * width as usize + x as usize) * 3;
                raw.extend_from_slice(&rgb[at..at + 3]);
            }
        }
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 1]);
    png_from_chunks(&[
        chunk(b"IHDR", &ihdr),
        chunk(b"IDAT", &zlib_stored(&raw)),
        chunk(b"IEND", &[]),
    ])
}
