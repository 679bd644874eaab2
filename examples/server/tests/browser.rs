//! The web console in a real browser: headless Chromium (Debian's `chromium`) driven through
//! WebDriver (`chromedriver`), against the real `imagevault-server` binary on SQLite and
//! local files. A user signs in, uploads a PNG and a text file at once with the file input,
//! sees the text file's error and the PNG's thumbnail load, creates an expiring link and
//! fetches it; an administrator creates a plan and a user on it, who then signs in; everyone
//! signs out. On every page it visits the test runs axe-core and fails on any serious or
//! critical accessibility violation; it saves screenshots of the gallery, the image page and
//! the administrators' users page.
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` and axe-core in
//! `tests/browser/node_modules` (`.ci/services.sh`'s `ensure_browser` installs all three);
//! without them the test is skipped with a printed reason, unless
//! `IMAGEVAULT_REQUIRE_SERVICES=1`. Screenshots go to `target/browser-screenshots/`, and
//! with `IMAGEVAULT_UPDATE_SCREENSHOTS=1` to `docs/screenshots/` too. Every wait is bounded;
//! the run's time is printed, never asserted.

#[path = "browser/harness.rs"]
mod harness;
mod support;

use std::time::Instant;

use harness::{Browser, Tools};
use support::{ADMIN_PASSWORD, Local, USER, USER_PASSWORD};

/// The valid upload: a 451x300 PNG from the repository's fixtures.
const PNG: &str = "chelsea_451x300.png";
/// The invalid upload, written by the test: text, not an image.
const TEXT: &str = "notes.txt";
/// The password of the user the administrator creates.
const NEW_USER_PASSWORD: &str = "erin-signs-in-in-a-browser";

/// Signs in through the login form; expects to land on `landing`.
async fn sign_in(browser: &Browser, username: &str, password: &str, landing: &str) {
    browser.visit("/login/").await;
    browser
        .fill("form#login input[name=username]", username)
        .await;
    browser
        .fill("form#login input[name=password]", password)
        .await;
    browser.submit("form#login").await;
    browser.wait_for_path(landing).await;
}

/// Signs out with the header's form; expects the login page.
async fn sign_out(browser: &Browser) {
    browser.submit("form#logout").await;
    browser.wait_for_path("/login/").await;
}

/// Whether every `img` matching `css` has loaded a picture (and there is at least one).
fn images_loaded(css: &str) -> String {
    format!(
        "const images = [...document.querySelectorAll({css:?})];
         return images.length > 0 && images.every(img => img.complete && img.naturalWidth > 0);"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_and_an_administrator_work_through_the_console_in_chromium() {
    let tools = match Tools::find() {
        Ok(tools) => tools,
        Err(reason) => {
            imagevault::testing::skip_unless_required(&reason);
            return;
        }
    };
    let started = Instant::now();

    // The server, with an administrator and an Enterprise user made by the CLI.
    let local = Local::new();
    local.admin(
        &["create-user", "admin", "--admin", "--plan", "Enterprise"],
        Some(ADMIN_PASSWORD),
    );
    local.admin(
        &["create-user", USER, "--plan", "Enterprise"],
        Some(USER_PASSWORD),
    );
    let (_server, base) = local.start_server("server", &[]);
    let mut browser = Browser::start(&tools, &base, local.dir.path()).await;

    // Signed out, the gallery sends the browser to the login page.
    browser.visit("/").await;
    browser.wait_for_path("/login/").await;
    browser.find("form#login").await;
    browser.check_accessibility("login").await;
    sign_in(&browser, USER, USER_PASSWORD, "/").await;
    browser.find("form#upload").await;
    browser.check_accessibility("gallery (empty)").await;

    // Two files at once through the file input: one image, one text file.
    let files = tempfile::tempdir().expect("upload folder");
    let png = files.path().join(PNG);
    let png_bytes = support::fixture(PNG);
    std::fs::write(&png, &png_bytes).expect("write the png");
    let text = files.path().join(TEXT);
    std::fs::write(&text, "not an image, just words\n").expect("write the text file");
    browser
        .find("#upload-image")
        .await
        .send_keys(&format!("{}\n{}", png.display(), text.display()))
        .await
        .expect("choose two files");
    browser.submit("form#upload").await;
    let error = browser
        .find(&format!(
            "#upload-results li.upload-error[data-file-name={TEXT:?}]"
        ))
        .await;
    let message = error.text().await.expect("error text");
    println!("upload error shown for {TEXT}: {message:?}");
    let expected = imagevault::ImageError::UnsupportedFormat { detected: "text" }.to_string();
    // The page may start the sentence with a capital letter.
    assert!(
        message.to_lowercase().contains(&expected.to_lowercase()),
        "the server's message, {expected:?}, is shown: {message:?}"
    );
    browser
        .find(&format!(
            "#upload-results li.upload-ok[data-file-name={PNG:?}]"
        ))
        .await;

    // The PNG's thumbnail loads in the gallery, swapped in by the live status update when
    // it was still pending. Without JavaScript the results page may be /upload/'s own.
    if browser.path().await != "/" {
        browser.visit("/").await;
    }
    let pending = browser
        .eval("return document.querySelector('#gallery li.image-card .thumb-status') !== null;")
        .await;
    let waited = browser
        .wait_until(
            "the thumbnail loads in the gallery",
            &images_loaded("#gallery li.image-card img"),
        )
        .await;
    println!("thumbnail loaded {waited:?} after the upload results (pending at first: {pending})");
    let cards = browser
        .eval("return document.querySelectorAll('#gallery li.image-card').length;")
        .await;
    assert_eq!(cards, 1, "one image stored: the PNG, once");
    // A fresh gallery, settled, for the accessibility check and the screenshot.
    browser.visit("/").await;
    browser
        .wait_until(
            "the gallery's thumbnails load",
            &images_loaded("#gallery img"),
        )
        .await;
    browser.check_accessibility("gallery").await;
    browser.screenshot("gallery").await;

    // The image page: an expiring link, fetched outside the browser.
    browser
        .find("#gallery li.image-card a[href^='/images/']")
        .await
        .click()
        .await
        .expect("open the image page");
    let image_page = browser.wait_to_leave("/").await;
    assert!(image_page.starts_with("/images/"), "at {image_page}");
    browser
        .wait_until("the image page's pictures load", &images_loaded("main img"))
        .await;
    browser
        .fill("form#create-link input[name=expires_in]", "600")
        .await;
    browser.submit("form#create-link").await;
    let link = browser
        .find("table#links tr[data-link-id] a.link-url")
        .await
        .attr("href")
        .await
        .expect("link href")
        .expect("a link URL");
    assert!(link.starts_with(&base), "an absolute URL: {link}");
    let fetched = reqwest::get(&link).await.expect("fetch the expiring link");
    assert_eq!(fetched.status(), reqwest::StatusCode::OK, "{link}");
    let bytes = fetched.bytes().await.expect("link body");
    assert!(
        bytes.as_ref() == png_bytes.as_slice(),
        "the link serves the original"
    );
    browser.wait_for_path(&image_page).await;
    browser
        .wait_until("the image page's pictures load", &images_loaded("main img"))
        .await;
    browser.check_accessibility("image page").await;
    browser.screenshot("image").await;

    browser.visit("/account/").await;
    browser.find("form#change-password").await;
    browser.check_accessibility("account").await;
    sign_out(&browser).await;

    // The administrator: a plan, and a user on it.
    sign_in(&browser, "admin", ADMIN_PASSWORD, "/").await;
    browser.visit("/admin/").await;
    browser.find("main h1").await;
    browser.check_accessibility("admin dashboard").await;

    browser.visit("/admin/plans/").await;
    browser.find("main").await;
    browser.check_accessibility("plans").await;
    // The database is the test's own, so fixed names cannot collide.
    let plan = "Photographers".to_owned();
    browser.visit("/admin/plans/new/").await;
    browser.fill("main form input[name=name]", &plan).await;
    browser
        .fill("main form input[name=thumbnail_heights]", "150 300")
        .await;
    browser
        .tick("main form input[type=checkbox][name=expiring_links]")
        .await;
    // A quota of one image per user, which the new user below fills.
    browser.fill("main form input[name=max_images]", "1").await;
    browser.check_accessibility("plan form").await;
    browser.submit_form_of("thumbnail_heights").await;
    browser.wait_to_leave("/admin/plans/new/").await;
    browser.visit("/admin/plans/").await;
    let plans = browser.text("main").await;
    assert!(plans.contains(&plan), "{plan} is listed: {plans}");

    browser.visit("/admin/users/").await;
    browser
        .find("a.create-user")
        .await
        .click()
        .await
        .expect("open the new user form");
    browser.wait_for_path("/admin/users/new/").await;
    let username = "erin".to_owned();
    browser
        .fill("main form input[name=username]", &username)
        .await;
    browser
        .fill("main form input[name=password]", NEW_USER_PASSWORD)
        .await;
    browser.choose("plan", &plan).await;
    browser.check_accessibility("user form").await;
    browser.submit_form_of("username").await;
    browser.wait_to_leave("/admin/users/new/").await;
    browser.visit("/admin/users/").await;
    let users = browser.text("main").await;
    assert!(users.contains(&username), "{username} is listed: {users}");
    browser.check_accessibility("users").await;
    browser.screenshot("admin-users").await;

    browser.visit("/admin/images/").await;
    browser.find("main").await;
    browser.check_accessibility("images").await;
    sign_out(&browser).await;

    // The new user signs in, is on the new plan, and fills its one-image quota: a second
    // upload is refused with the limit and the usage, and the account page says so.
    sign_in(&browser, &username, NEW_USER_PASSWORD, "/").await;
    for attempt in ["ok", "error"] {
        browser.visit("/").await;
        browser
            .find("#upload-image")
            .await
            .send_keys(&png.display().to_string())
            .await
            .expect("choose the png");
        browser.submit("form#upload").await;
        let result = browser
            .find(&format!(
                "#upload-results li.upload-{attempt}[data-file-name={PNG:?}]"
            ))
            .await
            .text()
            .await
            .expect("upload result");
        println!("quota upload {attempt}: {result:?}");
        if attempt == "error" {
            assert!(
                result.contains("allows 1 image") && result.contains("you have 1"),
                "the refusal names the limit and the usage: {result:?}"
            );
        }
    }
    browser.visit("/account/").await;
    let account = browser.text("main").await;
    assert!(
        account.contains(&plan),
        "the account shows {plan}: {account}"
    );
    let usage = browser.text("#usage dd.usage-images").await;
    assert_eq!(
        usage.trim(),
        "1 of 1 allowed",
        "the account shows the usage"
    );
    browser.find("#quota-full").await;
    browser
        .check_accessibility("account with a full quota")
        .await;
    browser.screenshot("account-quota").await;
    sign_out(&browser).await;
    // Signed out for real: the gallery is the login page again.
    browser.visit("/").await;
    browser.wait_for_path("/login/").await;

    let all = browser.violations.len();
    let serious: Vec<String> = browser
        .serious_violations()
        .iter()
        .map(ToString::to_string)
        .collect();
    browser.close().await;
    println!(
        "browser run: {:.1} s; accessibility violations: {all} in all, {} serious or critical",
        started.elapsed().as_secs_f64(),
        serious.len()
    );
    assert!(
        serious.is_empty(),
        "serious or critical accessibility violations:\n{}",
        serious.join("\n")
    );
}
