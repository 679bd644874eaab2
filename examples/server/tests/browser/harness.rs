//! The browser side of the browser tests: headless Chromium driven through WebDriver
//! (chromedriver on a free loopback port), bounded waits, axe-core accessibility checks and
//! screenshots.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::Process;

/// The longest one step (a page load, a wait for an element or a condition) may take;
/// generous for a loaded 2-core machine and a debug build of the server.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);
/// How often a bounded wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// Where the tools come from: Debian's packages and the axe-core that `npm ci` installs
/// (`.ci/services.sh`'s `ensure_browser` puts all three in place).
#[derive(Debug)]
pub(crate) struct Tools {
    pub(crate) chromium: PathBuf,
    pub(crate) chromedriver: PathBuf,
    pub(crate) axe: PathBuf,
}

impl Tools {
    /// The tools, or what is missing. `IMAGEVAULT_TEST_CHROMIUM` and
    /// `IMAGEVAULT_TEST_CHROMEDRIVER` name other binaries.
    pub(crate) fn find() -> Result<Self, String> {
        let tools = Self {
            chromium: std::env::var_os("IMAGEVAULT_TEST_CHROMIUM")
                .map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from),
            chromedriver: std::env::var_os("IMAGEVAULT_TEST_CHROMEDRIVER")
                .map_or_else(|| "/usr/bin/chromedriver".into(), PathBuf::from),
            axe: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/browser/node_modules/axe-core/axe.min.js"),
        };
        let missing: Vec<String> = [&tools.chromium, &tools.chromedriver, &tools.axe]
            .into_iter()
            .filter(|path| !path.is_file())
            .map(|path| path.display().to_string())
            .collect();
        if missing.is_empty() {
            Ok(tools)
        } else {
            Err(format!(
                "the browser tests need {} (install them with `. .ci/services.sh; ensure_browser`)",
                missing.join(", ")
            ))
        }
    }
}

/// One violation of an accessibility rule on one page.
#[derive(Debug)]
pub(crate) struct Violation {
    pub(crate) page: String,
    pub(crate) impact: String,
    pub(crate) rule: String,
    pub(crate) help: String,
    pub(crate) targets: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A rule broken by a repeated component can list hundreds of nodes; the first few
        // say where to look.
        const SHOWN: usize = 8;
        write!(
            f,
            "{}: {} {} ({}) at {}",
            self.page,
            self.impact,
            self.rule,
            self.help,
            self.targets
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        if self.targets.len() > SHOWN {
            write!(f, " and {} more", self.targets.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// A headless Chromium session and the chromedriver behind it, both ended on drop.
pub(crate) struct Browser {
    pub(crate) client: Client,
    /// The server's base URL (`http://127.0.0.1:<port>`), which paths are relative to.
    pub(crate) base: String,
    axe: String,
    /// Every violation found so far, whatever its impact.
    pub(crate) violations: Vec<Violation>,
    // Dropped after the client: chromedriver, then the profile directory.
    _driver: Process,
    _profile: tempfile::TempDir,
}

/// A port that was free a moment ago on loopback, for chromedriver (which takes a number,
/// not a socket).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with a fresh profile.
    pub(crate) async fn start(tools: &Tools, base: &str, logs: &Path) -> Self {
        let axe = std::fs::read_to_string(&tools.axe)
            .unwrap_or_else(|error| panic!("{}: {error}", tools.axe.display()));
        let port = free_port();
        let log = logs.join("chromedriver.log");
        let driver = Process {
            name: "chromedriver".into(),
            child: Command::new(&tools.chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn chromedriver"),
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ready = http
                .get(format!("{webdriver}/status"))
                .send()
                .await
                .ok()
                .map(|response| response.json::<Value>());
            if let Some(status) = ready
                && let Ok(status) = status.await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not get ready on {webdriver}; see {}",
                log.display()
            );
            tokio::time::sleep(POLL).await;
        }

        let profile = tempfile::tempdir().expect("profile directory");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": tools.chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .unwrap_or_else(|error| panic!("a Chromium session: {error}; see {}", log.display()));
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(PATIENCE),
                Some(PATIENCE),
                Some(Duration::ZERO),
            ))
            .await
            .expect("timeouts");
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            axe,
            violations: Vec::new(),
            _driver: driver,
            _profile: profile,
        }
    }

    /// Ends the browser session (chromedriver ends on drop).
    pub(crate) async fn close(self) {
        let Self { client, .. } = self;
        let _ = client.close().await;
    }

