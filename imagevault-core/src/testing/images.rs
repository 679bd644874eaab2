//! Images built in code for tests: PNGs and JPEGs in the layouts the decoders accept, and
//! the pieces to build damaged or lying files from (chunks with correct CRCs, marker
//! segments, stored zlib streams, chunk patches).
//!
//! Every builder is deterministic, so a failing test reproduces byte for byte. PNGs come
//! from the `png` encoder, or from raw chunks where it cannot write the file (interlaced,
//! damaged); JPEGs from `jpeg-encoder`. Functions that take a `setup` closure hand over the
//! encoder before it writes, for palettes, text chunks, animation, progressive scans or
//! APPn segments.
//!
//! ```
//! use imagevault_core::testing::images::{
//!     self, ChunkPos, PNG_SIGNATURE, PngChunks, SHORT_IDAT,
//! };
//!
//! let png = images::png(40, 30);
//! assert!(png.starts_with(PNG_SIGNATURE));
//! let jpeg = images::jpeg(40, 30);
//! assert!(jpeg.starts_with(&[0xFF, 0xD8]));
//!
//! // A header of 100000 x 100000 pixels over an IDAT far too short for them: every CRC is
//! // right, so only a pixel-count check or the decoder can find fault with it.
//! let huge = images::crafted_png(100_000, 100_000, SHORT_IDAT);
//! let kinds: Vec<[u8; 4]> = PngChunks::new(&huge).map(|chunk: ChunkPos| chunk.kind).collect();
//! assert_eq!(kinds, [*b"IHDR", *b"IDAT", *b"IEND"]);
//! ```

use png::{BitDepth, ColorType};

/// The eight bytes every PNG starts with. Written out here rather than taken from the
/// format sniffer, so that a wrong signature there cannot hide in the tests.
pub const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// An IDAT payload of six bytes: a zlib header and the start of a deflate stream, far too
/// short for an image of more than a few pixels (see [`crafted_png`]).
pub const SHORT_IDAT: &[u8] = &[0x78, 0x9c, 0x63, 0x60, 0x00, 0x00];

/// The quality of [`jpeg`], [`rgb_jpeg`] and [`jpeg_with`].
pub const JPEG_QUALITY: u8 = 90;

/// A deterministic xorshift64* generator, so that tests built on random choices reproduce.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n`, uniform enough for tests (`0` when `n` is `0`).
    pub fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n.max(1)).expect("a usize fits in a u64");
        usize::try_from(self.next_u64() % n).expect("a value below a usize is a usize")
    }
}

/// `width * height` pixels of `channels` samples: a smooth gradient with some noise, which
/// compresses like a photograph rather than like a flat fill.
pub fn pattern(width: u32, height: u32, channels: usize) -> Vec<u8> {
    let mut rng = Rng::new(u64::from(width) << 32 | u64::from(height));
    let mut out = Vec::with_capacity(width as usize * height as usize * channels);
    for y in 0..height {
        for x in 0..width {
            for c in 0..channels {
                let base = (x * 255 / width.max(1) + y * 128 / height.max(1)) as usize + c * 60;
                let noise = rng.below(16);
                out.push((base + noise) as u8);
            }
        }
    }
    out
}

/// The RGB pixels of [`png()`] and [`jpeg`]: red rises along x, green along y (each wrapping
/// at 256), blue is constant.
pub fn gradient(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            out.extend_from_slice(&[(x * 7) as u8, (y * 5) as u8, 90]);
        }
    }
    out
}

/// An 8-bit RGB PNG of the [`gradient`], the everyday valid upload.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    png_with(
        (width, height),
        (ColorType::Rgb, BitDepth::Eight),
        &gradient(width, height),
        |encoder| {
            encoder.set_compression(png::Compression::Fast);
            encoder.set_filter(png::Filter::Adaptive);
        },
        &[],
    )
}

