//! The Lua scripts behind every change of a job's state.
//!
//! Redis runs a script as one step, so a job is never in two states, nor in none, whatever
//! other workers do at the same moment. The sources are in `src/scripts/*.lua`; each
//! starts with `now.lua`, which reads the server's clock. [`redis::Script`] sends a
//! script's SHA-1 and loads the source when the server does not know it yet (after a
//! restart, say).

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($file:literal) => {
        LazyLock::new(|| {
            Script::new(concat!(
                include_str!("scripts/now.lua"),
                include_str!(concat!("scripts/", $file))
            ))
        })
    };
}

/// Adds a job, or merges it into an equal one waiting for its first delivery: see
/// `scripts/enqueue.lua`.
pub(crate) static ENQUEUE: LazyLock<Script> = script!("enqueue.lua");

/// Leases the oldest ready job, first moving due retries and lapsed leases to the ready
/// list: see `scripts/reserve.lua`.
pub(crate) static RESERVE: LazyLock<Script> = script!("reserve.lua");

/// Acknowledges, retries or dead-letters one delivery, if it still holds its job: see
/// `scripts/settle.lua`.
pub(crate) static SETTLE: LazyLock<Script> = script!("settle.lua");

/// Counts the jobs in each state: see `scripts/depth.lua`.
pub(crate) static DEPTH: LazyLock<Script> = script!("depth.lua");

/// The settle actions `scripts/settle.lua` knows.
pub(crate) mod action {
    /// The job is done: remove it.
    pub(crate) const ACK: &str = "ack";
    /// Deliver the job again after a delay.
    pub(crate) const RETRY: &str = "retry";
    /// Move the job to the dead letters.
    pub(crate) const DEAD: &str = "dead";
}
