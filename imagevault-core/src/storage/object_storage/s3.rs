//! [`S3StorageBuilder`]: an [`ObjectStorage`] on Amazon S3 or an S3-compatible server
//! (MinIO, moto, Ceph, R2, ...), through object_store's `AmazonS3`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientConfigKey, RetryConfig};

use super::{ObjectStorage, StorageUrlError};
use crate::storage::StorageKey;

/// Configures an [`ObjectStorage`] on an S3 bucket.
///
/// [`new`](Self::new) starts from nothing, for programs that keep their configuration
/// elsewhere; [`from_env`](Self::from_env) starts from the `AWS_*` environment variables,
/// as [`ObjectStorage::from_url`] does for `s3://<bucket>[/<prefix>]`. Settings made on the
/// builder win over the environment.
///
/// Whenever an endpoint is set (by [`endpoint`](Self::endpoint), `AWS_ENDPOINT_URL` or
/// `AWS_ENDPOINT`), requests use path-style addressing (`<endpoint>/<bucket>/<key>`), which
/// S3-compatible servers expect, and an `http://` endpoint is allowed without TLS unless
/// [`allow_http(false)`](Self::allow_http) says otherwise. Without an endpoint, requests go
/// to AWS over HTTPS in the configured region (default `us-east-1`).
///
/// Without credentials, object_store looks for them as the AWS SDKs do: a web identity
/// token (`AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`), an ECS or EKS container role,
/// then the EC2 instance metadata service.
///
/// Building contacts no server: a missing bucket or wrong credentials show up as
/// [`StorageError::Backend`](crate::storage::StorageError::Backend) on the first request.
///
/// # Timeouts and retries
///
/// A server that cannot be reached must fail an operation quickly, so that the caller
/// (an upload, a readiness probe) answers "unavailable" instead of waiting for its own
/// time limit. object_store's defaults (30 s per request, up to 10 retries within
/// 3 minutes) wait far longer than an HTTP request should, so the builder sets its own:
///
/// | setting | default | environment (with [`from_env`](Self::from_env)) |
/// | --- | --- | --- |
/// | [`connect_timeout`](Self::connect_timeout) | 2 s | `AWS_CONNECT_TIMEOUT` |
/// | [`request_timeout`](Self::request_timeout) | 30 s | `AWS_TIMEOUT` |
/// | [`max_retries`](Self::max_retries) | 3 | |
/// | [`retry_timeout`](Self::retry_timeout) | 10 s | |
///
/// A refused or unroutable server then fails an operation within about 10 s. A server
/// that accepts connections and never answers holds each request until the request
/// timeout, which also bounds the transfer of the body: 30 s still lets a 25 MiB upload
/// through on a link of 7 Mbit/s.
///
/// ```
/// use imagevault_core::{S3StorageBuilder, Storage};
///
/// // A MinIO server on this machine; every key goes under `imagevault/` in bucket `media`.
/// let storage = S3StorageBuilder::new()
///     .bucket("media")
///     .prefix("imagevault")
///     .endpoint("http://127.0.0.1:9000")
///     .region("us-east-1")
///     .credentials("minioadmin", "minioadmin")
///     .build()?;
/// let _: &dyn Storage = &storage;
/// # Ok::<(), imagevault_core::StorageUrlError>(())
/// ```
#[derive(Clone, Default)]
pub struct S3StorageBuilder {
    from_env: bool,
    bucket: Option<String>,
    prefix: String,
    endpoint: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    allow_http: Option<bool>,
    connect_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    max_retries: Option<usize>,
    retry_timeout: Option<Duration>,
}

