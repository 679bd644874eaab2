//! The Redis keys of a queue, the format of delivery ids, and durations as milliseconds.
//!
//! A delivery id is `<job id>:<attempt>`. Every reservation increments the job's attempt
//! counter in the same script that leases it, and job ids are random, so the pair names
//! exactly one delivery: a holder whose lease lapsed keeps an id that no longer matches.

use std::time::Duration;

use imagevault_core::queue::DeliveryId;

/// The keys of one queue, all starting with its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    /// Hash: job id → the job as JSON, while the job is ready, delayed or in flight.
    pub(crate) jobs: String,
    /// Hash: job id → deliveries made so far (absent before the first).
    pub(crate) attempts: String,
    /// List of job ids ready to reserve; `LPUSH` adds, `RPOP` takes the oldest.
    pub(crate) ready: String,
    /// Sorted set: job id scored by when its retry delay ends (server clock, ms).
    pub(crate) delayed: String,
    /// Sorted set: job id scored by when its lease ends (server clock, ms).
    pub(crate) in_flight: String,
    /// List of dead letters as JSON, newest first, trimmed to the number kept.
    pub(crate) dead: String,
    /// Hash: job (JSON) → the id of the equal job waiting in `ready` for its first
    /// delivery. An enqueue of a job found here is merged into the waiting one; `reserve`
    /// removes the entry as it hands that job out.
    pub(crate) waiting: String,
}

impl Keys {
    /// The keys under `prefix` (for example `imagevault:` gives `imagevault:queue:ready`).
    pub(crate) fn new(prefix: &str) -> Self {
        let key = |name: &str| format!("{prefix}queue:{name}");
        Self {
            jobs: key("jobs"),
            attempts: key("attempts"),
            ready: key("ready"),
            delayed: key("delayed"),
            in_flight: key("in_flight"),
            dead: key("dead"),
            waiting: key("waiting"),
        }
    }
}

/// A new random job id: 32 lowercase hex digits.
pub(crate) fn new_job_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The id of delivery number `attempt` of job `job_id`.
pub(crate) fn delivery_id(job_id: &str, attempt: u32) -> DeliveryId {
    DeliveryId(format!("{job_id}:{attempt}"))
}

/// The job id and attempt of a delivery id made by [`delivery_id`]; `None` for anything
/// else (an id from another backend, or a forged one), which then settles nothing.
pub(crate) fn parse_delivery_id(id: &DeliveryId) -> Option<(&str, u32)> {
    let (job_id, attempt) = id.0.split_once(':')?;
    let is_job_id = job_id.len() == 32
        && job_id
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    // Only the canonical spelling: the script compares the attempt as text.
    let canonical = !attempt.is_empty()
        && attempt.bytes().all(|byte| byte.is_ascii_digit())
        && (attempt == "0" || !attempt.starts_with('0'));
    if !is_job_id || !canonical {
        return None;
    }
    Some((job_id, attempt.parse().ok()?))
}

/// The longest lease or delay honoured, about 34 years: far beyond any real one, and small
/// enough that server time plus it stays exact as a sorted-set score (a double).
pub(crate) const MAX_MILLIS: u64 = 1 << 40;

// Server time (below 2^42 ms until the year 2109) plus the cap is exact in a double.
const _: () = assert!((1 << 42) + MAX_MILLIS < 1 << 53);

/// `duration` in whole milliseconds, rounded up (so a short lease is not zero) and capped
/// at [`MAX_MILLIS`].
pub(crate) fn millis(duration: Duration) -> u64 {
    let rounded_up = duration.as_nanos().div_ceil(1_000_000);
    u64::try_from(rounded_up).map_or(MAX_MILLIS, |millis| millis.min(MAX_MILLIS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_under_the_prefix_and_distinct() {
        let keys = Keys::new("tenant-7:");
        let all = [
            &keys.jobs,
            &keys.attempts,
            &keys.ready,
            &keys.delayed,
            &keys.in_flight,
            &keys.dead,
            &keys.waiting,
        ];
        for key in all {
            assert!(key.starts_with("tenant-7:queue:"), "{key}");
        }
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(Keys::new("imagevault:").ready, "imagevault:queue:ready");
    }

    #[test]
    fn delivery_ids_round_trip() {
        let job_id = new_job_id();
        for attempt in [0, 1, 9, 10, 4_000_000_000, u32::MAX] {
            let id = delivery_id(&job_id, attempt);
            assert_eq!(parse_delivery_id(&id), Some((job_id.as_str(), attempt)));
        }
    }

    #[test]
    fn foreign_or_forged_delivery_ids_are_rejected() {
        let job_id = new_job_id();
        for text in [
            String::new(),
            "mem-3".to_owned(),
            job_id.clone(),
            format!("{job_id}:"),
            format!("{job_id}:01"),
            format!("{job_id}:+1"),
            format!("{job_id}:-1"),
            format!("{job_id}: 1"),
            format!("{job_id}:1:2"),
            format!("{job_id}:4294967296"),
            format!("{}:1", job_id.to_uppercase()),
            format!("{}:1", &job_id[..31]),
            format!("{job_id}0:1"),
            format!("{}g:1", &job_id[..31]),
        ] {
            assert_eq!(parse_delivery_id(&DeliveryId(text.clone())), None, "{text}");
        }
    }

    #[test]
    fn job_ids_are_random_hex() {
        let (a, b) = (new_job_id(), new_job_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(parse_delivery_id(&delivery_id(&a, 1)).is_some());
    }

    #[test]
    fn milliseconds_round_up_and_are_capped() {
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::from_nanos(1)), 1);
        assert_eq!(millis(Duration::from_micros(1_500)), 2);
        assert_eq!(millis(Duration::from_millis(300)), 300);
        assert_eq!(millis(Duration::from_secs(60)), 60_000);
        assert_eq!(millis(Duration::MAX), MAX_MILLIS);
        assert_eq!(millis(Duration::from_millis(MAX_MILLIS + 1)), MAX_MILLIS);
    }
}
