//! A per-process cache of repository reads that stays correct across processes, so that
//! the hottest reads (an expiring link's resolution, a token's account) cost no query.
//!
//! An entry is kept under a [`Stamp`]: the repository's [`ChangeFeed`] epoch and this
//! vault's own change counter, both read *before* the query that produced it. Any change
//! that can alter what was read moves one of them after it commits (the feed for every
//! process's changes, the local counter at once for this vault's own), so an entry read
//! under an older stamp is never used again: a row deleted or changed elsewhere stops
//! being served from here as soon as the change is reported, and at once when changed
//! through this vault. Only answers that found something are kept: a miss is never cached,
//! so inserts need no reporting.
//!
//! Without a feed, or while it is disconnected, nothing is cached.
//!
//! Every entry also has a maximum age, counted from the stamp it was read under: a
//! defence in depth that bounds how long a change the feed failed to report (a bug, a
//! notification lost in a way the feed could not see) can go unseen.
//!
//! A cache whose entries also expire by a time of their own may cache without a feed too,
//! under this vault's own changes only (see `stamp_or_local`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::changes::ChangeFeed;

/// The state of the data an entry was read in, and when it was read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamp {
    feed: u64,
    local: u64,
    /// Taken before the read, so an entry's age never understates how old its data is.
    taken: Instant,
}

impl Stamp {
    /// Whether data read under `self` may still be used under `now`: the same state, and
    /// read at most `max_age` before it.
    fn still_valid(&self, now: &Stamp, max_age: Duration) -> bool {
        self.feed == now.feed
            && self.local == now.local
            && now.taken.saturating_duration_since(self.taken) < max_age
    }
}

#[derive(Debug)]
pub(super) struct ReadCache<K, V> {
    /// Which cache this is in the metrics: one of the `metrics::CACHE_*` names.
    name: &'static str,
    /// The most weight the entries may have together: one per entry, or bytes, as the
    /// caller weighs them.
    capacity: usize,
    /// How long after its read an entry may still be used.
    max_age: Duration,
    /// The repository's feed, asked for on first use (a backend may spawn a listener, which
    /// needs the runtime that `Vault::build` may not run in).
    feed: OnceLock<Option<ChangeFeed>>,
    /// Moved after every change this vault makes that can alter a cached answer.
    local: AtomicU64,
    entries: Mutex<Entries<K, V>>,
}

#[derive(Debug)]
struct Entries<K, V> {
    map: HashMap<K, (Stamp, V, usize)>,
    /// The sum of the entries' weights.
    weight: usize,
}