/// How long connecting (TCP and TLS) may take by default. A server a few hundred
/// kilometres away connects in well under a second; no answer in 2 s means none is coming.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one request may take by default, body included: reqwest's timeout runs
/// until the response body has finished, so it must leave room for the largest upload.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a failed request is retried by default. Connection errors, 5xx answers
/// and timeouts of idempotent requests are retried (object_store's `RetryConfig`).
const DEFAULT_MAX_RETRIES: usize = 3;
/// After how long since its first attempt a request is no longer retried, by default.
const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variables object_store's `AmazonS3Builder::from_env` reads for the two
/// timeouts; when set, they win over the builder's defaults (not over its setters).
const CONNECT_TIMEOUT_VARIABLE: &str = "AWS_CONNECT_TIMEOUT";
const REQUEST_TIMEOUT_VARIABLE: &str = "AWS_TIMEOUT";

impl S3StorageBuilder {
    /// A builder that reads no environment variable: everything is set on it.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that starts, when [`build`](Self::build) runs, from the `AWS_*`
    /// environment variables object_store reads (`AmazonS3Builder::from_env`), among them:
    ///
    /// | variable | setting |
    /// | --- | --- |
    /// | `AWS_ENDPOINT_URL` or `AWS_ENDPOINT` | [`endpoint`](Self::endpoint) |
    /// | `AWS_REGION` or `AWS_DEFAULT_REGION` | [`region`](Self::region) |
    /// | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` | [`credentials`](Self::credentials) |
    /// | `AWS_SESSION_TOKEN` | [`session_token`](Self::session_token) |
    /// | `AWS_ALLOW_HTTP` (`true`) | [`allow_http`](Self::allow_http) |
    /// | `AWS_BUCKET` | [`bucket`](Self::bucket), when neither it nor [`url`](Self::url) is given |
    ///
    /// and the rest of object_store's options (`AWS_WEB_IDENTITY_TOKEN_FILE`,
    /// `AWS_ROLE_ARN`, `AWS_SERVER_SIDE_ENCRYPTION`, ...).
    pub fn from_env() -> Self {
        Self {
            from_env: true,
            ..Self::default()
        }
    }

