//! The web console's user side through the real server: signing in and out, the gallery and
//! its upload form without JavaScript, a session on the JSON API, the image page with its
//! expiring links, and the account page. Pages are HTML; these tests read the stable hooks
//! of the console's page contract (ids, classes, `data-` attributes).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{
    Browser, PASSWORD, TestApp, create_user, csrf_token, element, header, page_parts, png,
    session_cookie, set_cookie, spawn_app, text,
};

/// Django's words for a failed login.
const INVALID_LOGIN: &str =
    "Please enter a correct username and password. Note that both fields may be case-sensitive.";

/// Text as a page writes it (maud escapes these four).
pub(crate) fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The path of an absolute URL the API wrote.
fn path_of<'a>(app: &TestApp, url: &'a str) -> &'a str {
    url.strip_prefix(&app.public_url)
        .unwrap_or_else(|| panic!("{url} is under {}", app.public_url))
}

/// The ids of the user's images, through the API.
async fn image_ids(app: &TestApp, user: &crate::helpers::TestUser) -> Vec<String> {
    let (status, body) = app.get_json("/api/images/", user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|image| text(image, "id").to_owned())
        .collect()
}

/// The user's links, through the API.
async fn links(app: &TestApp, user: &crate::helpers::TestUser) -> Vec<Value> {
    let (status, body) = app.get_json("/api/expiring-links/", user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().expect("results").clone()
}

/// Whether the browser's session still signs it in (a page answers 200, not the login
/// redirect).
async fn signed_in(app: &TestApp, browser: &Browser) -> bool {
    let (status, location, _) = app.get_page("/account/", Some(browser)).await;
    match status {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => {
            assert_eq!(location.as_deref(), Some("/login/?next=%2Faccount%2F"));
            false
        }
        other => panic!("GET /account/ answered {other}"),
    }
}

// --- Signing in and out ---------------------------------------------------------------

#[tokio::test]
async fn a_good_login_sets_a_session_cookie_and_follows_next() {
    let app = spawn_app().await;
    let (status, _, html) = app.get_page("/login/?next=/account/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"<form id="login""#), "{html}");
    assert!(html.contains(r#"name="next" value="/account/""#), "{html}");

    let response = app.post_login("premium", PASSWORD, "/account/").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(response.headers(), "location"), Some("/account/"));
    let cookie = set_cookie(response.headers()).expect("a session cookie");
    assert!(cookie.starts_with("imagevault_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    // The test server's public URL is http: no Secure, no __Host- prefix.
    assert!(!cookie.contains("Secure"), "{cookie}");

    let browser = Browser {
        cookie: session_cookie(response.headers()).unwrap(),
        csrf: String::new(),
    };
    let (status, _, html) = app.get_page("/account/", Some(&browser)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Signed in as <strong>premium</strong>"),
        "{html}"
    );
}

#[tokio::test]
async fn a_bad_login_shows_the_message_and_keeps_the_username_not_the_password() {
    let app = spawn_app().await;
    let response = app
        .post_login("premium", "wrong horse battery", "/account/")
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(response.headers()).is_none());
    let (_, _, html) = page_parts(response).await;
    let alert = element(&html, r#"role="alert""#, "div");
    assert!(alert.contains(INVALID_LOGIN), "{alert}");
    assert!(
        html.contains(r#"name="username" value="premium""#),
        "{html}"
    );
    assert!(
        !html.contains("wrong horse battery"),
        "the password is not sent back"
    );
    assert!(html.contains(r#"name="next" value="/account/""#), "{html}");

    // An unknown user reads the same.
    let response = app.post_login("nobody", PASSWORD, "/").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (_, _, html) = page_parts(response).await;
    assert!(html.contains(INVALID_LOGIN), "{html}");
}

#[tokio::test]
async fn next_is_followed_only_to_local_paths() {
    let app = spawn_app().await;
    for (next, expected) in [
        ("/images/", "/images/"),
        ("/account/?a=b", "/account/?a=b"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("", "/"),
    ] {
        let response = app.post_login("basic", PASSWORD, next).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(
            header(response.headers(), "location"),
            Some(expected),
            "{next:?}"
        );
    }
}

#[tokio::test]
async fn the_originals_login_address_redirects_to_the_login_page() {
    let app = spawn_app().await;
    let (status, location, _) = app.get_page("/api-auth/login/?next=/account/", None).await;
    assert!(
        status == StatusCode::FOUND || status == StatusCode::SEE_OTHER,
        "{status}"
    );
    assert_eq!(location.as_deref(), Some("/login/?next=%2Faccount%2F"));
    let (_, location, _) = app
        .get_page("/api-auth/login/?next=https://evil.example/", None)
        .await;
    assert_eq!(location.as_deref(), Some("/login/?next=%2F"));
}

#[tokio::test]
async fn logout_needs_the_csrf_token_and_ends_the_session() {
    let app = spawn_app().await;
    let browser = app.sign_in(&app.basic).await;

    let response = app.post_form("/logout/", Some(&browser), &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app
        .post_form(
            "/logout/",
            Some(&browser),
            &[("csrfmiddlewaretoken", "not-the-token")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        signed_in(&app, &browser).await,
        "a refused logout ends nothing"
    );

    let response = app
        .post_form("/logout/", Some(&browser), &browser.form(&[]))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(response.headers(), "location"), Some("/login/"));
    assert_eq!(
        session_cookie(response.headers()).as_deref(),
        Some("imagevault_session="),
        "the cookie is cleared"
    );
    assert!(!signed_in(&app, &browser).await, "the session has ended");
}

#[tokio::test]
async fn signed_out_pages_redirect_to_the_login_page_and_back() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.premium, 40, 30).await;
    let id = text(&image, "id");
    for (path, next) in [
        ("/".to_owned(), "%2F".to_owned()),
        (format!("/images/{id}/"), format!("%2Fimages%2F{id}%2F")),
        ("/account/".to_owned(), "%2Faccount%2F".to_owned()),
    ] {
        let (status, location, _) = app.get_page(&path, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location, Some(format!("/login/?next={next}")), "{path}");
    }
    // An ended or made-up session is signed out too.
    let stranger = Browser {
        cookie: "imagevault_session=made-up".to_owned(),
        csrf: String::new(),
    };
    let (status, location, _) = app.get_page("/account/", Some(&stranger)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/login/?next=%2Faccount%2F"));
}

// --- Gallery and uploads ---------------------------------------------------------------

#[tokio::test]
async fn the_gallery_lists_only_the_users_own_images() {
    let app = spawn_app().await;
    let own = app.upload_png(&app.premium, 40, 30).await;
    let others = app.upload_png(&app.basic, 40, 30).await;
    let browser = app.sign_in(&app.premium).await;
    let (status, _, html) = app.get_page("/", Some(&browser)).await;
    assert_eq!(status, StatusCode::OK);
    let own_id = text(&own, "id");
    let card = element(&html, &format!(r#"data-image-id="{own_id}""#), "li");
    assert!(
        card.contains(&format!(r#"href="/images/{own_id}/""#)),
        "{card}"
    );
    assert!(
        !html.contains(text(&others, "id")),
        "another user's image is not listed"
    );
}

/// A multipart upload form as a browser without JavaScript posts it.
fn upload_form(csrf: Option<&str>, files: &[(&str, Vec<u8>, &str)]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    if let Some(csrf) = csrf {
        form = form.text("csrfmiddlewaretoken", csrf.to_owned());
    }
    for (name, data, mime) in files {
        let part = reqwest::multipart::Part::bytes(data.clone())
            .file_name((*name).to_owned())
            .mime_str(mime)
            .unwrap();
        form = form.part("image", part);
    }
    form
}

async fn post_upload(
    app: &TestApp,
    browser: &Browser,
    form: reqwest::multipart::Form,
    origin: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .page_request(Method::POST, "/upload/", Some(browser))
        .multipart(form);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn an_upload_form_stores_the_good_file_and_shows_the_bad_ones_error() {
    let app = spawn_app().await;
    let browser = app.sign_in(&app.premium).await;
    let notes = b"just some notes, not an image\n".to_vec();
    // What the API says of the same file, for the page to repeat.
    let response = app
        .upload_multipart(&app.basic, notes.clone(), "notes.txt", "text/plain", None)
        .await;
    let (status, refusal) = crate::helpers::json_response(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refusal}");
    let message = refusal["image"][0].as_str().expect("a message").to_owned();

    let form = upload_form(
        Some(&browser.csrf),
        &[
            ("photo.png", png(40, 30), "image/png"),
            ("notes.txt", notes, "text/plain"),
        ],
    );
    let response = post_upload(&app, &browser, form, None).await;
    let (status, _, html) = page_parts(response).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let results = element(&html, r#"id="upload-results""#, "ul");
    let good = element(results, r#"data-file-name="photo.png""#, "li");
    assert!(good.contains(r#"class="upload-ok""#), "{good}");
    let bad = element(results, r#"data-file-name="notes.txt""#, "li");
    assert!(bad.contains(r#"class="upload-error""#), "{bad}");
    assert!(bad.contains(&escaped(&message)), "{message:?} in {bad}");

    let stored = image_ids(&app, &app.premium).await;
    assert_eq!(stored.len(), 1, "the PNG is stored, the text file is not");
    assert_eq!(
        app.get_image(&app.premium, &stored[0]).await["name"],
        "photo.png"
    );
}

#[tokio::test]
async fn an_upload_form_of_good_files_redirects_to_the_gallery() {
    let app = spawn_app().await;
    let browser = app.sign_in(&app.premium).await;
    let form = upload_form(
        Some(&browser.csrf),
        &[
            ("one.png", png(40, 30), "image/png"),
            ("two.png", png(30, 40), "image/png"),
        ],
    );
    let response = post_upload(&app, &browser, form, None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(response.headers(), "location"), Some("/"));
    assert_eq!(image_ids(&app, &app.premium).await.len(), 2);
}

#[tokio::test]
async fn an_upload_form_without_the_token_or_from_another_site_stores_nothing() {
    let app = spawn_app().await;
    let browser = app.sign_in(&app.premium).await;
    let file = || vec![("photo.png", png(20, 20), "image/png")];
    let cases = [
        ("no token", None, None),
        ("a wrong token", Some("not-the-token"), None),
        (
            "another site",
            Some(browser.csrf.as_str()),
            Some("http://evil.example"),
        ),
    ];
    for (case, csrf, origin) in cases {
        let response = post_upload(&app, &browser, upload_form(csrf, &file()), origin).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{case}");
    }
    let response = app
        .page_request(Method::POST, "/upload/", Some(&browser))
        .header("sec-fetch-site", "cross-site")
        .multipart(upload_form(Some(&browser.csrf), &file()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "Sec-Fetch-Site");
    assert!(
        image_ids(&app, &app.premium).await.is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn a_session_authenticates_the_api_with_the_token_on_unsafe_methods() {
    let app = spawn_app().await;
    let browser = app.sign_in(&app.premium).await;
    let response = app
        .page_request(Method::GET, "/api/images/", Some(&browser))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let form = || {
        let part = reqwest::multipart::Part::bytes(png(20, 20))
            .file_name("api.png")
            .mime_str("image/png")
            .unwrap();
        reqwest::multipart::Form::new().part("image", part)
    };
    let response = app
        .page_request(Method::POST, "/api/images/", Some(&browser))
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(image_ids(&app, &app.premium).await.is_empty());

    let response = app
        .page_request(Method::POST, "/api/images/", Some(&browser))
        .header("x-csrftoken", &browser.csrf)
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(image_ids(&app, &app.premium).await.len(), 1);
}

// --- The image page --------------------------------------------------------------------

#[tokio::test]
async fn the_image_page_shows_every_thumbnail_the_original_and_the_facts() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.enterprise, 600, 450).await;
    let id = text(&image, "id");
    let image = app.wait_for_thumbnails(&app.enterprise, id).await;
    let browser = app.sign_in(&app.enterprise).await;
    let (status, _, html) = app
        .get_page(&format!("/images/{id}/"), Some(&browser))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<h1>generated.png</h1>"), "{html}");

    let thumbnails = image["thumbnails"].as_array().unwrap();
    assert_eq!(thumbnails.len(), 2, "Enterprise has two heights");
    for thumbnail in thumbnails {
        assert_eq!(thumbnail["status"], "ready");
        let figure = element(
            &html,
            &format!(r#"data-max-height="{}""#, thumbnail["max_height"]),
            "figure",
        );
        let src = path_of(&app, text(thumbnail, "url"));
        assert!(figure.contains(&format!(r#"src="{src}""#)), "{figure}");
    }
    let original = path_of(&app, text(&image, "original"));
    assert!(
        html.contains(&format!(r#"<a id="original-link" href="{original}">"#)),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"class="original-preview" src="{original}""#)),
        "{html}"
    );

    let facts = element(&html, r#"id="image-facts""#, "dl");
    let size = image["size"].as_u64().unwrap();
    for fact in [
        "generated.png".to_owned(),
        format!("({size} bytes)"),
        "PNG".to_owned(),
        "600 × 450 pixels".to_owned(),
        format!(
            "{}",
            crate::helpers::timestamp(text(&image, "created_at")).format("%Y-%m-%d %H:%M UTC")
        ),
    ] {
        assert!(facts.contains(&fact), "{fact} in {facts}");
    }
    assert!(
        html.contains(r#"<form id="delete-image" method="get""#),
        "{html}"
    );
    assert!(
        html.contains(r#"<form id="create-link""#),
        "Enterprise has links: {html}"
    );
}

#[tokio::test]
async fn a_plan_without_originals_or_links_shows_neither() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.basic, 40, 30).await;
    let id = text(&image, "id");
    let browser = app.sign_in(&app.basic).await;
    let (status, _, html) = app
        .get_page(&format!("/images/{id}/"), Some(&browser))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="no-original""#), "{html}");
    assert!(!html.contains("original-preview"), "{html}");
    let notice = element(&html, r#"id="no-links""#, "p");
    assert!(
        notice.contains("Your plan (Basic) has no expiring links."),
        "{notice}"
    );
    assert!(!html.contains(r#"id="create-link""#), "{html}");

    // Posting the form anyway is refused by the vault's plan rule.
    let response = app
        .post_form(
            &format!("/images/{id}/links/"),
            Some(&browser),
            &browser.form(&[("expires_in", "600")]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn another_users_or_a_malformed_image_id_is_a_404_page() {
    let app = spawn_app().await;
    let others = app.upload_png(&app.basic, 40, 30).await;
    let other_id = text(&others, "id");
    let browser = app.sign_in(&app.enterprise).await;
    for path in [
        format!("/images/{other_id}/"),
        format!("/images/{other_id}/delete/"),
        "/images/not-an-id/".to_owned(),
        format!("/images/{}/", uuid::Uuid::new_v4()),
    ] {
        let response = app
            .page_request(Method::GET, &path, Some(&browser))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            crate::helpers::content_type(response.headers()).as_deref(),
            Some("text/html"),
            "{path}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("<h1>Not found</h1>"), "{html}");
    }
    for path in [
        format!("/images/{other_id}/delete/"),
        format!("/images/{other_id}/links/"),
        "/images/not-an-id/delete/".to_owned(),
    ] {
        let response = app
            .post_form(
                &path,
                Some(&browser),
                &browser.form(&[("expires_in", "600")]),
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
    assert_eq!(image_ids(&app, &app.basic).await, vec![other_id.to_owned()]);
    assert!(links(&app, &app.enterprise).await.is_empty());
}

#[tokio::test]
async fn deleting_an_image_asks_first_and_needs_the_token() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.premium, 40, 30).await;
    let id = text(&image, "id");
    let browser = app.sign_in(&app.premium).await;
    let path = format!("/images/{id}/delete/");
    let (status, _, html) = app.get_page(&path, Some(&browser)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!(
            r#"<form id="confirm-delete" method="post" action="{path}">"#
        )),
        "{html}"
    );
    assert_eq!(csrf_token(&html).as_deref(), Some(browser.csrf.as_str()));

    let response = app.post_form(&path, Some(&browser), &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(image_ids(&app, &app.premium).await.len(), 1, "still there");

    let response = app
        .post_form(&path, Some(&browser), &browser.form(&[]))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(response.headers(), "location"), Some("/"));
    assert!(image_ids(&app, &app.premium).await.is_empty());
    let (status, _, _) = app
        .get_page(&format!("/images/{id}/"), Some(&browser))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// --- Expiring links --------------------------------------------------------------------

#[tokio::test]
async fn links_are_created_listed_changed_and_deleted_from_the_image_page() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.enterprise, 40, 30).await;
    let id = text(&image, "id");
    let browser = app.sign_in(&app.enterprise).await;
    let page = format!("/images/{id}/");
    let (_, _, html) = app.get_page(&page, Some(&browser)).await;
    assert!(html.contains(r#"id="links-empty""#), "{html}");

    let response = app
        .post_form(
            &format!("/images/{id}/links/"),
            Some(&browser),
            &browser.form(&[("expires_in", "600")]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(response.headers(), "location"),
        Some(format!("/images/{id}/#links-section").as_str())
    );
    let created = links(&app, &app.enterprise).await;
    assert_eq!(created.len(), 1);
    let link = &created[0];
    assert_eq!(link["expiry_in_seconds"], 600);
    let link_id = text(link, "id");
    let url = text(link, "url");
    assert_eq!(app.media_status(url).await, StatusCode::OK);

    app.advance(125);
    let (_, _, html) = app.get_page(&page, Some(&browser)).await;
    let row = element(&html, &format!(r#"data-link-id="{link_id}""#), "tr");
    assert!(
        row.contains(&format!(r#"<a class="link-url" href="{url}">{url}</a>"#)),
        "the absolute URL the API gives: {row}"
    );
    assert!(row.contains(&format!(r#"data-url="{url}""#)), "{row}");
    assert!(
        row.contains("hidden"),
        "the copy button waits for the script: {row}"
    );
    assert!(row.contains("7 min 55 s"), "time left: {row}");
    assert!(
        row.contains(&format!(r#"action="/links/{link_id}/""#)),
        "{row}"
    );
    assert!(
        row.contains(&format!(r#"action="/links/{link_id}/delete/""#)),
        "{row}"
    );

    let response = app
        .post_form(
            &format!("/links/{link_id}/"),
            Some(&browser),
            &browser.form(&[("expires_in", "1200")]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(response.headers(), "location"),
        Some(format!("/images/{id}/#links-section").as_str())
    );
    assert_eq!(
        links(&app, &app.enterprise).await[0]["expiry_in_seconds"],
        1200
    );

    let response = app
        .post_form(
            &format!("/links/{link_id}/delete/"),
            Some(&browser),
            &browser.form(&[]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(links(&app, &app.enterprise).await.is_empty());
    assert_eq!(app.media_status(url).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lifetimes_out_of_range_get_the_vaults_message_next_to_the_field() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.enterprise, 40, 30).await;
    let id = text(&image, "id");
    let browser = app.sign_in(&app.enterprise).await;
    let message = "Ensure this value is between 300 and 30000.";
    for typed in ["299", "30001", "ten minutes", ""] {
        let response = app
            .post_form(
                &format!("/images/{id}/links/"),
                Some(&browser),
                &browser.form(&[("expires_in", typed)]),
            )
            .await;
        let (status, _, html) = page_parts(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{typed:?}");
        let form = element(&html, r#"<form id="create-link""#, "form");
        let errors = element(form, r#"id="expires_in-error""#, "ul");
        assert!(errors.contains(message), "{typed:?}: {errors}");
        assert!(
            form.contains(&format!(r#"value="{}""#, escaped(typed))),
            "what was typed is kept: {form}"
        );
        assert!(
            form.contains(r#"aria-describedby="expires_in-help expires_in-error""#),
            "{form}"
        );
    }
    assert!(
        links(&app, &app.enterprise).await.is_empty(),
        "nothing created"
    );

    // The edges are accepted.
    for edge in ["300", "30000"] {
        let response = app
            .post_form(
                &format!("/images/{id}/links/"),
                Some(&browser),
                &browser.form(&[("expires_in", edge)]),
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{edge}");
    }

    // A change out of range: the error is on that link's row, and nothing changes.
    let link = app.create_link(&app.enterprise, id, 900).await;
    let link_id = text(&link, "id");
    let response = app
        .post_form(
            &format!("/links/{link_id}/"),
            Some(&browser),
            &browser.form(&[("expires_in", "30001")]),
        )
        .await;
    let (status, _, html) = page_parts(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let row = element(&html, &format!(r#"data-link-id="{link_id}""#), "tr");
    assert!(row.contains(message), "{row}");
    assert!(row.contains(r#"value="30001""#), "{row}");
    let (_, body) = app
        .get_json(&format!("/api/expiring-links/{link_id}/"), &app.enterprise)
        .await;
    assert_eq!(body["expiry_in_seconds"], 900);
}

#[tokio::test]
async fn another_users_links_are_404_and_stay() {
    let app = spawn_app().await;
    let other = create_user(
        &app.vault,
        "enterprise2",
        Some(imagevault::PlanId::ENTERPRISE),
        false,
    )
    .await;
    let image = app.upload_png(&other, 40, 30).await;
    let link = app.create_link(&other, text(&image, "id"), 900).await;
    let link_id = text(&link, "id");
    let browser = app.sign_in(&app.enterprise).await;
    for (path, fields) in [
        (format!("/links/{link_id}/"), vec![("expires_in", "1200")]),
        (format!("/links/{link_id}/delete/"), vec![]),
        ("/links/not-an-id/".to_owned(), vec![("expires_in", "1200")]),
        ("/links/not-an-id/delete/".to_owned(), vec![]),
    ] {
        let response = app
            .post_form(&path, Some(&browser), &browser.form(&fields))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (status, body) = app
        .get_json(&format!("/api/expiring-links/{link_id}/"), &other)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expiry_in_seconds"], 900, "unchanged");
}

#[tokio::test]
async fn link_forms_need_the_token() {
    let app = spawn_app().await;
    let image = app.upload_png(&app.enterprise, 40, 30).await;
    let id = text(&image, "id");
    let link = app.create_link(&app.enterprise, id, 900).await;
    let link_id = text(&link, "id");
    let browser = app.sign_in(&app.enterprise).await;
    for path in [
        format!("/images/{id}/links/"),
        format!("/links/{link_id}/"),
        format!("/links/{link_id}/delete/"),
    ] {
        let response = app
            .post_form(&path, Some(&browser), &[("expires_in", "1200")])
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let all = links(&app, &app.enterprise).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["expiry_in_seconds"], 900);
}

// --- The account page ------------------------------------------------------------------

#[tokio::test]
async fn the_account_page_shows_the_plan() {
    let app = spawn_app().await;
    let browser = app.sign_in(&app.enterprise).await;
    let (status, _, html) = app.get_page("/account/", Some(&browser)).await;
    assert_eq!(status, StatusCode::OK);
    let plan = element(&html, r#"id="plan""#, "dl");
    for fact in ["Enterprise", "200 px, 400 px"] {
        assert!(plan.contains(fact), "{fact} in {plan}");
    }
    assert!(html.contains(r#"<form id="change-password""#), "{html}");
    assert!(html.contains(r#"<form id="sign-out-everywhere""#), "{html}");

    let browser = app.sign_in(&app.no_plan).await;
    let (_, _, html) = app.get_page("/account/", Some(&browser)).await;
    assert!(html.contains(r#"id="no-plan""#), "{html}");
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_keeps_this_browser() {
    let app = spawn_app().await;
    let here = app.sign_in(&app.premium).await;
    let elsewhere = app.sign_in(&app.premium).await;
    let new_password = "a brand new passphrase";

    // A wrong current password: 400, the message on that field, nothing changed.
    let response = app
        .post_form(
            "/account/password/",
            Some(&here),
            &here.form(&[
                ("old_password", "not my password"),
                ("new_password", new_password),
                ("new_password2", new_password),
            ]),
        )
        .await;
    let (status, _, html) = page_parts(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let errors = element(&html, r#"id="old_password-error""#, "ul");
    assert!(
        errors.contains("Your old password was entered incorrectly."),
        "{errors}"
    );
    assert!(!html.contains("not my password") && !html.contains(new_password));
    assert!(signed_in(&app, &elsewhere).await);

    // Two different new passwords.
    let response = app
        .post_form(
            "/account/password/",
            Some(&here),
            &here.form(&[
                ("old_password", PASSWORD),
                ("new_password", new_password),
                ("new_password2", "something else entirely"),
            ]),
        )
        .await;
    let (status, _, html) = page_parts(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let errors = element(&html, r#"id="new_password2-error""#, "ul");
    assert!(
        errors.contains("The two password fields didn’t match."),
        "{errors}"
    );
    assert!(signed_in(&app, &elsewhere).await);

    // Without the token: refused.
    let response = app
        .post_form(
            "/account/password/",
            Some(&here),
            &[
                ("old_password", PASSWORD),
                ("new_password", new_password),
                ("new_password2", new_password),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let response = app
        .post_form(
            "/account/password/",
            Some(&here),
            &here.form(&[
                ("old_password", PASSWORD),
                ("new_password", new_password),
                ("new_password2", new_password),
            ]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(response.headers(), "location"),
        Some("/account/?done=password")
    );
    let renewed = Browser {
        cookie: session_cookie(response.headers()).expect("a new session"),
        csrf: String::new(),
    };
    assert_ne!(renewed.cookie, here.cookie);
    assert!(!signed_in(&app, &here).await, "the old session ended");
    assert!(
        !signed_in(&app, &elsewhere).await,
        "the other browser's too"
    );
    let (status, _, html) = app
        .get_page("/account/?done=password", Some(&renewed))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Your password has been changed."), "{html}");

    // The API token issued before is revoked; the new password logs in.
    let (status, _) = app.get_json("/api/images/", &app.premium).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.token_for("premium", new_password).await;
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_of_the_user_only() {
    let app = spawn_app().await;
    let here = app.sign_in(&app.premium).await;
    let elsewhere = app.sign_in(&app.premium).await;
    let someone_else = app.sign_in(&app.basic).await;

    let response = app
        .post_form("/account/sessions/end/", Some(&here), &[])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(signed_in(&app, &elsewhere).await);

    let response = app
        .post_form("/account/sessions/end/", Some(&here), &here.form(&[]))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(response.headers(), "location"), Some("/login/"));
    assert_eq!(
        session_cookie(response.headers()).as_deref(),
        Some("imagevault_session=")
    );
    assert!(!signed_in(&app, &here).await);
    assert!(
        !signed_in(&app, &elsewhere).await,
        "another browser's session ended"
    );
    assert!(
        signed_in(&app, &someone_else).await,
        "other users stay signed in"
    );
    // Tokens are not sessions: the API token still works.
    let (status, _) = app.get_json("/api/images/", &app.premium).await;
    assert_eq!(status, StatusCode::OK);
}

/// The ids of the tokens listed on the account page, in the page's order.
fn listed_tokens(html: &str) -> Vec<String> {
    html.split(r#"data-token-id=""#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_account_page_lists_the_users_tokens_and_revokes_one() {
    let app = spawn_app().await;
    // spawn_app issued one token; a login through the API issues another, newer one.
    app.advance(1);
    let newer = app.token_for("premium", PASSWORD).await;
    let browser = app.sign_in(&app.premium).await;
    let (status, _, html) = app.get_page("/account/", Some(&browser)).await;
    assert_eq!(status, StatusCode::OK);
    let tokens = listed_tokens(&html);
    assert_eq!(tokens.len(), 2, "{html}");
    let row = element(&html, &format!(r#"data-token-id="{}""#, tokens[0]), "tr");
    assert!(row.contains("Never"), "neither used nor expiring: {row}");
    assert!(
        !html.contains(&newer) && !html.contains(&app.premium.token),
        "no secret on the page"
    );

    // Another user's token and a malformed id are 404s; nothing is revoked.
    let other = app.sign_in(&app.basic).await;
    let (_, _, other_html) = app.get_page("/account/", Some(&other)).await;
    let others = listed_tokens(&other_html);
    assert_eq!(others.len(), 1);
    for id in [others[0].as_str(), "not-a-token-id"] {
        let response = app
            .post_form(
                &format!("/account/tokens/{id}/revoke/"),
                Some(&browser),
                &browser.form(&[]),
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }
    let (status, _) = app.get_json("/api/images/", &app.basic).await;
    assert_eq!(status, StatusCode::OK);

    // Without the token: refused.
    let path = format!("/account/tokens/{}/revoke/", tokens[0]);
    let response = app.post_form(&path, Some(&browser), &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let response = app
        .post_form(&path, Some(&browser), &browser.form(&[]))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, _, html) = app.get_page("/account/", Some(&browser)).await;
    assert_eq!(listed_tokens(&html), vec![tokens[1].clone()]);
    // The newest token was the first row: it no longer works, the older one does.
    let response = app
        .request(Method::GET, "/api/images/", None)
        .bearer_auth(&newer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = app.get_json("/api/images/", &app.premium).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_account_page_shows_the_image_count_and_storage_used() {
    let app = spawn_app().await;
    let first = app.upload_png(&app.premium, 40, 30).await;
    let second = app.upload_png(&app.premium, 80, 60).await;
    app.upload_png(&app.basic, 40, 30).await;
    let bytes = first["size"].as_u64().unwrap() + second["size"].as_u64().unwrap();
    let browser = app.sign_in(&app.premium).await;
    let (_, _, html) = app.get_page("/account/", Some(&browser)).await;
    let usage = element(&html, r#"id="usage""#, "dl");
    let images = element(usage, r#"class="usage-images""#, "dd");
    assert!(images.contains(">2</dd>"), "{images}");
    let stored = element(usage, r#"class="usage-bytes""#, "dd");
    assert!(
        stored.contains(&format!("({bytes} bytes, originals)")),
        "{stored}"
    );
}
