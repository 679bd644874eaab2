//! The real `imagevault-server` binary, run in a fresh temporary directory with its default
//! backends (SQLite and local files under `./imagevault-data`): migrations, the admin
//! commands and their errors, and `serve` answering HTTP, creating the first
//! administrator and stopping cleanly on SIGTERM.
//!
//! Every wait is bounded, and a child still running when a test fails is killed.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use imagevault::sqlx::SqliteRepo;

const BINARY: &str = env!("CARGO_BIN_EXE_imagevault-server");
/// The longest any one step may take; generous, for a loaded machine and a debug build.
const PATIENCE: Duration = Duration::from_secs(90);

/// A child process that is killed if the test ends (or panics) while it still runs.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits for `child` to exit, killing it after `PATIENCE`.
fn wait_bounded(guard: &mut Guard, what: &str) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = guard.0.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = guard.0.kill();
            let _ = guard.0.wait();
            panic!("{what} did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads a pipe to its end on a thread, into a shared string.
fn collect(mut pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let shared = text.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read) = pipe.read(&mut buffer) {
            if read == 0 {
                break;
            }
            shared
                .lock()
                .expect("output lock")
                .push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    });
    text
}

/// What a finished command printed.
#[derive(Debug)]
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    #[track_caller]
    fn success(self) -> Self {
        assert!(self.status.success(), "failed: {self:#?}");
        self
    }

    /// A failure with exit code 1 (ours) or 2 (clap's), whose stderr says all of `phrases`.
    #[track_caller]
    fn failure_saying(self, code: i32, phrases: &[&str]) -> Self {
        assert_eq!(self.status.code(), Some(code), "{self:#?}");
        for phrase in phrases {
            assert!(
                self.stderr.contains(phrase),
                "stderr lacks {phrase:?}: {self:#?}"
            );
        }
        self
    }
}

/// A temporary working directory: the binary's default backends live under it.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The binary in this directory, with no configuration inherited from the test's own
    /// environment.
    fn command(&self, args: &[&str]) -> Command {
        self.command_under(&[], args)
    }

    /// [`command`](Self::command) run by `wrapper`, a program that runs the rest of its
    /// command line (such as `prlimit`), when not empty.
    fn command_under(&self, wrapper: &[&str], args: &[&str]) -> Command {
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(BINARY);
                command
            }
            None => Command::new(BINARY),
        };
        command.args(args).current_dir(self.path());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("IMAGEVAULT_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        command
    }

    /// Runs a command to its end, with `stdin` as its standard input.
    fn run_with(&self, args: &[&str], envs: &[(&str, &str)], stdin: &str) -> Finished {
        let mut command = self.command(args);
        command
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = Guard(command.spawn().expect("spawn the binary"));
        let stdout = collect(guard.0.stdout.take().expect("stdout"));
        let stderr = collect(guard.0.stderr.take().expect("stderr"));
        {
            let mut input = guard.0.stdin.take().expect("stdin");
            // A command that does not read its input may have exited already.
            let _ = input.write_all(stdin.as_bytes());
        }
        let status = wait_bounded(&mut guard, &format!("imagevault-server {args:?}"));
        // The reader threads finish right after the pipes close.
        let deadline = Instant::now() + PATIENCE;
        while Arc::strong_count(&stdout) > 1 || Arc::strong_count(&stderr) > 1 {
            assert!(Instant::now() < deadline, "output pipes stayed open");
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = |shared: &Arc<Mutex<String>>| shared.lock().expect("output lock").clone();
        Finished {
            status,
            stdout: text(&stdout),
            stderr: text(&stderr),
        }
    }

    fn run(&self, args: &[&str]) -> Finished {
        self.run_with(args, &[], "")
    }

    /// Starts a server with `args` and waits for its listening line.
    fn start(&self, args: &[&str], envs: &[(&str, &str)]) -> Server {
        self.start_command(self.command(args), envs)
    }

    /// Starts `command`, a server, and waits for its listening line.
    fn start_command(&self, mut command: Command, envs: &[(&str, &str)]) -> Server {
        command
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = Guard(command.spawn().expect("spawn the server"));
        let stdout = guard.0.stdout.take().expect("stdout");
        let stderr = collect(guard.0.stderr.take().expect("stderr"));
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + PATIENCE;
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = line.strip_prefix("imagevault listening on http://") {
                        let port = address.rsplit(':').next().expect("a port");
                        break port.parse::<u16>().expect("a numeric port");
                    }
                }
                Err(error) => panic!(
                    "no listening line ({error}); stderr:\n{}",
                    stderr.lock().expect("output lock")
                ),
            }
        };
        Server {
            guard,
            port,
            stderr,
        }
    }
}

/// A running server.
struct Server {
    guard: Guard,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Sends a GET request and returns the status and the body.
    fn get(&self, path: &str, credentials: Option<(&str, &str)>) -> (u16, String) {
        self.request("GET", path, credentials, None)
    }