    /// The bucket, which must exist.
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = Some(bucket.into());
        self
    }

    /// Stores every key under `prefix` (`/`-separated segments of ASCII letters, digits,
    /// `-`, `_` and `.`; leading and trailing `/` are ignored), so that several
    /// installations can share a bucket. Empty by default: keys at the bucket's root.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Takes the bucket and the prefix from a URL `s3://<bucket>[/<prefix>]`.
    ///
    /// Credentials, ports, query strings and fragments are refused rather than ignored:
    /// those settings belong to the builder or the environment.
    ///
    /// ```
    /// use imagevault_core::S3StorageBuilder;
    ///
    /// assert!(S3StorageBuilder::new().url("s3://media/imagevault/prod").is_ok());
    /// assert!(S3StorageBuilder::new().url("s3:///no-bucket").is_err());
    /// ```
    pub fn url(mut self, url: &str) -> Result<Self, StorageUrlError> {
        let invalid = |reason| StorageUrlError::InvalidS3Url {
            url: url.to_owned(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|_| invalid("not a URL"))?;
        if parsed.scheme() != "s3" {
            return Err(invalid("the scheme is not s3://"));
        }
        let bucket = parsed
            .host_str()
            .filter(|bucket| !bucket.is_empty())
            .ok_or_else(|| invalid("no bucket; use s3://<bucket>[/<prefix>]"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid(
                "credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            ));
        }
        if parsed.port().is_some() {
            return Err(invalid(
                "a bucket has no port; set the server's address in AWS_ENDPOINT_URL",
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid(
                "options do not belong in the URL; set them in AWS_* environment variables",
            ));
        }
        let prefix = parsed.path().trim_matches('/');
        if !valid_prefix(prefix) {
            return Err(invalid(
                "the prefix must be /-separated segments of ASCII letters, digits, '-', '_' and '.'",
            ));
        }
        self.bucket = Some(bucket.to_owned());
        self.prefix = prefix.to_owned();
        Ok(self)
    }

    /// The server's base URL, such as `http://127.0.0.1:9000` for a local MinIO, instead of
    /// AWS's regional endpoint. Turns on path-style addressing.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The region, such as `eu-west-1` (default `us-east-1`). S3-compatible servers mostly
    /// accept any region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Static credentials: an access key id and its secret.
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.access_key_id = Some(access_key_id.into());
        self.secret_access_key = Some(secret_access_key.into());
        self
    }

    /// The session token that goes with temporary [`credentials`](Self::credentials).
    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// Whether plain `http://` endpoints may be used. By default only when the endpoint
    /// itself is `http://`, as a local test server's is; AWS is always reached over HTTPS.
    pub fn allow_http(mut self, allow_http: bool) -> Self {
        self.allow_http = Some(allow_http);
        self
    }

    /// How long connecting to the server (TCP, then TLS) may take before the attempt
    /// fails and is retried: 2 s by default, or `AWS_CONNECT_TIMEOUT` with
    /// [`from_env`](Self::from_env).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use imagevault_core::S3StorageBuilder;
    ///
    /// // A server on another continent, over a slow link.
    /// let storage = S3StorageBuilder::new()
    ///     .bucket("media")
    ///     .connect_timeout(Duration::from_secs(5))
    ///     .build()?;
    /// # Ok::<(), imagevault_core::StorageUrlError>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long one request may take, from connecting until the end of the response
    /// body, sending the request's body included: 30 s by default, or `AWS_TIMEOUT` with
    /// [`from_env`](Self::from_env).
    ///
    /// This also bounds the transfer of the largest image: a request that runs out of time
    /// mid-transfer fails. Raise it on slow links (30 s carries 25 MiB at about
    /// 7 Mbit/s); lower it to give up sooner on a server that accepts connections but never
    /// answers.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use imagevault_core::S3StorageBuilder;
    ///
    /// // Uploads of up to 25 MiB over a 2 Mbit/s uplink.
    /// let storage = S3StorageBuilder::new()
    ///     .bucket("media")
    ///     .request_timeout(Duration::from_secs(120))
    ///     .build()?;
    /// # Ok::<(), imagevault_core::StorageUrlError>(())
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How many times a failed request is retried, with exponential backoff from 100 ms:
    /// 3 by default, 0 for none. Connection errors, timeouts of idempotent requests and
    /// 5xx answers are retried; other answers (a missing key, denied access) are not.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use imagevault_core::S3StorageBuilder;
    ///
    /// // A batch job that would rather wait out a server's restart than fail.
    /// let storage = S3StorageBuilder::new()
    ///     .bucket("media")
    ///     .max_retries(10)
    ///     .retry_timeout(Duration::from_secs(120))
    ///     .build()?;
    /// # Ok::<(), imagevault_core::StorageUrlError>(())
    /// ```
    pub fn max_retries(mut self, max_retries: usize) -> Self {
        self.max_retries = Some(max_retries);
        self
    }

    /// After how long since a request's first attempt no further retry starts: 10 s by
    /// default. An attempt under way runs until it ends or its
    /// [`request_timeout`](Self::request_timeout) expires. See
    /// [`max_retries`](Self::max_retries) for an example.
    pub fn retry_timeout(mut self, timeout: Duration) -> Self {
        self.retry_timeout = Some(timeout);
        self
    }

    /// Makes the storage. Contacts no server.
    pub fn build(self) -> Result<ObjectStorage, StorageUrlError> {
        let prefix = self.prefix.trim_matches('/').to_owned();
        if !valid_prefix(&prefix) {
            return Err(StorageUrlError::InvalidPrefix {
                prefix: self.prefix.clone(),
            });
        }
        let builder = self.amazon_s3_builder();
        let bucket = builder
            .get_config_value(&AmazonS3ConfigKey::Bucket)
            .unwrap_or_default();
        let store = builder.build().map_err(|source| StorageUrlError::S3 {
            bucket,
            source: source.into(),
        })?;
        Ok(ObjectStorage::new(Arc::new(store), &prefix))
    }

    /// The retry policy: the builder's settings, else the defaults.
    fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            retry_timeout: self.retry_timeout.unwrap_or(DEFAULT_RETRY_TIMEOUT),
        }
    }

    /// object_store's builder with every setting applied, before it checks them.
    fn amazon_s3_builder(self) -> AmazonS3Builder {
        let retry = self.retry_config();
        let mut builder = if self.from_env {
            AmazonS3Builder::from_env()
        } else {
            AmazonS3Builder::new()
        };
        if let Some(bucket) = self.bucket {
            builder = builder.with_bucket_name(bucket);
        }
        if let Some(endpoint) = self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = self.region {
            builder = builder.with_region(region);
        }
        if let Some(access_key_id) = self.access_key_id {
            builder = builder.with_access_key_id(access_key_id);
        }
        if let Some(secret_access_key) = self.secret_access_key {
            builder = builder.with_secret_access_key(secret_access_key);
        }
        if let Some(token) = self.session_token {
            builder = builder.with_token(token);
        }
        // S3-compatible servers are addressed by path: a bucket is no DNS name there.
        if let Some(endpoint) = builder.get_config_value(&AmazonS3ConfigKey::Endpoint) {
            builder = builder.with_virtual_hosted_style_request(false);
            if endpoint
                .get(..7)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
            {
                builder = builder.with_allow_http(true);
            }
        }
        if let Some(allow_http) = self.allow_http {
            builder = builder.with_allow_http(allow_http);
        }
        // Set through config keys rather than `with_client_options`, which would replace
        // the client options the environment and `with_allow_http` set.
        let from_env = self.from_env;
        for (key, setting, default, variable) in [
            (
                ClientConfigKey::ConnectTimeout,
                self.connect_timeout,
                DEFAULT_CONNECT_TIMEOUT,
                CONNECT_TIMEOUT_VARIABLE,
            ),
            (
                ClientConfigKey::Timeout,
                self.request_timeout,
                DEFAULT_REQUEST_TIMEOUT,
                REQUEST_TIMEOUT_VARIABLE,
            ),
        ] {
            let from_the_environment = from_env && std::env::var_os(variable).is_some();
            let timeout = match setting {
                Some(timeout) => timeout,
                None if from_the_environment => continue,
                None => default,
            };
            builder = builder.with_config(
                AmazonS3ConfigKey::Client(key),
                format!("{}ms", timeout.as_millis()),
            );
        }
        builder.with_retry(retry)
    }
}

