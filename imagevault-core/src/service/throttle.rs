//! [`LoginThrottle`]: slows down repeated failed logins for one key (a username, a client).
//!
//! In-process and in memory: each server process counts on its own, and a restart forgets.
//! Time is read from the [`Vault`](super::Vault)'s clock and passed in, so tests drive it with
//! a [`ManualClock`](crate::ManualClock).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The policy for repeated failed logins, per username (passwords) or per client (tokens).
///
/// The first [`failures_before_delay`](Self::failures_before_delay) failures cost nothing;
/// from the last of them on, each failure refuses further attempts for a delay:
/// [`base_delay`](Self::base_delay), doubling with each later failure, at most
/// [`max_delay`](Self::max_delay).
/// Refused attempts do not count and do not extend the delay. A success forgets the key, and
/// so does a [`window`](Self::window) without any failure. So with the defaults, after 5
/// wrong passwords the 6th attempt waits 1 s, then 2 s, 4 s, ... 32 s, and 60 s from the
/// 12th failure on; the longest anyone waits for one more attempt is 60 s.
///
/// At most [`max_keys`](Self::max_keys) keys are tracked; when a new one comes, the expired
/// ones are dropped and, if still full, the one with the oldest failure. Keys are cut to 150
/// characters (the longest username), so memory stays under about `max_keys` × 1 KiB
/// (10 MiB with the default 10 000).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThrottleConfig {
    /// Failures in a row allowed without waiting; the attempt after the last of them waits.
    /// At least 1. Default 5.
    pub failures_before_delay: u32,
    /// The wait after the last failure allowed without one; each later failure doubles it.
    /// Default 1 s.
    pub base_delay: Duration,
    /// The longest delay. Default 60 s.
    pub max_delay: Duration,
    /// How long without a failure before a key's failures are forgotten. Default 15 minutes.
    pub window: Duration,
    /// The most keys tracked at once. Default 10 000.
    pub max_keys: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            failures_before_delay: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            window: Duration::from_secs(15 * 60),
            max_keys: 10_000,
        }
    }
}

impl ThrottleConfig {
    pub(super) fn check(&self) -> Result<(), &'static str> {
        if self.failures_before_delay == 0 {
            return Err("login_throttle.failures_before_delay must be at least 1");
        }
        if self.max_keys == 0 {
            return Err("login_throttle.max_keys must be at least 1");
        }
        if self.window.is_zero() {
            return Err("login_throttle.window must be longer than zero");
        }
        if self.base_delay > self.max_delay {
            return Err("login_throttle.base_delay must not exceed max_delay");
        }
        if TimeDelta::from_std(self.window).is_err() || TimeDelta::from_std(self.max_delay).is_err()
        {
            return Err("login_throttle durations are too long");
        }
        Ok(())
    }

    /// The delay after `failures` failures, if any.
    fn delay(&self, failures: u32) -> Option<Duration> {
        let beyond = failures.checked_sub(self.failures_before_delay.max(1))?;
        let factor = 2u32.checked_pow(beyond.min(31)).unwrap_or(u32::MAX);
        Some(
            self.base_delay
                .checked_mul(factor)
                .map_or(self.max_delay, |delay| delay.min(self.max_delay)),
        )
    }
}

/// Failures of one key.
#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: DateTime<Utc>,
    blocked_until: Option<DateTime<Utc>>,
}

/// Counts failed logins per key and says when a key must wait. See [`ThrottleConfig`].
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    config: ThrottleConfig,
    records: Mutex<HashMap<String, Record>>,
}

/// The longest key kept, in characters: the longest username.
const MAX_KEY_CHARS: usize = crate::user::Username::MAX_CHARS;

fn key_of(key: &str) -> &str {
    match key.char_indices().nth(MAX_KEY_CHARS) {
        Some((end, _)) => &key[..end],
        None => key,
    }
}

fn to_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

impl LoginThrottle {
    pub(crate) fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            records: Mutex::new(HashMap::new()),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expired(&self, record: &Record, now: DateTime<Utc>) -> bool {
        now - record.last_failure >= to_delta(self.config.window)
    }