    /// Uploads `image` as the `image` field of a multipart form; returns the status and
    /// the body.
    fn upload(&self, credentials: (&str, &str), image: &[u8]) -> (u16, String) {
        let boundary = "imagevault-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"upload.png\"\r\n\
             Content-Type: image/png\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(image);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.request(
            "POST",
            "/api/images/",
            Some(credentials),
            Some((&format!("multipart/form-data; boundary={boundary}"), &body)),
        )
    }

    /// Sends a request with an optional body (its content type and bytes) and returns the
    /// status and the body of the response.
    fn request(
        &self,
        method: &str,
        path: &str,
        credentials: Option<(&str, &str)>,
        body: Option<(&str, &[u8])>,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        stream.set_write_timeout(Some(PATIENCE)).expect("timeout");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.port
        );
        if let Some((username, password)) = credentials {
            let encoded = STANDARD.encode(format!("{username}:{password}"));
            request.push_str(&format!("Authorization: Basic {encoded}\r\n"));
        }
        if let Some((content_type, body)) = body {
            request.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).expect("send");
        if let Some((_, body)) = body {
            stream.write_all(body).expect("send the body");
        }
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("receive");
        let response = String::from_utf8(response).expect("a text response");
        let (head, body) = response.split_once("\r\n\r\n").expect("a header block");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status code");
        let chunked = head
            .lines()
            .any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        (status, body)
    }

    /// The status of a GET of `path` with `Authorization: Bearer <token>`.
    fn bearer_status(&self, path: &str, token: &str) -> u16 {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Authorization: Bearer {token}\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("receive");
        response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status code")
    }

    /// GET /api/me/ as `username`, expecting 200; returns the parsed body.
    fn me(&self, username: &str, password: &str) -> serde_json::Value {
        let (status, body) = self.get("/api/me/", Some((username, password)));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// Waits until stderr contains `needle`, and returns all of it.
    fn stderr_containing(&self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.stderr.lock().expect("output lock").clone();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "stderr never said {needle:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit; returns the exit status and all of stderr.
    fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.guard.0.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = wait_bounded(&mut self.guard, "the server after SIGTERM");
        let deadline = Instant::now() + PATIENCE;
        while Arc::strong_count(&self.stderr) > 1 {
            assert!(Instant::now() < deadline, "stderr stayed open");
            std::thread::sleep(Duration::from_millis(10));
        }
        let stderr = self.stderr.lock().expect("output lock").clone();
        (status, stderr)
    }
}

/// Decodes a chunked HTTP body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// The row of `table` whose first column is `first`, split into columns.
fn row(table: &str, first: &str) -> Vec<String> {
    table
        .lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first().is_some_and(|cell| cell == first))
        .unwrap_or_else(|| panic!("no row {first:?} in\n{table}"))
}

#[test]
fn migrate_creates_the_database_with_the_built_in_plans() {
    let workspace = Workspace::new();
    let migrated = workspace.run(&["migrate"]).success();
    assert!(migrated.stdout.contains("migrated"), "{migrated:?}");
    assert!(
        workspace
            .path()
            .join("imagevault-data/imagevault.db")
            .is_file()
    );
    // Migrating again is harmless.
    workspace.run(&["migrate"]).success();

    let plans = workspace.run(&["admin", "list-plans"]).success().stdout;
    assert_eq!(row(&plans, "Basic")[1..5], ["200", "original", "no", "no"]);
    assert_eq!(
        row(&plans, "Premium")[1..5],
        ["200,400", "original", "yes", "no"]
    );
    assert_eq!(
        row(&plans, "Enterprise")[1..5],
        ["200,400", "original", "yes", "yes"]
    );
    let users = workspace.run(&["admin", "list-users"]).success().stdout;
    assert_eq!(users.lines().count(), 1, "only the header: {users}");
}

#[test]
fn admin_commands_manage_plans_and_users() {
    let workspace = Workspace::new();
    let created = workspace
        .run(&[
            "admin",
            "create-plan",
            "Pro",
            "--heights",
            "400,100",
            "--original-link",
        ])
        .success();
    assert!(created.stdout.contains("Pro"), "{created:?}");
    let plans = workspace.run(&["admin", "list-plans"]).success().stdout;
    let pro = row(&plans, "Pro");
    assert_eq!(
        pro[1..8],
        [
            "100,400",
            "original",
            "yes",
            "no",
            "unlimited",
            "unlimited",
            "no"
        ]
    );
    let pro_id = pro[8].clone();

    // A plan by name ignoring case, by id, or from stdin and the environment.
    workspace
        .run(&[
            "admin",
            "create-user",
            "alice",
            "--password",
            "alice's password",
            "--plan",
            "pro",
        ])
        .success();
    workspace
        .run_with(
            &["admin", "create-user", "bob", "--password-stdin", "--admin"],
            &[],
            "bob's password\n",
        )
        .success();
    workspace
        .run_with(
            &["admin", "create-user", "carol", "--plan", &pro_id],
            &[("IMAGEVAULT_PASSWORD", "carol's password")],
            "",
        )
        .success();
    let users = workspace.run(&["admin", "list-users"]).success().stdout;
    assert_eq!(row(&users, "alice")[1..3], ["no", "Pro"]);
    assert_eq!(row(&users, "bob")[1..3], ["yes", "-"]);
    assert_eq!(row(&users, "carol")[1..3], ["no", "Pro"]);
    assert_eq!(users.lines().count(), 4, "{users}");

    workspace
        .run(&["admin", "set-plan", "alice", "Enterprise"])
        .success();
    workspace
        .run(&["admin", "set-plan", "bob", "basic"])
        .success();
    workspace
        .run(&["admin", "set-plan", "carol", "none"])
        .success();
    workspace
        .run(&["admin", "set-admin", "alice", "true"])
        .success();
    workspace
        .run(&["admin", "set-admin", "bob", "false"])
        .success();
    let users = workspace.run(&["admin", "list-users"]).success().stdout;
    assert_eq!(row(&users, "alice")[1..3], ["yes", "Enterprise"]);
    assert_eq!(row(&users, "bob")[1..3], ["no", "Basic"]);
    assert_eq!(row(&users, "carol")[1..3], ["no", "-"]);
}

