//! Page cursors come back from clients: decoding any text gives a cursor or a validation
//! error, and a decoded cursor encodes back to the same cursor.
#![no_main]

use imagevault_core::page::{Cursor, ListKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [
        ListKind::Images,
        ListKind::Links,
        ListKind::Users,
        ListKind::Plans,
    ] {
        if let Ok(cursor) = Cursor::decode(text, kind) {
            assert_eq!(cursor.kind, kind);
            assert_eq!(Cursor::decode(&cursor.encode(), kind).ok(), Some(cursor));
        }
    }
});
