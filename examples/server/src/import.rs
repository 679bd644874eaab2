//! `admin import --user NAME PATH...`: a bulk import of image files and directory trees,
//! through the vault's normal upload (the same checks, limits and quotas as the API).
//!
//! It goes on past bad files and reports each one. It can be run again after an
//! interruption: a file whose content the user already has (the same SHA-256, see
//! [`ContentDigest`]) is skipped. Images uploaded before digests were recorded have none,
//! so they are not recognised and would be imported again.

use std::collections::HashMap;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::bail;
use futures::StreamExt as _;
use imagevault::core::ContentDigest;
use imagevault::core::imaging::{DETECT_FORMAT_BYTES, detect_format};
use imagevault::{Account, ImageId, Upload, Vault, VaultConfig, VaultError};

use crate::admin::find_user;
use crate::cli::{Global, ImportArgs};
use crate::progress::Progress;
use crate::run::is_in_process_queue;
use crate::thumbnails::{finish_queued_work, work_in_process};

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Stored as this image.
    Imported(ImageId),
    /// The user has this content already, as this image.
    AlreadyImported(ImageId),
    /// The same content as another file of this import, which is imported instead.
    Duplicate(PathBuf),
    /// Not a PNG or JPEG file; what its bytes look like.
    NotAnImage(&'static str),
    /// Could not be imported, and why.
    Failed(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Imported(id) => write!(f, "imported as {id}"),
            Self::AlreadyImported(id) => write!(f, "skipped: already imported as {id}"),
            Self::Duplicate(path) => {
                write!(f, "skipped: same content as {}", path.display())
            }
            Self::NotAnImage(looks_like) => write!(
                f,
                "skipped: not a png or jpeg file (its content looks like {looks_like})"
            ),
            Self::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

/// A file found under the paths given, with its size when listed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    path: PathBuf,
    bytes: u64,
}

/// The files under `paths`: files as given, directories walked recursively (symbolic links
/// followed, each directory once), in name order. Paths that cannot be read are reported
/// as failures in `unreadable`.
fn collect_files(paths: &[PathBuf], unreadable: &mut Vec<(PathBuf, String)>) -> Vec<Found> {
    let mut found = Vec::new();
    let mut visited = std::collections::HashSet::new();
    let mut pending: Vec<PathBuf> = paths.iter().rev().cloned().collect();
    while let Some(path) = pending.pop() {
        let metadata = match std::fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(error) => {
                unreadable.push((path, format!("cannot read it: {error}")));
                continue;
            }
        };
        if metadata.is_file() {
            found.push(Found {
                path,
                bytes: metadata.len(),
            });
            continue;
        }
        if !metadata.is_dir() {
            unreadable.push((path, "neither a file nor a directory".to_owned()));
            continue;
        }
        // A link back to a parent would otherwise be walked forever.
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !visited.insert(canonical) {
            continue;
        }
        let entries = std::fs::read_dir(&path).and_then(|entries| {
            entries
                .map(|entry| entry.map(|entry| entry.path()))
                .collect::<Result<Vec<_>, _>>()
        });
        match entries {
            Ok(mut entries) => {
                entries.sort();
                pending.extend(entries.into_iter().rev());
            }
            Err(error) => unreadable.push((path, format!("cannot list the directory: {error}"))),
        }
    }
    found
}

/// The first bytes of a file, enough for [`detect_format`].
fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(DETECT_FORMAT_BYTES);
    std::fs::File::open(path)?
        .take(DETECT_FORMAT_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// Shared by the files imported at once.
struct Importer<'a> {
    vault: &'a Vault,
    account: Account,
    /// The digests of this run's files, with the first file of each, so that two copies
    /// of one content in the tree are imported once even when read at the same time.
    seen: Mutex<HashMap<ContentDigest, PathBuf>>,
}

impl Importer<'_> {
    async fn import(&self, file: &Found) -> Outcome {
        match self.try_import(file).await {
            Ok(outcome) => outcome,
            Err(reason) => Outcome::Failed(reason),
        }
    }

    async fn try_import(&self, file: &Found) -> Result<Outcome, String> {
        let max_bytes = self.vault.config().limits.max_bytes;
        let path = file.path.clone();
        let head = tokio::task::spawn_blocking(move || read_head(&path))
            .await
            .map_err(|error| format!("reading it failed: {error}"))?
            .map_err(|error| format!("cannot read it: {error}"))?;
        if let Err(looks_like) = detect_format(&head) {
            return Ok(Outcome::NotAnImage(looks_like));
        }
        // Checked before reading it whole; the upload checks again.
        if file.bytes > max_bytes {
            return Err(format!(
                "{} bytes, more than the {max_bytes} allowed (--max-upload-bytes)",
                file.bytes
            ));
        }
        let data = tokio::fs::read(&file.path)
            .await
            .map_err(|error| format!("cannot read it: {error}"))?;
        let (data, digest) = tokio::task::spawn_blocking(move || {
            let digest = ContentDigest::of(&data);
            (data, digest)
        })
        .await
        .map_err(|error| format!("hashing it failed: {error}"))?;
        if let Some(first) = self.first_with(digest, &file.path) {
            return Ok(Outcome::Duplicate(first));
        }
        let owner = self.account.user.id;
        let existing = self
            .vault
            .repo()
            .find_image_by_digest(owner, &digest)
            .await
            .map_err(|error| VaultError::from(error).to_string())?;
        if let Some(id) = existing {
            return Ok(Outcome::AlreadyImported(id));
        }
        let file_name = file
            .path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        match self
            .vault
            .upload(&self.account, Upload::file(file_name, data))
            .await
        {
            Ok(view) => Ok(Outcome::Imported(view.image.id)),
            Err(error) => Err(error.to_string()),
        }
    }

    /// The file of this run that had `digest` first, if it was not `path`; records `path`
    /// as the first otherwise.
    fn first_with(&self, digest: ContentDigest, path: &Path) -> Option<PathBuf> {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match seen.get(&digest) {
            Some(first) => Some(first.clone()),
            None => {
                seen.insert(digest, path.to_path_buf());
                None
            }
        }
    }
}