#[test]
fn admin_commands_set_quotas() {
    let workspace = Workspace::new();
    workspace
        .run(&[
            "admin",
            "create-plan",
            "Small",
            "--heights",
            "200",
            "--max-images",
            "2",
            "--max-bytes",
            "1000000",
            "--strip-metadata",
        ])
        .success();
    let plans = workspace.run(&["admin", "list-plans"]).success().stdout;
    assert_eq!(row(&plans, "Small")[5..8], ["2", "1000000", "yes"]);
    workspace
        .run(&[
            "admin",
            "create-user",
            "dora",
            "--password",
            "dora's password",
            "--plan",
            "Small",
        ])
        .success();
    let users = workspace.run(&["admin", "list-users"]).success().stdout;
    assert_eq!(row(&users, "dora")[3..6], ["0/2", "0/1000000", "-"]);

    let set = workspace
        .run(&[
            "admin",
            "set-quota",
            "dora",
            "--max-images",
            "unlimited",
            "--max-bytes",
            "0",
        ])
        .success();
    assert!(
        set.stdout
            .contains("may keep unlimited (override: unlimited) and 0 bytes (override: 0)"),
        "{set:?}"
    );
    let users = workspace.run(&["admin", "list-users"]).success().stdout;
    assert_eq!(row(&users, "dora")[3..5], ["0/unlimited", "0/0"]);
    workspace
        .run(&["admin", "set-quota", "dora", "--max-bytes", "plan"])
        .success();
    let users = workspace.run(&["admin", "list-users"]).success().stdout;
    assert_eq!(row(&users, "dora")[3..5], ["0/unlimited", "0/1000000"]);

    workspace
        .run(&["admin", "set-quota", "dora"])
        .failure_saying(2, &["--max-images", "--max-bytes"]);
    workspace
        .run(&["admin", "set-quota", "dora", "--max-images", "lots"])
        .failure_saying(2, &["“lots” is not a limit", "unlimited"]);
    workspace
        .run(&[
            "admin",
            "create-plan",
            "Huge",
            "--heights",
            "200",
            "--max-bytes=-5",
        ])
        .failure_saying(2, &["--max-bytes", "“-5” is not a whole number"]);
}

#[test]
fn bad_input_fails_with_messages_that_say_what_is_allowed() {
    let workspace = Workspace::new();
    workspace
        .run(&[
            "admin",
            "create-user",
            "dave",
            "--password",
            "dave's password",
        ])
        .success();

    workspace
        .run(&[
            "admin",
            "create-user",
            "erin",
            "--password",
            "erin's password",
            "--plan",
            "Platinum",
        ])
        .failure_saying(
            1,
            &["unknown plan \"Platinum\"", "Basic, Premium, Enterprise"],
        );
    workspace
        .run(&["admin", "set-plan", "dave", "Gold"])
        .failure_saying(1, &["unknown plan \"Gold\"", "Basic, Premium, Enterprise"]);
    workspace
        .run(&["admin", "create-plan", "Tiny", "--heights", "0"])
        .failure_saying(1, &["between 1 and 10000"]);
    workspace
        .run(&["admin", "create-plan", "Twice", "--heights", "200,200"])
        .failure_saying(1, &["listed twice"]);
    workspace
        .run(&["admin", "create-plan", "Words", "--heights", "big"])
        .failure_saying(2, &["--heights", "invalid digit"]);
    workspace
        .run(&["admin", "create-plan", "Basic", "--heights", "100"])
        .failure_saying(1, &["already exists"]);
    workspace
        .run(&["admin", "create-user", "erin", "--password", "short"])
        .failure_saying(1, &["too short", "at least 8 characters"]);
    workspace
        .run(&["admin", "create-user", "erin"])
        .failure_saying(1, &["no password given", "--password-stdin"]);
    workspace
        .run(&[
            "admin",
            "create-user",
            "dave",
            "--password",
            "another password",
        ])
        .failure_saying(1, &["already exists"]);
    workspace
        .run(&[
            "admin",
            "create-user",
            "e rin",
            "--password",
            "erin's password",
        ])
        .failure_saying(1, &["letters, numbers"]);
    workspace
        .run(&["admin", "set-plan", "nobody", "Basic"])
        .failure_saying(1, &["no user is named \"nobody\""]);
    workspace
        .run(&["admin", "set-admin", "dave", "maybe"])
        .failure_saying(2, &["possible values: true, false"]);

    // Nothing above changed anything.
    let users = workspace.run(&["admin", "list-users"]).success().stdout;
    assert_eq!(users.lines().count(), 2, "{users}");
    assert_eq!(row(&users, "dave")[1..3], ["no", "-"]);
    let plans = workspace.run(&["admin", "list-plans"]).success().stdout;
    assert_eq!(plans.lines().count(), 4, "{plans}");
}

