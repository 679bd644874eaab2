//! How the console writes times, sizes and durations for people: one place, so every page
//! says them alike. (The JSON API writes RFC 3339 and bytes; these are for reading.)
//!
//! Shared by the user pages and the administrators' console; add new helpers at the end.

use chrono::{DateTime, TimeDelta, Utc};
use maud::{Markup, html};

use crate::schema;

/// A moment in UTC to the minute, as pages show it: `2026-12-07 04:20 UTC`.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A `<time>` element of [`timestamp`], with the exact moment (RFC 3339, as the API writes
/// it) for machines.
pub(crate) fn time(at: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(schema::timestamp(at)) { (timestamp(at)) }
    }
}

/// A byte count for people, in binary units with one decimal: `512 B`, `1.5 KiB`,
/// `23.4 MiB`.
pub(crate) fn size(bytes: u64) -> String {
    imagevault_core::human_size(bytes)
}

/// The time until `until`, seen at `now`, rounded down to what matters: `4 h 05 min`,
/// `12 min 30 s`, `45 s`; `expired` once it has passed.
pub(crate) fn time_left(now: DateTime<Utc>, until: DateTime<Utc>) -> String {
    let left = until - now;
    if left <= TimeDelta::zero() {
        return "expired".to_owned();
    }
    let seconds = left.num_seconds();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours} h {minutes:02} min")
    } else if minutes > 0 {
        format!("{minutes} min {seconds:02} s")
    } else {
        format!("{seconds} s")
    }
}

/// Yes or no, for a plan's switches.
pub(crate) fn yes_no(value: bool) -> &'static str {
    if value { "Yes" } else { "No" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_to_the_minute() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T04:20:59.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(at), "2026-12-07 04:20 UTC");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(size(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn time_left_counts_down_to_expired() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let after = |seconds| now + TimeDelta::seconds(seconds);
        assert_eq!(time_left(now, after(45)), "45 s");
        assert_eq!(time_left(now, after(750)), "12 min 30 s");
        assert_eq!(time_left(now, after(30_000)), "8 h 20 min");
        assert_eq!(time_left(now, after(3_660)), "1 h 01 min");
        assert_eq!(time_left(now, now), "expired");
        assert_eq!(time_left(after(10), now), "expired");
    }
}
