//! The administrators' console (`/admin/`): only administrators, forms that post with the
//! session's CSRF token and redirect, the vault's refusals next to the field with nothing
//! changed, through the real server with a signed-in browser.

use reqwest::header::ORIGIN;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::console_user::escaped;
use crate::helpers::{
    self, AppOptions, SHORT_IDAT, TestApp, TestUser, crafted_png, page_parts, spawn_app,
    spawn_app_with,
};

/// A signed-in browser on one app, as the admin tests drive it.
struct Console<'a> {
    app: &'a TestApp,
    browser: helpers::Browser,
}

/// A console answer: status, redirect target and HTML.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

async fn answer(response: reqwest::Response) -> Answer {
    let (status, location, body) = page_parts(response).await;
    Answer {
        status,
        location,
        body,
    }
}

/// The errors shown next to `field` (`<ul id="<field>-error">`).
fn field_error(page: &str, field: &str) -> String {
    let marker = format!(r#"id="{field}-error""#);
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("errors next to {field} in {page}"));
    page[start..].split("</ul>").next().unwrap().to_owned()
}

impl<'a> Console<'a> {
    async fn sign_in(app: &'a TestApp, username: &str, password: &str) -> Self {
        Self {
            app,
            browser: app.sign_in_with(username, password).await,
        }
    }

    async fn user(app: &'a TestApp, user: &TestUser) -> Self {
        Self::sign_in(app, &user.username, &user.password).await
    }

    fn csrf(&self) -> &str {
        &self.browser.csrf
    }

    async fn get(&self, path: &str) -> Answer {
        let (status, location, body) = self.app.get_page(path, Some(&self.browser)).await;
        Answer {
            status,
            location,
            body,
        }
    }

    /// Posts a form with the session's CSRF token.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let fields = self.browser.form(fields);
        self.post_exactly(path, &fields, None).await
    }

    /// Posts exactly `fields`, with an `Origin` if given.
    async fn post_exactly(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .app
            .page_request(Method::POST, path, Some(&self.browser))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        answer(request.send().await.unwrap()).await
    }
}

/// The usernames of every user, through the admin API.
async fn usernames(app: &TestApp) -> Vec<String> {
    let (status, body) = app
        .get_json("/api/admin/users/?limit=100", &app.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["username"].as_str().unwrap().to_owned())
        .collect()
}

/// Every plan, through the admin API.
async fn plans(app: &TestApp) -> Vec<Value> {
    let (status, body) = app
        .get_json("/api/admin/plans/?limit=100", &app.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().unwrap().clone()
}

async fn user_json(app: &TestApp, id: &str) -> (StatusCode, Value) {
    app.get_json(&format!("/api/admin/users/{id}/"), &app.admin)
        .await
}

const BASIC_PLAN: &str = "00000000-0000-7000-8000-00000000b001";
const PREMIUM_PLAN: &str = "00000000-0000-7000-8000-00000000b002";

#[tokio::test]
async fn every_admin_page_and_form_is_refused_to_a_non_administrator() {
    let app = spawn_app().await;
    let browser = Console::user(&app, &app.basic).await;
    let user = &app.premium.id;
    for path in [
        "/admin/".to_owned(),
        "/admin/users/".to_owned(),
        "/admin/users/new/".to_owned(),
        format!("/admin/users/{user}/"),
        format!("/admin/users/{user}/delete/"),
        "/admin/plans/".to_owned(),
        "/admin/plans/new/".to_owned(),
        format!("/admin/plans/{BASIC_PLAN}/"),
        format!("/admin/plans/{BASIC_PLAN}/delete/"),
        "/admin/images/".to_owned(),
        "/admin/images/?owner=premium&failed=1".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "GET {path}");
        assert!(
            page.body.contains("<h1>Forbidden</h1>"),
            "GET {path}: {}",
            page.body
        );
    }
    let image = app.upload_png(&app.premium, 20, 10).await;
    let image = image["id"].as_str().unwrap();
    let forms = [
        (
            "/admin/users/new/".to_owned(),
            vec![
                ("username", "intruder"),
                ("password", "long enough password"),
                ("is_admin", "on"),
            ],
        ),
        (
            format!("/admin/users/{user}/"),
            vec![("username", "premium"), ("plan", ""), ("is_admin", "on")],
        ),
        (
            format!("/admin/users/{user}/password/"),
            vec![("password", "taken over now")],
        ),
        (format!("/admin/users/{user}/sign-out/"), vec![]),
        (format!("/admin/users/{user}/delete/"), vec![]),
        (
            "/admin/plans/new/".to_owned(),
            vec![("name", "Sneaky"), ("thumbnail_heights", "100")],
        ),
        (
            format!("/admin/plans/{BASIC_PLAN}/"),
            vec![("name", "Renamed"), ("thumbnail_heights", "100")],
        ),
        (format!("/admin/plans/{BASIC_PLAN}/delete/"), vec![]),
        (format!("/admin/images/{image}/delete/"), vec![]),
        (format!("/admin/images/{image}/retry/"), vec![]),
        ("/admin/images/retry-failed/".to_owned(), vec![]),
        (format!("/admin/users/{user}/regenerate/"), vec![]),
        (format!("/admin/plans/{BASIC_PLAN}/regenerate/"), vec![]),
    ];
    for (path, fields) in &forms {
        let answer = browser.post(path, fields).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "POST {path}: {}",
            answer.body
        );
    }
    // Nothing changed: no new user, the premium user as before and still signed in, the
    // plans untouched.
    assert!(!usernames(&app).await.contains(&"intruder".to_owned()));
    let (status, premium) = user_json(&app, user).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(premium["plan"], PREMIUM_PLAN, "{premium}");
    assert_eq!(premium["is_admin"], false, "{premium}");
    let (status, _) = app.get_json("/api/images/", &app.premium).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the premium user's token still works"
    );
    let (status, _) = app
        .get_json(&format!("/api/images/{image}/"), &app.premium)
        .await;
    assert_eq!(status, StatusCode::OK, "the image is still there");
    let plans = plans(&app).await;
    assert_eq!(plans.len(), 3, "{plans:?}");
    assert!(plans.iter().any(|plan| plan["name"] == "Basic"));
}