#[test]
fn serve_creates_the_first_admin_from_the_environment_and_stops_on_sigterm() {
    let workspace = Workspace::new();
    let server = workspace.start(
        &["serve", "--bind", "127.0.0.1:0"],
        &[
            ("IMAGEVAULT_ADMIN_USERNAME", "root"),
            ("IMAGEVAULT_ADMIN_PASSWORD", "root's password"),
        ],
    );
    let (status, _) = server.get("/healthz", None);
    assert_eq!(status, 200);

    let me = server.me("root", "root's password");
    assert_eq!(me["username"], "root");
    assert_eq!(me["is_admin"], true);
    assert_eq!(me["plan"]["name"], "Enterprise");
    let (status, _) = server.get("/api/me/", Some(("root", "wrong password")));
    assert_eq!(status, 401);

    let (status, stderr) = server.terminate();
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}\n{stderr}"
    );
    assert!(stderr.contains("shutdown requested"), "{stderr}");
    assert!(
        !stderr.contains("password: "),
        "no generated password: {stderr}"
    );

    // The admin commands see the same database.
    let users = workspace.run(&["admin", "list-users"]).success().stdout;
    assert_eq!(row(&users, "root")[1..3], ["yes", "Enterprise"]);
}

#[test]
fn serve_is_the_default_and_writes_a_generated_password_to_a_private_file() {
    let workspace = Workspace::new();
    let bind = [("IMAGEVAULT_BIND", "127.0.0.1:0")];
    let server = workspace.start(&[], &bind);
    let file = workspace
        .path()
        .join("imagevault-data/initial-admin-password");
    let stderr = server.stderr_containing("initial-admin-password");
    assert!(
        stderr.contains(&file.display().to_string())
            || stderr.contains("imagevault-data/initial-admin-password"),
        "stderr says where the password is: {stderr}"
    );
    let password = std::fs::read_to_string(&file)
        .expect("the password file")
        .trim_end()
        .to_owned();
    assert!(password.len() >= 20, "{password:?}");
    assert!(
        !stderr.contains(&password),
        "the password is not in the log: {stderr}"
    );
    assert_eq!(mode(&file), 0o600, "the password file is the server's only");

    let me = server.me("admin", &password);
    assert_eq!(me["is_admin"], true);
    assert_eq!(me["plan"]["name"], "Enterprise");
    let (status, stderr) = server.terminate();
    assert!(status.success());
    assert!(!stderr.contains(&password), "{stderr}");

    // Users exist now: no second administrator, no new password.
    std::fs::remove_file(&file).expect("remove the password file");
    let server = workspace.start(&[], &bind);
    server.me("admin", &password);
    let (status, stderr) = server.terminate();
    assert!(status.success());
    assert!(!stderr.contains("initial-admin-password"), "{stderr}");
    assert!(!file.exists(), "no second password file");
    let users = workspace.run(&["admin", "list-users"]).success().stdout;
    assert_eq!(users.lines().count(), 2, "{users}");
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The data directory is created 0700, and the database (with its journal files) and the
/// media files are readable by the server's user only, whatever umask it was started with.
/// The soft and hard limits on open files of process `pid`, as `/proc` words them (a
/// number or `unlimited`).
#[cfg(target_os = "linux")]
fn open_files_limits(pid: &str) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("a line for open files");
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_owned(), fields[4].to_owned())
}

/// Media buffers keep their files open (to be sent from them), so the server lifts its
/// soft limit on open files to the hard one: started with a soft limit of 256, it runs
/// with the hard limit.
#[cfg(target_os = "linux")]
#[test]
fn serve_raises_its_soft_open_files_limit_to_the_hard_one() {
    let (_, hard) = open_files_limits("self");
    if hard == "unlimited" || hard.parse::<u64>().is_ok_and(|hard| hard <= 256) {
        println!("skipped: the hard limit on open files ({hard}) leaves nothing to raise");
        return;
    }
    let workspace = Workspace::new();
    let command = workspace.command_under(
        &["prlimit", "--nofile=256:"],
        &["serve", "--bind", "127.0.0.1:0"],
    );
    let server = workspace.start_command(command, &[]);
    let limits = open_files_limits(&server.guard.0.id().to_string());
    assert_eq!(limits, (hard.clone(), hard), "soft and hard limits");
    let (status, _) = server.terminate();
    assert!(status.success());
}

