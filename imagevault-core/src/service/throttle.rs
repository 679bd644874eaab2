//! [`LoginThrottle`]: slows down repeated failed logins for one key (a username, a client, a
//! username from one client).
//!
//! In-process and in memory: each server process counts on its own, and a restart forgets.
//! Time is read from the [`Vault`](super::Vault)'s clock and passed in, so tests drive it with
//! a [`ManualClock`](crate::ManualClock).
//!
//! A password attempt is counted as a failure *before* its slow hash runs
//! ([`LoginThrottle::reserve`]) and the count is taken back when it turns out right or was
//! never checked. Counting after the hash let every attempt that arrived while the first
//! hashes ran through the check, so concurrent guesses were limited only by the hashing rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The policy for repeated failed logins.
///
/// Password failures are counted under three keys at once, and an attempt waits while any of
/// them must:
/// - the username *from one client* (its [`client_key`]): the first
///   [`failures_before_delay`](Self::failures_before_delay) failures cost nothing. This is
///   the limit a guesser at one address meets, and it does not lock the real user out when
///   they log in from elsewhere;
/// - the username from every client together: the much higher
///   [`username_failures_before_delay`](Self::username_failures_before_delay), so that
///   guessing spread over many addresses is still slowed;
/// - the client, whatever usernames it tries:
///   [`client_failures_before_delay`](Self::client_failures_before_delay), so that random
///   usernames do not each get free password checks.
///
/// Bad API tokens are counted per client, with `failures_before_delay`.
///
/// From the last free failure of a key on, each failure refuses further attempts for a
/// delay: [`base_delay`](Self::base_delay), doubling with each later failure, at most
/// [`max_delay`](Self::max_delay). Refused attempts do not count and do not extend the delay.
/// A success forgets the failures of the username from that client and takes its own
/// attempt back from the other two keys; a [`window`](Self::window) without any failure
/// forgets a key. So with the defaults, after 5 wrong passwords the 6th attempt waits 1 s,
/// then 2 s, 4 s, ... 32 s, and 60 s from the 12th failure on; the longest anyone waits for
/// one more attempt is 60 s.
///
/// At most [`max_keys`](Self::max_keys) keys of each kind are tracked; when a new one comes,
/// the expired ones are dropped and, if still full, the one with the oldest failure. Keys
/// are cut to 200 characters (the longest username and a client), so memory stays under
/// about `max_keys` × 1 KiB per kind (10 MiB with the default 10 000).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThrottleConfig {
    /// Failures in a row allowed without waiting, for one username from one client (and for
    /// bad tokens from one client); the attempt after the last of them waits. At least 1.
    /// Default [`DEFAULT_FAILURES_BEFORE_DELAY`](Self::DEFAULT_FAILURES_BEFORE_DELAY).
    pub failures_before_delay: u32,
    /// Failures allowed without waiting for one username from all clients together. At
    /// least 1. Default
    /// [`DEFAULT_USERNAME_FAILURES_BEFORE_DELAY`](Self::DEFAULT_USERNAME_FAILURES_BEFORE_DELAY).
    pub username_failures_before_delay: u32,
    /// Failed password logins allowed without waiting from one client (an IPv4 address or an
    /// IPv6 /64), whatever the usernames. At least 1. Default
    /// [`DEFAULT_CLIENT_FAILURES_BEFORE_DELAY`](Self::DEFAULT_CLIENT_FAILURES_BEFORE_DELAY).
    pub client_failures_before_delay: u32,
    /// The wait after the last failure allowed without one; each later failure doubles it.
    /// Default 1 s.
    pub base_delay: Duration,
    /// The longest delay. Default 60 s.
    pub max_delay: Duration,
    /// How long without a failure before a key's failures are forgotten. Default 15 minutes.
    pub window: Duration,
    /// The most keys of each kind tracked at once. Default 10 000.
    pub max_keys: usize,
}

