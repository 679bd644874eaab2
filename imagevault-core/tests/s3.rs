//! The core `Storage` conformance suite on S3, against the S3-compatible server at
//! `IMAGEVAULT_TEST_S3_ENDPOINT` (default `http://127.0.0.1:5555`, where `.ci/run` starts
//! moto), plus what the suite cannot see from the `Storage` side: where keys land in the
//! bucket under a prefix, `s3://` URLs configured by `AWS_*` variables, large ranged
//! reads, and a bucket that does not exist.
//!
//! Each test creates a bucket of its own with a random name (a signed `PUT /<bucket>`, as
//! object_store has no call for it) and removes it afterwards, so tests run side by side
//! on one server.
//!
//! Without a reachable server the tests print why and pass, unless
//! `IMAGEVAULT_REQUIRE_SERVICES=1`, when they fail.

use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use imagevault_core::storage::{KeyPrefix, StorageError};
use imagevault_core::{ImageFormat, ObjectStorage, S3StorageBuilder, Storage, StorageKey};
use object_store::ObjectStore as _;
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer, AwsCredential};
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector as _, HttpRequestBody, ReqwestConnector,
};

// The test server accepts any credentials; these only have to be consistent.
const ACCESS_KEY_ID: &str = "imagevault-test";
const SECRET_ACCESS_KEY: &str = "imagevault-test-secret";
const REGION: &str = "us-east-1";

/// Set for the child process of [`from_url_reads_the_environment`].
const CHILD_URL: &str = "IMAGEVAULT_TEST_S3_CHILD_URL";
const CHILD_KEY: &str = "IMAGEVAULT_TEST_S3_CHILD_KEY";

fn endpoint() -> String {
    std::env::var("IMAGEVAULT_TEST_S3_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:5555".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// Why the server cannot be reached, if it cannot.
async fn unreachable(endpoint: &str) -> Option<String> {
    let url = match url::Url::parse(endpoint) {
        Ok(url) => url,
        Err(error) => return Some(format!("{endpoint:?} is not a URL: {error}")),
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Some(format!("{endpoint:?} names no host and port"));
    };
    let connect = tokio::net::TcpStream::connect((host, port));
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(_)) => None,
        Ok(Err(error)) => Some(format!("S3 at {endpoint} is unreachable: {error}")),
        Err(_) => Some(format!("S3 at {endpoint} did not answer within 5 s")),
    }
}

fn random_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A bucket of one test's own on the test server.
struct TestBucket {
    endpoint: String,
    name: String,
    http: HttpClient,
}

impl TestBucket {
    /// Creates a bucket with a random name; `None` (after printing why) when the server
    /// cannot be reached and services are not required.
    async fn create() -> Option<Self> {
        let endpoint = endpoint();
        if let Some(reason) = unreachable(&endpoint).await {
            imagevault_core::testing::skip_unless_required(&reason);
            return None;
        }
        let http = ReqwestConnector::default()
            .connect(&ClientOptions::new().with_allow_http(true))
            .expect("an HTTP client");
        let bucket = Self {
            endpoint,
            name: random_name("imagevault-test"),
            http,
        };
        bucket.bucket_request(http::Method::PUT).await;
        Some(bucket)
    }

    /// A signed request on the bucket itself (create or delete), which must succeed.
    async fn bucket_request(&self, method: http::Method) {
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(format!("{}/{}", self.endpoint, self.name))
            .body(HttpRequestBody::empty())
            .expect("a valid request");
        let credential = AwsCredential {
            key_id: ACCESS_KEY_ID.to_owned(),
            secret_key: SECRET_ACCESS_KEY.to_owned(),
            token: None,
        };
        AwsAuthorizer::new(&credential, "s3", REGION).authorize(&mut request, None);
        let response = self
            .http
            .execute(request)
            .await
            .unwrap_or_else(|error| panic!("{method} bucket {}: {error}", self.name));
        let status = response.status();
        let body = response.into_body().bytes().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{method} bucket {} answered {status}: {}",
            self.name,
            String::from_utf8_lossy(&body)
        );
    }

    /// The storage on this bucket, configured without the environment.
    fn builder(&self) -> S3StorageBuilder {
        S3StorageBuilder::new()
            .bucket(&self.name)
            .endpoint(&self.endpoint)
            .region(REGION)
            .credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    }

    fn storage(&self) -> ObjectStorage {
        self.builder().build().expect("an S3 storage")
    }

    /// The bucket through object_store directly, to see the keys as S3 has them.
    fn raw(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_bucket_name(&self.name)
            .with_endpoint(&self.endpoint)
            .with_region(REGION)
            .with_access_key_id(ACCESS_KEY_ID)
            .with_secret_access_key(SECRET_ACCESS_KEY)
            .with_allow_http(true)
            .build()
            .expect("an object_store client")
    }

    /// Every key in the bucket, sorted.
    async fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .raw()
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .expect("listing the bucket");
        keys.sort();
        keys
    }

    /// Deletes what is left in the bucket, then the bucket.
    async fn remove(self) {
        let raw = self.raw();
        for key in self.keys().await {
            raw.delete(&key.into()).await.expect("deleting an object");
        }
        self.bucket_request(http::Method::DELETE).await;
    }
}

