//! Work holders: the running processes that hold leases on thumbnail work, and the rule
//! that tells a live one from a dead one.
//!
//! A pending thumbnail row names the holder of its lease
//! ([`Thumbnail::lease_holder`](crate::Thumbnail::lease_holder)). A holder heartbeats
//! every [`HOLDER_HEARTBEAT`]; once it is judged dead and its record removed, its rows can
//! be claimed by anyone at once, without waiting for their lease to lapse. That is what
//! lets a server restarted after a crash take up the work its in-process queue lost,
//! while a second process sharing the database never takes work a live process holds.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

pub use crate::id::HolderId;

/// How often a holder renews its heartbeat.
pub const HOLDER_HEARTBEAT: Duration = Duration::from_secs(2);

/// How old a holder's heartbeat may get before the holder counts as dead, whatever
/// machine it runs on: several missed heartbeats, so that a busy database or a paused
/// process is not taken for a dead one. Taking work from a holder that was alive after
/// all costs a duplicate job, which is harmless (jobs are idempotent).
pub const HOLDER_TIMEOUT: Duration = Duration::from_secs(10);

/// What identifies a process on its machine: enough for another process on the same
/// machine (and in the same PID namespace) to tell whether it still runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcessIdentity {
    /// The machine and PID namespace: the kernel's boot id and the namespace's inode, so
    /// that two processes with equal keys see the same process ids. A reboot or another
    /// container gives another key.
    pub machine: String,
    /// The process id, in that namespace.
    pub pid: u32,
    /// When the process started, in clock ticks after boot (field 22 of
    /// `/proc/<pid>/stat`): a process id reused by a later process has another.
    pub started: u64,
}

/// The state of a process as seen from the same machine ([`ProcessIdentity::probe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessProbe {
    /// A process with this id runs, started at this time (clock ticks after boot).
    Running {
        /// Its start time.
        started: u64,
    },
    /// No process with this id runs (a zombie, killed but not yet reaped, counts as gone).
    Gone,
    /// The process table could not be read, so nothing is known.
    Unknown,
}

impl ProcessIdentity {
    /// This process's identity; `None` where the process table cannot be read (outside
    /// Linux), and then holders are judged by their heartbeat alone.
    pub fn current() -> Option<Self> {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
        let pid = std::process::id();
        let ProcessProbe::Running { started } = Self::probe(pid) else {
            return None;
        };
        Some(Self {
            machine: format!("{}/{}", boot.trim(), namespace.display()),
            pid,
            started,
        })
    }

    /// Whether process `pid` of this machine runs, and since when.
    pub fn probe(pid: u32) -> ProcessProbe {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => parse_stat(&stat).unwrap_or(ProcessProbe::Unknown),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => ProcessProbe::Gone,
            Err(_) => ProcessProbe::Unknown,
        }
    }
}

/// Reads the state and start time out of a `/proc/<pid>/stat` line. The command name (field
/// 2) is in parentheses and may hold spaces and parentheses itself, so the fields are
/// counted from the last `)`.
fn parse_stat(stat: &str) -> Option<ProcessProbe> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace();
    // Field 3 is the state; field 22 the start time, 19 fields further.
    let state = fields.next()?;
    if matches!(state, "Z" | "X" | "x") {
        return Some(ProcessProbe::Gone);
    }
    let started = fields.nth(18)?.parse().ok()?;
    Some(ProcessProbe::Running { started })
}

/// A registered holder of thumbnail work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderRecord {
    /// The holder, named by the rows it leases.
    pub id: HolderId,
    /// The process that holds, where it could tell ([`ProcessIdentity::current`]).
    pub process: Option<ProcessIdentity>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
}

/// Why a holder counts as dead ([`HolderRecord::death`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderDeath {
    /// No heartbeat for longer than [`HOLDER_TIMEOUT`].
    TimedOut,
    /// On this machine, its process no longer runs.
    ProcessGone,
    /// On this machine, its process id belongs to a later process.
    ProcessReplaced,
}

