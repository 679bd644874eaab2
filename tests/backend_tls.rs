//! TLS to the backends (issue 17 item 8), against real servers started by the test: a
//! throwaway PostgreSQL cluster with `ssl=on` that accepts only TLS connections, and a
//! `redis-server` listening only on a TLS port, both with a certificate for `localhost`
//! signed by a CA made here with rcgen. Everything goes through [`Backends::open`], as the
//! server opens its backends.
//!
//! Needs PostgreSQL's server binaries (`/usr/lib/postgresql/*/bin`) and a `redis-server`
//! built with TLS; without them the tests are skipped with a printed reason, unless
//! `IMAGEVAULT_REQUIRE_SERVICES=1`, when they fail. Run as root, the cluster belongs to the
//! `postgres` user (initdb refuses root). Every server is stopped by a drop guard, also
//! when a test fails.

// A failed unwrap is a failed test here, with the location in the message.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imagevault::ImageId;
use imagevault::backend::Job;
use imagevault::backends::{BackendError, BackendOptions, Backends};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tempfile::TempDir;

/// How long a server gets to start before the test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Skips (prints why and returns `None`) unless services are required, when it fails.
fn skip<T>(reason: &str) -> Option<T> {
    if std::env::var("IMAGEVAULT_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{reason} (IMAGEVAULT_REQUIRE_SERVICES=1)");
    }
    eprintln!("skipped: {reason}");
    None
}

/// A CA and a server certificate for `localhost` only (no IP address), as PEM files.
struct Certificates {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Certificates {
    fn write(dir: &Path) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "imagevault test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &issuer).unwrap();

