//! Buffers that remember the file they were read from, so that a server can hand the
//! kernel the file instead of the bytes (`sendfile(2)`) and skip copying them into the
//! socket.
//!
//! Local storage reads every chunk of at least [`MIN_FILE_BACKED_LEN`] bytes into a
//! file-backed buffer: an ordinary [`Bytes`] whose contents are the file's bytes at an
//! offset, and which keeps the file open while it lives. Whatever holds such a buffer (a
//! response body, the vault's media cache) uses it as any other. A writer that can send
//! from a file asks [`find`] whether the slice it is given lies in one, and if so sends the
//! same bytes from the file. Slices of a buffer (a byte range of a cached object) are found
//! too, at their own offset.
//!
//! The bytes are the file's as read: stored objects are written once under a fresh key and
//! only ever deleted, and an open file keeps its contents after it is unlinked. Should a
//! file be truncated behind the store's back, `sendfile` comes up short and the writer
//! falls back to the buffer.
//!
//! ```
//! use std::io::Write as _;
//! use std::sync::Arc;
//! use imagevault_core::storage::file_backed;
//!
//! let mut file = tempfile::tempfile()?;
//! let contents = vec![7u8; file_backed::MIN_FILE_BACKED_LEN];
//! file.write_all(&contents)?;
//! let file = Arc::new(file);
//! let bytes = file_backed::buffer(contents, Arc::clone(&file), 0);
//!
//! let tail = bytes.slice(100..);
//! let found = file_backed::find(&tail).expect("a slice of a file-backed buffer");
//! assert_eq!(found.offset, 100);
//! assert!(Arc::ptr_eq(&found.file, &file));
//! assert!(file_backed::find(&vec![7u8; 10]).is_none());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

use bytes::Bytes;

/// The shortest chunk read into a file-backed buffer. Copying less costs about what
/// sending it from the file saves, and every file-backed buffer holds a file open: with
/// the media cache's 32 MiB, this keeps at most 512 files open for it.
pub const MIN_FILE_BACKED_LEN: usize = 64 * 1024;

/// Where a file-backed slice's bytes are in its file.
#[derive(Debug, Clone)]
pub struct FileRegion {
    /// The file, open for reading.
    pub file: Arc<File>,
    /// The offset in `file` of the slice's first byte.
    pub offset: u64,
}

/// A live file-backed buffer, by the address of its first byte.
#[derive(Debug)]
struct Registered {
    /// One past the address of its last byte.
    end: usize,
    file: Arc<File>,
    /// The offset in `file` of its first byte.
    offset: u64,
}

/// Every live file-backed buffer. An entry is added before its buffer is handed out and
/// removed before its memory is freed, so an address found here is that buffer's, never a
/// later allocation's at the same place.
static REGISTRY: LazyLock<RwLock<BTreeMap<usize, Registered>>> =
    LazyLock::new(|| RwLock::new(BTreeMap::new()));

/// How many entries [`REGISTRY`] holds, so that a process with none (object storage that is
/// not local) never takes its lock.
static LIVE: AtomicUsize = AtomicUsize::new(0);

fn registry_write() -> std::sync::RwLockWriteGuard<'static, BTreeMap<usize, Registered>> {
    // Nothing panics while holding the lock, so a poisoned one holds consistent entries.
    REGISTRY
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The owner of a file-backed buffer's memory: unregisters it before freeing it.
struct Owner {
    data: Box<[u8]>,
}

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let removed = registry_write().remove(&(self.data.as_ptr() as usize));
        if removed.is_some() {
            LIVE.fetch_sub(1, Ordering::Release);
        }
    }
}

