//! Format detection from magic bytes. Names and declared content types are never trusted:
//! a `.png` that is really a GIF must be reported as a GIF.

use super::ImageFormat;

/// What the first bytes of a file look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    /// A format the pipeline handles (the file may still turn out truncated or corrupt).
    Supported(ImageFormat),
    /// Anything else, with the name used in [`ImageError::UnsupportedFormat`].
    ///
    /// [`ImageError::UnsupportedFormat`]: super::ImageError::UnsupportedFormat
    Unsupported(&'static str),
}

pub(crate) const PNG_SIGNATURE: [u8; 8] = *b"\x89PNG\r\n\x1a\n";

/// How much of the start of the file the text heuristics look at.
pub(crate) const TEXT_WINDOW: usize = 1024;

pub(crate) fn sniff(data: &[u8]) -> Sniffed {
    // Four bytes of the PNG signature are already unambiguous; a shorter file than the
    // full signature is then reported as a truncated PNG rather than "unknown".
    if data.starts_with(&PNG_SIGNATURE[..4]) {
        return Sniffed::Supported(ImageFormat::Png);
    }
    // SOI followed by the first marker's 0xFF, or a file cut off right after SOI.
    if data == [0xFF, 0xD8] || data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Sniffed::Supported(ImageFormat::Jpeg);
    }
    Sniffed::Unsupported(unsupported_name(data))
}

fn unsupported_name(data: &[u8]) -> &'static str {
    if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        return "gif";
    }
    if is_bmp(data) {
        return "bmp";
    }
    if data.starts_with(b"RIFF") && data.get(8..12) == Some(b"WEBP") {
        return "webp";
    }
    // Classic TIFF and BigTIFF, both byte orders.
    if [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"]
        .iter()
        .any(|magic| data.starts_with(*magic))
    {
        return "tiff";
    }
    if is_heif(data) {
        return "heif/avif";
    }
    if data.starts_with(b"%PDF-") {
        return "pdf";
    }
    if let Some(name) = markup_name(data) {
        return name;
    }
    if looks_like_text(data) {
        return "text";
    }
    "unknown"
}

fn is_bmp(data: &[u8]) -> bool {
    // "BM" alone would match plenty of text, so also require a known DIB header size.
    data.starts_with(b"BM")
        && data
            .get(14..18)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .is_some_and(|size| matches!(size, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124))
}

fn is_heif(data: &[u8]) -> bool {
    const BRANDS: [&[u8; 4]; 12] = [
        b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1",
        b"avif", b"avis",
    ];
    if data.get(4..8) != Some(b"ftyp") {
        return false;
    }
    let box_len = data
        .get(0..4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes);
    let box_end = usize::try_from(box_len).map_or(0, |len| len.min(data.len()));
    // Major brand at 8..12, minor version at 12..16, compatible brands after that.
    let major = data.get(8..12);
    let compatible = data.get(16..box_end).unwrap_or_default();
    BRANDS.iter().any(|brand| {
        major == Some(brand.as_slice()) || compatible.chunks_exact(4).any(|c| c == brand.as_slice())
    })
}

/// SVG, XML and HTML: text that starts (after a BOM and whitespace) with a tag.
fn markup_name(data: &[u8]) -> Option<&'static str> {
    let window = data.get(..TEXT_WINDOW).unwrap_or(data);
    let window = window.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(window);
    let start = window.iter().position(|b| !b.is_ascii_whitespace())?;
    let text = window.get(start..)?;
    if text.first() != Some(&b'<') {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let starts = |prefix: &[u8]| lower.starts_with(prefix);
    let contains = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if contains(b"<svg") {
        return Some("svg/xml");
    }
    if starts(b"<!doctype html")
        || starts(b"<html")
        || starts(b"<head")
        || starts(b"<body")
        || starts(b"<script")
        || contains(b"<html")
    {
        return Some("html");
    }
    if starts(b"<?xml") || starts(b"<!doctype") || starts(b"<!--") {
        return Some("svg/xml");
    }
    None
}