    /// Opens `path` (relative to the server) and waits for its load.
    pub(crate) async fn visit(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|error| panic!("open {path}: {error}"));
    }

    /// The current page's path and query.
    pub(crate) async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the current path (query left out) is `path`.
    pub(crate) async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let now = self.path().await;
            if now.split('?').next() == Some(path) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "still at {now} after {PATIENCE:?}, expected {path}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the current path (query left out) is no longer `path`; returns the new one.
    pub(crate) async fn wait_to_leave(&self, path: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let now = self.path().await;
            if now.split('?').next() != Some(path) {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "still at {path} after {PATIENCE:?}: {}",
                self.text("body").await
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for an element matching `css`.
    pub(crate) async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(error) => panic!(
                "no {css} at {} ({error}); the page says:\n{}",
                self.path().await,
                self.text("body").await
            ),
        }
    }

    /// The visible text of the first element matching `css` (empty when there is none).
    pub(crate) async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Types `text` into the field matching `css`, replacing what it held.
    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear a field");
        field.send_keys(text).await.expect("type into a field");
    }

    /// Ticks the checkbox matching `css` when it is not ticked.
    pub(crate) async fn tick(&self, css: &str) {
        let checkbox = self.find(css).await;
        if !checkbox.is_selected().await.expect("checkbox state") {
            checkbox.click().await.expect("tick a checkbox");
        }
    }

    /// Clicks the submit button of the form matching `form`.
    pub(crate) async fn submit(&self, form: &str) {
        self.find(&format!("{form} [type=submit]"))
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("submit {form}: {error}"));
    }

    /// Clicks the submit button of the form that holds the field named `field`, so that a
    /// page with several forms (search, sign-out) submits the right one.
    pub(crate) async fn submit_form_of(&self, field: &str) {
        let xpath = format!("//*[@name='{field}']/ancestor::form[1]//*[@type='submit']");
        let button = match self
            .client
            .wait()
            .at_most(PATIENCE)
            .every(POLL)
            .for_element(Locator::XPath(&xpath))
            .await
        {
            Ok(button) => button,
            Err(error) => panic!("no submit button for {field} ({error})"),
        };
        button
            .click()
            .await
            .unwrap_or_else(|error| panic!("submit the form of {field}: {error}"));
    }

    /// Chooses the option of the select named `select` whose text contains `text`.
    pub(crate) async fn choose(&self, select: &str, text: &str) {
        let xpath =
            format!("//select[@name='{select}']/option[contains(normalize-space(.), '{text}')]");
        match self.client.find(Locator::XPath(&xpath)).await {
            Ok(option) => option
                .click()
                .await
                .unwrap_or_else(|error| panic!("choose {text} in {select}: {error}")),
            Err(error) => panic!(
                "no option {text:?} in {select} ({error}): {}",
                self.text(&format!("select[name={select}]")).await
            ),
        }
    }

    /// Runs `script` (a function body returning a value) in the page.
    pub(crate) async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("script failed: {error}\n{script}"))
    }

    /// Waits until `predicate` (a script returning a boolean) is true; `what` names it in the
    /// failure. Returns how long it took.
    pub(crate) async fn wait_until(&self, what: &str, predicate: &str) -> Duration {
        let started = Instant::now();
        loop {
            if self.eval(predicate).await == true {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{what}: not so after {PATIENCE:?} at {}; the page says:\n{}",
                self.path().await,
                self.text("body").await
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Injects axe-core into the current page, runs it, prints a summary line and keeps the
    /// violations. Fails at once only when axe itself cannot run.
    pub(crate) async fn check_accessibility(&mut self, page: &str) {
        self.eval(&self.axe).await;
        let answer = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(results => done({ violations: results.violations }))
                    .catch(error => done({ error: String(error) }));",
                Vec::new(),
            )
            .await
            .unwrap_or_else(|error| panic!("axe on {page}: {error}"));
        if let Some(error) = answer.get("error") {
            panic!("axe on {page} failed: {error}");
        }
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for violation in answer["violations"].as_array().expect("axe violations") {
            let impact = violation["impact"].as_str().unwrap_or("unknown").to_owned();
            *counts.entry(impact.clone()).or_default() += 1;
            let targets = violation["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|node| node["target"].to_string())
                .collect();
            self.violations.push(Violation {
                page: page.to_owned(),
                impact,
                rule: violation["id"].as_str().unwrap_or_default().to_owned(),
                help: violation["help"].as_str().unwrap_or_default().to_owned(),
                targets,
            });
        }
        let summary = if counts.is_empty() {
            "no violations".to_owned()
        } else {
            counts
                .iter()
                .map(|(impact, count)| format!("{count} {impact}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("axe {page} ({}): {summary}", self.path().await);
    }

    /// The violations of impact serious or critical found so far.
    pub(crate) fn serious_violations(&self) -> Vec<&Violation> {
        self.violations
            .iter()
            .filter(|violation| matches!(violation.impact.as_str(), "serious" | "critical"))
            .collect()
    }

    /// Saves a PNG of the viewport as `<name>.png` in target/browser-screenshots/, and in
    /// docs/screenshots/ too when `IMAGEVAULT_UPDATE_SCREENSHOTS=1`.
    pub(crate) async fn screenshot(&self, name: &str) {
        // Clicks scroll the page; the picture shows it from its top.
        self.eval("window.scrollTo(0, 0); return true;").await;
        let png = self.client.screenshot().await.expect("screenshot");
        // examples/server is two folders below the workspace.
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .expect("the workspace folder");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| workspace.join("target"), PathBuf::from);
        let mut folders = vec![target.join("browser-screenshots")];
        if std::env::var("IMAGEVAULT_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            folders.push(workspace.join("docs/screenshots"));
        }
        for folder in folders {
            std::fs::create_dir_all(&folder).expect("screenshot folder");
            let file = folder.join(format!("{name}.png"));
            std::fs::write(&file, &png).expect("write a screenshot");
            println!("screenshot {}", file.display());
        }
    }
}