impl ThrottleConfig {
    /// The default of [`failures_before_delay`](Self::failures_before_delay): 5.
    pub const DEFAULT_FAILURES_BEFORE_DELAY: u32 = 5;
    /// The default of [`username_failures_before_delay`](Self::username_failures_before_delay):
    /// 100, twenty times the per-client limit.
    pub const DEFAULT_USERNAME_FAILURES_BEFORE_DELAY: u32 = 100;
    /// The default of [`client_failures_before_delay`](Self::client_failures_before_delay):
    /// 50, room for a few users behind one NAT to mistype.
    pub const DEFAULT_CLIENT_FAILURES_BEFORE_DELAY: u32 = 50;
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            failures_before_delay: Self::DEFAULT_FAILURES_BEFORE_DELAY,
            username_failures_before_delay: Self::DEFAULT_USERNAME_FAILURES_BEFORE_DELAY,
            client_failures_before_delay: Self::DEFAULT_CLIENT_FAILURES_BEFORE_DELAY,
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
        if self.username_failures_before_delay == 0 {
            return Err("login_throttle.username_failures_before_delay must be at least 1");
        }
        if self.client_failures_before_delay == 0 {
            return Err("login_throttle.client_failures_before_delay must be at least 1");
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

    /// The delay after `failures` failures of a key allowed `free` failures, if any.
    fn delay_after(&self, free: u32, failures: u32) -> Option<Duration> {
        let beyond = failures.checked_sub(free.max(1))?;
        let factor = 2u32.checked_pow(beyond.min(31)).unwrap_or(u32::MAX);
        Some(
            self.base_delay
                .checked_mul(factor)
                .map_or(self.max_delay, |delay| delay.min(self.max_delay)),
        )
    }
}

/// The throttling key of a client address: the address itself for IPv4 (and IPv4-mapped
/// IPv6), its /64 network for IPv6, since one IPv6 subscriber usually holds a whole /64
/// and could otherwise take a fresh address for every attempt.
///
/// ```
/// use std::net::IpAddr;
/// use imagevault_core::client_key;
/// let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
/// let same_net: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
/// assert_eq!(client_key(v6), "2001:db8:1:2::/64");
/// assert_eq!(client_key(v6), client_key(same_net));
/// assert_eq!(client_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
/// assert_eq!(client_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
/// ```
pub fn client_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// Failures of one key.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// Failures known to have happened.
    failures: u32,
    /// Attempts reserved whose password check has not ended yet.
    in_flight: u32,
    last_failure: DateTime<Utc>,
    /// Set by known failures only: attempts still in flight make others wait for their
    /// outcome ([`Refusal::Pending`]), not for a delay.
    blocked_until: Option<DateTime<Utc>>,
}

/// Why [`LoginThrottle::reserve`] admitted no attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Known failures impose this wait.
    Throttled(Duration),
    /// The free attempts are all taken by checks still running: the attempt may go ahead
    /// if enough of them turn out right, so the caller waits for them (bounded) and asks
    /// again.
    Pending,
}

/// Counts failed logins per key and says when a key must wait. See [`ThrottleConfig`].
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    config: ThrottleConfig,
    /// Failures a key may have without waiting.
    free: u32,
    records: Mutex<HashMap<String, Record>>,
}

/// The longest key kept, in characters: the longest username and a client key.
const MAX_KEY_CHARS: usize = crate::user::Username::MAX_CHARS + 50;

fn key_of(key: &str) -> &str {
    match key.char_indices().nth(MAX_KEY_CHARS) {
        Some((end, _)) => &key[..end],
        None => key,
    }
}

fn to_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

type Records = HashMap<String, Record>;

/// Attempts admitted by [`LoginThrottle::reserve`], in flight until their outcome is
/// known. Dropped unresolved, it counts as a failure: an attempt whose outcome is lost
/// (its request went away while the hash ran) counts as the failure it most likely was.
#[derive(Debug)]
#[must_use = "a reservation left alone counts as a failure"]
pub(crate) struct Reservation<'a> {
    keys: Vec<(&'a LoginThrottle, String)>,
    at: DateTime<Utc>,
}

/// How a reserved attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Unchecked,
    Failed,
}