    /// `Err(wait)` while `key` must wait before its next attempt; `Ok` otherwise.
    pub(crate) fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        let records = self.records();
        let Some(record) = records.get(key_of(key)) else {
            return Ok(());
        };
        if self.expired(record, now) {
            return Ok(());
        }
        match record.blocked_until {
            Some(until) if until > now => Err((until - now).to_std().unwrap_or(Duration::ZERO)),
            _ => Ok(()),
        }
    }

    /// Counts a failed attempt of `key`.
    pub(crate) fn failure(&self, key: &str, now: DateTime<Utc>) {
        let key = key_of(key);
        let mut records = self.records();
        let fresh = Record {
            failures: 0,
            last_failure: now,
            blocked_until: None,
        };
        let record = match records.get_mut(key) {
            Some(record) => {
                if self.expired(record, now) {
                    *record = fresh;
                }
                record
            }
            None => {
                if records.len() >= self.config.max_keys {
                    records.retain(|_, record| !self.expired(record, now));
                }
                if records.len() >= self.config.max_keys
                    && let Some(oldest) = records
                        .iter()
                        .min_by_key(|(_, record)| record.last_failure)
                        .map(|(key, _)| key.clone())
                {
                    records.remove(&oldest);
                }
                records.entry(key.to_owned()).or_insert(fresh)
            }
        };
        record.failures = record.failures.saturating_add(1);
        record.last_failure = now;
        record.blocked_until = self
            .config
            .delay(record.failures)
            .map(|delay| now + to_delta(delay));
    }

    /// Forgets `key`'s failures, after a successful login.
    pub(crate) fn success(&self, key: &str) {
        let key = key_of(key);
        let mut records = self.records();
        if records.contains_key(key) {
            records.remove(key);
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.records().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        "2026-11-23T20:00:00Z".parse().unwrap()
    }

    fn secs(seconds: i64) -> TimeDelta {
        TimeDelta::seconds(seconds)
    }

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig::default())
    }

    #[test]
    fn five_failures_are_free_then_the_delay_doubles_up_to_the_cap() {
        let throttle = throttle();
        let mut now = start();
        for _ in 0..5 {
            assert_eq!(throttle.check("alice", now), Ok(()));
            throttle.failure("alice", now);
        }
        let mut waits = Vec::new();
        for _ in 0..9 {
            let wait = throttle.check("alice", now).unwrap_err();
            waits.push(wait.as_secs());
            // Refused attempts neither count nor extend the wait.
            assert_eq!(throttle.check("alice", now), Err(wait));
            now += to_delta(wait);
            assert_eq!(throttle.check("alice", now), Ok(()));
            throttle.failure("alice", now);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn the_wait_counts_down_with_the_clock() {
        let throttle = throttle();
        let now = start();
        for _ in 0..8 {
            throttle.failure("alice", now);
        }
        assert_eq!(throttle.check("alice", now), Err(Duration::from_secs(8)));
        assert_eq!(
            throttle.check("alice", now + TimeDelta::milliseconds(2500)),
            Err(Duration::from_millis(5500))
        );
        assert_eq!(throttle.check("alice", now + secs(8)), Ok(()));
    }

    #[test]
    fn keys_are_independent() {
        let throttle = throttle();
        for _ in 0..6 {
            throttle.failure("alice", start());
        }
        assert!(throttle.check("alice", start()).is_err());
        assert_eq!(throttle.check("bob", start()), Ok(()));
        assert_eq!(throttle.check("Alice", start()), Ok(()));
    }

    #[test]
    fn a_success_forgets_the_failures() {
        let throttle = throttle();
        for _ in 0..5 {
            throttle.failure("alice", start());
        }
        throttle.success("alice");
        assert_eq!(throttle.check("alice", start()), Ok(()));
        // Five more free failures, not a doubled delay.
        for _ in 0..4 {
            throttle.failure("alice", start());
        }
        assert_eq!(throttle.check("alice", start()), Ok(()));
        throttle.failure("alice", start());
        assert_eq!(
            throttle.check("alice", start()),
            Err(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_quiet_window_forgets_the_failures() {
        let throttle = throttle();
        for _ in 0..20 {
            throttle.failure("alice", start());
        }
        assert_eq!(
            throttle.check("alice", start()),
            Err(Duration::from_secs(60))
        );
        let later = start() + secs(15 * 60);
        assert_eq!(throttle.check("alice", later), Ok(()));
        // The count starts again: this failure is the first, free one.
        throttle.failure("alice", later);
        assert_eq!(throttle.check("alice", later), Ok(()));
        // Failures within the window keep the count.
        let throttle = self::throttle();
        for minute in 0..5 {
            throttle.failure("bob", start() + secs(minute * 14 * 60));
        }
        assert!(throttle.check("bob", start() + secs(4 * 14 * 60)).is_err());
    }

    #[test]
    fn the_number_of_keys_is_bounded_dropping_the_oldest() {
        let throttle = LoginThrottle::new(ThrottleConfig {
            max_keys: 3,
            ..ThrottleConfig::default()
        });
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            for _ in 0..10 {
                throttle.failure(key, start() + secs(i as i64));
            }
        }
        assert_eq!(throttle.tracked(), 3);
        let now = start() + secs(3);
        assert_eq!(throttle.check("a", now), Ok(()), "the oldest was dropped");
        for key in ["b", "c", "d"] {
            assert!(throttle.check(key, now).is_err(), "{key}");
        }
        // Expired keys go first, before any live one.
        let later = start() + secs(15 * 60 + 3);
        throttle.failure("d", later);
        throttle.failure("e", later);
        assert_eq!(throttle.tracked(), 2);
    }

    #[test]
    fn long_keys_are_cut() {
        let throttle = throttle();
        let long = "x".repeat(10_000);
        for _ in 0..6 {
            throttle.failure(&long, start());
        }
        let cut = "x".repeat(MAX_KEY_CHARS);
        assert!(throttle.check(&cut, start()).is_err());
        assert!(
            throttle
                .records()
                .keys()
                .all(|key| key.len() <= MAX_KEY_CHARS)
        );
    }

    #[test]
    fn configurations_are_checked() {
        assert_eq!(ThrottleConfig::default().check(), Ok(()));
        for config in [
            ThrottleConfig {
                max_keys: 0,
                ..ThrottleConfig::default()
            },
            ThrottleConfig {
                base_delay: Duration::from_secs(120),
                ..ThrottleConfig::default()
            },
            ThrottleConfig {
                failures_before_delay: 0,
                ..ThrottleConfig::default()
            },
        ] {
            assert!(config.check().is_err(), "{config:?}");
        }
        let config = ThrottleConfig {
            failures_before_delay: 1,
            ..ThrottleConfig::default()
        };
        assert_eq!(config.delay(0), None);
        assert_eq!(config.delay(1), Some(Duration::from_secs(1)));
        assert_eq!(config.delay(2), Some(Duration::from_secs(2)));
        assert_eq!(config.delay(u32::MAX), Some(Duration::from_secs(60)));
    }
}
