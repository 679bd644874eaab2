//! Keyset pagination: opaque cursors, page sizes, and the query a repository answers.
//!
//! Lists are ordered newest first by `(created_at, id)`. A cursor names a position in that
//! order and a direction, so a page costs one indexed range scan however long the list is,
//! and inserts between requests never shift or repeat items.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike as _, Utc};
use sha2::{Digest, Sha256};

use crate::validation::ValidationError;

/// A position in a newest-first list: the `(created_at, id)` of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Keyset {
    /// The item's creation time.
    pub created_at: DateTime<Utc>,
    /// The item's id, breaking ties between equal times.
    pub id: uuid::Uuid,
}

/// An item of a newest-first list: it knows its own position.
pub trait Positioned {
    /// The item's `(created_at, id)`.
    fn position(&self) -> Keyset;
}

/// Implements [`Positioned`] for entities with `created_at` and a UUID `id`; each entity's
/// module invokes it, so that this module stays below them.
macro_rules! positioned {
    ($($entity:ty),* $(,)?) => {$(
        impl $crate::page::Positioned for $entity {
            fn position(&self) -> $crate::page::Keyset {
                $crate::page::Keyset {
                    created_at: self.created_at,
                    id: self.id.as_uuid(),
                }
            }
        }
    )*};
}

pub(crate) use positioned;

/// Which way a page goes from its anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Items strictly older than the anchor (the `next` page).
    Older,
    /// Items strictly newer than the anchor (the `previous` page).
    Newer,
}

/// The list a cursor belongs to; a cursor from one list is rejected by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListKind {
    /// A user's images.
    Images,
    /// A user's expiring links.
    Links,
    /// Users (admin).
    Users,
    /// Plans (admin).
    Plans,
    /// Every user's images (admin).
    AllImages,
}

impl ListKind {
    fn tag(self) -> u8 {
        match self {
            Self::Images => 1,
            Self::Links => 2,
            Self::Users => 3,
            Self::Plans => 4,
            Self::AllImages => 5,
        }
    }
}

/// An opaque page cursor, as found in `next` and `previous` URLs.
///
/// The encoding carries a checksum, so a tampered or truncated cursor is an error, not a
/// random position; it is integrity, not secrecy (the position is the caller's own data).
///
/// ```
/// use imagevault_core::page::{Cursor, Direction, Keyset, ListKind};
/// let cursor = Cursor {
///     kind: ListKind::Images,
///     direction: Direction::Older,
///     position: Keyset { created_at: "2026-11-23T20:00:00.123456Z".parse().unwrap(), id: uuid::Uuid::now_v7() },
/// };
/// let text = cursor.encode();
/// assert_eq!(Cursor::decode(&text, ListKind::Images).unwrap().position, cursor.position);
/// assert!(Cursor::decode(&text, ListKind::Links).is_err());
/// assert!(Cursor::decode("garbage", ListKind::Images).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The list it belongs to.
    pub kind: ListKind,
    /// Which way the page goes.
    pub direction: Direction,
    /// The anchor item.
    pub position: Keyset,
}

const CURSOR_VERSION: u8 = 1;
const CURSOR_BODY_LEN: usize = 1 + 1 + 1 + 8 + 16;
const CURSOR_CHECK_LEN: usize = 4;
/// The years a cursor's time may fall in: what every repository can store and compare
/// (PostgreSQL rejects times before 4713 BC as a query error), and far wider than any
/// item's creation time. The checksum is not a signature, so a forged cursor may carry any
/// time; outside these years it is as invalid as a tampered one.
const CURSOR_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