impl Reservation<'_> {
    /// The attempt was right: the first key's failures are forgotten and the attempt is
    /// taken back from the others.
    pub(crate) fn succeeded(mut self) {
        self.resolve(Outcome::Succeeded);
    }

    /// The attempt was never checked (the hashing was saturated, the database failed): it is
    /// taken back from every key.
    pub(crate) fn unchecked(mut self) {
        self.resolve(Outcome::Unchecked);
    }

    /// The attempt was wrong: it counts as a failure on every key.
    pub(crate) fn failed(mut self) {
        self.resolve(Outcome::Failed);
    }

    fn resolve(&mut self, outcome: Outcome) {
        for (index, (throttle, key)) in self.keys.drain(..).enumerate() {
            let mut records = throttle.records();
            let Some(record) = records.get_mut(&key) else {
                // Dropped from a full table meanwhile: a failure starts it again.
                if outcome == Outcome::Failed {
                    throttle.count(&mut records, &key, self.at);
                }
                continue;
            };
            record.in_flight = record.in_flight.saturating_sub(1);
            match outcome {
                Outcome::Succeeded if index == 0 => {
                    record.failures = 0;
                    record.blocked_until = None;
                }
                Outcome::Succeeded | Outcome::Unchecked => {}
                Outcome::Failed => {
                    record.failures = record.failures.saturating_add(1);
                    record.last_failure = record.last_failure.max(self.at);
                    record.blocked_until = throttle
                        .config
                        .delay_after(throttle.free, record.failures)
                        .map(|delay| record.last_failure + to_delta(delay));
                }
            }
            if record.failures == 0 && record.in_flight == 0 {
                records.remove(&key);
            }
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.resolve(Outcome::Failed);
    }
}

impl LoginThrottle {
    /// A throttle whose keys get `config.failures_before_delay` free failures.
    pub(crate) fn new(config: ThrottleConfig) -> Self {
        let free = config.failures_before_delay;
        Self::with_free_failures(config, free)
    }

    /// A throttle whose keys get `free` free failures, the rest of the policy from `config`.
    pub(crate) fn with_free_failures(config: ThrottleConfig, free: u32) -> Self {
        Self {
            config,
            free,
            records: Mutex::new(HashMap::new()),
        }
    }