/// The tally printed at the end.
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    imported: u64,
    already_imported: u64,
    not_images: u64,
    failed: u64,
}

impl Summary {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Imported(_) => self.imported += 1,
            Outcome::AlreadyImported(_) | Outcome::Duplicate(_) => self.already_imported += 1,
            Outcome::NotAnImage(_) => self.not_images += 1,
            Outcome::Failed(_) => self.failed += 1,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} imported, {} skipped as already imported, {} skipped as not images, {} failed",
            self.imported, self.already_imported, self.not_images, self.failed
        )
    }
}

/// Lets the vault of `admin import` take the files it reads at once, which are uploads in
/// progress of one user.
pub(crate) fn configure(args: &ImportArgs, config: &mut VaultConfig) {
    config.max_uploads_per_user = config
        .max_uploads_per_user
        .max(usize::from(args.concurrency));
}

/// Runs `admin import` on a vault set up by [`configure`]: each file's outcome on its own
/// line of standard output, then the summary; progress on standard error.
pub(crate) async fn run(vault: &Vault, global: &Global, args: ImportArgs) -> anyhow::Result<()> {
    let user = find_user(vault.repo().as_ref(), &args.user).await?;
    let plan = match user.plan_id {
        Some(plan) => vault
            .repo()
            .get_plan(plan)
            .await
            .map_err(VaultError::from)?,
        None => None,
    };
    if plan.is_none() {
        bail!(
            "{:?} has no plan, so cannot own images; give them one with `admin set-plan`",
            user.username.as_str()
        );
    }
    let account = Account { user, plan };

    let mut unreadable = Vec::new();
    let files = collect_files(&args.paths, &mut unreadable);
    let mut summary = Summary::default();
    for (path, reason) in &unreadable {
        let outcome = Outcome::Failed(reason.clone());
        println!("{}: {outcome}", path.display());
        summary.add(&outcome);
    }
    let total_bytes = files.iter().map(|file| file.bytes).sum();
    let progress =
        Progress::new("import", "files", Some(files.len() as u64)).with_bytes(total_bytes);
    let importer = Importer {
        vault,
        account,
        seen: Mutex::new(HashMap::new()),
    };
    let in_process = is_in_process_queue(&global.queue);
    let all_queued = AtomicBool::new(false);
    // With the in-process queue, thumbnails are made while the files are read.
    let thumbnails = async {
        if in_process {
            Some(work_in_process(vault, &all_queued).await)
        } else {
            None
        }
    };
    let imports = async {
        let importer = &importer;
        let mut outcomes = futures::stream::iter(&files)
            .map(|file| async move { (file, importer.import(file).await) })
            .buffered(usize::from(args.concurrency));
        while let Some((file, outcome)) = outcomes.next().await {
            println!("{}: {outcome}", file.path.display());
            summary.add(&outcome);
            progress.advance(1, file.bytes);
        }
        progress.finish();
        all_queued.store(true, Ordering::Release);
    };
    let ((), work) = tokio::join!(imports, thumbnails);
    println!("{summary}");
    match work {
        Some(work) => println!("{}", work?),
        None => finish_queued_work(vault, global).await?,
    }
    if summary.failed > 0 {
        bail!(
            "{} of {} file(s) could not be imported (listed above with the reason); fix them and run the same import again: what was imported is skipped",
            summary.failed,
            files.len() + unreadable.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_are_walked_in_name_order_and_missing_paths_reported() {
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        std::fs::write(root.join("b/c/2.png"), b"x").unwrap();
        std::fs::write(root.join("b/1.jpg"), b"xy").unwrap();
        std::fs::write(root.join("a.txt"), b"xyz").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root, root.join("b/loop")).unwrap();
        let mut unreadable = Vec::new();
        let found = collect_files(&[root.to_path_buf(), root.join("missing")], &mut unreadable);
        let names: Vec<_> = found
            .iter()
            .map(|file| file.path.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            [
                PathBuf::from("a.txt"),
                PathBuf::from("b/1.jpg"),
                PathBuf::from("b/c/2.png")
            ]
        );
        assert_eq!(found[0].bytes, 3);
        assert_eq!(unreadable.len(), 1);
        assert!(
            unreadable[0].1.starts_with("cannot read it"),
            "{unreadable:?}"
        );
    }

    #[test]
    fn the_summary_counts_each_outcome() {
        let mut summary = Summary::default();
        for outcome in [
            Outcome::Imported(ImageId::new()),
            Outcome::AlreadyImported(ImageId::new()),
            Outcome::Duplicate(PathBuf::from("a.png")),
            Outcome::NotAnImage("text"),
            Outcome::Failed("bad".to_owned()),
        ] {
            summary.add(&outcome);
        }
        assert_eq!(
            summary.to_string(),
            "1 imported, 2 skipped as already imported, 1 skipped as not images, 1 failed"
        );
        assert_eq!(
            Outcome::NotAnImage("gif").to_string(),
            "skipped: not a png or jpeg file (its content looks like gif)"
        );
    }
}
