//! `healthcheck`: asks a server on this machine for `/healthz`, so that a container's
//! `HEALTHCHECK` needs nothing but this binary (the image has no curl).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::cli::HealthcheckArgs;
use crate::run::reachable_address;

/// The most of the answer that is read: its status line fits many times over.
const MAX_STATUS_LINE: usize = 1024;

/// Succeeds when the server at `args.bind` answers `GET /healthz` with 200 in time.
pub(crate) async fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let address = probe_address(&args.bind).await?;
    let patience = Duration::from_secs(args.timeout_secs);
    let status = tokio::time::timeout(patience, healthz_status(address))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "http://{address}/healthz did not answer within {} s",
                args.timeout_secs
            )
        })??;
    if status != 200 {
        bail!("http://{address}/healthz answered {status}, not 200");
    }
    println!("http://{address}/healthz: 200");
    Ok(())
}

/// Where to knock for a server bound to `bind`: a wildcard address (`0.0.0.0:8000`, as in
/// the container) is reached on the loopback address of its family.
async fn probe_address(bind: &str) -> anyhow::Result<SocketAddr> {
    let address = tokio::net::lookup_host(bind)
        .await
        .ok()
        .and_then(|mut addresses| addresses.next())
        .with_context(|| {
            format!("--bind {bind:?} is not an address; use HOST:PORT such as 127.0.0.1:8000")
        })?;
    Ok(reachable_address(address))
}

/// The status code of `GET /healthz` at `address`, over plain HTTP/1.1.
async fn healthz_status(address: SocketAddr) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::with_capacity(128);
    let mut chunk = [0_u8; 256];
    while !answer.windows(2).any(|pair| pair == b"\r\n") && answer.len() < MAX_STATUS_LINE {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..read]);
    }
    status_code(&answer).with_context(|| format!("{address} did not answer with HTTP"))
}

/// The code of an HTTP/1.x status line at the start of `answer`.
fn status_code(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&byte| byte == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts
        .next()
        .filter(|version| version.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read_and_anything_else_is_not() {
        assert_eq!(
            status_code(b"HTTP/1.1 200 OK\r\ncontent-length: 2"),
            Some(200)
        );
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_code(b"SSH-2.0-OpenSSH_9.2\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 two hundred\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[tokio::test]
    async fn a_wildcard_bind_is_probed_on_loopback() {
        let v4 = probe_address("0.0.0.0:8000").await.expect("an address");
        assert_eq!(v4, "127.0.0.1:8000".parse().expect("literal"));
        let v6 = probe_address("[::]:9000").await.expect("an address");
        assert_eq!(v6, "[::1]:9000".parse().expect("literal"));
        let error = probe_address("no port here")
            .await
            .expect_err("not an address");
        assert!(error.to_string().contains("HOST:PORT"), "{error}");
    }
}