impl Cursor {
    /// The cursor as URL-safe text.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(CURSOR_BODY_LEN + CURSOR_CHECK_LEN);
        bytes.push(CURSOR_VERSION);
        bytes.push(self.kind.tag());
        bytes.push(match self.direction {
            Direction::Older => b'o',
            Direction::Newer => b'n',
        });
        bytes.extend_from_slice(&self.position.created_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(self.position.id.as_bytes());
        let check = checksum(&bytes);
        bytes.extend_from_slice(&check);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Parses a cursor of list `kind`; anything malformed, tampered or from another list is
    /// a validation error on the `cursor` field.
    pub fn decode(text: &str, kind: ListKind) -> Result<Self, ValidationError> {
        let invalid = || {
            ValidationError::new(
                "cursor",
                "Invalid cursor; use the next or previous link of a page.",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        if bytes.len() != CURSOR_BODY_LEN + CURSOR_CHECK_LEN {
            return Err(invalid());
        }
        let (body, check) = bytes.split_at(CURSOR_BODY_LEN);
        if checksum(body) != check || body[0] != CURSOR_VERSION || body[1] != kind.tag() {
            return Err(invalid());
        }
        let direction = match body[2] {
            b'o' => Direction::Older,
            b'n' => Direction::Newer,
            _ => return Err(invalid()),
        };
        let micros = i64::from_be_bytes(body[3..11].try_into().map_err(|_| invalid())?);
        let created_at = DateTime::from_timestamp_micros(micros)
            .filter(|time| CURSOR_YEARS.contains(&time.year()))
            .ok_or_else(invalid)?;
        let id = uuid::Uuid::from_slice(&body[11..27]).map_err(|_| invalid())?;
        Ok(Self {
            kind,
            direction,
            position: Keyset { created_at, id },
        })
    }
}

fn checksum(body: &[u8]) -> [u8; CURSOR_CHECK_LEN] {
    let digest = Sha256::new_with_prefix(b"imagevault cursor\0")
        .chain_update(body)
        .finalize();
    let mut check = [0u8; CURSOR_CHECK_LEN];
    check.copy_from_slice(&digest[..CURSOR_CHECK_LEN]);
    check
}

/// The number of items per page: `1..=100`, 20 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageLimit(u32);

impl PageLimit {
    /// The default page size.
    pub const DEFAULT: Self = Self(20);
    /// The smallest page size.
    pub const MIN: u32 = 1;
    /// The largest page size.
    pub const MAX: u32 = 100;

    /// Checks the range.
    pub fn new(limit: i64) -> Result<Self, ValidationError> {
        match u32::try_from(limit) {
            Ok(limit) if (Self::MIN..=Self::MAX).contains(&limit) => Ok(Self(limit)),
            _ => Err(ValidationError::new(
                "limit",
                format!(
                    "Ensure this value is between {} and {}.",
                    Self::MIN,
                    Self::MAX
                ),
            )),
        }
    }

    /// The page size.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A request for one page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page.
    pub limit: PageLimit,
    /// Where to start; `None` for the first (newest) page.
    pub cursor: Option<Cursor>,
}

/// One page of a list, with the cursors of its neighbours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// The page of older items, if any.
    pub next: Option<Cursor>,
    /// The page of newer items; always `None` on the first page.
    pub previous: Option<Cursor>,
}

impl<T> Page<T> {
    /// The page with every item converted by `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
            previous: self.previous,
        }
    }
}

/// What a repository is asked for one page: at most `limit` items, newest first, starting
/// next to `anchor` in its direction (the items nearest the anchor), or from the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysetQuery {
    /// Exclusive start position and direction; `None` starts at the newest item.
    pub anchor: Option<(Keyset, Direction)>,
    /// The most items to return.
    pub limit: usize,
}

impl KeysetQuery {
    /// The newest `limit` items.
    pub const fn first(limit: usize) -> Self {
        Self {
            anchor: None,
            limit,
        }
    }

    /// Whether `position` lies on the requested side of the anchor.
    pub fn admits(&self, position: &Keyset) -> bool {
        match &self.anchor {
            None => true,
            Some((anchor, Direction::Older)) => position < anchor,
            Some((anchor, Direction::Newer)) => position > anchor,
        }
    }

    /// Applies the query to items already sorted newest first: what an in-memory repository
    /// returns, and the reference behaviour for the others.
    pub fn select<T: Clone>(&self, newest_first: &[T], position: impl Fn(&T) -> Keyset) -> Vec<T> {
        let admitted = newest_first
            .iter()
            .filter(|item| self.admits(&position(item)));
        match self.anchor {
            Some((_, Direction::Newer)) => {
                let mut nearest: Vec<T> = admitted
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .take(self.limit)
                    .cloned()
                    .collect();
                nearest.reverse();
                nearest
            }
            _ => admitted.take(self.limit).cloned().collect(),
        }
    }
}

