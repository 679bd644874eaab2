//! Just enough EXIF to find the Orientation tag (0x0112) in IFD0.

/// The Orientation tag of TIFF/EXIF.
const ORIENTATION_TAG: u16 = 0x0112;
const TYPE_SHORT: u16 = 3;
const TYPE_LONG: u16 = 4;

#[derive(Clone, Copy)]
enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    fn u16(self, data: &[u8], at: usize) -> Option<u16> {
        let bytes: [u8; 2] = data.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Self::Little => u16::from_le_bytes(bytes),
            Self::Big => u16::from_be_bytes(bytes),
        })
    }

    fn u32(self, data: &[u8], at: usize) -> Option<u32> {
        let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Self::Little => u32::from_le_bytes(bytes),
            Self::Big => u32::from_be_bytes(bytes),
        })
    }
}

/// The orientation (1..=8) from the payload of a JPEG APP1 segment, if it is EXIF and has
/// a valid Orientation tag.
pub(crate) fn orientation_from_app1(payload: &[u8]) -> Option<u8> {
    // "Exif\0\0" is the standard header; some writers put another byte after the NUL.
    let tiff = payload.strip_prefix(b"Exif\0")?.get(1..)?;
    orientation_from_tiff(tiff)
}

/// The orientation from the payload of a PNG eXIf chunk: a bare TIFF structure, though
/// some writers copy the JPEG "Exif\0\0" header in too.
pub(crate) fn orientation_from_exif_chunk(payload: &[u8]) -> Option<u8> {
    match payload.strip_prefix(b"Exif\0\0") {
        Some(tiff) => orientation_from_tiff(tiff),
        None => orientation_from_tiff(payload),
    }
}

/// The Orientation tag of IFD0 of a TIFF structure, if present and in 1..=8.
pub(crate) fn orientation_from_tiff(tiff: &[u8]) -> Option<u8> {
    let order = match tiff.get(..4)? {
        b"II*\0" => ByteOrder::Little,
        b"MM\0*" => ByteOrder::Big,
        _ => return None,
    };
    let ifd = usize::try_from(order.u32(tiff, 4)?).ok()?;
    let count = order.u16(tiff, ifd)?;
    // At most 65535 entries of 12 bytes, so this loop is bounded no matter the input.
    for i in 0..usize::from(count) {
        let entry = ifd.checked_add(2)?.checked_add(i.checked_mul(12)?)?;
        let Some(tag) = order.u16(tiff, entry) else {
            break;
        };
        if tag != ORIENTATION_TAG {
            continue;
        }
        let kind = order.u16(tiff, entry + 2)?;
        let value_count = order.u32(tiff, entry + 4)?;
        if value_count == 0 {
            return None;
        }
        // The value sits left-justified in the 4-byte field, in the file's byte order.
        let value = match kind {
            TYPE_SHORT => u32::from(order.u16(tiff, entry + 8)?),
            // Not what the standard says, but some writers use LONG.
            TYPE_LONG => order.u32(tiff, entry + 8)?,
            _ => return None,
        };
        return u8::try_from(value).ok().filter(|o| (1..=8).contains(o));
    }
    None
}

/// A minimal EXIF TIFF block whose IFD0 holds the given entries, for tests.
#[cfg(test)]
pub(crate) fn build_tiff(big_endian: bool, entries: &[(u16, u16, u32, [u8; 4])]) -> Vec<u8> {
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(if big_endian { b"MM\0*" } else { b"II*\0" });
    out.extend_from_slice(&u32b(8));
    out.extend_from_slice(&u16b(u16::try_from(entries.len()).unwrap_or(u16::MAX)));
    for &(tag, kind, count, value) in entries {
        out.extend_from_slice(&u16b(tag));
        out.extend_from_slice(&u16b(kind));
        out.extend_from_slice(&u32b(count));
        out.extend_from_slice(&value);
    }
    out.extend_from_slice(&u32b(0)); // no IFD1
    out
}

/// A TIFF block with some camera tags around an Orientation SHORT.
#[cfg(test)]
pub(crate) fn orientation_tiff(big_endian: bool, orientation: u16) -> Vec<u8> {
    let short = |v: u16| {
        let b = if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        [b[0], b[1], 0, 0]
    };
    build_tiff(
        big_endian,
        &[
            (0x010F, 2, 4, *b"Foo\0"), // Make
            (0x0110, 2, 4, *b"Bar\0"), // Model
            (ORIENTATION_TAG, TYPE_SHORT, 1, short(orientation)),
            (0x0128, TYPE_SHORT, 1, short(2)), // ResolutionUnit
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_eight_orientations_in_both_byte_orders() {
        for big_endian in [false, true] {
            for o in 1..=8u16 {
                let tiff = orientation_tiff(big_endian, o);
                assert_eq!(
                    orientation_from_tiff(&tiff),
                    u8::try_from(o).ok(),
                    "big_endian={big_endian} o={o}"
                );
                let mut app1 = b"Exif\0\0".to_vec();
                app1.extend_from_slice(&tiff);
                assert_eq!(orientation_from_app1(&app1), u8::try_from(o).ok());
                assert_eq!(orientation_from_exif_chunk(&tiff), u8::try_from(o).ok());
                assert_eq!(orientation_from_exif_chunk(&app1), u8::try_from(o).ok());
            }
        }
    }

    #[test]
    fn invalid_values_are_ignored() {
        for big_endian in [false, true] {
            for o in [0u16, 9, 255, 256, 0xFFFF] {
                assert_eq!(
                    orientation_from_tiff(&orientation_tiff(big_endian, o)),
                    None
                );
            }
        }
    }

    #[test]
    fn long_type_is_tolerated_and_other_types_are_not() {
        let tiff = build_tiff(true, &[(ORIENTATION_TAG, TYPE_LONG, 1, 6u32.to_be_bytes())]);
        assert_eq!(orientation_from_tiff(&tiff), Some(6));
        let tiff = build_tiff(false, &[(ORIENTATION_TAG, 2, 1, [b'6', 0, 0, 0])]);
        assert_eq!(orientation_from_tiff(&tiff), None);
        let tiff = build_tiff(false, &[(ORIENTATION_TAG, TYPE_SHORT, 0, [6, 0, 0, 0])]);
        assert_eq!(orientation_from_tiff(&tiff), None);
    }

    #[test]
    fn missing_tag_and_malformed_structures() {
        assert_eq!(orientation_from_tiff(&build_tiff(false, &[])), None);
        assert_eq!(
            orientation_from_tiff(&build_tiff(false, &[(0x010F, 2, 4, *b"Foo\0")])),
            None
        );
        assert_eq!(orientation_from_tiff(b""), None);
        assert_eq!(orientation_from_tiff(b"XX*\0\x08\0\0\0"), None);
        // IFD offset past the end.
        assert_eq!(orientation_from_tiff(b"II*\0\xFF\xFF\xFF\xFF"), None);
        // Entry count claims more entries than there are bytes.
        let mut tiff = orientation_tiff(false, 6);
        tiff[8] = 0xFF;
        tiff[9] = 0xFF;
        assert_eq!(orientation_from_tiff(&tiff), Some(6));
        // Every truncation of a valid block is handled.
        let tiff = orientation_tiff(true, 6);
        for len in 0..tiff.len() {
            let _ = orientation_from_tiff(&tiff[..len]);
        }
        assert_eq!(orientation_from_app1(b"Exif"), None);
        assert_eq!(
            orientation_from_app1(b"http://ns.adobe.com/xap/1.0/\0"),
            None
        );
    }
}
