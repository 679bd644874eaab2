//! [`Caller`]: the account behind a request's `Authorization` header.
//!
//! Accepted: `Basic base64(username:password)`, `Bearer <token>` and DRF's `Token <token>`;
//! without an `Authorization` header, a browser session's cookie (see `session_cookie`),
//! with its CSRF token on unsafe methods, as DRF's `SessionAuthentication`.
//! A missing or wrong credential is a 401 with `WWW-Authenticate` challenges. Repeated
//! failures are throttled by the service (429 with `Retry-After`): Basic logins per
//! username from one client, per username and per client; bad tokens per client. The client
//! is the request's client address ([`client_key`]: IPv6 by its /64): the peer's, or behind
//! a trusted proxy the forwarded one (see `client_address`), when the router is served with
//! [`ConnectInfo`](axum::extract::ConnectInfo)
//! (`into_make_service_with_connect_info::<SocketAddr>()`); without it, Basic logins are
//! throttled per username only and bad tokens not at all. Every successful authentication
//! records the user's id on the request's log span.

use axum::extract::FromRequestParts;
use axum::http::Extensions;
use axum::http::header::{AUTHORIZATION, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use imagevault_core::{Account, SessionSecret, Vault, VaultError, client_key};

use crate::AppState;
use crate::client_address::ClientAddress;
use crate::config::RouterConfig;
use crate::error::ApiError;
use crate::layers::record_user;
use crate::session_cookie::{header_token, presented_secret};

/// Which site made the request, as browsers tell (Fetch Metadata); `http` has no constant.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The authenticated caller of a request, and the token it used, if any.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's user and current plan.
    pub account: Account,
    /// The API token the request carried (`Bearer` or `Token`), for revocation.
    pub token: Option<String>,
}

/// A credential as presented in an `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
enum Credential {
    Basic { username: String, password: String },
    Token(String),
}

fn parse_authorization(value: &str) -> Result<Option<Credential>, ApiError> {
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        if rest.is_empty() || rest.contains(' ') {
            return Err(ApiError::unauthorized(
                "Invalid basic header. Credentials string should not contain spaces and must not be empty.",
            ));
        }
        let decoded = STANDARD
            .decode(rest)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "Invalid basic header. Credentials not correctly base64 encoded.",
                )
            })?;
        let (username, password) = decoded.split_once(':').ok_or_else(|| {
            ApiError::unauthorized("Invalid basic header. Credentials must be username:password.")
        })?;
        Ok(Some(Credential::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        }))
    } else if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        if rest.is_empty() || rest.contains(' ') {
            return Err(ApiError::unauthorized(
                "Invalid token header. The token must be one string without spaces.",
            ));
        }
        Ok(Some(Credential::Token(rest.to_owned())))
    } else {
        // Another scheme is not ours to judge; as in DRF, it counts as no credentials.
        Ok(None)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let not_provided =
            || ApiError::unauthorized("Authentication credentials were not provided.");
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            // As DRF's SessionAuthentication: a signed-in browser's own pages call the API
            // with the session cookie, and a CSRF token for unsafe methods.
            return match presented_secret(&parts.headers, &state.config) {
                Some(secret) => session_caller(parts, state, &secret).await,
                None => Err(not_provided()),
            };
        };
        let value = header.to_str().map_err(|_| {
            ApiError::unauthorized("Invalid authorization header; it must be ASCII text.")
        })?;
        let vault = &state.vault;
        match parse_authorization(value)? {
            None => Err(not_provided()),
            Some(Credential::Basic { username, password }) => {
                // Checked before the password, so a forged request costs no hash either.
                refuse_cross_site(parts, &state.config)?;
                let client = client_address(&parts.extensions);
                match authenticate_password(vault, client.as_deref(), &username, &password).await {
                    Ok(account) => Ok(Self {
                        account,
                        token: None,
                    }),
                    Err(VaultError::InvalidCredentials) => {
                        Err(ApiError::unauthorized("Invalid username/password."))
                    }
                    Err(other) => Err(other.into()),
                }
            }
            Some(Credential::Token(token)) => {
                let authenticated = match client_address(&parts.extensions) {
                    Some(client) => vault.authenticate_token_from(&token, &client).await,
                    None => vault.authenticate_token(&token).await,
                };
                match authenticated {
                    Ok(account) => {
                        record_user(&account.user);
                        Ok(Self {
                            account,
                            token: Some(token),
                        })
                    }
                    Err(VaultError::InvalidCredentials) => {
                        Err(ApiError::unauthorized("Invalid token."))
                    }
                    Err(other) => Err(other.into()),
                }
            }
        }
    }
}

