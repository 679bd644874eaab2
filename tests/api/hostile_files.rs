//! Builders of the hostile and unusual files of `hostile.rs`: every one is generated in a
//! few milliseconds, so that the test set needs no binary fixtures. The PNGs and JPEGs
//! themselves, valid or damaged, come from the core's `testing::images` (re-exported here
//! for `hostile.rs`); this module adds what only the hostile set needs: the colours its
//! thumbnails are checked against, JPEG headers patched to lie, EXIF with a location, and
//! the foreign formats and polyglot payloads.

pub(crate) use imagevault_core::imaging::MAX_ICC_PROFILE_BYTES;
use imagevault_core::testing::images;
pub(crate) use imagevault_core::testing::images::{
    PngChunks, apng, interlaced_rgb_png, jpeg_with, png_with, rgb_jpeg, rgb_png, segment,
    solid_rgba_png, with_bad_crc, with_chunk_patch, with_segment, with_short_idat, zero_png,
};
pub(crate) use imagevault_core::testing::profiles::{
    Profile, app2_chunks, cmyk_ink, from_srgb, icc, iccp, with_app2,
};

/// An ASCII marker put into EXIF, GPS, text chunks and appended data: a thumbnail that
/// contains it leaks metadata or a polyglot's payload.
pub(crate) const SECRET: &[u8] = b"imagevault-hostile-secret-52.2297N-21.0122E";

pub(crate) const RED: [u8; 3] = [230, 20, 20];
pub(crate) const GREEN: [u8; 3] = [20, 200, 40];
pub(crate) const BLUE: [u8; 3] = [30, 40, 220];
pub(crate) const YELLOW: [u8; 3] = [240, 230, 30];

/// The colour of each quadrant of a stored image (top-left, top-right, bottom-left,
/// bottom-right): a thumbnail turned the wrong way shows them in another order.
pub(crate) const QUADRANTS: [[u8; 3]; 4] = [RED, GREEN, BLUE, YELLOW];

/// The colour of the stored image at (u, v), both in 0..1.
pub(crate) fn quadrant_colour(u: f64, v: f64) -> [u8; 3] {
    QUADRANTS[usize::from(u >= 0.5) + 2 * usize::from(v >= 0.5)]
}

/// RGB pixels of a `width` x `height` image in the four `QUADRANTS` colours.
pub(crate) fn quadrants(width: u32, height: u32) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            let (u, v) = (
                (f64::from(x) + 0.5) / f64::from(width),
                (f64::from(y) + 0.5) / f64::from(height),
            );
            pixels.extend_from_slice(&quadrant_colour(u, v));
        }
    }
    pixels
}

/// `count` pixels of one colour (any number of channels).
pub(crate) fn solid(count: u32, colour: &[u8]) -> Vec<u8> {
    colour.repeat(count as usize)
}

/// The byte offset of the first marker `marker` in a JPEG's header segments.
pub(crate) fn jpeg_marker(jpeg: &[u8], marker: u8) -> usize {
    let mut at = 2;
    while jpeg[at + 1] != marker {
        at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    }
    at
}

/// The JPEG with the size in its SOF0 header replaced (the scan data stays as it is).
pub(crate) fn with_sof_size(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let size = [height.to_be_bytes(), width.to_be_bytes()].concat();
    // FF C0, length (2), precision (1), then height and width.
    with_sof_patch(jpeg, 5, &size)
}

/// The JPEG with `bytes` written `offset` bytes into its SOF0 segment (from its marker).
pub(crate) fn with_sof_patch(jpeg: &[u8], offset: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let at = jpeg_marker(jpeg, 0xC0) + offset;
    out[at..at + bytes.len()].copy_from_slice(bytes);
    out
}

/// Where the entropy-coded data of a JPEG's first scan starts.
fn scan_start(jpeg: &[u8]) -> usize {
    let sos = jpeg_marker(jpeg, 0xDA);
    sos + 2 + usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]))
}