#[test]
fn the_data_directory_database_and_media_are_private() {
    let workspace = Workspace::new();
    let credentials = ("root", "root's password");
    let server = workspace.start(
        &["serve", "--bind", "127.0.0.1:0"],
        &[
            ("IMAGEVAULT_ADMIN_USERNAME", credentials.0),
            ("IMAGEVAULT_ADMIN_PASSWORD", credentials.1),
        ],
    );
    let png = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/camera_512x512.png"),
    )
    .expect("the fixture");
    let (status, body) = server.upload(credentials, &png);
    assert_eq!(status, 201, "{body}");
    let data = workspace.path().join("imagevault-data");
    let media = data.join("media");
    let deadline = Instant::now() + PATIENCE;
    while files_under(&media).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no thumbnails: {:?}",
            files_under(&media)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut checked = Vec::new();
    for file in files_under(&data) {
        let path = data.join(&file);
        checked.push(format!("{file} {:o}", mode(&path)));
        assert_eq!(mode(&path) & 0o077, 0, "{file} is private: {checked:?}");
        let mut parent = path.parent();
        while let Some(dir) = parent.filter(|dir| dir.starts_with(&data)) {
            assert_eq!(mode(dir), 0o700, "{}", dir.display());
            parent = dir.parent();
        }
    }
    assert!(
        checked
            .iter()
            .any(|line| line.starts_with("imagevault.db ")),
        "{checked:?}"
    );
    assert!(
        checked.len() >= 4,
        "the database and three media files: {checked:?}"
    );
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
}

