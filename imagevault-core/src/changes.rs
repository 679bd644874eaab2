//! [`ChangeFeed`]: how a repository tells its readers that rows they may have cached changed.
//!
//! A feed is a counter (the *epoch*) that moves on every reported change, plus whether the
//! feed is connected at all. A reader notes the epoch before it reads a row and keeps its
//! copy only while the epoch is unchanged. While the feed is disconnected (a lost
//! `LISTEN` connection, say) changes may be missed, so nothing may be cached; reconnecting
//! counts as a change, since changes made meanwhile were not reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The reading side of a change feed: which epoch the data is in, if the feed is connected.
///
/// ```
/// use imagevault_core::repo::ChangeFeed;
/// let (notifier, feed) = ChangeFeed::connected();
/// let before = feed.epoch().expect("connected");
/// notifier.changed();
/// assert_ne!(feed.epoch(), Some(before));
/// notifier.disconnected();
/// assert_eq!(feed.epoch(), None);
/// ```
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    state: Arc<AtomicU64>,
}

/// The writing side of a [`ChangeFeed`], held by whatever observes the changes.
#[derive(Debug)]
pub struct ChangeNotifier {
    state: Arc<AtomicU64>,
}

// The state is one monotonic counter: odd while connected, even while not. Every change
// and every reconnection moves it forward, so an epoch value is never seen twice and a
// reader cannot mistake a later state for the one it cached under.
const CONNECTED: u64 = 1;

impl ChangeFeed {
    /// A feed that starts disconnected, for a notifier that must first connect to its
    /// source (and then calls [`ChangeNotifier::connected`]).
    pub fn disconnected() -> (ChangeNotifier, ChangeFeed) {
        Self::starting_at(0)
    }

    /// A feed that is connected from the start, for changes observed in process.
    pub fn connected() -> (ChangeNotifier, ChangeFeed) {
        Self::starting_at(CONNECTED)
    }

    fn starting_at(value: u64) -> (ChangeNotifier, ChangeFeed) {
        let state = Arc::new(AtomicU64::new(value));
        (
            ChangeNotifier {
                state: Arc::clone(&state),
            },
            ChangeFeed { state },
        )
    }

    /// The current epoch, or `None` while the feed is disconnected and changes may go
    /// unreported.
    pub fn epoch(&self) -> Option<u64> {
        let value = self.state.load(Ordering::Acquire);
        (value & CONNECTED == CONNECTED).then_some(value)
    }
}

impl ChangeNotifier {
    /// Reports a change: every epoch read before it is now stale.
    pub fn changed(&self) {
        self.advance(|value| (value & CONNECTED == CONNECTED).then_some(value + 2));
    }

    /// Reports that changes may go unreported from now on (the source was lost).
    pub fn disconnected(&self) {
        self.advance(|value| (value & CONNECTED == CONNECTED).then_some(value + 1));
    }

    /// Reports that the source is back: a new epoch, since changes made while disconnected
    /// were not reported.
    pub fn connected(&self) {
        self.advance(|value| (value & CONNECTED == 0).then_some(value + 1));
    }

    /// Whether every [`ChangeFeed`] of this notifier has been dropped, so a task feeding it
    /// may stop.
    pub fn is_abandoned(&self) -> bool {
        Arc::strong_count(&self.state) == 1
    }

    fn advance(&self, step: impl FnMut(u64) -> Option<u64>) {
        // `None` from `step` means the state already is what was asked (a change while
        // disconnected, a second disconnection): nothing to do.
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_gives_a_new_epoch() {
        let (notifier, feed) = ChangeFeed::connected();
        let first = feed.epoch().unwrap();
        notifier.changed();
        let second = feed.epoch().unwrap();
        notifier.changed();
        assert!(first < second && second < feed.epoch().unwrap());
    }

    #[test]
    fn a_disconnected_feed_has_no_epoch_and_reconnects_to_a_new_one() {
        let (notifier, feed) = ChangeFeed::disconnected();
        assert_eq!(feed.epoch(), None);
        notifier.changed();
        assert_eq!(
            feed.epoch(),
            None,
            "a change while disconnected connects nothing"
        );
        notifier.connected();
        let first = feed.epoch().unwrap();
        notifier.disconnected();
        notifier.disconnected();
        assert_eq!(feed.epoch(), None);
        notifier.connected();
        notifier.connected();
        let second = feed.epoch().unwrap();
        assert!(second > first);
        notifier.changed();
        assert!(feed.epoch().unwrap() > second);
    }

    #[test]
    fn the_notifier_sees_when_its_feeds_are_gone() {
        let (notifier, feed) = ChangeFeed::connected();
        let copy = feed.clone();
        drop(feed);
        assert!(!notifier.is_abandoned());
        drop(copy);
        assert!(notifier.is_abandoned());
    }
}