/// The bytes from the first scan's data to the end of the file.
pub(crate) fn scan_len(jpeg: &[u8]) -> usize {
    jpeg.len() - scan_start(jpeg)
}

/// A progressive JPEG cut after its first scan, with EOI: a sound file whose later scans,
/// the detail (and here the colour), never arrived.
pub(crate) fn only_first_scan(jpeg: &[u8]) -> Vec<u8> {
    let start = scan_start(jpeg);
    // The scan ends at the first marker that is neither stuffing (FF 00) nor a restart.
    let end = (start..jpeg.len() - 1)
        .find(|&at| jpeg[at] == 0xFF && !matches!(jpeg[at + 1], 0x00 | 0xD0..=0xD7))
        .unwrap();
    [&jpeg[..end], &[0xFF, 0xD9][..]].concat()
}

/// The JPEG cut `cut` bytes into its first scan's entropy-coded data.
pub(crate) fn cut_in_scan(jpeg: &[u8], cut: usize) -> Vec<u8> {
    jpeg[..scan_start(jpeg) + cut].to_vec()
}

/// A big-endian TIFF, the body of an EXIF APP1 segment (after `Exif\0\0`) or of a PNG
/// `eXIf` chunk: IFD0 with the orientation and, with `gps`, a description and camera make
/// carrying `SECRET` and a GPS IFD with a latitude and `SECRET` as its map datum.
pub(crate) fn exif_tiff(orientation: u16, gps: bool) -> Vec<u8> {
    const ASCII: u16 = 2;
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;
    let ascii = |text: &[u8]| [text, b"\0"].concat();
    let mut ifd0 = vec![(0x0112, SHORT, orientation.to_be_bytes().to_vec())];
    if gps {
        ifd0.insert(0, (0x010E, ASCII, ascii(SECRET)));
        ifd0.insert(1, (0x010F, ASCII, ascii(b"HostileCam")));
        // The GPS IFD's offset, patched in once IFD0 is written.
        ifd0.push((0x8825, LONG, vec![0; 4]));
    }
    let mut tiff = b"MM\0*\0\0\0\x08".to_vec();
    write_ifd(&mut tiff, &ifd0);
    if gps {
        let pointer = 8 + 2 + 12 * (ifd0.len() - 1) + 8;
        let offset = u32::try_from(tiff.len()).unwrap().to_be_bytes();
        tiff[pointer..pointer + 4].copy_from_slice(&offset);
        let latitude: Vec<u8> = [52u32, 1, 13, 1, 4707, 100]
            .iter()
            .flat_map(|n| n.to_be_bytes())
            .collect();
        let gps_ifd = [
            (0x0001, ASCII, ascii(b"N")),
            (0x0002, RATIONAL, latitude),
            (0x0012, ASCII, ascii(SECRET)),
        ];
        write_ifd(&mut tiff, &gps_ifd);
    }
    tiff
}

/// Appends an IFD (entries sorted by tag) with its out-of-line values right after it.
fn write_ifd(tiff: &mut Vec<u8>, entries: &[(u16, u16, Vec<u8>)]) {
    let unit = |kind: u16| match kind {
        2 => 1,
        3 => 2,
        4 => 4,
        _ => 8,
    };
    let values_at = tiff.len() + 2 + 12 * entries.len() + 4;
    let mut values = Vec::new();
    tiff.extend_from_slice(&u16::try_from(entries.len()).unwrap().to_be_bytes());
    for (tag, kind, value) in entries {
        tiff.extend_from_slice(&tag.to_be_bytes());
        tiff.extend_from_slice(&kind.to_be_bytes());
        let count = u32::try_from(value.len() / unit(*kind)).unwrap();
        tiff.extend_from_slice(&count.to_be_bytes());
        if value.len() <= 4 {
            // Values of up to four bytes sit in the entry, left-justified.
            let mut inline = value.clone();
            inline.resize(4, 0);
            tiff.extend_from_slice(&inline);
        } else {
            let offset = u32::try_from(values_at + values.len()).unwrap();
            tiff.extend_from_slice(&offset.to_be_bytes());
            values.extend_from_slice(value);
            values.resize(values.len().next_multiple_of(2), 0);
        }
    }
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    tiff.extend_from_slice(&values);
}