/// `admin set-password` revokes the user's tokens, and `admin revoke-tokens` revokes them
/// without changing the password; a running server, which may have cached the token's
/// account, refuses them within the change feed's bound (see `change_feed_sqlite.rs`).
#[test]
fn admin_commands_revoke_tokens() {
    let workspace = Workspace::new();
    let credentials = ("root", "root's password");
    let server = workspace.start(
        &["serve", "--bind", "127.0.0.1:0"],
        &[
            ("IMAGEVAULT_ADMIN_USERNAME", credentials.0),
            ("IMAGEVAULT_ADMIN_PASSWORD", credentials.1),
        ],
    );
    let token = |password: &str| {
        let body = format!(r#"{{"username":"root","password":"{password}"}}"#);
        let (status, body) = server.request(
            "POST",
            "/api/auth/token/",
            None,
            Some(("application/json", body.as_bytes())),
        );
        assert_eq!(status, 200, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        body["token"].as_str().expect("a token").to_owned()
    };
    let me = |token: &str| server.bearer_status("/api/me/", token);
    let refused_within_feed_bound = |token: &str, what: &str| {
        let limit = SqliteRepo::CHANGE_FEED_STALENESS + Duration::from_secs(1);
        let since = Instant::now();
        while me(token) != 401 {
            assert!(
                since.elapsed() < limit,
                "{what}: still accepted after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };

    let first = token(credentials.1);
    assert_eq!(me(&first), 200);
    let revoked = workspace.run(&["admin", "revoke-tokens", "root"]).success();
    assert!(
        revoked.stdout.contains("revoked 1 API token"),
        "{revoked:?}"
    );
    refused_within_feed_bound(&first, "revoked by the command");
    server.me(credentials.0, credentials.1);

    let second = token(credentials.1);
    assert_eq!(me(&second), 200);
    workspace
        .run_with(
            &["admin", "set-password", "root", "--password-stdin"],
            &[],
            "a new password for root\n",
        )
        .success();
    refused_within_feed_bound(&second, "revoked by the new password");
    assert_eq!(me(&token("a new password for root")), 200);

    workspace
        .run(&["admin", "revoke-tokens", "nobody"])
        .failure_saying(1, &["nobody"]);
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
}

#[test]
fn the_in_process_queue_cannot_serve_other_processes() {
    let workspace = Workspace::new();
    workspace
        .run(&["serve", "--bind", "127.0.0.1:0", "--no-worker"])
        .failure_saying(1, &["--no-worker", "memory://", "in-process queue"]);
    workspace
        .run(&["worker"])
        .failure_saying(1, &["memory://", "in-process queue cannot be shared"]);
}

/// `--queue-ca-file` reaches the queue: refused without TLS, and read before connecting
/// (tests/backend_tls.rs of the facade connects with it to a real TLS server).
#[test]
fn the_queue_ca_file_is_only_for_rediss_and_must_be_readable() {
    let workspace = Workspace::new();
    workspace
        .run(&[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--queue-ca-file",
            "ca.pem",
        ])
        .failure_saying(1, &["queue CA file", "memory://...", "only for rediss://"]);
    workspace
        .run_with(
            &["worker", "--queue", "rediss://localhost:1"],
            &[("IMAGEVAULT_QUEUE_CA_FILE", "missing-ca.pem")],
            "",
        )
        .failure_saying(1, &["cannot read the queue CA file", "missing-ca.pem"]);
}

/// Every file under `directory`, as paths relative to it with `/` separators.
fn files_under(directory: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(directory).expect("under the directory");
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    found
}

/// Dates a file `age` into the past, as if written then.
fn backdate(file: &Path, age: Duration) {
    std::fs::File::options()
        .write(true)
        .open(file)
        .expect("open to backdate")
        .set_modified(std::time::SystemTime::now() - age)
        .expect("set the modification time");
}

/// `sweep` deletes stored files no row refers to once older than the grace period, keeps
/// younger ones and every file of an uploaded image, and `--dry-run` only reports.
#[test]
fn sweep_deletes_old_unreferenced_files_and_nothing_else() {
    let workspace = Workspace::new();
    let credentials = ("root", "root's password");
    let server = workspace.start(
        &["serve", "--bind", "127.0.0.1:0"],
        &[
            ("IMAGEVAULT_ADMIN_USERNAME", credentials.0),
            ("IMAGEVAULT_ADMIN_PASSWORD", credentials.1),
        ],
    );
    let png = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/camera_512x512.png"),
    )
    .expect("the fixture");
    let (status, body) = server.upload(credentials, &png);
    assert_eq!(status, 201, "{body}");
    let media = workspace.path().join("imagevault-data/media");
    // The original and the Enterprise plan's two thumbnails.
    let deadline = Instant::now() + PATIENCE;
    while files_under(&media).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no thumbnails: {:?}",
            files_under(&media)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let uploaded = files_under(&media);
    assert_eq!(uploaded.len(), 3, "{uploaded:?}");

    // What a crash between writing a file and its row leaves: an old and a young one.
    let old =
        "imageupload/0b6f3c9e-8a51-4c4e-9d0f-3a2b1c0d9e8f/5d1e2f3a-4b5c-4d6e-8f70-a1b2c3d4e5f6.png";
    let young =
        "thumbnail/7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f/0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0.png";
    for stray in [old, young] {
        let path = media.join(stray);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, b"stray bytes").expect("write a stray file");
    }
    let two_hours = Duration::from_secs(2 * 3600);
    for file in uploaded.iter().map(String::as_str).chain([old]) {
        backdate(&media.join(file), two_hours);
    }

    let dry = workspace.run(&["sweep", "--dry-run"]).success();
    assert!(
        dry.stdout.starts_with(
            "dry run: would delete 1 unreferenced object (11 bytes) older than 3600 s\n"
        ),
        "{dry:?}"
    );
    assert_eq!(row(&dry.stdout, "scanned")[1], "5");
    assert_eq!(row(&dry.stdout, "referenced")[1], "3");
    assert_eq!(row(&dry.stdout, "to delete")[1], "1");
    assert_eq!(row(&dry.stdout, "young")[1], "1");
    assert!(
        dry.stderr.contains(old),
        "the dry run names the file: {dry:?}"
    );
    assert_eq!(files_under(&media).len(), 5, "a dry run deletes nothing");

    let swept = workspace.run(&["sweep"]).success();
    assert_eq!(row(&swept.stdout, "deleted")[1], "1", "{swept:?}");
    assert!(
        swept.stderr.contains(old),
        "the sweep logs the file: {swept:?}"
    );
    let mut expected = uploaded.clone();
    expected.push(young.to_owned());
    expected.sort();
    assert_eq!(files_under(&media), expected);

    let swept = workspace.run(&["sweep", "--grace-secs", "0"]).success();
    assert_eq!(row(&swept.stdout, "deleted")[1], "1", "{swept:?}");
    assert_eq!(row(&swept.stdout, "referenced")[1], "3", "{swept:?}");
    assert_eq!(files_under(&media), uploaded);
}

#[test]
fn healthcheck_passes_against_a_running_server_and_fails_against_a_closed_port() {
    let workspace = Workspace::new();
    let server = workspace.start(&["serve", "--bind", "127.0.0.1:0"], &[]);
    let bind = format!("0.0.0.0:{}", server.port);
    let passed = workspace.run_with(&["healthcheck"], &[("IMAGEVAULT_BIND", &bind)], "");
    assert!(passed.status.success(), "{}", passed.stderr);
    assert!(passed.stdout.contains("/healthz: 200"), "{}", passed.stdout);

    let (status, stderr) = server.terminate();
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}\n{stderr}"
    );
    let failed = workspace.run(&["healthcheck", "--bind", &bind, "--timeout-secs", "2"]);
    assert!(!failed.status.success(), "a stopped server is not healthy");
    assert!(
        failed.stderr.contains("cannot connect to 127.0.0.1"),
        "{}",
        failed.stderr
    );

    let refused = workspace.run(&["healthcheck", "--timeout-secs", "0"]);
    assert!(!refused.status.success());
    assert!(refused.stderr.contains("1..=300"), "{}", refused.stderr);
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let workspace = Workspace::new();
    // fish names a long option `-l database`; bash and zsh write `--database`.
    for (shell, option) in [
        ("bash", "--database"),
        ("zsh", "--database"),
        ("fish", "-l database"),
    ] {
        let script = workspace.run(&["completions", shell]).success().stdout;
        for word in ["healthcheck", "list-users", option] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let unknown = workspace.run(&["completions", "tcsh"]);
    assert!(!unknown.status.success());
    assert!(
        unknown.stderr.contains("bash") && unknown.stderr.contains("fish"),
        "the error lists the shells: {}",
        unknown.stderr
    );
}

// ---- Bulk tools: admin import, admin thumbnails, durable command-line jobs ----

/// A fixture image of `tests/fixtures`.
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(name),
    )
    .expect("the fixture")
}

