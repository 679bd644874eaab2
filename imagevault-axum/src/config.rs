//! [`RouterConfig`]: the public base URL and the HTTP-level limits of the router.

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

/// How the router presents itself and bounds requests.
///
/// ```
/// use std::time::Duration;
/// use imagevault_axum::RouterConfig;
///
/// let config = RouterConfig::new("https://images.example.com/")?
///     .request_timeout(Duration::from_secs(30));
/// assert_eq!(config.public_url(), "https://images.example.com");
/// # Ok::<(), imagevault_axum::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    public_url: String,
    request_timeout: Duration,
    body_read_timeout: Duration,
    max_concurrent_uploads: usize,
    /// Shared with the middleware that reads it on every request.
    trusted_proxies: Arc<[IpNet]>,
}

/// A [`RouterConfig`] value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The public URL is not an absolute `http` or `https` URL without query or fragment.
    #[error(
        "invalid public url {0:?}; use an absolute http or https url such as http://127.0.0.1:8000 or https://images.example.com/prefix"
    )]
    PublicUrl(String),
    /// A trusted proxy is neither a network in CIDR form nor an IP address.
    #[error(
        "invalid trusted proxy {0:?}; use a network in CIDR form such as 10.0.0.0/8 or fd00::/8, or one address such as 192.0.2.1"
    )]
    TrustedProxy(String),
}

impl RouterConfig {
    /// The default public URL, matching the example server's default bind address.
    pub const DEFAULT_PUBLIC_URL: &'static str = "http://127.0.0.1:8000";
    /// The default time limit for one request, uploads included.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default longest wait for the next byte of a request body.
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(15);
    /// The default number of upload bodies received at once.
    pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 8;

    /// A configuration whose absolute URLs (`url`, `next`, media links) start with
    /// `public_url`: scheme, host, optional port and optional path prefix. A trailing slash
    /// is ignored.
    pub fn new(public_url: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::PublicUrl(public_url.to_owned());
        let trimmed = public_url.trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("http://")
            .or_else(|| trimmed.strip_prefix("https://"))
            .ok_or_else(invalid)?;
        let host = rest.split('/').next().unwrap_or_default();
        let acceptable = |c: char| c.is_ascii_alphanumeric() || "-._~:[]@%".contains(c);
        if host.is_empty()
            || !host.chars().all(acceptable)
            || rest.contains(['?', '#', ' ', '\\'])
            || rest.chars().any(|c| c.is_control())
        {
            return Err(invalid());
        }
        Ok(Self {
            public_url: trimmed.to_owned(),
            ..Self::default()
        })
    }

    /// Sets the time limit for one request (default 60 s); a request over it gets 503.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the longest wait for the next byte of a request body while it is read (default
    /// 15 s); a request whose body stops arriving that long is answered 408 and its
    /// connection closed, well before the request timeout would end it.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Sets how many uploads may be received and stored at once (default 8, at least 1).
    ///
    /// An upload's body is held in memory until it is stored, so this bounds the memory
    /// all uploads together take: at most this many times the vault's byte limit. Uploads
    /// over the count wait (within the request timeout) before their body is read; their
    /// bytes wait in the network buffers meanwhile, and TCP slows their senders.
    pub fn max_concurrent_uploads(mut self, uploads: usize) -> Self {
        self.max_concurrent_uploads = uploads.max(1);
        self
    }

    /// Sets the proxies (networks; default none) whose `Forwarded` and `X-Forwarded-For`
    /// headers are believed for the client address, which requests are logged with and
    /// failed logins are throttled by. From any other peer those headers are ignored.
    ///
    /// From a trusted peer, the chain of `Forwarded` (RFC 7239 `for=`) is read when the
    /// request has that header, else that of `X-Forwarded-For`, and walked from the right
    /// as nginx's `real_ip_recursive` does: the first address outside these networks is
    /// the client (all inside: the left-most). An entry that is no IP address (`unknown`,
    /// garbage) stops the walk and the peer is the client. A proxy must therefore drop the
    /// one of the two headers it does not write.
    ///
    /// ```
    /// use imagevault_axum::{RouterConfig, parse_trusted_proxy};
    ///
    /// let config = RouterConfig::default()
    ///     .trusted_proxies([parse_trusted_proxy("10.0.0.0/8")?, parse_trusted_proxy("::1")?]);
    /// assert_eq!(config.trusted_proxy_networks().len(), 2);
    /// # Ok::<(), imagevault_axum::ConfigError>(())
    /// ```
    pub fn trusted_proxies(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted_proxies = networks.into_iter().collect();
        self
    }

    /// The networks of the trusted proxies.
    pub fn trusted_proxy_networks(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    /// The trusted proxies' networks, shared.
    pub(crate) fn shared_trusted_proxies(&self) -> Arc<[IpNet]> {
        Arc::clone(&self.trusted_proxies)
    }

    /// How many uploads are received and stored at once.
    pub fn concurrent_uploads(&self) -> usize {
        self.max_concurrent_uploads
    }

    /// The public base URL, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Whether the public URL is https: session cookies are then `Secure`.
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The public URL's path prefix without a trailing slash (`""` for none), which the
    /// pages' links start with.
    pub fn path_prefix(&self) -> &str {
        let rest = self
            .public_url
            .split_once("://")
            .map_or("", |(_, rest)| rest);
        rest.find('/').map_or("", |slash| &rest[slash..])
    }

    /// The time limit for one request.
    pub fn timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The longest wait for the next byte of a request body.
    pub fn body_stall_limit(&self) -> Duration {
        self.body_read_timeout
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            public_url: Self::DEFAULT_PUBLIC_URL.to_owned(),
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            body_read_timeout: Self::DEFAULT_BODY_READ_TIMEOUT,
            max_concurrent_uploads: Self::DEFAULT_MAX_CONCURRENT_UPLOADS,
            trusted_proxies: Arc::new([]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_checked_and_normalised() {
        for (input, expected) in [
            ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
            ("https://example.com/", "https://example.com"),
            ("https://example.com/images/", "https://example.com/images"),
            ("http://[::1]:8000", "http://[::1]:8000"),
        ] {
            assert_eq!(RouterConfig::new(input).unwrap().public_url(), expected);
        }
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "http://",
            "http:///path",
            "http://exa mple.com",
            "http://example.com/?q=1",
            "http://example.com/#x",
        ] {
            assert!(RouterConfig::new(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod prefix_tests {
    use super::*;

    #[test]
    fn the_path_prefix_and_scheme_come_from_the_public_url() {
        let plain = RouterConfig::new("http://127.0.0.1:8000/").unwrap();
        assert_eq!(plain.path_prefix(), "");
        assert!(!plain.is_https());
        let prefixed = RouterConfig::new("https://example.com/images/").unwrap();
        assert_eq!(prefixed.path_prefix(), "/images");
        assert!(prefixed.is_https());
    }
}