async fn put(storage: &dyn Storage, key: &StorageKey, data: &'static [u8]) {
    storage
        .put(key, Bytes::from_static(data), ImageFormat::Png)
        .await
        .expect("put failed");
}

async fn read(storage: &dyn Storage, key: &StorageKey) -> Option<Bytes> {
    let object = storage.get(key).await.expect("get failed")?;
    Some(object.bytes().await.expect("reading the body failed"))
}

/// The suite at the root of a bucket of its own per check, which must be empty afterwards.
mod conformance {
    use imagevault_core::testing::storage::Check;

    use super::TestBucket;

    async fn run(check: Check) {
        let Some(bucket) = TestBucket::create().await else {
            return;
        };
        check(&bucket.storage()).await;
        assert_eq!(
            bucket.keys().await,
            Vec::<String>::new(),
            "the suite deletes what it writes"
        );
        bucket.remove().await;
    }

    imagevault_core::storage_conformance_tests!(runner = run);
}

/// The suite under a prefix of a bucket of its own per check.
mod conformance_under_a_prefix {
    use imagevault_core::testing::storage::Check;

    use super::TestBucket;

    async fn run(check: Check) {
        let Some(bucket) = TestBucket::create().await else {
            return;
        };
        let storage = bucket.builder().prefix("tenant/a").build();
        check(&storage.expect("an S3 storage under a prefix")).await;
        bucket.remove().await;
    }