impl HolderRecord {
    /// Why this holder is dead, as judged at `now` by the process `observer` (`None` where
    /// it cannot tell its own identity), with `probe` telling whether a process of the
    /// observer's machine runs ([`ProcessIdentity::probe`]); `None` while it is alive.
    ///
    /// A holder is dead once its heartbeat is older than [`HOLDER_TIMEOUT`]; one on the
    /// observer's machine (same machine key) is dead at once when its process is gone or
    /// its process id now belongs to a process started at another time. A holder on
    /// another machine, or of unknown process, is judged by its heartbeat alone.
    pub fn death(
        &self,
        now: DateTime<Utc>,
        observer: Option<&ProcessIdentity>,
        probe: impl FnOnce(u32) -> ProcessProbe,
    ) -> Option<HolderDeath> {
        let timeout = TimeDelta::from_std(HOLDER_TIMEOUT).unwrap_or(TimeDelta::MAX);
        if now - self.heartbeat_at > timeout {
            return Some(HolderDeath::TimedOut);
        }
        let (Some(observer), Some(process)) = (observer, &self.process) else {
            return None;
        };
        if observer.machine != process.machine {
            return None;
        }
        match probe(process.pid) {
            ProcessProbe::Gone => Some(HolderDeath::ProcessGone),
            ProcessProbe::Running { started } if started != process.started => {
                Some(HolderDeath::ProcessReplaced)
            }
            ProcessProbe::Running { .. } | ProcessProbe::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn process(machine: &str, pid: u32, started: u64) -> ProcessIdentity {
        ProcessIdentity {
            machine: machine.into(),
            pid,
            started,
        }
    }

    fn holder(process: Option<ProcessIdentity>, heartbeat_at: DateTime<Utc>) -> HolderRecord {
        HolderRecord {
            id: HolderId::new(),
            process,
            heartbeat_at,
        }
    }

    fn never_probed(pid: u32) -> ProcessProbe {
        panic!("process {pid} of another machine must not be probed")
    }

    #[test]
    fn a_heartbeat_older_than_the_timeout_is_dead_on_any_machine() {
        let timeout = i64::try_from(HOLDER_TIMEOUT.as_secs()).unwrap();
        let observer = process("machine-a", 1, 100);
        for record in [
            holder(Some(process("machine-b", 7, 5)), at(0)),
            holder(None, at(0)),
        ] {
            assert_eq!(
                record.death(at(timeout), Some(&observer), never_probed),
                None,
                "a heartbeat exactly the timeout old is still alive"
            );
            assert_eq!(
                record.death(at(timeout + 1), Some(&observer), never_probed),
                Some(HolderDeath::TimedOut)
            );
            assert_eq!(
                record.death(at(timeout + 1), None, never_probed),
                Some(HolderDeath::TimedOut)
            );
        }
    }

    #[test]
    fn a_holder_of_another_machine_or_namespace_is_judged_by_its_heartbeat_alone() {
        let observer = process("boot-1/pid:[1]", 1, 100);
        let record = holder(Some(process("boot-1/pid:[2]", 7, 5)), at(0));
        assert_eq!(record.death(at(1), Some(&observer), never_probed), None);
        assert_eq!(
            holder(None, at(0)).death(at(1), Some(&observer), never_probed),
            None
        );
        assert_eq!(
            record.death(at(1), None, never_probed),
            None,
            "an observer that cannot tell its machine probes nothing"
        );
    }

    #[test]
    fn a_holder_of_this_machine_whose_process_is_gone_or_replaced_is_dead_at_once() {
        let observer = process("boot-1/pid:[1]", 1, 100);
        let record = holder(Some(process("boot-1/pid:[1]", 7, 5)), at(0));
        let probe = |answer: ProcessProbe| {
            move |pid: u32| {
                assert_eq!(pid, 7, "the holder's own process is probed");
                answer
            }
        };
        assert_eq!(
            record.death(at(0), Some(&observer), probe(ProcessProbe::Gone)),
            Some(HolderDeath::ProcessGone)
        );
        assert_eq!(
            record.death(
                at(0),
                Some(&observer),
                probe(ProcessProbe::Running { started: 6 })
            ),
            Some(HolderDeath::ProcessReplaced)
        );
        assert_eq!(
            record.death(
                at(0),
                Some(&observer),
                probe(ProcessProbe::Running { started: 5 })
            ),
            None
        );
        assert_eq!(
            record.death(at(0), Some(&observer), probe(ProcessProbe::Unknown)),
            None,
            "a process table that cannot be read proves nothing"
        );
    }

    #[test]
    fn stat_lines_are_read_from_the_last_parenthesis() {
        let running = "4242 (odd) name) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 \
                       987654 1000 100 18446744073709551615";
        assert_eq!(
            parse_stat(running),
            Some(ProcessProbe::Running { started: 987_654 })
        );
        let zombie = "4242 (server) Z 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 \
                      987654 0 0";
        assert_eq!(parse_stat(zombie), Some(ProcessProbe::Gone));
        assert_eq!(parse_stat("4242 (cut"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_running_and_a_child_that_exited_is_gone() {
        let me = ProcessIdentity::current().expect("Linux has a process table");
        assert_eq!(
            ProcessIdentity::probe(me.pid),
            ProcessProbe::Running {
                started: me.started
            }
        );
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(ProcessIdentity::probe(pid), ProcessProbe::Gone);
    }
}