/// The counts of the first line of `admin thumbnails status`: pending, ready, failed.
fn thumbnail_counts(workspace: &Workspace) -> (u64, u64, u64) {
    let status = workspace.run(&["admin", "thumbnails", "status"]).success();
    let first = status.stdout.lines().next().unwrap_or_default().to_owned();
    let numbers: Vec<u64> = first
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .map(|part| part.parse().expect("a count"))
        .collect();
    assert_eq!(numbers.len(), 3, "{status:?}");
    (numbers[0], numbers[1], numbers[2])
}

/// A workspace with the user `alice` on `plan`.
fn workspace_with_alice(plan: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace
        .run_with(
            &[
                "admin",
                "create-user",
                "alice",
                "--password-stdin",
                "--plan",
                plan,
            ],
            &[],
            "alice's password\n",
        )
        .success();
    workspace
}

#[test]
fn import_reports_every_file_and_a_second_run_skips_what_it_imported() {
    let workspace = workspace_with_alice("Basic");
    let tree = workspace.path().join("photos");
    std::fs::create_dir_all(tree.join("2024/summer")).expect("mkdir");
    std::fs::write(tree.join("camera.png"), fixture("camera_512x512.png")).expect("write");
    std::fs::write(
        tree.join("2024/chelsea.png"),
        fixture("chelsea_451x300.png"),
    )
    .expect("write");
    // The same content under another name is imported once.
    std::fs::write(
        tree.join("2024/summer/copy.png"),
        fixture("camera_512x512.png"),
    )
    .expect("write");
    std::fs::write(tree.join("notes.txt"), b"not an image at all\n").expect("write");
    let mut broken = fixture("chelsea_451x300.png");
    broken.truncate(broken.len() / 2);
    std::fs::write(tree.join("2024/broken.png"), &broken).expect("write");

    let first = workspace.run(&["admin", "import", "--user", "alice", "photos"]);
    let first = first.failure_saying(1, &["1 of 5 file(s) could not be imported"]);
    let line = |output: &Finished, file: &str| -> String {
        let path = format!("photos/{file}: ");
        output
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix(&path))
            .unwrap_or_else(|| panic!("no line for {file}: {output:#?}"))
            .to_owned()
    };
    assert!(
        line(&first, "2024/chelsea.png").starts_with("imported as "),
        "{first:#?}"
    );
    // Two files of one content read at once: whichever is hashed first is imported.
    let copies = [
        line(&first, "camera.png"),
        line(&first, "2024/summer/copy.png"),
    ];
    let imported = copies
        .iter()
        .filter(|outcome| outcome.starts_with("imported as "))
        .count();
    assert_eq!(imported, 1, "{copies:?}");
    assert!(
        copies
            .iter()
            .any(|outcome| outcome.starts_with("skipped: same content as photos/")),
        "{copies:?}"
    );
    assert!(line(&first, "notes.txt").starts_with("skipped: not a png or jpeg file"));
    assert!(
        line(&first, "2024/broken.png").starts_with("failed: "),
        "{first:#?}"
    );
    assert!(
        first.stdout.contains(
            "2 imported, 1 skipped as already imported, 1 skipped as not images, 1 failed"
        ),
        "{first:#?}"
    );
    // Not a terminal: plain progress lines on stderr, the last one complete.
    assert!(
        first.stderr.contains("import: 5/5 files (100%), "),
        "{first:#?}"
    );
    assert!(
        first.stderr.contains("thumbnails: 2/2 jobs (100%)"),
        "{first:#?}"
    );
    // The in-process queue's work was done before the command returned.
    assert_eq!(thumbnail_counts(&workspace), (0, 2, 0));

    let second = workspace.run(&["admin", "import", "--user", "alice", "photos"]);
    let second = second.failure_saying(1, &["1 of 5 file(s) could not be imported"]);
    assert!(
        line(&second, "2024/chelsea.png").starts_with("skipped: already imported as "),
        "{second:#?}"
    );
    assert!(
        second.stdout.contains(
            "0 imported, 3 skipped as already imported, 1 skipped as not images, 1 failed"
        ),
        "{second:#?}"
    );
    assert_eq!(thumbnail_counts(&workspace), (0, 2, 0));

    // Only good files: success.
    std::fs::remove_file(tree.join("2024/broken.png")).expect("rm");
    let third = workspace
        .run(&[
            "admin",
            "import",
            "--user",
            "alice",
            "photos/2024",
            "photos/camera.png",
        ])
        .success();
    assert!(third.stdout.contains("0 imported, 3 skipped"), "{third:#?}");

    workspace
        .run(&["admin", "import", "--user", "nobody", "photos"])
        .failure_saying(1, &["no user is named \"nobody\""]);
    workspace
        .run(&["admin", "import", "--user", "alice"])
        .failure_saying(2, &["<PATH>"]);
}

