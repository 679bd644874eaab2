//! The client address of a request: the peer's address, or, when the peer is a trusted
//! proxy ([`RouterConfig::trusted_proxies`](crate::RouterConfig::trusted_proxies)), the
//! address the proxies forwarded. It is logged with every request and keys the login
//! throttles.
//!
//! The rule, as nginx's `real_ip_recursive on`:
//!
//! 1. A peer outside the trusted networks is the client; its headers are not read, so a
//!    client cannot choose the address it is throttled by.
//! 2. From a trusted peer, the forwarded chain is read from `X-Forwarded-For` when the
//!    request has that header, otherwise from `Forwarded` (RFC 7239, its `for=`
//!    parameters). `X-Forwarded-For` wins because it is the one that nginx, HAProxy,
//!    Caddy, Traefik and the cloud load balancers append to by default, while most of them
//!    pass a client's own `Forwarded` header through untouched: preferring `Forwarded`
//!    would let any client behind them choose the address it is throttled by. A proxy that
//!    writes only `Forwarded` must remove an `X-Forwarded-For` its clients send.
//! 3. The chain is walked from the right (the address the last proxy saw first): trusted
//!    addresses are skipped, and the first untrusted one is the client. When every address
//!    is trusted, the left-most one is.
//! 4. When the walk meets an entry that is not an IP address (`unknown`, an obfuscated
//!    `_name`, garbage, a header that is not ASCII), the peer is the client: nothing after
//!    a proxy that could not say is believed.
//!
//! Multiple headers of one name count as one comma-separated list, in order. IPv4 addresses
//! mapped into IPv6 (`::ffff:192.0.2.1`, which a dual-stack listener reports) count as
//! their IPv4 form, both as peers and in the trusted networks' checks.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::header::FORWARDED;
use axum::http::{HeaderMap, HeaderName, Request};
use ipnet::IpNet;

use crate::config::ConfigError;

/// `X-Forwarded-For`, which `http` has no constant for.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client address of a request, which [`insert`] puts into its extensions when the
/// router is served with the peer's address ([`ConnectInfo`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddress(pub(crate) IpAddr);

/// Parses one trusted proxy network: CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address
/// (`192.0.2.1`, meaning `/32`; `2001:db8::1`, meaning `/128`). Surrounding spaces are
/// ignored, so a list may be written `a, b`.
///
/// ```
/// let network = imagevault_axum::parse_trusted_proxy(" 10.0.0.0/8")?;
/// assert_eq!(network.to_string(), "10.0.0.0/8");
/// assert_eq!(imagevault_axum::parse_trusted_proxy("::1")?.to_string(), "::1/128");
/// assert!(imagevault_axum::parse_trusted_proxy("10.0.0.0/33").is_err());
/// # Ok::<(), imagevault_axum::ConfigError>(())
/// ```
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, ConfigError> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| ConfigError::TrustedProxy(text.to_owned()))
}

/// Request middleware: puts the request's [`ClientAddress`] into its extensions.
pub(crate) async fn insert(
    State(trusted): State<Arc<[IpNet]>>,
    mut request: Request<Body>,
) -> Request<Body> {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = client_address(peer.ip(), request.headers(), &trusted);
        request.extensions_mut().insert(ClientAddress(client));
    }
    request
}

/// The client address of a request from `peer` with `headers`, by the rule of this module.
pub(crate) fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let forwarded = if headers.contains_key(&X_FORWARDED_FOR) {
        walk_chain(headers, &X_FORWARDED_FOR, parse_node, trusted)
    } else {
        walk_chain(headers, &FORWARDED, forwarded_for, trusted)
    };
    forwarded.unwrap_or(peer)
}

fn is_trusted(address: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|network| network.contains(&address))
}

/// Walks the comma-separated entries of every `name` header from the right: the first
/// address (by `parse`) outside `trusted`, else the left-most one; `None` for no entry or
/// an entry `parse` rejects.
fn walk_chain(
    headers: &HeaderMap,
    name: &HeaderName,
    parse: fn(&str) -> Option<IpAddr>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let mut leftmost = None;
    for value in headers.get_all(name).iter().rev() {
        for entry in value.to_str().ok()?.rsplit(',') {
            let address = parse(entry.trim())?.to_canonical();
            if !is_trusted(address, trusted) {
                return Some(address);
            }
            leftmost = Some(address);
        }
    }
    leftmost
}

/// The address of a `Forwarded` element's `for=` parameter (`for=192.0.2.60;proto=http`,
/// `for="[2001:db8::1]:4711"`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let node = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    })?;
    let node = match node.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => node,
    };
    parse_node(node)
}