#[tokio::test]
async fn a_signed_out_browser_is_sent_to_the_login_page() {
    let app = spawn_app().await;
    for path in ["/admin/", "/admin/users/", "/admin/plans/new/"] {
        let answer = answer(app.request(Method::GET, path, None).send().await.unwrap()).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "GET {path}");
        let next: String = path.replace('/', "%2F");
        assert_eq!(
            answer.location.as_deref(),
            Some(format!("/login/?next={next}").as_str()),
            "GET {path}"
        );
    }
    let posted = answer(
        app.post_form(
            "/admin/users/new/",
            None,
            &[("username", "ghost"), ("password", "long enough password")],
        )
        .await,
    )
    .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert_eq!(posted.location.as_deref(), Some("/login/?next=%2F"));
    assert!(!usernames(&app).await.contains(&"ghost".to_owned()));
}

/// The number a dashboard figure (`<dd id="stat-...">`) holds.
fn stat(page: &str, id: &str) -> u64 {
    let marker = format!(r#"id="{id}" data-value=""#);
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("figure {id} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_dashboard_counts_what_is_stored_and_links_every_section() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let image = app.upload_png(&app.premium, 40, 30).await;
    app.wait_for_thumbnails(&app.premium, image["id"].as_str().unwrap())
        .await;
    let page = admin.get("/admin/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(stat(&page.body, "stat-users"), 5, "the app's five users");
    assert_eq!(stat(&page.body, "stat-images"), 1);
    assert_eq!(
        stat(&page.body, "stat-bytes"),
        image["size"].as_u64().unwrap(),
        "{image}"
    );
    assert_eq!(stat(&page.body, "stat-thumbnails-pending"), 0);
    assert_eq!(stat(&page.body, "stat-thumbnails-failed"), 0);
    for figure in [
        "stat-queue-ready",
        "stat-queue-delayed",
        "stat-queue-in-flight",
        "stat-queue-dead",
    ] {
        stat(&page.body, figure);
    }
    for section in ["/admin/users/", "/admin/plans/", "/admin/images/"] {
        assert!(
            page.body.contains(&format!(r#"href="{section}""#)),
            "{section}: {}",
            page.body
        );
    }
    assert_eq!(page.body.matches("<h1>").count(), 1, "{}", page.body);
}

#[tokio::test]
async fn an_administrator_creates_a_user_who_can_then_sign_in() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let list = admin.get("/admin/users/").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body
            .contains(r#"class="create-user" href="/admin/users/new/""#),
        "{}",
        list.body
    );
    assert!(
        list.body
            .contains(&format!(r#"data-user-id="{}""#, app.basic.id)),
        "{}",
        list.body
    );
    let form = admin.get("/admin/users/new/").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"id="create-user""#), "{}", form.body);

    let created = admin
        .post(
            "/admin/users/new/",
            &[
                ("username", "newbie"),
                ("password", "a good long password"),
                ("plan", PREMIUM_PLAN),
                ("is_admin", "on"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = created.location.unwrap();
    let id = location
        .strip_prefix("/admin/users/")
        .and_then(|rest| rest.strip_suffix("/?done=created"))
        .unwrap_or_else(|| panic!("the new user's page: {location}"));
    let (status, user) = user_json(&app, id).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["username"], "newbie");
    assert_eq!(user["plan"], PREMIUM_PLAN);
    assert_eq!(user["is_admin"], true);
    let page = admin.get(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h1>User newbie</h1>"), "{}", page.body);
    assert!(
        page.body.contains(r#"role="status""#),
        "the confirmation: {}",
        page.body
    );
    let newbie = Console::sign_in(&app, "newbie", "a good long password").await;
    assert_eq!(newbie.get("/admin/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_refused_user_shows_the_reason_next_to_the_field_and_creates_nothing() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let before = usernames(&app).await;

    let taken = admin
        .post(
            "/admin/users/new/",
            &[
                ("username", "basic"),
                ("password", "secret password 1"),
                ("plan", BASIC_PLAN),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST, "{}", taken.body);
    assert!(
        field_error(&taken.body, "username").contains("A user with that username already exists."),
        "{}",
        taken.body
    );
    assert!(
        taken.body.contains(r#"value="basic""#),
        "the username is kept: {}",
        taken.body
    );
    assert!(
        !taken.body.contains("secret password 1"),
        "the password is not: {}",
        taken.body
    );
    assert!(
        taken.body.contains(r#"aria-describedby="username-error""#),
        "{}",
        taken.body
    );

    let short = admin
        .post(
            "/admin/users/new/",
            &[
                ("username", "shorty"),
                ("password", "short"),
                ("plan", BASIC_PLAN),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST, "{}", short.body);
    assert!(
        field_error(&short.body, "password").contains("too short"),
        "{}",
        short.body
    );
    assert!(short.body.contains(r#"value="shorty""#), "{}", short.body);
    assert!(!short.body.contains("value=\"short\""), "{}", short.body);

    let bad_name = admin
        .post(
            "/admin/users/new/",
            &[
                ("username", "two words"),
                ("password", "long enough password"),
            ],
        )
        .await;
    assert_eq!(bad_name.status, StatusCode::BAD_REQUEST);
    assert!(
        field_error(&bad_name.body, "username").contains("Enter a valid username"),
        "{}",
        bad_name.body
    );

    let bad_plan = admin
        .post(
            "/admin/users/new/",
            &[
                ("username", "planless"),
                ("password", "long enough password"),
                ("plan", "not-a-plan"),
            ],
        )
        .await;
    assert_eq!(bad_plan.status, StatusCode::BAD_REQUEST);
    field_error(&bad_plan.body, "plan");

    assert_eq!(usernames(&app).await, before, "nothing created");
}

#[tokio::test]
async fn an_administrator_edits_a_users_plan_and_role() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let path = format!("/admin/users/{}/", app.basic.id);
    let page = admin.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(r#"id="edit-user""#), "{}", page.body);

    let saved = admin
        .post(
            &path,
            &[
                ("username", "basic"),
                ("plan", PREMIUM_PLAN),
                ("is_admin", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(
        saved.location.as_deref(),
        Some(format!("{path}?done=saved").as_str())
    );
    let (_, user) = user_json(&app, &app.basic.id).await;
    assert_eq!(user["plan"], PREMIUM_PLAN, "{user}");
    assert_eq!(user["is_admin"], true, "{user}");

    // Unchecked box: no longer an administrator; empty plan: none.
    let saved = admin
        .post(&path, &[("username", "basic"), ("plan", "")])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let (_, user) = user_json(&app, &app.basic.id).await;
    assert_eq!(user["plan"], Value::Null, "{user}");
    assert_eq!(user["is_admin"], false, "{user}");

    let taken = admin
        .post(&path, &[("username", "premium"), ("plan", BASIC_PLAN)])
        .await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST, "{}", taken.body);
    assert!(
        field_error(&taken.body, "username").contains("already exists"),
        "{}",
        taken.body
    );
    assert!(
        taken.body.contains(r#"value="premium""#),
        "typed value kept: {}",
        taken.body
    );
    let (_, user) = user_json(&app, &app.basic.id).await;
    assert_eq!(user["username"], "basic", "nothing changed: {user}");
    assert_eq!(user["plan"], Value::Null, "nothing changed: {user}");
}

#[tokio::test]
async fn revoking_a_users_sessions_and_tokens_signs_them_out() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let basic = Console::user(&app, &app.basic).await;
    assert_eq!(basic.get("/").await.status, StatusCode::OK);

    let revoked = admin
        .post(&format!("/admin/users/{}/sign-out/", app.basic.id), &[])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    assert_eq!(
        revoked.location.as_deref(),
        Some(format!("/admin/users/{}/?done=signed-out", app.basic.id).as_str())
    );
    let after = basic.get("/").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "the session ended");
    assert_eq!(after.location.as_deref(), Some("/login/?next=%2F"));
    let (status, _) = app.get_json("/api/images/", &app.basic).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the token was revoked");
    // The password still works, and other users' sessions were not touched.
    Console::user(&app, &app.basic).await;
    assert_eq!(admin.get("/admin/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_administrator_resets_a_password() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let basic = Console::user(&app, &app.basic).await;
    let path = format!("/admin/users/{}/password/", app.basic.id);

    let short = admin.post(&path, &[("password", "tiny")]).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST, "{}", short.body);
    assert!(
        field_error(&short.body, "password").contains("too short"),
        "{}",
        short.body
    );
    assert_eq!(
        basic.get("/").await.status,
        StatusCode::OK,
        "nothing changed"
    );

    let reset = admin
        .post(&path, &[("password", "a brand new password")])
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER, "{}", reset.body);
    assert_eq!(
        basic.get("/").await.status,
        StatusCode::SEE_OTHER,
        "the old session ended"
    );
    let old = app.post_login("basic", &app.basic.password, "/").await;
    assert_eq!(
        old.status(),
        StatusCode::BAD_REQUEST,
        "the old password fails"
    );
    Console::sign_in(&app, "basic", "a brand new password").await;
}

#[tokio::test]
async fn an_administrator_deletes_a_user_after_confirming() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let path = format!("/admin/users/{}/delete/", app.premium.id);
    let confirm = admin.get(&path).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(
        confirm.body.contains(r#"id="confirm-delete-user""#),
        "{}",
        confirm.body
    );
    assert!(
        usernames(&app).await.contains(&"premium".to_owned()),
        "a GET deletes nothing"
    );

    let deleted = admin.post(&path, &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert_eq!(
        deleted.location.as_deref(),
        Some("/admin/users/?done=deleted")
    );
    let (status, _) = user_json(&app, &app.premium.id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let gone = admin
        .get(&format!("/admin/users/{}/", app.premium.id))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let again = admin.post(&path, &[]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found_pages() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/admin/users/{unknown}/"),
        "/admin/users/not-an-id/".to_owned(),
        format!("/admin/users/{unknown}/delete/"),
        format!("/admin/plans/{unknown}/"),
        "/admin/plans/42/".to_owned(),
    ] {
        let page = admin.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "GET {path}");
        assert!(
            page.body.contains("<h1>Not found</h1>"),
            "GET {path}: {}",
            page.body
        );
    }
    let posted = admin
        .post(&format!("/admin/users/{unknown}/sign-out/"), &[])
        .await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_administrator_creates_and_changes_plans() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let list = admin.get("/admin/plans/").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body
            .contains(&format!(r#"data-plan-id="{BASIC_PLAN}""#)),
        "{}",
        list.body
    );
    assert!(
        list.body.contains(r#"href="/admin/plans/new/""#),
        "{}",
        list.body
    );

    let created = admin
        .post(
            "/admin/plans/new/",
            &[
                ("name", "Gold"),
                ("thumbnail_heights", "400 200"),
                ("original_link", "on"),
                ("strip_metadata", "on"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = created.location.unwrap();
    let gold = plans(&app)
        .await
        .into_iter()
        .find(|plan| plan["name"] == "Gold")
        .expect("the plan was created");
    assert_eq!(
        location,
        format!(
            "/admin/plans/{}/?done=created",
            gold["id"].as_str().unwrap()
        )
    );
    assert_eq!(gold["thumbnail_heights"], serde_json::json!([200, 400]));
    assert_eq!(gold["original_link"], true);
    assert_eq!(gold["expiring_links"], false);
    assert_eq!(gold["strip_metadata"], true);
    let page = admin.get(&location).await;
    assert!(
        page.body.contains(r#"name="strip_metadata" checked"#),
        "the box shows the plan's flag: {}",
        page.body
    );
    assert!(
        page.body.contains(r#"value="200 400""#),
        "the heights as text: {}",
        page.body
    );

    // A change, then a refused change that keeps what was typed.
    let path = format!("/admin/plans/{}/", gold["id"].as_str().unwrap());
    let saved = admin
        .post(
            &path,
            &[
                ("name", "Gold"),
                ("thumbnail_heights", "100, 300"),
                ("expiring_links", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let refused = admin
        .post(&path, &[("name", "Gold"), ("thumbnail_heights", "100 100")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        field_error(&refused.body, "thumbnail_heights").contains("listed twice"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains(r#"value="100 100""#),
        "{}",
        refused.body
    );
    let gold = plans(&app)
        .await
        .into_iter()
        .find(|plan| plan["name"] == "Gold")
        .unwrap();
    assert_eq!(gold["thumbnail_heights"], serde_json::json!([100, 300]));
    assert_eq!(
        gold["original_link"], false,
        "an unchecked box clears the flag"
    );
    assert_eq!(gold["expiring_links"], true);
    assert_eq!(
        gold["strip_metadata"], false,
        "an unchecked box clears it too"
    );
}

#[tokio::test]
async fn the_plan_form_turns_webp_thumbnails_on_and_off() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let form = admin.get("/admin/plans/new/").await;
    assert!(
        form.body.contains(r#"name="webp_thumbnails""#),
        "{}",
        form.body
    );
    let created = admin
        .post(
            "/admin/plans/new/",
            &[
                ("name", "Modern"),
                ("thumbnail_heights", "200"),
                ("webp_thumbnails", "on"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let modern = plans(&app)
        .await
        .into_iter()
        .find(|plan| plan["name"] == "Modern")
        .expect("the plan was created");
    assert_eq!(
        modern["thumbnail_formats"],
        serde_json::json!(["original", "webp"])
    );
    let list = admin.get("/admin/plans/").await;
    assert!(
        list.body
            .contains(r#"<td class="thumbnail-formats">original, webp</td>"#),
        "{}",
        list.body
    );
    let path = format!("/admin/plans/{}/", modern["id"].as_str().unwrap());
    let page = admin.get(&path).await;
    assert!(
        page.body
            .contains(r#"id="id_webp_thumbnails" type="checkbox" name="webp_thumbnails" checked"#),
        "the box is checked for a WebP plan: {}",
        page.body
    );
    let saved = admin
        .post(&path, &[("name", "Modern"), ("thumbnail_heights", "200")])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let modern = plans(&app)
        .await
        .into_iter()
        .find(|plan| plan["name"] == "Modern")
        .unwrap();
    assert_eq!(
        modern["thumbnail_formats"],
        serde_json::json!(["original"]),
        "an unchecked box drops WebP"
    );
}

#[tokio::test]
async fn a_refused_plan_shows_the_reason_next_to_the_field_and_creates_nothing() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    for (heights, message) in [
        ("200 tall", "“tall”"),
        ("0", "between 1 and 10000"),
        ("99999999999", "99999999999 is out of range"),
        ("", "At least one"),
    ] {
        let refused = admin
            .post(
                "/admin/plans/new/",
                &[("name", "Odd"), ("thumbnail_heights", heights)],
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{heights:?}: {}",
            refused.body
        );
        let errors = field_error(&refused.body, "thumbnail_heights");
        assert!(errors.contains(message), "{heights:?}: {errors}");
        assert!(refused.body.contains(r#"value="Odd""#), "{}", refused.body);
    }
    let taken = admin
        .post(
            "/admin/plans/new/",
            &[("name", "Basic"), ("thumbnail_heights", "100")],
        )
        .await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST, "{}", taken.body);
    assert!(
        field_error(&taken.body, "name").contains("A plan with that name already exists."),
        "{}",
        taken.body
    );
    assert_eq!(plans(&app).await.len(), 3, "nothing created");
}

#[tokio::test]
async fn a_plan_in_use_is_not_deleted_and_the_page_says_why() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let confirm = admin
        .get(&format!("/admin/plans/{BASIC_PLAN}/delete/"))
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(
        confirm.body.contains(r#"id="confirm-delete-plan""#),
        "{}",
        confirm.body
    );

    let refused = admin
        .post(&format!("/admin/plans/{BASIC_PLAN}/delete/"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.contains("still assigned to users"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"role="alert""#), "{}", refused.body);
    assert_eq!(plans(&app).await.len(), 3, "nothing deleted");

    let spare = app.create_plan("Spare", &[100], false, false).await;
    let path = format!("/admin/plans/{}/delete/", spare["id"].as_str().unwrap());
    let deleted = admin.post(&path, &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert_eq!(
        deleted.location.as_deref(),
        Some("/admin/plans/?done=deleted")
    );
    assert!(plans(&app).await.iter().all(|plan| plan["name"] != "Spare"));
}

#[tokio::test]
async fn admin_forms_refuse_a_missing_or_wrong_csrf_token_and_a_cross_site_origin() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let fields = [
        ("username", "forged"),
        ("password", "long enough password"),
        ("plan", BASIC_PLAN),
    ];
    let missing = admin.post_exactly("/admin/users/new/", &fields, None).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.body);
    let mut wrong = fields.to_vec();
    wrong.push(("csrfmiddlewaretoken", "not-the-token"));
    let wrong = admin.post_exactly("/admin/users/new/", &wrong, None).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let mut right = fields.to_vec();
    right.push(("csrfmiddlewaretoken", admin.csrf()));
    let cross_site = admin
        .post_exactly("/admin/users/new/", &right, Some("https://evil.example"))
        .await;
    assert_eq!(
        cross_site.status,
        StatusCode::FORBIDDEN,
        "{}",
        cross_site.body
    );
    assert!(
        !usernames(&app).await.contains(&"forged".to_owned()),
        "nothing created"
    );
    let plan = admin
        .post_exactly(&format!("/admin/plans/{BASIC_PLAN}/delete/"), &[], None)
        .await;
    assert_eq!(plan.status, StatusCode::FORBIDDEN);
    // The same form with the token works: the refusals were the token's.
    let created = admin.post_exactly("/admin/users/new/", &right, None).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
}

/// The administrator's account, as the vault reads it, for calls straight to the vault.
async fn admin_account(app: &TestApp) -> imagevault::Account {
    app.vault
        .authenticate_token(&app.admin.token)
        .await
        .unwrap()
}

/// The ids of the images a list page shows, in order.
fn image_ids(page: &str) -> Vec<String> {
    page.split(r#"<tr data-image-id=""#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_images_page_lists_every_users_images_and_filters_them() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let basic = app.upload_png(&app.basic, 30, 20).await;
    let basic = basic["id"].as_str().unwrap();
    let premium = app.upload_png(&app.premium, 30, 20).await;
    let premium = premium["id"].as_str().unwrap();
    let broken = app
        .upload(
            &app.premium,
            crafted_png(300, 250, SHORT_IDAT),
            "broken.png",
            "image/png",
        )
        .await;
    let broken = broken["id"].as_str().unwrap();
    app.wait_for_thumbnails(&app.premium, broken).await;
    app.wait_for_thumbnails(&app.premium, premium).await;

    let all = admin.get("/admin/images/").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(
        image_ids(&all.body),
        [broken, premium, basic],
        "newest first"
    );
    assert!(
        all.body.contains(r#"href="/admin/images/?owner=premium""#),
        "{}",
        all.body
    );

    let premiums = admin.get("/admin/images/?owner=premium").await;
    assert_eq!(image_ids(&premiums.body), [broken, premium]);
    assert!(
        premiums.body.contains(r#"value="premium""#),
        "the filter is kept: {}",
        premiums.body
    );

    let failed = admin.get("/admin/images/?failed=1").await;
    assert_eq!(image_ids(&failed.body), [broken], "{}", failed.body);
    // Each failed thumbnail with the worker's reason, as the vault keeps it.
    let (_, stored) = app
        .get_json(&format!("/api/images/{broken}/"), &app.premium)
        .await;
    let reasons: Vec<String> = app
        .vault
        .admin_list_images(
            &admin_account(&app).await,
            imagevault::core::ImageFilter {
                owner: None,
                failed_thumbnails_only: true,
            },
            imagevault::PageRequest::default(),
        )
        .await
        .unwrap()
        .items[0]
        .thumbnails
        .iter()
        .map(|thumbnail| thumbnail.failure.clone().expect("a reason"))
        .collect();
    assert_eq!(reasons.len(), 2, "{stored}");
    for reason in &reasons {
        assert!(!reason.is_empty());
        assert!(
            failed.body.contains(&format!(
                r#"<span class="failure">{}</span>"#,
                escaped(reason)
            )),
            "{reason:?} in {}",
            failed.body
        );
    }
    let none = admin.get("/admin/images/?owner=basic&failed=1").await;
    assert_eq!(image_ids(&none.body), Vec::<String>::new());
    assert!(none.body.contains(r#"id="images-empty""#), "{}", none.body);

    let nobody = admin.get("/admin/images/?owner=nobody").await;
    assert_eq!(nobody.status, StatusCode::OK);
    assert!(
        field_error(&nobody.body, "owner").contains("nobody"),
        "{}",
        nobody.body
    );
    assert_eq!(image_ids(&nobody.body), Vec::<String>::new());
}

#[tokio::test]
async fn an_administrator_deletes_any_users_image() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let image = app.upload_png(&app.basic, 30, 20).await;
    let id = image["id"].as_str().unwrap();
    let path = format!("/admin/images/{id}/delete/");

    let deleted = admin.post(&path, &[("owner", "basic")]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert_eq!(
        deleted.location.as_deref(),
        Some("/admin/images/?owner=basic&done=deleted"),
        "back to the same filter"
    );
    let (status, _) = app
        .get_json(&format!("/api/images/{id}/"), &app.basic)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the owner's image is gone");
    assert_eq!(admin.post(&path, &[]).await.status, StatusCode::NOT_FOUND);
    let malformed = admin.post("/admin/images/not-an-id/delete/", &[]).await;
    assert_eq!(malformed.status, StatusCode::NOT_FOUND);
}

/// The statuses of an image's thumbnails, as its owner reads them through the API.
async fn statuses(app: &TestApp, user: &TestUser, id: &str) -> Vec<String> {
    let image = app.get_image(user, id).await;
    image["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|thumbnail| thumbnail["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs the queued jobs (the app has no worker) until no thumbnail of the image is
/// pending; the reconciler may queue work in between, so this loops, boundedly.
async fn settle(app: &TestApp, user: &TestUser, id: &str) -> Vec<String> {
    for _ in 0..200 {
        app.vault.run_pending_jobs(1_000).await.unwrap();
        let statuses = statuses(app, user, id).await;
        if statuses.iter().all(|status| status != "pending") {
            return statuses;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("thumbnails of {id} still pending");
}

#[tokio::test]
async fn failed_thumbnails_are_retried_one_image_or_all_at_once() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let admin = Console::user(&app, &app.admin).await;
    let broken = app
        .upload(
            &app.premium,
            crafted_png(300, 250, SHORT_IDAT),
            "broken.png",
            "image/png",
        )
        .await;
    let broken = broken["id"].as_str().unwrap();
    assert_eq!(
        settle(&app, &app.premium, broken).await,
        ["failed", "failed"]
    );
    let page = admin.get("/admin/images/?failed=1").await;
    assert!(
        page.body
            .contains(&format!(r#"action="/admin/images/{broken}/retry/""#)),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"id="retry-failed""#), "{}", page.body);

    let retried = admin
        .post(
            &format!("/admin/images/{broken}/retry/"),
            &[("failed", "1")],
        )
        .await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    assert_eq!(
        retried.location.as_deref(),
        Some("/admin/images/?failed=1&done=retried")
    );
    assert_eq!(
        statuses(&app, &app.premium, broken).await,
        ["pending", "pending"]
    );
    assert_eq!(
        settle(&app, &app.premium, broken).await,
        ["failed", "failed"]
    );

    let all = admin.post("/admin/images/retry-failed/", &[]).await;
    assert_eq!(all.status, StatusCode::SEE_OTHER, "{}", all.body);
    assert_eq!(
        all.location.as_deref(),
        Some("/admin/images/?done=retried-failed")
    );
    assert_eq!(
        statuses(&app, &app.premium, broken).await,
        ["pending", "pending"]
    );

    let unknown = uuid::Uuid::now_v7();
    let missing = admin
        .post(&format!("/admin/images/{unknown}/retry/"), &[])
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn thumbnails_are_made_again_for_a_user_or_a_plan() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let admin = Console::user(&app, &app.admin).await;
    let basic = app.upload_png(&app.basic, 40, 30).await;
    let basic = basic["id"].as_str().unwrap();
    let premium = app.upload_png(&app.premium, 40, 30).await;
    let premium = premium["id"].as_str().unwrap();
    assert_eq!(settle(&app, &app.basic, basic).await, ["ready"]);
    assert_eq!(
        settle(&app, &app.premium, premium).await,
        ["ready", "ready"]
    );

    let user_page = admin.get(&format!("/admin/users/{}/", app.basic.id)).await;
    assert!(
        user_page.body.contains(r#"id="regenerate-user""#),
        "{}",
        user_page.body
    );
    let again = admin
        .post(&format!("/admin/users/{}/regenerate/", app.basic.id), &[])
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(
        again.location.as_deref(),
        Some(format!("/admin/users/{}/?done=regenerating", app.basic.id).as_str())
    );
    assert_eq!(statuses(&app, &app.basic, basic).await, ["pending"]);
    assert_eq!(
        statuses(&app, &app.premium, premium).await,
        ["ready", "ready"],
        "other users' thumbnails are left alone"
    );
    assert_eq!(settle(&app, &app.basic, basic).await, ["ready"]);

    let plan_page = admin.get(&format!("/admin/plans/{PREMIUM_PLAN}/")).await;
    assert!(
        plan_page.body.contains(r#"id="regenerate-plan""#),
        "{}",
        plan_page.body
    );
    let again = admin
        .post(&format!("/admin/plans/{PREMIUM_PLAN}/regenerate/"), &[])
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(
        statuses(&app, &app.premium, premium).await,
        ["pending", "pending"]
    );
    assert_eq!(statuses(&app, &app.basic, basic).await, ["ready"]);
    assert_eq!(
        settle(&app, &app.premium, premium).await,
        ["ready", "ready"]
    );

    let owner_page = admin.get("/admin/images/?owner=basic").await;
    assert!(
        owner_page.body.contains(&format!(
            r#"action="/admin/users/{}/regenerate/""#,
            app.basic.id
        )),
        "{}",
        owner_page.body
    );
    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/admin/users/{unknown}/regenerate/"),
        format!("/admin/plans/{unknown}/regenerate/"),
    ] {
        assert_eq!(
            admin.post(&path, &[]).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn users_are_searched_by_name_and_plans_show_how_many_users_have_them() {
    let app = spawn_app().await;
    let admin = Console::user(&app, &app.admin).await;
    let found = admin.get("/admin/users/?q=PREM").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert!(
        found
            .body
            .contains(&format!(r#"data-user-id="{}""#, app.premium.id)),
        "{}",
        found.body
    );
    assert!(
        !found
            .body
            .contains(&format!(r#"data-user-id="{}""#, app.basic.id)),
        "{}",
        found.body
    );
    assert!(
        found.body.contains(r#"value="PREM""#),
        "the search is kept: {}",
        found.body
    );
    let none = admin.get("/admin/users/?q=nobody-at-all").await;
    assert!(none.body.contains(r#"id="users-empty""#), "{}", none.body);

    crate::helpers::create_user(&app.vault, "second", Some(imagevault::PlanId::BASIC), false).await;
    let plans = admin.get("/admin/plans/").await;
    assert_eq!(plans.status, StatusCode::OK, "{}", plans.body);
    let count = |plan: &str| -> String {
        let row = helpers::element(&plans.body, &format!(r#"data-plan-id="{plan}""#), "tr");
        row.split(r#"<td class="user-count">"#)
            .nth(1)
            .and_then(|rest| rest.split("</td>").next())
            .unwrap_or_else(|| panic!("a user count in {row}"))
            .to_owned()
    };
    assert_eq!(count(BASIC_PLAN), "2");
    assert_eq!(count(PREMIUM_PLAN), "1");
}