/// `contents`, which were read from `file` at `offset`, as a buffer that [`find`] maps back
/// to the file. Shorter than [`MIN_FILE_BACKED_LEN`], it is an ordinary buffer.
pub fn buffer(contents: Vec<u8>, file: Arc<File>, offset: u64) -> Bytes {
    if contents.len() < MIN_FILE_BACKED_LEN {
        return Bytes::from(contents);
    }
    let data = contents.into_boxed_slice();
    let start = data.as_ptr() as usize;
    let entry = Registered {
        end: start + data.len(),
        file,
        offset,
    };
    registry_write().insert(start, entry);
    LIVE.fetch_add(1, Ordering::Release);
    Bytes::from_owner(Owner { data })
}

/// Where `slice`'s bytes are in a file, if they lie wholly in one live file-backed buffer.
pub fn find(slice: &[u8]) -> Option<FileRegion> {
    if slice.is_empty() || LIVE.load(Ordering::Acquire) == 0 {
        return None;
    }
    let registry = REGISTRY
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    locate(&registry, slice.as_ptr() as usize, slice.len())
}

/// The file region of the `len` bytes at address `start`, if one entry holds them all.
fn locate(registry: &BTreeMap<usize, Registered>, start: usize, len: usize) -> Option<FileRegion> {
    let (&buffer_start, entry) = registry.range(..=start).next_back()?;
    let end = start.checked_add(len)?;
    (end <= entry.end).then(|| FileRegion {
        file: Arc::clone(&entry.file),
        offset: entry.offset + (start - buffer_start) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Arc<File> {
        Arc::new(tempfile::tempfile().expect("a temporary file"))
    }

    #[test]
    fn slices_are_found_at_their_offset() {
        let file = file();
        let bytes = buffer(vec![1; MIN_FILE_BACKED_LEN * 2], Arc::clone(&file), 1000);
        let whole = find(&bytes).expect("the buffer is file-backed");
        assert_eq!(whole.offset, 1000);
        assert!(Arc::ptr_eq(&whole.file, &file));
        let middle = bytes.slice(10..20);
        assert_eq!(find(&middle).map(|region| region.offset), Some(1010));
        let tail = bytes.slice(bytes.len() - 1..);
        assert_eq!(
            find(&tail).map(|region| region.offset),
            Some(1000 + bytes.len() as u64 - 1)
        );
    }

    #[test]
    fn only_ranges_wholly_inside_one_entry_are_located() {
        // Addresses only: nothing here is memory.
        let file = file();
        let entry = |end, offset| Registered {
            end,
            file: Arc::clone(&file),
            offset,
        };
        let registry = BTreeMap::from([(1000, entry(1100, 0)), (2000, entry(2050, 500))]);
        let at = |start, len| locate(&registry, start, len).map(|region| region.offset);
        assert_eq!(at(1000, 100), Some(0));
        assert_eq!(at(1099, 1), Some(99));
        assert_eq!(at(1099, 2), None, "one byte past the first entry's end");
        assert_eq!(at(999, 10), None, "before the first entry");
        assert_eq!(at(1500, 10), None, "between entries");
        assert_eq!(at(2010, 40), Some(510));
        assert_eq!(at(2010, 41), None);
        assert_eq!(at(usize::MAX - 1, 5), None, "no overflow");
    }

    #[test]
    fn short_buffers_are_plain_and_dropped_buffers_are_forgotten() {
        let short = buffer(vec![2; MIN_FILE_BACKED_LEN - 1], file(), 0);
        assert!(find(&short).is_none());
        let bytes = buffer(vec![3; MIN_FILE_BACKED_LEN], file(), 0);
        let address = bytes.as_ptr() as usize;
        assert!(find(&bytes).is_some());
        let slice = bytes.slice(1..);
        drop(bytes);
        assert!(find(&slice).is_some(), "a slice keeps its buffer alive");
        drop(slice);
        assert!(
            !REGISTRY.read().unwrap().contains_key(&address),
            "a freed buffer leaves no entry"
        );
    }

    #[test]
    fn plain_buffers_are_not_found() {
        let _live = buffer(vec![4; MIN_FILE_BACKED_LEN], file(), 0);
        assert!(find(&vec![4; MIN_FILE_BACKED_LEN]).is_none());
        assert!(find(&[]).is_none());
    }
}
