//! Where the service reads the time from, so that expiry can be tested without waiting.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

/// A source of the current time.
///
/// # Contract
/// `now` has microsecond precision at most (what PostgreSQL stores), so a timestamp
/// survives a round trip through any repository unchanged and keyset cursors compare exactly.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current time in UTC, truncated to microseconds.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that only moves when told to; for tests of expiry and leases.
///
/// ```
/// use imagevault_core::{Clock, ManualClock};
/// let clock = ManualClock::new("2026-11-23T20:00:00Z".parse().unwrap());
/// clock.advance(chrono::TimeDelta::seconds(301));
/// assert_eq!(clock.now().to_rfc3339(), "2026-11-23T20:05:01+00:00");
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start.trunc_subsecs(6))),
        }
    }

    /// Moves the clock forward (or back, with a negative delta).
    pub fn advance(&self, delta: TimeDelta) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = (*now + delta).trunc_subsecs(6);
    }

    /// Sets the clock to `time`.
    pub fn set(&self, time: DateTime<Utc>) {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = time.trunc_subsecs(6);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