        let certificates = Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        std::fs::write(&certificates.ca, ca_cert.pem()).unwrap();
        std::fs::write(&certificates.cert, cert.pem()).unwrap();
        std::fs::write(&certificates.key, key.serialize_pem()).unwrap();
        certificates
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args...`, as the `postgres` user when run as root.
fn as_postgres_user(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PostgreSQL cluster in a temporary directory, stopped (immediately) when dropped.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: TempDir,
}

impl Postgres {
    fn start() -> Option<Self> {
        let Some(bin) = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
            .max_by_key(|bin| {
                bin.parent()
                    .and_then(|version| version.file_name()?.to_str()?.parse::<u32>().ok())
            })
        else {
            return skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin");
        };
        let dir = tempfile::tempdir().unwrap();
        let certificates = Certificates::write(dir.path());
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if is_root() {
            // The cluster's files, and the key the server reads, belong to `postgres`; the
            // directory above them only has to be traversable.
            run(Command::new("chmod").arg("0755").arg(dir.path()));
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path()));
        }
        run(Command::new("chmod").arg("0600").arg(&certificates.key));
        run(as_postgres_user(&bin.join("initdb"))
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&data));
        // Only TLS connections over TCP: a connection without TLS is refused by the server,
        // so a query that works proves the client spoke TLS.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostssl all all ::1/128 trust\n",
        )
        .unwrap();
        let port = free_port();
        let options = format!(
            "-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c ssl=on -c ssl_cert_file={} -c ssl_key_file={} -c fsync=off",
            dir.path().display(),
            certificates.cert.display(),
            certificates.key.display()
        );
        let postgres = Self {
            bin,
            data,
            port,
            _dir: dir,
        };
        run(as_postgres_user(&postgres.bin.join("pg_ctl"))
            .args(["start", "-w", "-t"])
            .arg(START_TIMEOUT.as_secs().to_string())
            .arg("-D")
            .arg(&postgres.data)
            .arg("-l")
            .arg(postgres._dir.path().join("postgres.log"))
            .arg("-o")
            .arg(options));
        Some(postgres)
    }

    fn ca(&self) -> PathBuf {
        self._dir.path().join("ca.pem")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres_user(&self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(&self.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The chain of an error's messages, for assertions and failure output.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn open_database(url: &str) -> Result<Backends, BackendError> {
    Backends::open(url, "memory://", "memory://", &BackendOptions::default()).await
}

/// Whether the server sees this connection as TLS, asked over a connection of its own
/// with the same URL.
async fn server_saw_tls(url: &str) -> bool {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    let (ssl,): (bool,) =
        sqlx::query_as("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
            .fetch_one(&mut connection)
            .await
            .unwrap();
    ssl
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_with_sslmode_require_and_verify_full() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let port = postgres.port;
    let ca = postgres.ca();

    // Encrypted, certificate not checked (libpq's meaning of `require`).
    let require = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require");
    let backends = open_database(&require)
        .await
        .unwrap_or_else(|error| panic!("sslmode=require: {}", chain(&error)));
    // The migrations ran over TLS, and a query reads what they made.
    assert!(
        backends
            .repo
            .find_plan_by_name("Basic")
            .await
            .unwrap()
            .is_some()
    );
    assert!(server_saw_tls(&require).await);

    // Certificate checked against the test's CA, and the name `localhost` against it.
    let verified = format!(
        "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    let backends = open_database(&verified)
        .await
        .unwrap_or_else(|error| panic!("sslmode=verify-full: {}", chain(&error)));
    assert!(
        backends
            .repo
            .find_plan_by_name("Basic")
            .await
            .unwrap()
            .is_some()
    );
    assert!(server_saw_tls(&verified).await);

    // The certificate names `localhost`, not 127.0.0.1: verify-full refuses it.
    let wrong_name = format!(
        "postgres://postgres@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    let error = open_database(&wrong_name).await.unwrap_err();
    let text = chain(&error);
    println!("verify-full with a name the certificate lacks: {text}");
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("not valid for name"), "{text}");

    // Without the CA, the system's store does not know the test's CA.
    let unknown_ca = format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full");
    let error = open_database(&unknown_ca).await.unwrap_err();
    let text = chain(&error);
    println!("verify-full without the CA: {text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
}

/// A `redis-server` with only a TLS port, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Redis {
    fn start() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let certificates = Certificates::write(dir.path());
        let port = free_port();
        let child = match Command::new("redis-server")
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .arg("--tls-port")
            .arg(port.to_string())
            .arg("--tls-cert-file")
            .arg(&certificates.cert)
            .arg("--tls-key-file")
            .arg(&certificates.key)
            .arg("--tls-ca-cert-file")
            .arg(&certificates.ca)
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(error) => return skip(&format!("cannot run redis-server: {error}")),
        };
        let mut redis = Self { child, port, dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = redis.child.try_wait().unwrap() {
                // Exited: most likely a build without TLS, which refuses the TLS options.
                return skip(&format!(
                    "redis-server exited ({status}) instead of listening with TLS"
                ));
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "redis-server did not listen within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_queue_over_tls_trusts_the_given_ca() {
    let Some(redis) = Redis::start() else {
        return;
    };
    let url = format!("rediss://localhost:{}", redis.port);
    let options = BackendOptions {
        queue_prefix: format!("tls-test-{}:", ImageId::new()),
        queue_ca_file: Some(redis.dir.path().join("ca.pem")),
        ..BackendOptions::default()
    };
    let backends = Backends::open("memory://", "memory://", &url, &options)
        .await
        .unwrap_or_else(|error| panic!("{url} with the CA: {}", chain(&error)));
    let job = Job::GenerateThumbnails {
        image_id: ImageId::new(),
    };
    backends.queue.enqueue(job.clone()).await.unwrap();
    let delivery = backends
        .queue
        .reserve(Duration::from_secs(60), Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the job comes back over TLS");
    assert_eq!(delivery.job, job);
    backends.queue.ack(&delivery).await.unwrap();

    // Without the CA the certificate chains to nothing the system trusts.
    let untrusted = BackendOptions {
        queue_ca_file: None,
        ..options.clone()
    };
    let error = Backends::open("memory://", "memory://", &url, &untrusted)
        .await
        .unwrap_err();
    let text = chain(&error);
    println!("rediss:// without the CA: {text}");
    assert!(text.contains("UnknownIssuer"), "{text}");

    // The CA is only for rediss://: with redis:// it would silently not be used.
    let error = Backends::open(
        "memory://",
        "memory://",
        &format!("redis://localhost:{}", redis.port),
        &options,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, BackendError::CaFileWithoutTls { .. }),
        "{error:?}"
    );
}