/// A PNG from the `png` encoder of `pixels` in the given colour type and bit depth:
/// `setup` may add a palette, tRNS, text or animation, and `chunks` are written raw between
/// the header and the image data (an `eXIf`, say).
pub fn png_with(
    (width, height): (u32, u32),
    (color, depth): (ColorType, BitDepth),
    pixels: &[u8],
    setup: impl FnOnce(&mut png::Encoder<'_, &mut Vec<u8>>),
    chunks: &[(&[u8; 4], &[u8])],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    setup(&mut encoder);
    let mut writer = encoder.write_header().expect("the PNG header is written");
    for (kind, data) in chunks {
        writer
            .write_chunk(png::chunk::ChunkType(**kind), data)
            .expect("the chunk is written");
    }
    writer
        .write_image_data(pixels)
        .expect("the pixels fit the header");
    writer.finish().expect("the PNG is finished");
    out
}

/// An 8-bit RGB PNG of the given pixels.
pub fn rgb_png(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    png_with(
        (width, height),
        (ColorType::Rgb, BitDepth::Eight),
        pixels,
        |_| {},
        &[],
    )
}

/// An animated RGB PNG with one frame of the image's size per colour in `frames`: its
/// default image (the IDAT, also the first frame) is the first colour.
pub fn apng(width: u32, height: u32, frames: &[[u8; 3]]) -> Vec<u8> {
    let count = u32::try_from(frames.len()).expect("a few frames");
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(ColorType::Rgb);
    encoder
        .set_animated(count, 0)
        .expect("an animation of at least one frame");
    encoder.set_frame_delay(1, 2).expect("a valid delay");
    let mut writer = encoder.write_header().expect("the PNG header is written");
    for colour in frames {
        writer
            .write_image_data(&colour.repeat(width as usize * height as usize))
            .expect("the frame is written");
    }
    writer.finish().expect("the PNG is finished");
    out
}

/// A grey PNG of all-zero samples, compressed as hard as the encoder can: a few KB that
/// inflate to `width * height * depth / 8` bytes. The rows are streamed, so the test never
/// holds the whole image either.
pub fn zero_png(width: u32, height: u32, depth: BitDepth) -> Vec<u8> {
    let row = vec![0; (width as usize * depth as usize).div_ceil(8)];
    streamed_png(
        (width, height),
        (ColorType::Grayscale, depth),
        png::Compression::High,
        &row,
    )
}

/// An RGBA PNG of one colour, 8 or 16 bits a sample (a 16-bit sample repeats the 8-bit
/// value in both bytes, so it reduces to it exactly). The rows are streamed, so the test
/// never holds the whole image.
pub fn solid_rgba_png(width: u32, height: u32, depth: BitDepth, rgba: [u8; 4]) -> Vec<u8> {
    let pixel: Vec<u8> = match depth {
        BitDepth::Sixteen => rgba.iter().flat_map(|&v| [v, v]).collect(),
        _ => rgba.to_vec(),
    };
    streamed_png(
        (width, height),
        (ColorType::Rgba, depth),
        png::Compression::Fast,
        &pixel.repeat(width as usize),
    )
}

/// A PNG whose every row is `row`, written one row at a time.
fn streamed_png(
    (width, height): (u32, u32),
    (color, depth): (ColorType, BitDepth),
    compression: png::Compression,
    row: &[u8],
) -> Vec<u8> {
    use std::io::Write as _;

    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    encoder.set_compression(compression);
    let mut writer = encoder.write_header().expect("the PNG header is written");
    let mut stream = writer.stream_writer().expect("a stream writer");
    for _ in 0..height {
        stream.write_all(row).expect("the row is written");
    }
    stream.finish().expect("the rows are finished");
    writer.finish().expect("the PNG is finished");
    out
}

/// A PNG chunk: its length, type, payload and CRC.
pub fn chunk(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).expect("a chunk under 4 GiB");
    let mut out = Vec::with_capacity(payload.len() + 12);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(kind);
    hasher.update(payload);
    out.extend_from_slice(&hasher.finalize().to_be_bytes());
    out
}

/// The PNG signature followed by the given chunks (see [`chunk`]).
pub fn png_from_chunks(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = PNG_SIGNATURE.to_vec();
    for c in chunks {
        out.extend_from_slice(c);
    }
    out
}

/// The payload of an IHDR chunk: 8-bit RGB, not interlaced, or Adam7 if `interlaced`.
fn rgb_ihdr(width: u32, height: u32, interlaced: bool) -> Vec<u8> {
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, u8::from(interlaced)]);
    ihdr
}