/// The payload of an EXIF APP1 segment holding [`exif_tiff`].
pub(crate) fn exif_app1(orientation: u16, gps: bool) -> Vec<u8> {
    images::exif_app1(&exif_tiff(orientation, gps))
}

/// A one-file ZIP archive (stored, not deflated) holding `SECRET`: what a GIFAR or a
/// "JPEG with a ZIP appended" carries.
pub(crate) fn zip() -> Vec<u8> {
    let name = b"secret.txt";
    let crc = crc32fast::hash(SECRET).to_le_bytes();
    let size = u32::try_from(SECRET.len()).unwrap().to_le_bytes();
    let name_len = u16::try_from(name.len()).unwrap().to_le_bytes();
    // version, flags, method (stored), time, date, crc, sizes, name length, extra length.
    let fields = |out: &mut Vec<u8>| {
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        out.extend_from_slice(&crc);
        out.extend_from_slice(&size);
        out.extend_from_slice(&size);
        out.extend_from_slice(&name_len);
        out.extend_from_slice(&[0, 0]);
    };
    let mut out = b"PK\x03\x04".to_vec();
    fields(&mut out);
    out.extend_from_slice(name);
    out.extend_from_slice(SECRET);
    let directory = out.len();
    out.extend_from_slice(b"PK\x01\x02\x14\x00");
    fields(&mut out);
    // comment length, disk, internal and external attributes, local header offset.
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(name);
    let directory_size = out.len() - directory;
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0");
    out.extend_from_slice(&u32::try_from(directory_size).unwrap().to_le_bytes());
    out.extend_from_slice(&u32::try_from(directory).unwrap().to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// An HTML page with a script carrying `SECRET`.
pub(crate) fn html() -> Vec<u8> {
    [
        b"<!DOCTYPE html><html><body><script>alert('".as_slice(),
        SECRET,
        b"')</script></body></html>\n",
    ]
    .concat()
}

/// A 1x1 GIF.
pub(crate) const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

/// A 1x1 24-bit BMP (BITMAPINFOHEADER).
pub(crate) fn bmp() -> Vec<u8> {
    let mut out = b"BM".to_vec();
    out.extend_from_slice(&58u32.to_le_bytes()); // file size
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    out.extend_from_slice(&40u32.to_le_bytes()); // header size
    for value in [1i32, 1] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&[1, 0, 24, 0]); // planes, bits per pixel
    out.extend_from_slice(&[0; 24]); // compression, sizes, resolution, colours
    out.extend_from_slice(&[0, 0, 255, 0]); // one red pixel, row padded to 4 bytes
    out
}

/// A 1x1 lossless WebP.
pub(crate) const WEBP: &[u8] = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00";

/// A 1x1 grey little-endian TIFF.
pub(crate) fn tiff() -> Vec<u8> {
    let mut out = b"II*\0\x08\0\0\0".to_vec();
    // (tag, type SHORT or LONG, value): width, height, bits, compression, photometric,
    // strip offset, rows per strip, strip byte count.
    let entries: [(u16, u16, u32); 8] = [
        (256, 3, 1),
        (257, 3, 1),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 110),
        (278, 3, 1),
        (279, 4, 1),
    ];
    out.extend_from_slice(&8u16.to_le_bytes());
    for (tag, kind, value) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&[0; 4]); // no next IFD; the pixel follows at 110
    out.push(0x80);
    out
}

/// An SVG drawing with a script.
pub(crate) const SVG: &[u8] = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><script>alert(1)</script><rect width=\"10\" height=\"10\"/></svg>\n";