/// Refuses an unsafe request (`POST`, `PUT`, `PATCH`, `DELETE`, anything but `GET`, `HEAD`,
/// `OPTIONS` and `TRACE`) that a page of another site could have made a browser send.
///
/// For credentials the browser attaches by itself: HTTP Basic (replayed after its login
/// prompt) and, once there are web pages, a session cookie. Tokens are set by scripts and
/// never attached by a browser on its own, so their requests are not checked.
///
/// Refused (403): `Sec-Fetch-Site: cross-site` or `same-site` (another site, or another
/// host of this site, made the request), or an `Origin` header other than the public URL's
/// origin (`Origin: null` included, which sandboxed and privacy-sensitive contexts send).
/// Clients outside browsers send neither header and pass.
async fn session_caller(
    parts: &Parts,
    state: &AppState,
    secret: &SessionSecret,
) -> Result<Caller, ApiError> {
    check_csrf(parts, secret, header_token(&parts.headers), &state.config)?;
    match state.vault.authenticate_session(secret).await {
        Ok(account) => {
            record_user(&account.user);
            Ok(Caller {
                account,
                token: None,
            })
        }
        Err(VaultError::InvalidCredentials) => Err(ApiError::unauthorized(
            "Your session has ended; sign in again.",
        )),
        Err(other) => Err(other.into()),
    }
}

/// Refuses an unsafe request made with a session unless it comes from this server's own
/// pages: same origin, and the session's CSRF token `presented` (from a form field or the
/// [`CSRF_HEADER`](crate::session_cookie::CSRF_HEADER)).
pub(crate) fn check_csrf(
    parts: &Parts,
    secret: &SessionSecret,
    presented: Option<&str>,
    config: &RouterConfig,
) -> Result<(), ApiError> {
    if parts.method.is_safe() {
        return Ok(());
    }
    refuse_cross_site(parts, config)?;
    check_csrf_token(secret, presented)
}

/// Whether `presented` is the session's CSRF token, compared in constant time; the 403
/// names what was wrong.
pub(crate) fn check_csrf_token(
    secret: &SessionSecret,
    presented: Option<&str>,
) -> Result<(), ApiError> {
    match presented {
        None | Some("") => Err(ApiError::detail(
            StatusCode::FORBIDDEN,
            "CSRF Failed: CSRF token missing. Requests made with a session send the page's \
             token in the X-CSRFToken header or the csrfmiddlewaretoken form field.",
        )),
        Some(token) if secret.accepts_csrf(token) => Ok(()),
        Some(_) => Err(ApiError::detail(
            StatusCode::FORBIDDEN,
            "CSRF Failed: CSRF token incorrect. Reload the page and try again.",
        )),
    }
}