/// UTF-8 without control characters other than tab, newline, carriage return and form feed.
fn looks_like_text(data: &[u8]) -> bool {
    let window = data.get(..TEXT_WINDOW).unwrap_or(data);
    let text = match std::str::from_utf8(window) {
        Ok(text) => text,
        // The window may cut a multi-byte character in half; anything else is binary.
        Err(e) if e.error_len().is_none() => window
            .get(..e.valid_up_to())
            .and_then(|valid| std::str::from_utf8(valid).ok())
            .unwrap_or_default(),
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0C'))
}

#[cfg(test)]
mod tests {
    use super::{Sniffed, sniff};
    use crate::imaging::ImageFormat;

    fn name(data: &[u8]) -> &'static str {
        match sniff(data) {
            Sniffed::Supported(ImageFormat::Png) => "png",
            Sniffed::Supported(ImageFormat::Jpeg) => "jpeg",
            Sniffed::Unsupported(name) => name,
        }
    }

    fn padded(head: &[u8]) -> Vec<u8> {
        let mut v = head.to_vec();
        v.resize(64, 0);
        v
    }

    #[test]
    fn supported_formats() {
        assert_eq!(name(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "png");
        assert_eq!(name(b"\x89PNG"), "png");
        assert_eq!(name(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16]), "jpeg");
        assert_eq!(name(&[0xFF, 0xD8]), "jpeg");
    }

    #[test]
    fn other_image_formats() {
        assert_eq!(name(&padded(b"GIF89a\x01\x00\x01\x00")), "gif");
        assert_eq!(name(&padded(b"GIF87a")), "gif");

        let mut bmp = padded(b"BM");
        bmp[14] = 40;
        assert_eq!(name(&bmp), "bmp");
        // "BM" followed by text is not a bitmap.
        assert_eq!(name(b"BMW cars are listed below, one per line\n"), "text");

        let mut webp = b"RIFF\x24\0\0\0WEBPVP8 ".to_vec();
        webp.resize(64, 0);
        assert_eq!(name(&webp), "webp");
        // A RIFF that is not WebP (e.g. WAV) is unknown.
        assert_eq!(name(&padded(b"RIFF\x24\0\0\0WAVEfmt ")), "unknown");

        assert_eq!(name(&padded(b"II*\0\x08\0\0\0")), "tiff");
        assert_eq!(name(&padded(b"MM\0*\0\0\0\x08")), "tiff");
        assert_eq!(name(&padded(b"II+\0")), "tiff");

        assert_eq!(
            name(&padded(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic")),
            "heif/avif"
        );
        assert_eq!(
            name(&padded(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf")),
            "heif/avif"
        );
        // Minor brand is not a brand: only the major and the compatible list count.
        assert_eq!(
            name(&padded(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom")),
            "unknown"
        );
        assert_eq!(
            name(&padded(b"\0\0\0\x18ftypmp42\0\0\0\0isommif1")),
            "heif/avif"
        );

        assert_eq!(name(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n"), "pdf");
    }

    #[test]
    fn markup_and_text() {
        assert_eq!(
            name(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            "svg/xml"
        );
        assert_eq!(
            name(b"\xEF\xBB\xBF  <?xml version=\"1.0\"?>\n<svg width=\"10\"></svg>"),
            "svg/xml"
        );
        assert_eq!(name(b"<?xml version=\"1.0\"?><note/>"), "svg/xml");
        assert_eq!(name(b"<!DOCTYPE html><html><body>hi</body></html>"), "html");
        assert_eq!(name(b"\n\n<HTML><HEAD></HEAD></HTML>"), "html");
        assert_eq!(name(b"<!-- comment -->\n<html></html>"), "html");
        assert_eq!(name(b"hello, this is plain text\n"), "text");
        assert_eq!(name("gr\u{fc}\u{df}e, caf\u{e9}\r\n".as_bytes()), "text");
        assert_eq!(name(b"{\"json\": true}"), "text");
    }

    #[test]
    fn binary_garbage_is_unknown() {
        assert_eq!(name(&[0u8; 32]), "unknown");
        assert_eq!(name(&[0x00, 0x01, 0x02, 0xFE, 0xFF]), "unknown");
        assert_eq!(name(&[0xFF]), "unknown");
        assert_eq!(name(&[0xFF, 0xD8, 0x00]), "unknown");
        assert_eq!(name(b"text with a \x07 bell"), "unknown");
    }

    #[test]
    fn text_cut_inside_a_multibyte_character_is_still_text() {
        // One ASCII byte first, so that byte 1024 is the middle of a two-byte character.
        let mut data = format!("a{}", "\u{e9}".repeat(600)).into_bytes();
        assert!(data.len() > super::TEXT_WINDOW);
        data.truncate(super::TEXT_WINDOW + 1);
        assert_eq!(name(&data), "text");
    }
}