impl<K: Hash + Eq, V: Clone> ReadCache<K, V> {
    /// A cache of at most `capacity` entries (or weight, see
    /// [`insert_weighed`](Self::insert_weighed)), each used for at most `max_age` after it
    /// was read; a capacity or maximum age of 0 turns caching off.
    pub(super) fn new(name: &'static str, capacity: usize, max_age: Duration) -> Self {
        Self {
            name,
            capacity,
            max_age,
            feed: OnceLock::new(),
            local: AtomicU64::new(0),
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                weight: 0,
            }),
        }
    }

    /// The stamp to read under, or `None` when nothing may be cached now. `feed` is asked
    /// once, on first use, for the repository's [`ChangeFeed`].
    pub(super) fn stamp(&self, feed: impl FnOnce() -> Option<ChangeFeed>) -> Option<Stamp> {
        if self.capacity == 0 || self.max_age.is_zero() {
            return None;
        }
        let feed = self.feed.get_or_init(feed).as_ref()?;
        let local = self.local.load(Ordering::Acquire);
        Some(Stamp {
            feed: feed.epoch()?,
            local,
            taken: Instant::now(),
        })
    }

    /// Like [`stamp`](Self::stamp), but a repository without a feed still gets a stamp, of
    /// this vault's own changes only: for caches whose entries also expire by a short age,
    /// so that a change made by another process is seen within that age. A feed that is
    /// disconnected still means `None`.
    pub(super) fn stamp_or_local(
        &self,
        feed: impl FnOnce() -> Option<ChangeFeed>,
    ) -> Option<Stamp> {
        if self.capacity == 0 || self.max_age.is_zero() {
            return None;
        }
        let local = self.local.load(Ordering::Acquire);
        let feed = match self.feed.get_or_init(feed) {
            Some(feed) => feed.epoch()?,
            None => 0,
        };
        Some(Stamp {
            feed,
            local,
            taken: Instant::now(),
        })
    }

    /// The entry for `key`, if there is one read under the state of `stamp` and not
    /// longer than the maximum age before it.
    pub(super) fn get(&self, key: &K, stamp: Stamp) -> Option<V> {
        let found = {
            let entries = self.entries();
            entries
                .map
                .get(key)
                .filter(|(stored, _, _)| stored.still_valid(&stamp, self.max_age))
                .map(|(_, value, _)| value.clone())
        };
        crate::metrics::record_cache_lookup(self.name, found.is_some());
        found
    }

    /// Keeps `value`, read under `stamp`, as an entry of weight 1.
    pub(super) fn insert(&self, key: K, stamp: Stamp, value: V) {
        self.insert_weighed(key, stamp, value, 1);
    }

    /// Keeps `value`, read under `stamp`, as an entry of `weight`; a value heavier than the
    /// whole capacity is not kept. A cache that would overflow is emptied first: simple,
    /// constant time per insert on average, and a refill costs one read per key.
    pub(super) fn insert_weighed(&self, key: K, stamp: Stamp, value: V, weight: usize) {
        if weight > self.capacity {
            return;
        }
        let mut entries = self.entries();
        if let Some((_, _, replaced)) = entries.map.remove(&key) {
            entries.weight -= replaced;
        }
        if entries.weight + weight > self.capacity {
            entries.map.clear();
            entries.weight = 0;
        }
        entries.map.insert(key, (stamp, value, weight));
        entries.weight += weight;
    }

    /// Makes every entry stale; called after this vault changes anything that can alter a
    /// cached answer, once the change is committed.
    pub(super) fn invalidate(&self) {
        self.local.fetch_add(1, Ordering::AcqRel);
    }

    fn entries(&self) -> MutexGuard<'_, Entries<K, V>> {
        // No critical section can panic between changing the map and its weight, so a
        // poisoned lock is safe to keep using.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: Duration = Duration::from_secs(60);

    #[test]
    fn entries_live_only_under_the_stamp_they_were_read_in() {
        let (notifier, feed) = ChangeFeed::connected();
        let feed = || Some(feed.clone());
        let cache = ReadCache::new("test", 10, AGE);
        let stamp = cache.stamp(feed).unwrap();
        cache.insert("key", stamp, 1);
        assert_eq!(cache.get(&"key", stamp), Some(1));
        let again = cache.stamp(feed).unwrap();
        assert_eq!(cache.get(&"key", again), Some(1));

        cache.invalidate();
        let after_local_change = cache.stamp(feed).unwrap();
        assert_eq!(cache.get(&"key", after_local_change), None);

        cache.insert("key", after_local_change, 2);
        notifier.changed();
        let after_remote_change = cache.stamp(feed).unwrap();
        assert_eq!(cache.get(&"key", after_remote_change), None);

        notifier.disconnected();
        assert!(cache.stamp(feed).is_none(), "no caching while disconnected");
        notifier.connected();
        let reconnected = cache.stamp(feed).unwrap();
        assert_eq!(cache.get(&"key", reconnected), None);
    }

    #[test]
    fn nothing_is_cached_without_a_feed_capacity_or_age() {
        assert!(
            ReadCache::<u8, u8>::new("test", 10, AGE)
                .stamp(|| None)
                .is_none()
        );
        let (_notifier, feed) = ChangeFeed::connected();
        assert!(
            ReadCache::<u8, u8>::new("test", 0, AGE)
                .stamp(|| Some(feed.clone()))
                .is_none()
        );
        assert!(
            ReadCache::<u8, u8>::new("test", 10, Duration::ZERO)
                .stamp(|| Some(feed))
                .is_none()
        );
    }

    #[test]
    fn entries_older_than_the_maximum_age_are_not_used() {
        let (_notifier, feed) = ChangeFeed::connected();
        let cache = ReadCache::new("test", 10, AGE);
        let read = cache.stamp(|| Some(feed)).unwrap();
        cache.insert("key", read, 1);
        let almost = Stamp {
            taken: read.taken + (AGE - Duration::from_millis(1)),
            ..read
        };
        let too_late = Stamp {
            taken: read.taken + AGE,
            ..read
        };
        assert_eq!(cache.get(&"key", almost), Some(1));
        assert_eq!(
            cache.get(&"key", too_late),
            None,
            "the feed saw no change, but the entry is too old"
        );
    }

    #[test]
    fn the_feed_is_asked_for_once() {
        let cache = ReadCache::<u8, u8>::new("test", 10, AGE);
        let (_notifier, feed) = ChangeFeed::connected();
        assert!(cache.stamp(|| Some(feed)).is_some());
        assert!(cache.stamp(|| panic!("asked twice")).is_some());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let (_notifier, feed) = ChangeFeed::connected();
        let cache = ReadCache::new("test", 2, AGE);
        let stamp = cache.stamp(|| Some(feed)).unwrap();
        for key in 0..3 {
            cache.insert(key, stamp, key * 10);
        }
        assert_eq!(cache.get(&0, stamp), None);
        assert_eq!(cache.get(&2, stamp), Some(20));
        assert!(cache.entries().map.len() <= 2);
    }

    #[test]
    fn weights_bound_the_cache() {
        let (_notifier, feed) = ChangeFeed::connected();
        let cache = ReadCache::new("test", 100, AGE);
        let stamp = cache.stamp(|| Some(feed)).unwrap();
        cache.insert_weighed("too heavy", stamp, 0, 101);
        assert_eq!(cache.get(&"too heavy", stamp), None);
        cache.insert_weighed("a", stamp, 1, 60);
        cache.insert_weighed("a", stamp, 2, 40);
        cache.insert_weighed("b", stamp, 3, 60);
        assert_eq!(
            cache.get(&"a", stamp),
            Some(2),
            "a replaced entry frees its weight"
        );
        assert_eq!(cache.entries().weight, 100);
        cache.insert_weighed("c", stamp, 4, 1);
        assert_eq!(
            cache.get(&"a", stamp),
            None,
            "an overflowing cache starts over"
        );
        assert_eq!(cache.get(&"c", stamp), Some(4));
        assert_eq!(cache.entries().weight, 1);
    }
}
