//! `sweep`: one pass of the sweeper, which deletes stored objects that no database row
//! refers to, with its report printed as a table.

use std::time::Duration;

use anyhow::Context as _;
use imagevault::{SweepOptions, SweepReport, Vault};

use crate::cli::SweepArgs;
use crate::progress::Progress;
use crate::table;

/// Runs one sweeper pass and prints what it found and did.
pub(crate) async fn run(vault: &Vault, args: SweepArgs) -> anyhow::Result<()> {
    let mut options = SweepOptions::with_grace(Duration::from_secs(args.grace_secs));
    options.dry_run = args.dry_run;
    // The total is known only when the listing ends: a count of objects scanned so far.
    let progress = Progress::new("sweep", "objects scanned", None);
    let report = vault
        .sweep_with_progress(&options, |so_far| progress.set(so_far.scanned, None))
        .await
        .context("the sweep stopped; run it again to go on")?;
    progress.finish();
    print!("{}", render(&report, args.grace_secs));
    Ok(())
}

/// The report: a sentence, then one row per outcome.
fn render(report: &SweepReport, grace_secs: u64) -> String {
    let (verb, deleted) = if report.dry_run {
        ("would delete", "to delete")
    } else {
        ("deleted", "deleted")
    };
    let row = |name: &str, count: u64, meaning: &str| {
        vec![name.to_owned(), count.to_string(), meaning.to_owned()]
    };
    let rows = [
        row(
            "scanned",
            report.scanned,
            "originals and thumbnails in storage",
        ),
        row(
            "referenced",
            report.referenced,
            "kept: a database row refers to them",
        ),
        row(
            deleted,
            report.deleted,
            "unreferenced, older than the grace period",
        ),
        row(
            "young",
            report.kept_young,
            "kept: unreferenced, within the grace period",
        ),
        row(
            "undated",
            report.kept_undated,
            "kept: the storage does not date them",
        ),
        row(
            "failed",
            report.failed,
            "not deleted (logged); the next sweep retries",
        ),
    ];
    let noun = if report.deleted == 1 {
        "object"
    } else {
        "objects"
    };
    let mut out = format!(
        "{}{verb} {} unreferenced {noun} ({} bytes) older than {grace_secs} s\n",
        if report.dry_run { "dry run: " } else { "" },
        report.deleted,
        report.deleted_bytes,
    );
    out.push_str(&table::render(&["OBJECTS", "COUNT", "MEANING"], &rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_say_what_a_dry_run_would_do() {
        let mut report = SweepReport::default();
        report.scanned = 3;
        report.referenced = 2;
        report.deleted = 1;
        report.deleted_bytes = 2048;
        report.dry_run = true;
        let text = render(&report, 3600);
        assert!(
            text.starts_with(
                "dry run: would delete 1 unreferenced object (2048 bytes) older than 3600 s\n"
            ),
            "{text}"
        );
        assert!(text.contains("\nto delete   1      unreferenced"), "{text}");
        report.dry_run = false;
        report.deleted = 2;
        assert!(render(&report, 60).starts_with("deleted 2 unreferenced objects"));
    }
}