    imagevault_core::storage_conformance_tests!(runner = run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_keeps_objects_under_it() {
    let Some(bucket) = TestBucket::create().await else {
        return;
    };
    let url = format!("s3://{}/tenant/a/", bucket.name);
    let prefixed = bucket.builder().url(&url).unwrap().build().unwrap();
    let other = bucket.builder().prefix("/tenant/b").build().unwrap();
    let root = bucket.storage();
    let key = StorageKey::new_thumbnail(ImageFormat::Png);
    put(&prefixed, &key, b"under a").await;
    put(&other, &key, b"under b").await;

    assert_eq!(
        bucket.keys().await,
        [format!("tenant/a/{key}"), format!("tenant/b/{key}")],
        "every key lands under its storage's prefix"
    );
    assert_eq!(
        read(&prefixed, &key).await.as_deref(),
        Some(&b"under a"[..])
    );
    assert_eq!(read(&other, &key).await.as_deref(), Some(&b"under b"[..]));
    assert_eq!(read(&root, &key).await, None, "nothing at the root");
    let full = StorageKey::parse(&format!("tenant/a/{key}")).unwrap();
    assert_eq!(read(&root, &full).await.as_deref(), Some(&b"under a"[..]));

    prefixed.delete(&key).await.unwrap();
    assert_eq!(bucket.keys().await, [format!("tenant/b/{key}")]);
    bucket.remove().await;
}

/// `ObjectStorage::from_url` reads its settings from `AWS_*` variables, which a test may
/// not set in its own process (`set_var` is unsafe with other threads running): the check
/// runs in a child process of this test binary with its own environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_url_reads_the_environment() {
    let Some(bucket) = TestBucket::create().await else {
        return;
    };
    let key = StorageKey::new_original(ImageFormat::Jpeg);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child.args([
        "from_url_child",
        "--exact",
        "--include-ignored",
        "--nocapture",
    ]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            child.env_remove(name);
        }
    }
    child
        .env("AWS_ENDPOINT_URL", &bucket.endpoint)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env(CHILD_URL, format!("s3://{}/from-env/x", bucket.name))
        .env(CHILD_KEY, key.as_str());
    let output = tokio::task::spawn_blocking(move || child.output())
        .await
        .unwrap()
        .expect("running the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child test failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );

    assert_eq!(bucket.keys().await, [format!("from-env/x/{key}")]);
    let prefixed = bucket.builder().prefix("from-env/x").build().unwrap();
    assert_eq!(
        read(&prefixed, &key).await.as_deref(),
        Some(&b"from the environment"[..])
    );
    bucket.remove().await;
}

/// The child half of [`from_url_reads_the_environment`]; does nothing when run on its own.
#[tokio::test]
#[ignore = "run by from_url_reads_the_environment in a child process"]
async fn from_url_child() {
    let (Ok(url), Ok(key)) = (std::env::var(CHILD_URL), std::env::var(CHILD_KEY)) else {
        return;
    };
    let storage = ObjectStorage::from_url(&url).expect("from_url");
    let key = StorageKey::parse(&key).unwrap();
    put(&storage, &key, b"from the environment").await;
    assert_eq!(
        storage.head(&key).await.unwrap().map(|info| info.size),
        Some(20)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranged_reads_of_a_large_object() {
    let Some(bucket) = TestBucket::create().await else {
        return;
    };
    let storage = bucket.builder().prefix("ranges").build().unwrap();
    let key = StorageKey::new_original(ImageFormat::Jpeg);
    let size: u64 = 6 * 1024 * 1024 + 7;
    let data: Bytes = (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect::<Vec<_>>()
        .into();
    storage
        .put(&key, data.clone(), ImageFormat::Jpeg)
        .await
        .unwrap();
    for range in [0..1, 1_000_000..3_000_000, size - 1..size, 0..size] {
        let object = storage
            .get_range(&key, range.clone())
            .await
            .unwrap()
            .expect("the object");
        assert_eq!(object.range, range);
        assert_eq!(object.info.size, size);
        let bytes = object.bytes().await.unwrap();
        assert!(
            bytes[..] == data[range.start as usize..range.end as usize],
            "range {range:?} returned other bytes"
        );
    }
    for bad in [size..size + 1, size - 1..size + 1, 10..10] {
        match storage.get_range(&key, bad.clone()).await {
            Err(StorageError::InvalidRange { size: reported, .. }) => assert_eq!(reported, size),
            other => panic!("range {bad:?}: expected InvalidRange, got {other:?}"),
        }
    }
    let missing = StorageKey::new_original(ImageFormat::Jpeg);
    assert!(storage.get_range(&missing, 0..10).await.unwrap().is_none());
    storage.delete(&key).await.unwrap();
    bucket.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_objects_and_buckets() {
    let Some(bucket) = TestBucket::create().await else {
        return;
    };
    let storage = bucket.storage();
    let key = StorageKey::new_thumbnail(ImageFormat::Png);
    assert!(storage.get(&key).await.unwrap().is_none());
    assert!(storage.get_range(&key, 0..1).await.unwrap().is_none());
    assert!(storage.head(&key).await.unwrap().is_none());
    storage.delete(&key).await.unwrap();

    // A bucket that does not exist: writes fail with the server's reason, nothing panics.
    let nowhere = bucket
        .builder()
        .bucket(random_name("imagevault-missing"))
        .build()
        .unwrap();
    let error = nowhere
        .put(&key, Bytes::from_static(b"lost"), ImageFormat::Png)
        .await
        .expect_err("a put into a missing bucket must fail");
    assert!(
        matches!(error, StorageError::Backend { .. }),
        "expected a backend error, got {error:?}"
    );
    let chain = std::iter::successors(
        Some(&error as &(dyn std::error::Error + 'static)),
        |error| error.source(),
    )
    .map(ToString::to_string)
    .collect::<Vec<_>>()
    .join(": ");
    assert!(chain.contains("NoSuchBucket"), "{chain}");
    // Reads of a missing bucket are as clean, whatever they answer.
    let _ = nowhere.get(&key).await;
    let _ = nowhere.head(&key).await;
    let _ = nowhere.delete(&key).await;
    // A listing fails, though: readiness probes rely on it to tell a missing bucket from
    // an empty one.
    let first = nowhere.list(&KeyPrefix::thumbnails()).next().await;
    assert!(
        matches!(first, Some(Err(_))),
        "listing a missing bucket must fail: {first:?}"
    );
    let empty = storage.list(&KeyPrefix::thumbnails()).next().await;
    assert!(empty.is_none(), "an empty bucket lists nothing: {empty:?}");
    bucket.remove().await;
}
