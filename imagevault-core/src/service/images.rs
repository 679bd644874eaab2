//! Uploading, listing, reading and deleting images.

use bytes::Bytes;
use tracing::{info, warn};

use crate::error::VaultError;
use crate::image::{ContentDigest, Image, ImageId, ImageName, ImageRecord};
use crate::imaging::{self, ImageInfo, Stripped};
use crate::page::{self, ListKind, Page, PageRequest};
use crate::plan::Plan;
use crate::queue::Job;
use crate::storage::StorageKey;
use crate::thumbnail::{Thumbnail, ThumbnailStatus};
use crate::user::UserId;

use super::{Account, UploadSlot, Vault};

/// Inputs smaller than this are inspected (and their digest taken) inline; larger ones on
/// the blocking pool, since walking a big file's structure and CRCs, and hashing it, takes
/// milliseconds.
const INLINE_INSPECT_BYTES: usize = 256 * 1024;

/// The longest an upload waits for the queue to take its job. A healthy queue answers in
/// milliseconds; one that is down can take many seconds to fail (a Redis client retries
/// its connection first), and the upload is stored already, so it answers 201 after this
/// and leaves the job to the reconciler.
const ENQUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What [`Vault::inspect`] learns of an upload.
struct Inspected {
    info: ImageInfo,
    /// The digest of the bytes as uploaded (see [`Image::digest`]).
    digest: ContentDigest,
    /// The file to store instead of the upload, when the plan removes metadata.
    stored: Option<Stripped>,
}

/// An upload: the file's bytes and how to name it.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    /// The file's content. Its format is detected from the bytes alone.
    pub data: Bytes,
    /// A name given explicitly (the API's `name` field); validated, never altered.
    pub name: Option<String>,
    /// The uploaded file's name, used for the default name (its last path component, cut
    /// to 255 characters). Without either, the image is called `image.<ext>`.
    pub file_name: Option<String>,
}

impl Upload {
    /// The content of a file called `file_name`, which names the image (see
    /// [`Upload::file_name`]).
    ///
    /// ```
    /// use imagevault_core::Upload;
    ///
    /// let upload = Upload::file("holiday/cat.jpg", vec![0xff, 0xd8]);
    /// assert_eq!(upload.file_name.as_deref(), Some("holiday/cat.jpg"));
    /// assert_eq!(upload.name, None);
    /// ```
    pub fn file(file_name: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Self {
            data: data.into(),
            name: None,
            file_name: Some(file_name.into()),
        }
    }
}

/// An image as its owner sees it under their current plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageView {
    /// The image.
    pub image: Image,
    /// The original's key, present only when the plan has `original_link`.
    pub original: Option<StorageKey>,
    /// Exactly the plan's heights, ascending.
    pub thumbnails: Vec<ThumbnailView>,
}

/// One thumbnail of an [`ImageView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailView {
    /// The plan height.
    pub max_height: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pending, ready or failed.
    pub status: ThumbnailStatus,
    /// The stored thumbnail, only when ready.
    pub storage_key: Option<StorageKey>,
    /// The WebP variant: `None` when the plan does not list `webp` (the JSON has no
    /// `webp_url` then), `Some(None)` until it is ready, `Some(Some(key))` once it is.
    pub webp_storage_key: Option<Option<StorageKey>>,
    /// Why it could not be made, only when failed (see [`Thumbnail::failure`]). Not part
    /// of the JSON API's documented fields.
    pub failure: Option<String>,
}

impl ImageView {
    /// Shapes a stored image for `plan`: only the plan's heights (a height without a row yet
    /// shows as pending), and the original only if the plan links it.
    pub fn new(record: ImageRecord, plan: &Plan) -> Self {
        let ImageRecord { image, thumbnails } = record;
        let webp = plan.thumbnail_formats.webp();
        let thumbnails = plan
            .thumbnail_heights
            .as_slice()
            .iter()
            .map(
                |&height| match thumbnails.iter().find(|row| row.max_height == height) {
                    Some(row) => ThumbnailView {
                        max_height: height.get(),
                        width: row.width,
                        height: row.height,
                        status: row.status,
                        storage_key: match row.status {
                            ThumbnailStatus::Ready => row.storage_key.clone(),
                            _ => None,
                        },
                        webp_storage_key: webp.then(|| match row.status {
                            ThumbnailStatus::Ready => row.webp_storage_key.clone(),
                            _ => None,
                        }),
                        failure: match row.status {
                            ThumbnailStatus::Failed => row.failure.clone(),
                            _ => None,
                        },
                    },
                    None => {
                        let (width, height_px) =
                            imaging::thumbnail_size(image.width, image.height, height.get());
                        ThumbnailView {
                            max_height: height.get(),
                            width,
                            height: height_px,
                            status: ThumbnailStatus::Pending,
                            storage_key: None,
                            webp_storage_key: webp.then_some(None),
                            failure: None,
                        }
                    }
                },
            )
            .collect();
        Self {
            original: plan.original_link.then(|| image.storage_key.clone()),
            image,
            thumbnails,
        }
    }
}

