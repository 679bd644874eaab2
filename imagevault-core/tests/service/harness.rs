//! A vault on the in-memory stack with a manual clock, plus helpers.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use imagevault_core::storage::{KeyPrefix, ListedObject, ObjectInfo, StorageError, StoredObject};
use imagevault_core::{
    Account, ImageFormat, ImageLimits, ImageView, ManualClock, MemoryJobQueue, MemoryRepo, NewUser,
    ObjectStorage, Password, PlanId, Repo, Storage, StorageKey, Upload, Username, Vault,
    VaultConfig,
};

pub(crate) fn fixture(name: &str) -> Bytes {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path)
        .unwrap_or_else(|error| panic!("fixture {path}: {error}"))
        .into()
}

/// Storage that records which keys hold objects, can be told to fail writes and deletes,
/// and to list objects without their times.
#[derive(Debug)]
pub(crate) struct RecordingStorage {
    inner: ObjectStorage,
    keys: Mutex<BTreeSet<String>>,
    pub(crate) failing_puts: AtomicUsize,
    pub(crate) failing_deletes: AtomicUsize,
    pub(crate) undated_listings: AtomicBool,
}

/// Takes one from `counter` if it is not zero, saying whether it did.
fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn injected(what: &str) -> StorageError {
    StorageError::Backend {
        backend: "test",
        source: format!("injected {what} failure").into(),
    }
}

impl RecordingStorage {
    pub(crate) fn keys(&self) -> BTreeSet<String> {
        self.keys.lock().unwrap().clone()
    }
}

#[async_trait]
impl Storage for RecordingStorage {
    async fn put(
        &self,
        key: &StorageKey,
        data: Bytes,
        format: ImageFormat,
    ) -> Result<(), StorageError> {
        if take_one(&self.failing_puts) {
            return Err(injected("put"));
        }
        self.inner.put(key, data, format).await?;
        self.keys.lock().unwrap().insert(key.to_string());
        Ok(())
    }
    async fn get(&self, key: &StorageKey) -> Result<Option<StoredObject>, StorageError> {
        self.inner.get(key).await
    }
    async fn get_range(
        &self,
        key: &StorageKey,
        range: Range<u64>,
    ) -> Result<Option<StoredObject>, StorageError> {
        self.inner.get_range(key, range).await
    }
    async fn head(&self, key: &StorageKey) -> Result<Option<ObjectInfo>, StorageError> {
        self.inner.head(key).await
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        if take_one(&self.failing_deletes) {
            return Err(injected("delete"));
        }
        self.inner.delete(key).await?;
        self.keys.lock().unwrap().remove(key.as_str());
        Ok(())
    }
    fn list(&self, prefix: &KeyPrefix) -> BoxStream<'_, Result<ListedObject, StorageError>> {
        let listing = self.inner.list(prefix);
        if !self.undated_listings.load(Ordering::SeqCst) {
            return listing;
        }
        listing
            .map_ok(|mut object| {
                object.info.last_modified = None;
                object
            })
            .boxed()
    }
}

pub(crate) struct TestVault {
    pub(crate) vault: Vault,
    pub(crate) clock: ManualClock,
    pub(crate) storage: Arc<RecordingStorage>,
    pub(crate) queue: Arc<MemoryJobQueue>,
}

impl TestVault {
    pub(crate) fn new() -> Self {
        Self::with_config(VaultConfig::default())
    }

    pub(crate) fn with_limits(limits: ImageLimits) -> Self {
        let mut config = VaultConfig::default();
        config.limits = limits;
        Self::with_config(config)
    }

    pub(crate) fn with_config(config: VaultConfig) -> Self {
        Self::with_queue(config, Arc::new(MemoryJobQueue::new(10_000)))
    }

    pub(crate) fn with_queue(config: VaultConfig, queue: Arc<MemoryJobQueue>) -> Self {
        Self::with_parts(config, queue, Arc::new(MemoryRepo::new()))
    }

    /// A vault on `repo` instead of a plain `MemoryRepo`.
    pub(crate) fn with_repo(repo: Arc<dyn Repo>) -> Self {
        Self::with_parts(
            VaultConfig::default(),
            Arc::new(MemoryJobQueue::new(10_000)),
            repo,
        )
    }

    fn with_parts(config: VaultConfig, queue: Arc<MemoryJobQueue>, repo: Arc<dyn Repo>) -> Self {
        let clock = ManualClock::new("2026-11-23T20:00:00Z".parse().unwrap());
        let storage = Arc::new(RecordingStorage {
            inner: ObjectStorage::memory(),
            keys: Mutex::default(),
            failing_puts: AtomicUsize::new(0),
            failing_deletes: AtomicUsize::new(0),
            undated_listings: AtomicBool::new(false),
        });
        let vault = Vault::builder()
            .repo(repo)
            .storage(storage.clone())
            .queue(queue.clone())
            .clock(Arc::new(clock.clone()))
            .config(config)
            .build()
            .unwrap();
        Self {
            vault,
            clock,
            storage,
            queue,
        }
    }

    /// A new user on `plan`, logged in with a password.
    pub(crate) async fn user(&self, plan: Option<PlanId>) -> Account {
        self.account(plan, false).await
    }

    pub(crate) async fn admin(&self) -> Account {
        self.account(None, true).await
    }

    async fn account(&self, plan: Option<PlanId>, is_admin: bool) -> Account {
        let username = format!("user{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        self.vault
            .bootstrap_user(NewUser {
                username: Username::parse(&username).unwrap(),
                password: Password::new("correct horse battery").unwrap(),
                plan,
                is_admin,
            })
            .await
            .unwrap();
        self.vault
            .authenticate_password(&username, "correct horse battery")
            .await
            .unwrap()
    }

    /// Logs the account in again, picking up plan changes.
    pub(crate) async fn refresh(&self, account: &Account) -> Account {
        let token = self.vault.issue_token(account).await.unwrap();
        self.vault.authenticate_token(token.expose()).await.unwrap()
    }

    pub(crate) async fn upload(&self, account: &Account, data: impl Into<Bytes>) -> ImageView {
        self.vault
            .upload(
                account,
                Upload {
                    data: data.into(),
                    ..Upload::default()
                },
            )
            .await
            .unwrap()
    }

    pub(crate) async fn upload_fixture(&self, account: &Account, name: &str) -> ImageView {
        self.vault
            .upload(
                account,
                Upload {
                    data: fixture(name),
                    file_name: Some(name.to_owned()),
                    name: None,
                },
            )
            .await
            .unwrap()
    }

    pub(crate) async fn run_jobs(&self) -> usize {
        self.vault.run_pending_jobs(1_000).await.unwrap()
    }

    pub(crate) async fn fetch(&self, key: &StorageKey) -> Bytes {
        self.vault
            .storage()
            .get(key)
            .await
            .unwrap()
            .expect("object missing")
            .bytes()
            .await
            .unwrap()
    }

    /// Every key that should be in storage for the given views: originals and ready thumbnails.
    pub(crate) fn expected_keys<'a>(
        views: impl IntoIterator<Item = &'a ImageView>,
    ) -> BTreeSet<String> {
        views
            .into_iter()
            .flat_map(|view| {
                std::iter::once(view.image.storage_key.to_string()).chain(
                    view.thumbnails.iter().filter_map(|thumbnail| {
                        thumbnail.storage_key.as_ref().map(ToString::to_string)
                    }),
                )
            })
            .collect()
    }
}