/// A structurally valid 8-bit RGB PNG with the given header size and raw IDAT payload,
/// every chunk with a correct CRC: only a pixel-count check or the decoder can find fault
/// with it ([`SHORT_IDAT`] for data far too short, or any bytes that are no zlib stream).
pub fn crafted_png(width: u32, height: u32, idat: &[u8]) -> Vec<u8> {
    png_from_chunks(&[
        chunk(b"IHDR", &rgb_ihdr(width, height, false)),
        chunk(b"IDAT", idat),
        chunk(b"IEND", &[]),
    ])
}

/// A zlib stream of stored (uncompressed) deflate blocks.
pub fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65_535).collect()
    };
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).expect("blocks of at most 65535 bytes");
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

/// An Adam7-interlaced 8-bit RGB PNG of the given pixels, its data in stored deflate
/// blocks (the `png` encoder writes only non-interlaced files).
pub fn interlaced_rgb_png(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    // (x0, y0, dx, dy) of the seven passes.
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
            continue; // an empty pass has no rows, not even filter bytes
        }
        for y in (y0..height).step_by(dy as usize) {
            raw.push(0); // filter type None
            for x in (x0..width).step_by(dx as usize) {
                let at = (y as usize * width as usize + x as usize) * 3;
                raw.extend_from_slice(&rgb[at..at + 3]);
            }
        }
    }
    png_from_chunks(&[
        chunk(b"IHDR", &rgb_ihdr(width, height, true)),
        chunk(b"IDAT", &zlib_stored(&raw)),
        chunk(b"IEND", &[]),
    ])
}

/// Where a chunk is in a PNG file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPos {
    /// The offset of its length field.
    pub start: usize,
    /// Its type.
    pub kind: [u8; 4],
    /// The offset of its payload.
    pub payload_start: usize,
    /// The offset just past its payload, where its CRC starts.
    pub payload_end: usize,
}

