//! A per-process cache of expiring-link resolutions, so that a link `GET` costs no query.
//!
//! An entry is kept under a [`Stamp`]: the repository's [`ChangeFeed`] epoch and this
//! vault's own change counter, both read *before* the query that produced it. Any change
//! that can alter a resolution moves one of them after it commits (the feed for every
//! process's changes, the local counter at once for this vault's own), so an entry read
//! under an older stamp is never used again: a deleted link stops working here as soon as
//! the change is reported, and at once for deletions made through this vault. Expiry needs
//! no invalidation: each entry keeps the link's `expires_at`, checked on every use.
//!
//! Without a feed ([`LinkRepo::link_changes`](crate::repo::LinkRepo::link_changes) is
//! `None`), or while it is disconnected, nothing is cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::changes::ChangeFeed;
use crate::imaging::ImageFormat;
use crate::link::{ExpiringLink, LinkKey};
use crate::repo::LinkTarget;
use crate::storage::StorageKey;

/// What a link resolves to, reduced to what serving it needs.
#[derive(Debug, Clone)]
pub(super) struct ResolvedLink {
    pub(super) link: ExpiringLink,
    pub(super) storage_key: StorageKey,
    pub(super) image_format: ImageFormat,
    /// Whether the owner's plan (when resolved) had expiring links.
    pub(super) allowed: bool,
}

impl From<LinkTarget> for ResolvedLink {
    fn from(target: LinkTarget) -> Self {
        Self {
            allowed: target.owner_plan.is_some_and(|plan| plan.expiring_links),
            link: target.link,
            storage_key: target.image.storage_key,
            image_format: target.image.format,
        }
    }
}

/// The state of the data an entry was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    feed: u64,
    local: u64,
}

#[derive(Debug)]
pub(super) struct LinkCache {
    capacity: usize,
    /// The repository's feed, asked for on first use (a backend may spawn a listener, which
    /// needs the runtime that `Vault::build` may not run in).
    feed: OnceLock<Option<ChangeFeed>>,
    /// Moved after every change this vault makes that can alter a resolution.
    local: AtomicU64,
    entries: Mutex<HashMap<LinkKey, (Stamp, ResolvedLink)>>,
}

impl LinkCache {
    /// A cache of at most `capacity` entries; 0 turns caching off.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            feed: OnceLock::new(),
            local: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The stamp to read under, or `None` when nothing may be cached now. `feed` is asked
    /// once, on first use, for the repository's [`ChangeFeed`].
    pub(super) fn stamp(&self, feed: impl FnOnce() -> Option<ChangeFeed>) -> Option<Stamp> {
        if self.capacity == 0 {
            return None;
        }
        let feed = self.feed.get_or_init(feed).as_ref()?;
        let local = self.local.load(Ordering::Acquire);
        Some(Stamp {
            feed: feed.epoch()?,
            local,
        })
    }

    /// The entry for `key` read under `stamp`, if there is one.
    pub(super) fn get(&self, key: &LinkKey, stamp: Stamp) -> Option<ResolvedLink> {
        let entries = self.entries();
        let (stored, resolved) = entries.get(key)?;
        (*stored == stamp).then(|| resolved.clone())
    }

    /// Keeps `resolved`, read under `stamp`. A full cache is emptied first: simple,
    /// constant time per insert on average, and a refill costs one query per link.
    pub(super) fn insert(&self, key: LinkKey, stamp: Stamp, resolved: ResolvedLink) {
        let mut entries = self.entries();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (stamp, resolved));
    }

    /// Makes every entry stale; called after this vault changes anything that can alter a
    /// resolution, once the change is committed.
    pub(super) fn invalidate(&self) {
        self.local.fetch_add(1, Ordering::AcqRel);
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<LinkKey, (Stamp, ResolvedLink)>> {
        // Every critical section is a single map operation, which cannot leave the map
        // half-changed, so a poisoned lock is safe to keep using.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(key: LinkKey) -> ResolvedLink {
        let image = crate::image::ImageId::new();
        let mut link = ExpiringLink::new(
            crate::user::UserId::new(),
            image,
            ImageFormat::Jpeg,
            crate::link::ExpirySeconds::new(300).unwrap(),
            chrono::Utc::now(),
        );
        link.key = key;
        ResolvedLink {
            storage_key: StorageKey::parse(&format!("imageupload/{}/{}.jpg", key.dir, key.file))
                .unwrap(),
            link,
            image_format: ImageFormat::Jpeg,
            allowed: true,
        }
    }

    #[test]
    fn entries_live_only_under_the_stamp_they_were_read_in() {
        let (notifier, feed) = ChangeFeed::connected();
        let feed = || Some(feed.clone());
        let cache = LinkCache::new(10);
        let key = LinkKey::generate();
        let stamp = cache.stamp(feed).unwrap();
        cache.insert(key, stamp, resolved(key));
        assert!(cache.get(&key, stamp).is_some());
        assert_eq!(cache.stamp(feed), Some(stamp));

        cache.invalidate();
        let after_local_change = cache.stamp(feed).unwrap();
        assert_ne!(after_local_change, stamp);
        assert!(cache.get(&key, after_local_change).is_none());

        cache.insert(key, after_local_change, resolved(key));
        notifier.changed();
        let after_remote_change = cache.stamp(feed).unwrap();
        assert!(cache.get(&key, after_remote_change).is_none());

        notifier.disconnected();
        assert_eq!(cache.stamp(feed), None, "no caching while disconnected");
        notifier.connected();
        let reconnected = cache.stamp(feed).unwrap();
        assert!(cache.get(&key, reconnected).is_none());
    }

    #[test]
    fn nothing_is_cached_without_a_feed_or_capacity() {
        assert!(LinkCache::new(10).stamp(|| None).is_none());
        let (_notifier, feed) = ChangeFeed::connected();
        assert!(LinkCache::new(0).stamp(|| Some(feed)).is_none());
    }

    #[test]
    fn the_feed_is_asked_for_once() {
        let cache = LinkCache::new(10);
        let (_notifier, feed) = ChangeFeed::connected();
        assert!(cache.stamp(|| Some(feed)).is_some());
        assert!(cache.stamp(|| panic!("asked twice")).is_some());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let (_notifier, feed) = ChangeFeed::connected();
        let cache = LinkCache::new(2);
        let stamp = cache.stamp(|| Some(feed)).unwrap();
        let keys: Vec<LinkKey> = (0..3).map(|_| LinkKey::generate()).collect();
        for key in &keys {
            cache.insert(*key, stamp, resolved(*key));
        }
        assert!(cache.get(&keys[0], stamp).is_none());
        assert!(cache.get(&keys[2], stamp).is_some());
        assert!(cache.entries().len() <= 2);
    }
}
