//! The browser session cookie and the CSRF token that goes with it.
//!
//! A signed-in browser holds the session's secret in a cookie: `HttpOnly` (no script reads
//! it), `SameSite=Lax` (other sites' forms and scripts do not send it), `Secure` with the
//! `__Host-` prefix when the public URL is https. Unsafe requests made with it also carry
//! the session's CSRF token, in the form field [`CSRF_FIELD`] or the header [`CSRF_HEADER`]
//! (Django's and DRF's names), and pass the cross-site checks of
//! [`refuse_cross_site`](crate::auth::refuse_cross_site).

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use cookie::{Cookie, SameSite};
use imagevault_core::SessionSecret;

use crate::config::RouterConfig;

/// The cookie's name over http.
const COOKIE_NAME: &str = "imagevault_session";
/// The cookie's name over https: browsers keep a `__Host-` cookie only if it is `Secure`,
/// has `Path=/` and no `Domain`, so no subdomain can set or shadow it.
const SECURE_COOKIE_NAME: &str = "__Host-imagevault_session";

/// The form field that carries the CSRF token (Django's name).
pub(crate) const CSRF_FIELD: &str = "csrfmiddlewaretoken";
/// The header that carries the CSRF token (DRF's name).
pub(crate) const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrftoken");

fn cookie_name(config: &RouterConfig) -> &'static str {
    if config.is_https() {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The session secret the request's cookies carry, if any.
pub(crate) fn presented_secret(
    headers: &HeaderMap,
    config: &RouterConfig,
) -> Option<SessionSecret> {
    let name = cookie_name(config);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name && !cookie.value().is_empty())
        .map(|cookie| SessionSecret::presented(cookie.value()))
}

/// The `Set-Cookie` header that gives the browser a session, for as long as `max_age`.
pub(crate) fn set_session(
    config: &RouterConfig,
    secret: &SessionSecret,
    max_age: std::time::Duration,
) -> (HeaderName, HeaderValue) {
    let max_age =
        cookie::time::Duration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX));
    let cookie = base_cookie(config, secret.expose().to_owned())
        .max_age(max_age)
        .build();
    (SET_COOKIE, header_value(&cookie))
}

/// The `Set-Cookie` header that removes the session cookie.
pub(crate) fn clear_session(config: &RouterConfig) -> (HeaderName, HeaderValue) {
    let cookie = base_cookie(config, String::new())
        .max_age(cookie::time::Duration::ZERO)
        .build();
    (SET_COOKIE, header_value(&cookie))
}

fn base_cookie(config: &RouterConfig, value: String) -> cookie::CookieBuilder<'static> {
    Cookie::build((cookie_name(config), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.is_https())
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    // A cookie of a fixed name and URL-safe base64 is always a valid header value.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The CSRF token a request carries in its header, if any.
pub(crate) fn header_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_lax_and_secure_on_https() {
        let secret = SessionSecret::generate().unwrap();
        let plain = RouterConfig::new("http://127.0.0.1:8000").unwrap();
        let (_, value) = set_session(&plain, &secret, std::time::Duration::from_secs(60));
        let value = value.to_str().unwrap();
        assert!(value.starts_with("imagevault_session="), "{value}");
        assert!(
            value.contains("HttpOnly") && value.contains("SameSite=Lax"),
            "{value}"
        );
        assert!(
            value.contains("Path=/") && value.contains("Max-Age=60"),
            "{value}"
        );
        assert!(!value.contains("Secure"), "{value}");

        let https = RouterConfig::new("https://images.example.com").unwrap();
        let (_, value) = set_session(&https, &secret, std::time::Duration::from_secs(60));
        let value = value.to_str().unwrap();
        assert!(value.starts_with("__Host-imagevault_session="), "{value}");
        assert!(value.contains("Secure"), "{value}");
    }

    #[test]
    fn the_secret_is_read_from_any_cookie_header() {
        let config = RouterConfig::new("http://127.0.0.1:8000").unwrap();
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=b"));
        headers.append(
            COOKIE,
            HeaderValue::from_static("x=1; imagevault_session=abc; y=2"),
        );
        assert_eq!(presented_secret(&headers, &config).unwrap().expose(), "abc");
        let https = RouterConfig::new("https://images.example.com").unwrap();
        assert!(presented_secret(&headers, &https).is_none());
        assert!(presented_secret(&HeaderMap::new(), &config).is_none());
    }
}