/// An address written as `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:80`.
fn parse_node(node: &str) -> Option<IpAddr> {
    node.parse::<IpAddr>()
        .or_else(|_| node.parse::<SocketAddr>().map(|address| address.ip()))
        .ok()
        .or_else(|| {
            let bracketed = node.strip_prefix('[')?.strip_suffix(']')?;
            bracketed.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn networks(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|text| parse_trusted_proxy(text).unwrap())
            .collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// The client address of a request from `peer` with `pairs`, behind 10.0.0.0/8 and
    /// fd00::/8.
    fn resolve(peer: &str, pairs: &[(&str, &str)]) -> IpAddr {
        client_address(
            ip(peer),
            &headers(pairs),
            &networks(&["10.0.0.0/8", "fd00::/8"]),
        )
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        for pairs in [
            &[("x-forwarded-for", "198.51.100.7")][..],
            &[("forwarded", "for=198.51.100.7")],
            &[("x-forwarded-for", "10.0.0.9")],
        ] {
            assert_eq!(
                resolve("203.0.113.5", pairs),
                ip("203.0.113.5"),
                "{pairs:?}"
            );
        }
        // Without trusted networks nobody is believed, not even loopback.
        let spoofed = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(
            client_address(ip("127.0.0.1"), &spoofed, &[]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_trusted_peer_without_headers_is_the_client() {
        assert_eq!(resolve("10.1.2.3", &[]), ip("10.1.2.3"));
    }

    #[test]
    fn the_right_most_untrusted_address_of_a_chain_is_the_client() {
        // The client put a made-up address first; the proxies appended the real one.
        let chain = "1.2.3.4, 198.51.100.7, 10.0.0.2";
        assert_eq!(
            resolve("10.0.0.1", &[("x-forwarded-for", chain)]),
            ip("198.51.100.7")
        );
        // Two headers are one list, in order.
        assert_eq!(
            resolve(
                "10.0.0.1",
                &[
                    ("x-forwarded-for", "1.2.3.4"),
                    ("x-forwarded-for", "198.51.100.7, 10.0.0.2")
                ]
            ),
            ip("198.51.100.7")
        );
        // Only proxies: the left-most is the client.
        assert_eq!(
            resolve("10.0.0.1", &[("x-forwarded-for", "10.0.0.3,10.0.0.2")]),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn forwarded_is_read_when_x_forwarded_for_is_absent() {
        let forwarded = (
            "forwarded",
            "for=192.0.2.43;proto=https, For=\"[2001:db8:cafe::17]:4711\";by=10.0.0.2",
        );
        assert_eq!(resolve("10.0.0.1", &[forwarded]), ip("2001:db8:cafe::17"));
        // nginx appends the real client to X-Forwarded-For but passes a client's own
        // Forwarded through: the latter must not choose the address.
        assert_eq!(
            resolve("10.0.0.1", &[forwarded, ("x-forwarded-for", "192.0.2.99")]),
            ip("192.0.2.99")
        );
        assert_eq!(
            resolve(
                "10.0.0.1",
                &[("forwarded", "for=192.0.2.43:8080, for=\"10.0.0.5\"")]
            ),
            ip("192.0.2.43")
        );
    }

    #[test]
    fn ipv6_peers_proxies_and_clients() {
        assert_eq!(
            resolve(
                "fd00::1",
                &[("x-forwarded-for", "2001:db8::7, [fd00::2]:443")]
            ),
            ip("2001:db8::7")
        );
        assert_eq!(
            resolve("fd00::1", &[("x-forwarded-for", "[2001:db8::8]")]),
            ip("2001:db8::8")
        );
        // A dual-stack listener reports IPv4 peers as mapped IPv6 addresses.
        assert_eq!(
            resolve(
                "::ffff:10.0.0.1",
                &[("x-forwarded-for", "::ffff:198.51.100.7")]
            ),
            ip("198.51.100.7")
        );
        assert_eq!(resolve("::ffff:203.0.113.5", &[]), ip("203.0.113.5"));
    }

    #[test]
    fn garbage_falls_back_to_the_peer() {
        for pairs in [
            &[("x-forwarded-for", "not an address")][..],
            &[("x-forwarded-for", "")],
            &[("x-forwarded-for", "198.51.100.7,")],
            &[("x-forwarded-for", "198.51.100.7, unknown")],
            &[("x-forwarded-for", "300.1.2.3")],
            &[("x-forwarded-for", "[2001:db8::1")],
            &[("forwarded", "for=unknown")],
            &[("forwarded", "for=_hidden")],
            &[("forwarded", "proto=https")],
            &[("forwarded", "for=\"198.51.100.7")],
            &[("forwarded", "for")],
            &[("forwarded", "for=[2001:db8::1]:_port")],
            // A bad X-Forwarded-For is not rescued by Forwarded: X-Forwarded-For was chosen.
            &[
                ("x-forwarded-for", "unknown"),
                ("forwarded", "for=198.51.100.7"),
            ],
        ] {
            assert_eq!(resolve("10.0.0.1", pairs), ip("10.0.0.1"), "{pairs:?}");
        }
        let mut not_ascii = HeaderMap::new();
        not_ascii.insert(
            X_FORWARDED_FOR,
            axum::http::HeaderValue::from_bytes("198.51.100.7, é".as_bytes()).unwrap(),
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &not_ascii, &networks(&["10.0.0.0/8"])),
            ip("10.0.0.1")
        );
        // Garbage left of the client does not matter: the walk stops at the client.
        assert_eq!(
            resolve("10.0.0.1", &[("x-forwarded-for", "garbage, 198.51.100.7")]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn trusted_proxies_parse_as_cidr_or_single_addresses() {
        assert_eq!(
            networks(&["10.0.0.0/8", " 192.0.2.1 ", "2001:db8::/32", "::1"])
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32", "::1/128"]
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "example.com",
            "10.0.0.0/",
            "::1/129",
        ] {
            let error = parse_trusted_proxy(bad).unwrap_err();
            assert!(error.to_string().contains("CIDR"), "{bad}: {error}");
        }
    }
}