pub(crate) fn refuse_cross_site(parts: &Parts, config: &RouterConfig) -> Result<(), ApiError> {
    if parts.method.is_safe() {
        return Ok(());
    }
    let header = |name: &HeaderName| {
        parts
            .headers
            .get(name)
            .map(|value| value.to_str().unwrap_or("").trim())
    };
    if let Some(site) = header(&SEC_FETCH_SITE)
        && (site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site"))
    {
        return Err(cross_site(format!(
            "the browser marked it Sec-Fetch-Site: {site}"
        )));
    }
    if let Some(origin) = header(&ORIGIN)
        && !same_origin(origin, config.public_url())
    {
        return Err(cross_site(format!(
            "its Origin {origin:?} is not this server's origin {:?}",
            origin_of(config.public_url())
        )));
    }
    Ok(())
}

fn cross_site(reason: String) -> ApiError {
    ApiError::detail(
        StatusCode::FORBIDDEN,
        format!(
            "Cross-site request refused: {reason}. Credentials a browser sends by itself \
             (HTTP Basic) work only from this server's own pages; other clients send a token \
             (Authorization: Bearer <token>)."
        ),
    )
}

/// `scheme://host[:port]` of an absolute URL, lowercased, without the scheme's default
/// port, as browsers write `Origin`.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    };
    let host = default_port
        .and_then(|port| authority.strip_suffix(port))
        .unwrap_or(&authority);
    format!("{scheme}://{host}")
}

fn same_origin(origin: &str, public_url: &str) -> bool {
    origin.contains("://") && origin_of(origin) == origin_of(public_url)
}

/// The throttling key of the request's client address, when the router is served with
/// [`ConnectInfo`](axum::extract::ConnectInfo); requests handed to the router directly
/// (`oneshot` in tests) have none.
pub(crate) fn client_address(extensions: &Extensions) -> Option<String> {
    extensions
        .get::<ClientAddress>()
        .map(|ClientAddress(address)| client_key(*address))
}

/// A password login, throttled per client as well when the client is known; a success is
/// recorded on the request's log span.
pub(crate) async fn authenticate_password(
    vault: &Vault,
    client: Option<&str>,
    username: &str,
    password: &str,
) -> Result<Account, VaultError> {
    let account = match client {
        Some(client) => {
            vault
                .authenticate_password_from(username, password, client)
                .await
        }
        None => vault.authenticate_password(username, password).await,
    }?;
    record_user(&account.user);
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode() {
        let header = format!("Basic {}", STANDARD.encode("alice:pa:ss word"));
        assert_eq!(
            parse_authorization(&header).unwrap(),
            Some(Credential::Basic {
                username: "alice".into(),
                password: "pa:ss word".into()
            })
        );
        assert_eq!(
            parse_authorization(&format!("basic {}", STANDARD.encode("a:b"))).unwrap(),
            Some(Credential::Basic {
                username: "a".into(),
                password: "b".into()
            })
        );
    }

    #[test]
    fn token_schemes_are_accepted() {
        for header in ["Bearer iv_abc", "Token iv_abc", "bearer iv_abc"] {
            assert_eq!(
                parse_authorization(header).unwrap(),
                Some(Credential::Token("iv_abc".into()))
            );
        }
    }

    #[test]
    fn origins_compare_without_default_ports_or_case() {
        assert!(same_origin(
            "https://images.example.com",
            "https://Images.example.com:443/prefix"
        ));
        assert!(same_origin(
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8000"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:8001",
            "http://127.0.0.1:8000"
        ));
        assert!(!same_origin(
            "https://images.example.com",
            "http://images.example.com"
        ));
        assert!(!same_origin("null", "http://127.0.0.1:8000"));
        assert!(!same_origin(
            "https://evil.example",
            "https://images.example.com"
        ));
    }

    #[test]
    fn malformed_headers_are_401() {
        for header in [
            "Basic",
            "Basic !!!",
            &format!("Basic {}", STANDARD.encode("no-colon")),
            "Bearer",
            "Bearer a b",
        ] {
            let error = parse_authorization(header).unwrap_err();
            assert_eq!(
                error.status(),
                axum::http::StatusCode::UNAUTHORIZED,
                "{header}"
            );
        }
        assert_eq!(parse_authorization("Digest abc").unwrap(), None);
    }
}