/// Why [`read_limited`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadLimitedError<E> {
    /// The body passed the limit; the rest was not read.
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The stream itself failed.
    #[error(transparent)]
    Stream(E),
}

/// Reads a request body into memory, stopping with [`ReadLimitedError::TooLarge`] as soon
/// as it passes `limit` bytes, so an oversized upload costs at most `limit` bytes of memory
/// and is never read to its end.
///
/// `expected` is the length the client declared, if any: the buffer is allocated once at
/// that size (never above `limit`), instead of doubling as the body arrives and keeping up
/// to twice the bytes it holds.
///
/// ```
/// use bytes::Bytes;
/// use imagevault_core::{read_limited, ReadLimitedError};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let chunks = || futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from("abc")), Ok(Bytes::from("def"))]);
/// assert_eq!(read_limited(chunks(), 6, Some(6)).await.unwrap(), "abcdef");
/// assert_eq!(read_limited(chunks(), 6, None).await.unwrap(), "abcdef");
/// assert!(matches!(read_limited(chunks(), 5, None).await, Err(ReadLimitedError::TooLarge { limit: 5 })));
/// # });
/// ```
pub async fn read_limited<S, E>(
    stream: S,
    limit: u64,
    expected: Option<u64>,
) -> Result<Bytes, ReadLimitedError<E>>
where
    S: futures::Stream<Item = Result<Bytes, E>>,
{
    use futures::StreamExt as _;
    futures::pin_mut!(stream);
    let capacity = expected.map_or(0, |expected| expected.min(limit));
    let mut body = bytes::BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(ReadLimitedError::Stream)?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(ReadLimitedError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

impl Vault {
    /// Stores an upload and queues its thumbnails; they are `pending` in the result.
    ///
    /// The file is checked before anything is stored: format from its magic bytes, size,
    /// pixel count from the header, and its structure (PNG chunks and CRCs, JPEG markers).
    /// When the owner's plan has [`strip_metadata`](crate::Plan::strip_metadata), the
    /// original stored, and its `size` (which the quota counts), are the file without its
    /// private metadata (see [`imaging::strip_metadata`]); the digest is the upload's.
    /// If any later step fails, nothing is left behind: the stored original is deleted when
    /// the database insert fails. A failure to enqueue is not an error: the reconciler
    /// finds the pending thumbnails in the database and queues them.
    ///
    /// The insert counts the image against the user's quota in its own transaction: one
    /// that would pass a limit is [`VaultError::QuotaExceeded`], and its stored original is
    /// deleted as for any failed insert.
    ///
    /// It counts as one of the user's uploads in progress: with
    /// [`max_uploads_per_user`](super::VaultConfig::max_uploads_per_user) in progress
    /// already, it is [`VaultError::TooManyUploads`]. A caller that holds the body before
    /// calling (an HTTP server) reserves the place first, with [`Vault::reserve_upload`],
    /// and calls [`Vault::upload_reserved`].
    pub async fn upload(&self, account: &Account, upload: Upload) -> Result<ImageView, VaultError> {
        let slot = self.reserve_upload(account)?;
        self.upload_reserved(account, slot, upload).await
    }

    /// [`Vault::upload`] in a place reserved by [`Vault::reserve_upload`]. The slot, and
    /// whatever it [holds](UploadSlot::hold), is released when the task that stores the
    /// upload ends, also when the caller goes away before.
    pub async fn upload_reserved(
        &self,
        account: &Account,
        slot: UploadSlot,
        upload: Upload,
    ) -> Result<ImageView, VaultError> {
        let plan = account.require_plan()?;
        let limits = self.inner.config.limits;
        if upload.data.len() as u64 > limits.max_bytes {
            return Err(VaultError::TooLarge {
                limit: limits.max_bytes,
            });
        }
        let explicit_name = upload.name.as_deref().map(ImageName::parse).transpose()?;
        let Inspected {
            info,
            digest,
            stored,
        } = self
            .inspect(upload.data.clone(), plan.strip_metadata)
            .await?;
        let (data, metadata_removed) = match stored {
            // Nothing removed: the same bytes, so the upload's buffer is stored.
            Some(Stripped { removed, .. }) if removed.is_empty() => (upload.data, Some(removed)),
            Some(Stripped { data, removed }) => (Bytes::from(data), Some(removed)),
            None => (upload.data, None),
        };
        let name = explicit_name
            .or_else(|| {
                upload
                    .file_name
                    .as_deref()
                    .and_then(ImageName::from_file_name)
            })
            .unwrap_or_else(|| ImageName::fallback(info.format));

        let now = self.now();
        let image = Image {
            id: ImageId::new(),
            owner: account.user.id,
            name,
            format: info.format,
            width: info.width,
            height: info.height,
            size: data.len() as u64,
            storage_key: StorageKey::new_original(info.format),
            created_at: now,
            digest: Some(digest),
            placeholder: None,
            metadata_removed,
        };
        let record = ImageRecord {
            thumbnails: plan
                .thumbnail_heights
                .as_slice()
                .iter()
                .map(|&height| Thumbnail {
                    lease_holder: self.work_holder(),
                    ..Thumbnail::pending(image.id, height, image.width, image.height, now)
                })
                .collect(),
            image,
        };

        // From here on the upload is stored, recorded and queued even if the client goes
        // away meanwhile: cut short after the database commit, it would leave an image
        // whose thumbnails wait minutes for the reconciler.
        let vault = self.clone();
        let record = Self::run_to_completion(async move {
            // The upload's bytes live until this task ends, so its place does too.
            let _slot = slot;
            vault.store_new_image(&record, data).await?;
            Ok(record)
        })
        .await?;
        info!(
            image = %record.image.id,
            owner = %account.user.id,
            format = %info.format,
            bytes = record.image.size,
            metadata_removed = record.image.metadata_removed.as_ref().map(tracing::field::display),
            "image uploaded"
        );
        Ok(ImageView::new(record, plan))
    }

    /// Stores a new image's original, records it, and queues its thumbnails. If recording
    /// fails, the stored original is deleted again.
    async fn store_new_image(&self, record: &ImageRecord, data: Bytes) -> Result<(), VaultError> {
        let image = &record.image;
        self.inner
            .storage
            .put(&image.storage_key, data, image.format)
            .await?;
        if let Err(error) = self.inner.repo.insert_image(record).await {
            if let Err(cleanup) = self.inner.storage.delete(&image.storage_key).await {
                // The sweeper removes unreferenced objects later; say where this one is.
                warn!(key = %image.storage_key, error = %cleanup, "could not delete the original of a failed upload");
            }
            return Err(error.into());
        }
        crate::metrics::record_upload();
        self.enqueue_or_defer(Job::GenerateThumbnails { image_id: image.id })
            .await;
        Ok(())
    }

    /// What the upload is (or why it is refused), the digest of its bytes, and with
    /// `strip` the file without its private metadata.
    async fn inspect(&self, data: Bytes, strip: bool) -> Result<Inspected, VaultError> {
        let limits = self.inner.config.limits;
        let inline = data.len() <= INLINE_INSPECT_BYTES;
        let inspect = move || -> Result<Inspected, imaging::ImageError> {
            let info = imaging::inspect(&data, &limits)?;
            let stored = strip
                .then(|| imaging::strip_metadata(&data, &info))
                .transpose()?;
            Ok(Inspected {
                info,
                digest: ContentDigest::of(&data),
                stored,
            })
        };
        if inline {
            return Ok(inspect()?);
        }
        self.inner
            .pool
            .run(inspect)
            .await
            .map_err(|_| VaultError::Internal("image inspection panicked".into()))?
            .map_err(VaultError::from)
    }

    /// Queues a job; if the queue refuses, or takes longer than [`ENQUEUE_WAIT`], logs it
    /// and relies on the reconciler, which rebuilds all outstanding work from the
    /// database. An enqueue cut short may still have gone through: jobs are idempotent, so
    /// one queued twice is harmless.
    pub(super) async fn enqueue_or_defer(&self, job: Job) {
        match tokio::time::timeout(ENQUEUE_WAIT, self.inner.queue.enqueue(job.clone())).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                warn!(?job, %error, "could not enqueue a job; the reconciler will queue it later");
            }
            Err(_) => warn!(
                ?job,
                wait_secs = ENQUEUE_WAIT.as_secs(),
                "the job queue did not answer in time; the reconciler will queue the job later"
            ),
        }
    }

    /// One page of the account's images, newest first.
    pub async fn list_images(
        &self,
        account: &Account,
        request: PageRequest,
    ) -> Result<Page<ImageView>, VaultError> {
        let plan = account.require_plan()?;
        let owner = account.user.id;
        let repo = &self.inner.repo;
        let page = page::paginate(request, ListKind::Images, |query| async move {
            repo.list_images(owner, &query).await
        })
        .await?;
        Ok(page.map(|record| ImageView::new(record, plan)))
    }

    /// One of the account's images; another user's image is [`VaultError::NotFound`].
    pub async fn get_image(&self, account: &Account, id: ImageId) -> Result<ImageView, VaultError> {
        let plan = account.require_plan()?;
        let record = self
            .inner
            .repo
            .get_image(account.user.id, id)
            .await?
            .ok_or(VaultError::NotFound)?;
        Ok(ImageView::new(record, plan))
    }

    /// Deletes one of the account's images with its thumbnails and links. The rows go
    /// first, so its media URLs stop working at once; then the stored objects.
    pub async fn delete_image(&self, account: &Account, id: ImageId) -> Result<(), VaultError> {
        account.require_plan()?;
        self.delete_owned_image(account.user.id, id).await
    }

    /// Deletes one of `owner`'s images: the rows first, then the stored objects (see
    /// [`delete_objects`](Self::delete_objects)). [`VaultError::NotFound`] if `owner` has
    /// no such image.
    pub(super) async fn delete_owned_image(
        &self,
        owner: UserId,
        id: ImageId,
    ) -> Result<(), VaultError> {
        let record = self
            .inner
            .repo
            .delete_image(owner, id)
            .await?
            .ok_or(VaultError::NotFound)?;
        self.links_changed();
        self.delete_objects(&record).await;
        Ok(())
    }

    /// Deletes the stored objects of a deleted image. Failures are logged, not returned:
    /// the rows are gone, so the original and links no longer resolve, and the sweeper
    /// removes leftovers. (A thumbnail is served by its key alone, so one whose delete
    /// failed stays reachable at its unguessable URL until the sweeper's next pass.)
    pub(super) async fn delete_objects(&self, record: &ImageRecord) {
        let mut keys = vec![&record.image.storage_key];
        for thumbnail in &record.thumbnails {
            keys.extend(&thumbnail.storage_key);
            keys.extend(&thumbnail.webp_storage_key);
        }
        for key in keys {
            if let Err(error) = self.inner.storage.delete(key).await {
                warn!(%key, %error, "could not delete a stored object of a deleted image");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::service::hanging_queue::HangingQueue;
    use crate::{MemoryRepo, NewUser, ObjectStorage, Password, PlanId, Username};

    fn png() -> Bytes {
        crate::testing::images::png(40, 30).into()
    }

    /// A vault on `queue` with a Basic user, signed in.
    async fn vault_with_uploader(queue: Arc<HangingQueue>) -> (Vault, Account) {
        let vault = Vault::builder()
            .repo(Arc::new(MemoryRepo::new()))
            .storage(Arc::new(ObjectStorage::memory()))
            .queue(queue)
            .build()
            .unwrap();
        vault
            .bootstrap_user(NewUser {
                username: Username::parse("uploader").unwrap(),
                password: Password::new("correct horse battery").unwrap(),
                plan: Some(PlanId::BASIC),
                is_admin: false,
            })
            .await
            .unwrap();
        let account = vault
            .authenticate_password("uploader", "correct horse battery")
            .await
            .unwrap();
        (vault, account)
    }

    /// Paused time: the wait for the silent queue passes at once.
    #[tokio::test(start_paused = true)]
    async fn an_upload_is_stored_when_the_queue_does_not_answer() {
        let (vault, account) = vault_with_uploader(Arc::new(HangingQueue::new())).await;
        // Without a bound of its own the upload would wait forever; fail instead of hanging.
        let upload = vault.upload(
            &account,
            Upload {
                data: png(),
                ..Upload::default()
            },
        );
        let uploaded = tokio::time::timeout(Duration::from_secs(600), upload)
            .await
            .expect("the upload waited for the queue")
            .unwrap();
        assert!(
            uploaded
                .thumbnails
                .iter()
                .all(|thumbnail| thumbnail.status == ThumbnailStatus::Pending)
        );
        let stored = vault.get_image(&account, uploaded.image.id).await.unwrap();
        assert_eq!(stored.image, uploaded.image);
    }

    /// A client that goes away once the image is recorded (the request's future dropped
    /// while the job is being queued) must not leave the image without its job.
    #[tokio::test]
    async fn an_upload_whose_client_goes_away_after_the_insert_still_queues_its_job() {
        let queue = Arc::new(HangingQueue::new());
        let (vault, account) = vault_with_uploader(queue.clone()).await;
        let upload = vault.upload(
            &account,
            Upload {
                data: png(),
                ..Upload::default()
            },
        );
        let delivery = queue
            .drop_while_enqueueing(upload)
            .await
            .expect("the upload's job was queued although its caller went away");
        let page = vault
            .list_images(&account, PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1, "the image was recorded");
        assert_eq!(
            delivery.job,
            Job::GenerateThumbnails {
                image_id: page.items[0].image.id
            }
        );
    }
}