/// The chunks of a PNG, as their lengths say, from the one after the signature until fewer
/// than eight bytes are left. A chunk's payload may run past the end of a damaged file.
#[derive(Debug, Clone)]
pub struct PngChunks<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> PngChunks<'a> {
    /// The chunks of `data`, a PNG with its signature.
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: PNG_SIGNATURE.len(),
        }
    }

    /// The first chunk of type `kind`.
    pub fn find_chunk(mut self, kind: &[u8; 4]) -> Option<ChunkPos> {
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

/// Recomputes the CRC of every complete chunk, so that a change inside a payload gets past
/// the CRC check and reaches what reads the payload.
pub fn fix_png_crcs(data: &mut [u8]) {
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

/// The first chunk of type `kind` in `png`, which must have one.
fn expect_chunk(png: &[u8], kind: &[u8; 4]) -> ChunkPos {
    PngChunks::new(png).find_chunk(kind).unwrap_or_else(|| {
        panic!(
            "the PNG has no {} chunk",
            String::from_utf8_lossy(kind.as_slice())
        )
    })
}

/// The PNG with the CRC of its first `kind` chunk wrong.
pub fn with_bad_crc(png: &[u8], kind: &[u8; 4]) -> Vec<u8> {
    let mut out = png.to_vec();
    out[expect_chunk(png, kind).payload_end] ^= 0x55;
    out
}

/// The PNG with `bytes` written at `offset` into the payload of its first `kind` chunk, the
/// CRC recomputed: a lie in a header that only its meaning can give away.
pub fn with_chunk_patch(png: &[u8], kind: &[u8; 4], offset: usize, bytes: &[u8]) -> Vec<u8> {
    let c = expect_chunk(png, kind);
    let mut out = png.to_vec();
    let at = c.payload_start + offset;
    out[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = crc32fast::hash(&out[c.start + 4..c.payload_end]).to_be_bytes();
    out[c.payload_end..c.payload_end + 4].copy_from_slice(&crc);
    out
}

/// The PNG with its IDAT payload cut to `keep` bytes and everything after it replaced by
/// IEND, every CRC right: only an inflate of the data finds the damage.
pub fn with_short_idat(png: &[u8], keep: usize) -> Vec<u8> {
    let idat = expect_chunk(png, b"IDAT");
    let payload = &png[idat.payload_start..idat.payload_start + keep];
    [
        png[..idat.start].to_vec(),
        chunk(b"IDAT", payload),
        chunk(b"IEND", &[]),
    ]
    .concat()
}

/// A JPEG from `jpeg-encoder` of `pixels` in the given colour type at [`JPEG_QUALITY`]:
/// `setup` may make it progressive, add restart markers or APPn segments, or change the
/// subsampling.
pub fn jpeg_with(
    size: (u32, u32),
    color: jpeg_encoder::ColorType,
    pixels: &[u8],
    setup: impl FnOnce(&mut jpeg_encoder::Encoder<&mut Vec<u8>>),
) -> Vec<u8> {
    encode_jpeg_with(size, color, JPEG_QUALITY, pixels, setup)
}

/// [`jpeg_with`] at any quality.
fn encode_jpeg_with(
    (width, height): (u32, u32),
    color: jpeg_encoder::ColorType,
    quality: u8,
    pixels: &[u8],
    setup: impl FnOnce(&mut jpeg_encoder::Encoder<&mut Vec<u8>>),
) -> Vec<u8> {
    let side = |n: u32| u16::try_from(n).expect("a JPEG side is at most 65535 pixels");
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    setup(&mut encoder);
    encoder
        .encode(pixels, side(width), side(height), color)
        .expect("the JPEG encodes");
    out
}

/// A baseline JPEG of 1-channel (grey), 3-channel (RGB) or 4-channel (CMYK ink amounts)
/// pixels.
pub fn encode_jpeg(
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
    encode_jpeg_with((width, height), color, quality, pixels, |_| {})
}

/// A baseline RGB JPEG of the given pixels at [`JPEG_QUALITY`].
pub fn rgb_jpeg(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    encode_jpeg(width, height, 3, pixels, JPEG_QUALITY)
}

/// A baseline RGB JPEG of the [`gradient`], the everyday valid upload.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    rgb_jpeg(width, height, &gradient(width, height))
}

/// A baseline JPEG of the [`pattern`], grey (1 channel) or colour (3).
pub fn make_jpeg(width: u32, height: u32, channels: usize, quality: u8) -> Vec<u8> {
    encode_jpeg(
        width,
        height,
        channels,
        &pattern(width, height, channels),
        quality,
    )
}

/// A progressive colour JPEG of the [`pattern`], with restart markers.
pub fn make_progressive_jpeg(width: u32, height: u32) -> Vec<u8> {
    encode_jpeg_with(
        (width, height),
        jpeg_encoder::ColorType::Rgb,
        80,
        &pattern(width, height, 3),
        |encoder| {
            encoder.set_progressive(true);
            encoder.set_restart_interval(2);
        },
    )
}

/// A 4-component (CMYK, no subsampling) JPEG of smooth ink ramps, progressive or baseline.
pub fn make_cmyk_jpeg(width: u32, height: u32, progressive: bool) -> Vec<u8> {
    let mut inks = Vec::with_capacity(width as usize * height as usize * 4);
    for y in 0..height {
        for x in 0..width {
            let (u, v) = ((x * 255 / width) as u8, (y * 255 / height) as u8);
            inks.extend_from_slice(&[u, v, 255 - u, v / 4]);
        }
    }
    encode_jpeg_with(
        (width, height),
        jpeg_encoder::ColorType::Cmyk,
        80,
        &inks,
        |encoder| {
            encoder.set_progressive(progressive);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
        },
    )
}

/// A JPEG marker segment: the marker, the length and the payload.
pub fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let length = u16::try_from(payload.len() + 2).expect("a segment under 64 KiB");
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The JPEG with `segment` (see [`segment`]) inserted right after its SOI marker.
pub fn with_segment(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
    [&jpeg[..2], segment, &jpeg[2..]].concat()
}

/// The payload of an EXIF APP1 segment holding `tiff`, the TIFF structure that a PNG
/// `eXIf` chunk holds bare.
pub fn exif_app1(tiff: &[u8]) -> Vec<u8> {
    [b"Exif\0\0".as_slice(), tiff].concat()
}
