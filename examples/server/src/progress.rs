//! Progress of the long commands (`admin import`, the thumbnail work of `admin` commands,
//! `sweep`), on standard error so that standard output keeps only the result: a progress
//! bar on a terminal, and otherwise (a log file, a pipe, CI) a plain line every
//! [`PLAIN_EVERY`] and a last one at the end, which read well in a log.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the plain form prints a line while work goes on.
pub(crate) const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// The bar of work with a known total, and the spinner of work without one.
const BAR_TEMPLATE: &str = "{prefix}: [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} (eta {eta})";
const SPINNER_TEMPLATE: &str = "{prefix}: [{elapsed_precise}] {spinner} {pos} {msg}";

/// How often a terminal's bar is redrawn.
const BAR_REDRAWS_PER_SECOND: u8 = 10;

/// The counts a progress display shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    done: u64,
    /// `None` while the total is not known (a sweep's listing).
    total: Option<u64>,
    /// Bytes done and in all, for work measured in files too (an import).
    bytes: Option<(u64, u64)>,
}

/// One piece of work's progress, shown as a bar or as plain lines.
///
/// Shared by the tasks that do the work (`&Progress` is enough to report).
#[derive(Debug)]
pub(crate) struct Progress {
    /// What is counted, such as `"files"`, and the work's name.
    unit: &'static str,
    label: &'static str,
    started: Instant,
    state: Mutex<State>,
    bar: Option<ProgressBar>,
}

#[derive(Debug)]
struct State {
    counts: Counts,
    /// When the plain form last printed, if it has.
    printed_at: Option<Instant>,
    finished: bool,
}

impl Progress {
    /// Progress of `label` counted in `unit`, out of `total` when known: a bar when standard
    /// error is a terminal, plain lines otherwise.
    pub(crate) fn new(label: &'static str, unit: &'static str, total: Option<u64>) -> Self {
        Self::with_form(label, unit, total, std::io::stderr().is_terminal())
    }

    fn with_form(
        label: &'static str,
        unit: &'static str,
        total: Option<u64>,
        terminal: bool,
    ) -> Self {
        let bar = terminal.then(|| {
            let bar = match total {
                Some(total) => ProgressBar::new(total),
                None => ProgressBar::new_spinner(),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(BAR_REDRAWS_PER_SECOND));
            let template = if total.is_some() {
                BAR_TEMPLATE
            } else {
                SPINNER_TEMPLATE
            };
            // The templates are fixed: a bad one is a bug, shown by the unit tests.
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_prefix(label);
            bar.enable_steady_tick(Duration::from_millis(
                1000 / u64::from(BAR_REDRAWS_PER_SECOND),
            ));
            bar
        });
        let progress = Self {
            unit,
            label,
            started: Instant::now(),
            state: Mutex::new(State {
                counts: Counts {
                    total,
                    ..Counts::default()
                },
                printed_at: None,
                finished: false,
            }),
            bar,
        };
        progress.update(|_| {});
        progress
    }

    /// Counts bytes too, `total` of them in all.
    pub(crate) fn with_bytes(self, total: u64) -> Self {
        self.update(|counts| counts.bytes = Some((0, total)));
        self
    }

    /// `units` more done, with `bytes` more of the byte count.
    pub(crate) fn advance(&self, units: u64, bytes: u64) {
        self.update(|counts| {
            counts.done += units;
            if let Some((done, _)) = &mut counts.bytes {
                *done += bytes;
            }
        });
    }

    /// Sets what is done and the total, for work whose total grows as it is found.
    pub(crate) fn set(&self, done: u64, total: Option<u64>) {
        self.update(|counts| {
            counts.done = done;
            counts.total = total;
        });
    }

    /// Ends the display: the bar is left as it is, the plain form prints its last line.
    pub(crate) fn finish(&self) {
        let mut state = self.lock();
        if std::mem::replace(&mut state.finished, true) {
            return;
        }
        match &self.bar {
            Some(bar) => bar.finish(),
            None => self.print(&state.counts),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is counts only: one a panicking reporter left is still good to show.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, change: impl FnOnce(&mut Counts)) {
        let mut state = self.lock();
        change(&mut state.counts);
        let counts = state.counts;
        match &self.bar {
            Some(bar) => {
                if let Some(total) = counts.total {
                    bar.set_length(total);
                }
                bar.set_position(counts.done);
                let message = bytes_text(&counts).unwrap_or_else(|| self.unit.to_owned());
                bar.set_message(message);
            }
            None => {
                let now = Instant::now();
                let due = state
                    .printed_at
                    .is_none_or(|at| now.duration_since(at) >= PLAIN_EVERY);
                if due && !state.finished {
                    state.printed_at = Some(now);
                    self.print(&counts);
                }
            }
        }
    }

    fn print(&self, counts: &Counts) {
        let line = plain_line(self.label, self.unit, counts, self.started.elapsed());
        // Progress is a courtesy: a closed stderr must not stop the work.
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // A display dropped on an error path still ends cleanly (no bar left spinning).
        self.finish();
    }
}

/// `"12.0 MiB/40.0 MiB"`, for work that counts bytes.
fn bytes_text(counts: &Counts) -> Option<String> {
    counts
        .bytes
        .map(|(done, total)| format!("{}/{}", HumanBytes(done), HumanBytes(total)))
}

/// The plain form's line: `import: 3/9 files (33%), 1.2 MiB/5.0 MiB, 4.2 s`.
fn plain_line(label: &str, unit: &str, counts: &Counts, elapsed: Duration) -> String {
    let mut line = match counts.total {
        Some(0) => format!("{label}: 0/0 {unit} (100%)"),
        Some(total) => format!(
            "{label}: {}/{total} {unit} ({}%)",
            counts.done,
            counts.done.saturating_mul(100) / total
        ),
        None => format!("{label}: {} {unit}", counts.done),
    };
    if let Some(bytes) = bytes_text(counts) {
        line.push_str(", ");
        line.push_str(&bytes);
    }
    line.push_str(&format!(", {:.1} s", elapsed.as_secs_f64()));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_give_counts_share_bytes_and_time() {
        let counts = Counts {
            done: 3,
            total: Some(9),
            bytes: Some((1024 * 1024, 5 * 1024 * 1024)),
        };
        assert_eq!(
            plain_line("import", "files", &counts, Duration::from_millis(4200)),
            "import: 3/9 files (33%), 1.00 MiB/5.00 MiB, 4.2 s"
        );
        let open_ended = Counts {
            done: 700,
            ..Counts::default()
        };
        assert_eq!(
            plain_line("sweep", "objects", &open_ended, Duration::ZERO),
            "sweep: 700 objects, 0.0 s"
        );
        let nothing = Counts {
            total: Some(0),
            ..Counts::default()
        };
        assert_eq!(
            plain_line("thumbnails", "jobs", &nothing, Duration::ZERO),
            "thumbnails: 0/0 jobs (100%), 0.0 s"
        );
    }

    #[test]
    fn the_bar_templates_are_valid_and_a_finished_display_stays_finished() {
        for template in [BAR_TEMPLATE, SPINNER_TEMPLATE] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
        for total in [Some(10), None] {
            let progress = Progress::with_form("test", "items", total, true);
            progress.advance(1, 0);
            progress.finish();
            progress.finish();
            assert!(progress.bar.as_ref().is_some_and(ProgressBar::is_finished));
        }
        let plain = Progress::with_form("test", "items", Some(2), false).with_bytes(10);
        plain.advance(2, 10);
        plain.finish();
        let state = plain.lock();
        assert!(state.finished);
        assert_eq!(state.counts.bytes, Some((10, 10)));
    }
}