/// Whether `prefix` is empty or made of the segments a [`StorageKey`] allows, so that it
/// needs no escaping in any backend.
fn valid_prefix(prefix: &str) -> bool {
    prefix.is_empty() || StorageKey::parse(prefix).is_some()
}

impl fmt::Debug for S3StorageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3StorageBuilder")
            .field("from_env", &self.from_env)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_timeout", &self.retry_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(url: &str) -> &'static str {
        match S3StorageBuilder::new().url(url) {
            Err(StorageUrlError::InvalidS3Url { reason, .. }) => reason,
            other => panic!("{url}: expected InvalidS3Url, got {other:?}"),
        }
    }

    #[test]
    fn urls_give_the_bucket_and_the_prefix() {
        for (url, bucket, prefix) in [
            ("s3://media", "media", ""),
            ("s3://media/", "media", ""),
            ("s3://media/imagevault", "media", "imagevault"),
            ("s3://media/a/b-c/d_e.f/", "media", "a/b-c/d_e.f"),
        ] {
            let builder = S3StorageBuilder::new().url(url).unwrap();
            assert_eq!(builder.bucket.as_deref(), Some(bucket), "{url}");
            assert_eq!(builder.prefix, prefix, "{url}");
        }
    }

    #[test]
    fn urls_without_a_bucket_or_with_stray_parts_are_refused() {
        assert!(reason("s3:///prefix").contains("no bucket"));
        assert!(reason("s3:media").contains("no bucket"));
        assert!(reason("s3://key:secret@media").contains("credentials"));
        assert!(reason("s3://media:9000/x").contains("AWS_ENDPOINT_URL"));
        assert!(reason("s3://media/x?region=eu-west-1").contains("options"));
        assert!(reason("s3://media/a//b").contains("prefix"));
        assert!(reason("s3://media/a/b:c").contains("prefix"));
        assert!(reason("s3://media/with%20space").contains("prefix"));
        assert!(reason("http://media/x").contains("scheme"));
    }

    #[test]
    fn from_url_opens_s3_urls() {
        // Building contacts no server, whatever the environment holds.
        ObjectStorage::from_url("s3://media/imagevault").unwrap();
        assert!(matches!(
            ObjectStorage::from_url("s3://"),
            Err(StorageUrlError::InvalidS3Url { .. })
        ));
    }

    #[test]
    fn bad_prefixes_and_missing_buckets_are_errors() {
        let builder = S3StorageBuilder::new()
            .endpoint("http://127.0.0.1:1")
            .credentials("key", "secret");
        assert!(matches!(
            builder.clone().bucket("media").prefix("../up").build(),
            Err(StorageUrlError::InvalidPrefix { .. })
        ));
        match builder.build() {
            Err(error @ StorageUrlError::S3 { .. }) => {
                let source = std::error::Error::source(&error).unwrap().to_string();
                assert!(source.to_lowercase().contains("bucket"), "{source}");
            }
            other => panic!("expected an S3 error without a bucket, got {other:?}"),
        }
    }

    fn timeout(builder: &AmazonS3Builder, key: ClientConfigKey) -> Option<String> {
        builder.get_config_value(&AmazonS3ConfigKey::Client(key))
    }

    #[test]
    fn timeouts_and_retries_default_to_failing_fast() {
        let builder = S3StorageBuilder::new().bucket("media");
        let retry = builder.retry_config();
        assert_eq!(retry.max_retries, 3);
        assert_eq!(retry.retry_timeout, Duration::from_secs(10));
        let s3 = builder.amazon_s3_builder();
        assert_eq!(
            timeout(&s3, ClientConfigKey::ConnectTimeout).as_deref(),
            Some("2000ms")
        );
        assert_eq!(
            timeout(&s3, ClientConfigKey::Timeout).as_deref(),
            Some("30000ms")
        );
    }

    #[test]
    fn timeouts_and_retries_can_be_set() {
        let builder = S3StorageBuilder::new()
            .bucket("media")
            .connect_timeout(Duration::from_millis(1500))
            .request_timeout(Duration::from_secs(120))
            .max_retries(0)
            .retry_timeout(Duration::from_secs(60));
        let retry = builder.retry_config();
        assert_eq!(retry.max_retries, 0);
        assert_eq!(retry.retry_timeout, Duration::from_secs(60));
        let s3 = builder.clone().amazon_s3_builder();
        assert_eq!(
            timeout(&s3, ClientConfigKey::ConnectTimeout).as_deref(),
            Some("1500ms")
        );
        assert_eq!(
            timeout(&s3, ClientConfigKey::Timeout).as_deref(),
            Some("120000ms")
        );
        // object_store parses the values when it makes its HTTP client.
        builder.build().unwrap();
    }

    #[test]
    fn debug_hides_the_secrets() {
        let builder = S3StorageBuilder::new()
            .credentials("AKIDEXAMPLE", "wJalrXUtnFEMI")
            .session_token("FwoGZXIvYXdzEJr");
        let debug = format!("{builder:?}");
        assert!(debug.contains("AKIDEXAMPLE"), "{debug}");
        assert!(!debug.contains("wJalrXUtnFEMI"), "{debug}");
        assert!(!debug.contains("FwoGZXIvYXdzEJr"), "{debug}");
    }
}