/// Runs one page of a list: asks `fetch` for one item more than the page holds, to learn
/// whether a further page exists without counting.
pub(crate) async fn paginate<T, F, Fut, E>(
    request: PageRequest,
    kind: ListKind,
    fetch: F,
) -> Result<Page<T>, E>
where
    T: Positioned,
    F: FnOnce(KeysetQuery) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, E>>,
{
    let limit = request.limit.get() as usize;
    let anchor = request
        .cursor
        .map(|cursor| (cursor.position, cursor.direction));
    let mut items = fetch(KeysetQuery {
        anchor,
        limit: limit + 1,
    })
    .await?;
    let has_more = items.len() > limit;
    let cursor = |direction, item: Option<&T>| {
        item.map(|item| Cursor {
            kind,
            direction,
            position: item.position(),
        })
    };
    let (next, previous) = match anchor {
        None => {
            items.truncate(limit);
            (
                if has_more {
                    cursor(Direction::Older, items.last())
                } else {
                    None
                },
                None,
            )
        }
        Some((anchor_position, Direction::Older)) => {
            items.truncate(limit);
            let next = if has_more {
                cursor(Direction::Older, items.last())
            } else {
                None
            };
            // Coming from a newer page, there is always a way back, even past an empty page.
            let previous = cursor(Direction::Newer, items.first()).or(Some(Cursor {
                kind,
                direction: Direction::Newer,
                position: anchor_position,
            }));
            (next, previous)
        }
        Some((anchor_position, Direction::Newer)) => {
            if has_more {
                // The extra item is the newest one, beyond this page.
                items.remove(0);
            }
            let previous = if has_more {
                cursor(Direction::Newer, items.first())
            } else {
                None
            };
            let next = cursor(Direction::Older, items.last()).or(Some(Cursor {
                kind,
                direction: Direction::Older,
                position: anchor_position,
            }));
            (next, previous)
        }
    };
    Ok(Page {
        items,
        next,
        previous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor {
            kind: ListKind::Links,
            direction: Direction::Newer,
            position: Keyset {
                created_at: "2026-11-23T20:00:00.654321Z".parse().unwrap(),
                id: uuid::Uuid::now_v7(),
            },
        }
    }

    #[test]
    fn cursors_round_trip() {
        let original = cursor();
        assert_eq!(
            Cursor::decode(&original.encode(), ListKind::Links).unwrap(),
            original
        );
    }

    #[test]
    fn cursors_with_times_no_repository_stores_are_rejected() {
        for (time, accepted) in [
            ("-5000-01-01T00:00:00Z", false),
            ("0000-12-31T23:59:59.999999Z", false),
            ("0001-01-01T00:00:00Z", true),
            ("9999-12-31T23:59:59.999999Z", true),
            ("+10000-01-01T00:00:00Z", false),
        ] {
            let mut forged = cursor();
            forged.position.created_at = time.parse().unwrap();
            let decoded = Cursor::decode(&forged.encode(), ListKind::Links);
            assert_eq!(decoded.is_ok(), accepted, "{time}");
        }
        let mut forged = cursor();
        forged.position.created_at = DateTime::<Utc>::MIN_UTC;
        assert!(Cursor::decode(&forged.encode(), ListKind::Links).is_err());
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        let text = cursor().encode();
        let bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        for index in 0..bytes.len() {
            for flip in [1u8, 0x80] {
                let mut tampered = bytes.clone();
                tampered[index] ^= flip;
                let text = URL_SAFE_NO_PAD.encode(&tampered);
                assert!(
                    Cursor::decode(&text, ListKind::Links).is_err(),
                    "byte {index} flip {flip}"
                );
            }
        }
        for cut in 0..text.len() {
            assert!(Cursor::decode(&text[..cut], ListKind::Links).is_err());
        }
        assert!(Cursor::decode("!!!", ListKind::Links).is_err());
        assert!(Cursor::decode(&format!("{text}AA"), ListKind::Links).is_err());
    }

    #[test]
    fn page_limits() {
        assert_eq!(PageLimit::default().get(), 20);
        assert!(PageLimit::new(0).is_err());
        assert!(PageLimit::new(101).is_err());
        assert_eq!(PageLimit::new(100).unwrap().get(), 100);
        assert_eq!(PageLimit::new(-5).unwrap_err().field, "limit");
    }

    impl Positioned for Keyset {
        fn position(&self) -> Keyset {
            *self
        }
    }

    fn keyset(second: i64) -> Keyset {
        Keyset {
            created_at: DateTime::from_timestamp(second, 0).unwrap(),
            id: uuid::Uuid::from_u128(second as u128),
        }
    }

    #[tokio::test]
    async fn paging_back_and_forth_visits_every_item_once() {
        let newest_first: Vec<Keyset> = (1..=7).rev().map(keyset).collect();
        let fetch = |query: KeysetQuery| {
            let items = query.select(&newest_first, |k| *k);
            async move { Ok::<_, ()>(items) }
        };
        let limit = PageLimit::new(3).unwrap();
        let first = paginate(
            PageRequest {
                limit,
                cursor: None,
            },
            ListKind::Images,
            fetch,
        )
        .await
        .unwrap();
        assert_eq!(first.items, [keyset(7), keyset(6), keyset(5)]);
        assert!(first.previous.is_none());
        let second = paginate(
            PageRequest {
                limit,
                cursor: first.next,
            },
            ListKind::Images,
            fetch,
        )
        .await
        .unwrap();
        assert_eq!(second.items, [keyset(4), keyset(3), keyset(2)]);
        let third = paginate(
            PageRequest {
                limit,
                cursor: second.next,
            },
            ListKind::Images,
            fetch,
        )
        .await
        .unwrap();
        assert_eq!(third.items, [keyset(1)]);
        assert!(third.next.is_none());
        let back = paginate(
            PageRequest {
                limit,
                cursor: third.previous,
            },
            ListKind::Images,
            fetch,
        )
        .await
        .unwrap();
        assert_eq!(back.items, second.items);
        let front = paginate(
            PageRequest {
                limit,
                cursor: back.previous,
            },
            ListKind::Images,
            fetch,
        )
        .await
        .unwrap();
        assert_eq!(front.items, first.items);
        assert!(
            front.previous.is_none(),
            "the newest page has no previous page"
        );
    }
}