/// `alice` on Basic with two imported images, their thumbnails made.
fn alice_with_two_images() -> Workspace {
    let workspace = workspace_with_alice("Basic");
    for name in ["camera_512x512.png", "chelsea_451x300.png"] {
        std::fs::write(workspace.path().join(name), fixture(name)).expect("write");
    }
    workspace
        .run(&[
            "admin",
            "import",
            "--user",
            "alice",
            "camera_512x512.png",
            "chelsea_451x300.png",
        ])
        .success();
    workspace
}

#[test]
fn set_plan_makes_the_new_plans_thumbnails_before_it_returns() {
    let workspace = alice_with_two_images();
    assert_eq!(thumbnail_counts(&workspace), (0, 2, 0));
    let media = workspace.path().join("imagevault-data/media");
    assert_eq!(
        files_under(&media).len(),
        4,
        "two originals, two thumbnails"
    );

    // Premium adds 400-pixel thumbnails: the backfill job of the in-process queue is done
    // by the command itself, not lost when it exits, with no server running.
    let moved = workspace
        .run(&["admin", "set-plan", "alice", "Premium"])
        .success();
    assert!(
        moved.stdout.contains("is now on the plan Premium"),
        "{moved:#?}"
    );
    assert_eq!(thumbnail_counts(&workspace), (0, 4, 0));
    assert_eq!(files_under(&media).len(), 6);
}

#[test]
fn thumbnails_status_retry_failed_and_regenerate() {
    let workspace = alice_with_two_images();
    let status = workspace.run(&["admin", "thumbnails", "status"]).success();
    assert_eq!(
        row(&status.stdout, "Basic")[1..],
        ["0", "2", "0"],
        "{status:#?}"
    );

    // Thumbnails made again without their originals fail, and say why.
    let media = workspace.path().join("imagevault-data/media");
    let originals = media.join("imageupload");
    let aside = workspace.path().join("originals-aside");
    std::fs::rename(&originals, &aside).expect("move the originals away");
    let regenerated = workspace
        .run(&["admin", "thumbnails", "regenerate", "--user", "alice"])
        .success();
    assert!(
        regenerated
            .stdout
            .contains("2 thumbnail(s) of \"alice\" set back to pending"),
        "{regenerated:#?}"
    );
    assert!(
        regenerated.stdout.contains("2 given up"),
        "{regenerated:#?}"
    );
    let status = workspace.run(&["admin", "thumbnails", "status"]).success();
    assert!(
        status
            .stdout
            .starts_with("thumbnails: 0 pending, 0 ready, 2 failed\n"),
        "{status:#?}"
    );
    let reason = row(&status.stdout, "2");
    assert_eq!(
        reason[1], "the original is missing from storage",
        "{status:#?}"
    );
    assert_eq!(
        reason[2].split(' ').count(),
        2,
        "two example images: {status:#?}"
    );

    std::fs::rename(&aside, &originals).expect("put the originals back");
    let retried = workspace
        .run(&["admin", "thumbnails", "retry-failed"])
        .success();
    assert!(
        retried
            .stdout
            .contains("2 failed thumbnail(s) set back to pending"),
        "{retried:#?}"
    );
    assert_eq!(thumbnail_counts(&workspace), (0, 2, 0));

    let by_plan = workspace
        .run(&["admin", "thumbnails", "regenerate", "--plan", "basic"])
        .success();
    assert!(
        by_plan
            .stdout
            .contains("2 thumbnail(s) of the users of the plan Basic set back to pending"),
        "{by_plan:#?}"
    );
    assert_eq!(thumbnail_counts(&workspace), (0, 2, 0));

    workspace
        .run(&["admin", "thumbnails", "regenerate"])
        .failure_saying(2, &["--plan", "--user"]);
    workspace
        .run(&[
            "admin",
            "thumbnails",
            "regenerate",
            "--plan",
            "Basic",
            "--user",
            "alice",
        ])
        .failure_saying(2, &["cannot be used with"]);
    workspace
        .run(&["admin", "thumbnails", "regenerate", "--plan", "Gold"])
        .failure_saying(1, &["unknown plan \"Gold\""]);
}