    fn records(&self) -> MutexGuard<'_, Records> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expired(&self, record: &Record, now: DateTime<Utc>) -> bool {
        now - record.last_failure >= to_delta(self.config.window)
    }

    fn wait(&self, records: &Records, key: &str, now: DateTime<Utc>) -> Result<(), Refusal> {
        let Some(record) = records.get(key_of(key)) else {
            return Ok(());
        };
        let expired = self.expired(record, now);
        if !expired
            && let Some(until) = record.blocked_until
            && until > now
        {
            return Err(Refusal::Throttled(
                (until - now).to_std().unwrap_or(Duration::ZERO),
            ));
        }
        // Were every check in flight to fail, would this attempt be one too many?
        let known = if expired { 0 } else { record.failures };
        let worst = known.saturating_add(record.in_flight);
        if record.in_flight > 0 && self.config.delay_after(self.free, worst).is_some() {
            return Err(Refusal::Pending);
        }
        Ok(())
    }

    /// `Err(wait)` while `key` must wait before its next attempt; `Ok` otherwise.
    pub(crate) fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        match self.wait(&self.records(), key, now) {
            Ok(()) | Err(Refusal::Pending) => Ok(()),
            Err(Refusal::Throttled(wait)) => {
                crate::metrics::record_login_throttled(crate::metrics::CREDENTIAL_TOKEN);
                Err(wait)
            }
        }
    }

    /// Counts a failed attempt of `key`.
    pub(crate) fn failure(&self, key: &str, now: DateTime<Utc>) {
        self.count(&mut self.records(), key, now);
    }

    /// Checks every `(throttle, key)` and, if none must wait, marks an attempt in flight on
    /// each in the same step, so that concurrent attempts cannot all pass the check before
    /// any of them is counted: in flight, an attempt holds its place in the free budget as
    /// a failure would. Otherwise counts nothing, and answers the longest wait that known
    /// failures impose, or [`Refusal::Pending`] if only checks in flight stand in the way.
    ///
    /// The throttles must be distinct, and every caller lists them in the same order (their
    /// locks are taken in that order).
    pub(crate) fn reserve<'a>(
        keys: &[(&'a LoginThrottle, &str)],
        now: DateTime<Utc>,
    ) -> Result<Reservation<'a>, Refusal> {
        let mut locked: Vec<MutexGuard<'_, Records>> = keys
            .iter()
            .map(|(throttle, _)| throttle.records())
            .collect();
        let mut longest = None;
        let mut pending = false;
        for ((throttle, key), records) in keys.iter().zip(&locked) {
            match throttle.wait(records, key, now) {
                Ok(()) => {}
                Err(Refusal::Throttled(wait)) => longest = longest.max(Some(wait)),
                Err(Refusal::Pending) => pending = true,
            }
        }
        if let Some(wait) = longest {
            crate::metrics::record_login_throttled(crate::metrics::CREDENTIAL_PASSWORD);
            return Err(Refusal::Throttled(wait));
        }
        if pending {
            return Err(Refusal::Pending);
        }
        for ((throttle, key), records) in keys.iter().zip(&mut locked) {
            let record = throttle.record(records, key, now);
            record.in_flight = record.in_flight.saturating_add(1);
        }
        Ok(Reservation {
            keys: keys
                .iter()
                .map(|(throttle, key)| (*throttle, key_of(key).to_owned()))
                .collect(),
            at: now,
        })
    }

    /// The record of `key`, made (or restarted, once its window has passed) if need be; the
    /// table stays within `max_keys`, dropping expired records, then the oldest.
    fn record<'r>(
        &self,
        records: &'r mut Records,
        key: &str,
        now: DateTime<Utc>,
    ) -> &'r mut Record {
        let key = key_of(key);
        let fresh = Record {
            failures: 0,
            in_flight: 0,
            last_failure: now,
            blocked_until: None,
        };
        if !records.contains_key(key) {
            if records.len() >= self.config.max_keys {
                records.retain(|_, record| !self.expired(record, now) || record.in_flight > 0);
            }
            if records.len() >= self.config.max_keys
                && let Some(oldest) = records
                    .iter()
                    .min_by_key(|(_, record)| record.last_failure)
                    .map(|(key, _)| key.clone())
            {
                records.remove(&oldest);
            }
        }
        let record = records.entry(key.to_owned()).or_insert(fresh);
        if self.expired(record, now) {
            record.failures = 0;
            record.blocked_until = None;
        }
        record.last_failure = record.last_failure.max(now);
        record
    }

    fn count(&self, records: &mut Records, key: &str, now: DateTime<Utc>) {
        let record = self.record(records, key, now);
        record.failures = record.failures.saturating_add(1);
        record.blocked_until = self
            .config
            .delay_after(self.free, record.failures)
            .map(|delay| now + to_delta(delay));
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
        for _ in 0..4 {
            throttle.failure("alice", start());
        }
        LoginThrottle::reserve(&[(&throttle, "alice")], start())
            .unwrap()
            .succeeded();
        assert_eq!(throttle.check("alice", start()), Ok(()));
        assert_eq!(throttle.tracked(), 0);
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

    /// The pair, username and client throttles of a password login.
    fn three() -> [LoginThrottle; 3] {
        let config = ThrottleConfig::default();
        [
            LoginThrottle::new(config.clone()),
            LoginThrottle::with_free_failures(config.clone(), 20),
            LoginThrottle::with_free_failures(config, 10),
        ]
    }

    #[test]
    fn attempts_reserved_at_once_pass_only_as_many_as_are_free() {
        let throttle = throttle();
        let mut held = Vec::new();
        let mut refused = 0;
        // Forty attempts whose outcome is not known yet, as concurrent requests are while
        // their hashes run.
        for _ in 0..40 {
            match LoginThrottle::reserve(&[(&throttle, "alice")], start()) {
                Ok(reservation) => held.push(reservation),
                Err(refusal) => {
                    // Not a delay: the outcomes of the five decide.
                    assert_eq!(refusal, Refusal::Pending);
                    refused += 1;
                }
            }
        }
        assert_eq!((held.len(), refused), (5, 35));
        held.into_iter().for_each(Reservation::failed);
        assert!(throttle.check("alice", start()).is_err());
    }

    #[test]
    fn attempts_waiting_on_checks_in_flight_go_ahead_when_those_are_right() {
        let throttle = throttle();
        let held: Vec<_> = (0..5)
            .map(|_| LoginThrottle::reserve(&[(&throttle, "alice")], start()).unwrap())
            .collect();
        assert_eq!(
            LoginThrottle::reserve(&[(&throttle, "alice")], start()).unwrap_err(),
            Refusal::Pending
        );
        let mut held = held.into_iter();
        held.next().unwrap().succeeded();
        // The right password forgot nothing the others may still count, and made room.
        let sixth = LoginThrottle::reserve(&[(&throttle, "alice")], start()).unwrap();
        assert_eq!(throttle.records()["alice"].in_flight, 5);
        for reservation in held.chain([sixth]) {
            reservation.succeeded();
        }
        assert_eq!(throttle.tracked(), 0);
    }

    #[test]
    fn a_reservation_dropped_unresolved_counts_as_a_failure() {
        let throttle = throttle();
        for _ in 0..5 {
            drop(LoginThrottle::reserve(&[(&throttle, "alice")], start()).unwrap());
        }
        assert_eq!(throttle.records()["alice"].failures, 5);
        assert_eq!(throttle.records()["alice"].in_flight, 0);
        assert_eq!(
            LoginThrottle::reserve(&[(&throttle, "alice")], start()).unwrap_err(),
            Refusal::Throttled(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_refused_reservation_counts_on_no_key() {
        let [pair, user, client] = three();
        for _ in 0..5 {
            LoginThrottle::reserve(
                &[(&pair, "1 alice"), (&user, "alice"), (&client, "1")],
                start(),
            )
            .unwrap()
            .failed();
        }
        for _ in 0..10 {
            assert_eq!(
                LoginThrottle::reserve(
                    &[(&pair, "1 alice"), (&user, "alice"), (&client, "1")],
                    start()
                )
                .unwrap_err(),
                Refusal::Throttled(Duration::from_secs(1))
            );
        }
        assert_eq!(user.records()["alice"].failures, 5);
        assert_eq!(client.records()["1"].failures, 5);
    }

    #[test]
    fn the_longest_wait_of_any_key_is_the_answer() {
        let [pair, user, client] = three();
        for i in 0..10 {
            let key = format!("1 user{i}");
            LoginThrottle::reserve(&[(&pair, &key), (&user, "alice"), (&client, "1")], start())
                .unwrap()
                .failed();
        }
        // The client used up its ten free failures on ten usernames; a new one waits too.
        assert_eq!(
            LoginThrottle::reserve(&[(&pair, "1 bob"), (&user, "bob"), (&client, "1")], start())
                .unwrap_err(),
            Refusal::Throttled(Duration::from_secs(1))
        );
        // Another client is not held back by that one.
        LoginThrottle::reserve(&[(&pair, "2 bob"), (&user, "bob"), (&client, "2")], start())
            .unwrap()
            .failed();
    }

    #[test]
    fn success_and_unchecked_take_the_attempt_back() {
        let [pair, user, client] = three();
        let keys = [(&pair, "1 alice"), (&user, "alice"), (&client, "1")];
        for _ in 0..3 {
            LoginThrottle::reserve(&keys, start()).unwrap().failed();
        }
        LoginThrottle::reserve(&keys, start()).unwrap().unchecked();
        assert_eq!(pair.records()["1 alice"].failures, 3);
        assert_eq!(user.records()["alice"].failures, 3);
        LoginThrottle::reserve(&keys, start()).unwrap().succeeded();
        assert!(
            !pair.records().contains_key("1 alice"),
            "the pair is forgotten"
        );
        assert_eq!(user.records()["alice"].failures, 3, "only its own attempt");
        assert_eq!(client.records()["1"].failures, 3);
        // Taking back the attempt that started a wait ends that wait.
        for _ in 0..4 {
            LoginThrottle::reserve(&keys, start()).unwrap().failed();
        }
        let fifth = LoginThrottle::reserve(&keys, start()).unwrap();
        assert_eq!(
            LoginThrottle::reserve(&keys, start()).unwrap_err(),
            Refusal::Pending
        );
        fifth.unchecked();
        assert_eq!(pair.check("1 alice", start()), Ok(()));
        LoginThrottle::reserve(&keys, start()).unwrap().failed();
        assert!(pair.check("1 alice", start()).is_err());
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
            ThrottleConfig {
                username_failures_before_delay: 0,
                ..ThrottleConfig::default()
            },
            ThrottleConfig {
                client_failures_before_delay: 0,
                ..ThrottleConfig::default()
            },
        ] {
            assert!(config.check().is_err(), "{config:?}");
        }
        let config = ThrottleConfig {
            failures_before_delay: 1,
            ..ThrottleConfig::default()
        };
        assert_eq!(config.delay_after(1, 0), None);
        assert_eq!(config.delay_after(1, 1), Some(Duration::from_secs(1)));
        assert_eq!(config.delay_after(1, 2), Some(Duration::from_secs(2)));
        assert_eq!(
            config.delay_after(1, u32::MAX),
            Some(Duration::from_secs(60))
        );
    }
}
