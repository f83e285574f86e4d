//! The device authorization grant (RFC 8628): the wifi portal or a kiosk shows a code,
//! the person approves it at /device, the device polls for its tokens.

use etupass::domain::client::{AuthMethod, GrantType};
use serde_json::Value;

use crate::helpers::{ClientOptions, TestApp, TestClient, PASSWORD};
use crate::rp::{form_field, Browser};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public client, as a kiosk app is: it authenticates with its client_id only.
async fn kiosk(app: &TestApp) -> TestClient {
    app.add_client(ClientOptions {
        public: true,
        auth_method: AuthMethod::None,
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        ..ClientOptions::default()
    })
    .await
}

async fn post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn start(app: &TestApp, client: &TestClient) -> Value {
    let (status, body) = post(
        app,
        "/device_authorization",
        &[
            ("client_id", &client.client_id),
            ("scope", "openid profile offline_access"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn poll(app: &TestApp, client: &TestClient, device_code: &str) -> (u16, Value) {
    post(
        app,
        "/token",
        &[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", &client.client_id),
        ],
    )
    .await
}

/// Opens /device (signing in on the way), types the code, and answers.
async fn answer(app: &TestApp, browser: &Browser, user_code: &str, decision: &str) -> String {
    let sign_in = browser.open(&app.url("/device")).await;
    assert!(
        sign_in.contains("name=\"password\""),
        "signing in comes first"
    );
    let landing = browser.sign_in(app, &sign_in, "21900001", PASSWORD).await;
    let entry = browser.open(landing.redirect().location.as_str()).await;
    let confirm = browser
        .submit(
            app,
            &entry,
            "/device",
            &[("user_code", &user_code.to_lowercase())],
        )
        .await
        .page()
        .1;
    assert!(confirm.contains("Test RP"), "{confirm}");
    assert_eq!(
        form_field(&confirm, "user_code").as_deref(),
        Some(user_code)
    );
    let (status, done) = browser
        .submit(
            app,
            &confirm,
            "/device",
            &[("user_code", user_code), ("decision", decision)],
        )
        .await
        .page();
    assert_eq!(status, 200);
    done
}

#[tokio::test]
async fn a_device_gets_tokens_once_the_person_approves() {
    let app = TestApp::spawn().await;
    app.add_identity("21900001").await;
    let client = kiosk(&app).await;
    let started = start(&app, &client).await;
    let device_code = started["device_code"].as_str().unwrap();
    let user_code = started["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "XXXX-XXXX");
    assert_eq!(started["verification_uri"], app.url("/device"));
    assert_eq!(started["interval"], 5);
    assert!(started["verification_uri_complete"]
        .as_str()
        .unwrap()
        .ends_with(&format!("?user_code={user_code}")));

    let (status, body) = poll(&app, &client, device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    // Polling again at once is too fast.
    let (_, body) = poll(&app, &client, device_code).await;
    assert_eq!(body["error"], "slow_down");

    let browser = Browser::new();
    let done = answer(&app, &browser, user_code, "allow").await;
    assert!(done.contains("connect"), "{done}");

    app.clock.advance(15);
    let (status, tokens) = poll(&app, &client, device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].as_str().is_some());
    assert!(tokens["refresh_token"].as_str().is_some());
    let info: Value = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["preferred_username"], "21900001");

    // Once only.
    app.clock.advance(15);
    let (_, body) = poll(&app, &client, device_code).await;
    assert_eq!(body["error"], "invalid_grant");
    // Another client cannot poll with this device code.
    let other = kiosk(&app).await;
    let (_, body) = poll(&app, &other, device_code).await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_denied_or_expired_device_gets_nothing() {
    let app = TestApp::spawn().await;
    app.add_identity("21900001").await;
    let client = kiosk(&app).await;
    let denied = start(&app, &client).await;
    let browser = Browser::new();
    answer(
        &app,
        &browser,
        denied["user_code"].as_str().unwrap(),
        "deny",
    )
    .await;
    let (_, body) = poll(&app, &client, denied["device_code"].as_str().unwrap()).await;
    assert_eq!(body["error"], "access_denied");

    let expired = start(&app, &client).await;
    app.clock.advance(601);
    let (_, body) = poll(&app, &client, expired["device_code"].as_str().unwrap()).await;
    assert_eq!(body["error"], "expired_token");
    // And its code can no longer be approved.
    let entry = browser.open(&app.url("/device")).await;
    let (status, page) = browser
        .submit(
            &app,
            &entry,
            "/device",
            &[("user_code", expired["user_code"].as_str().unwrap())],
        )
        .await
        .page();
    assert_eq!(status, 400);
    assert!(page.contains("code-error"), "{page}");
}

#[tokio::test]
async fn device_requests_are_checked() {
    let app = TestApp::spawn().await;
    app.add_identity("21900001").await;
    // A client without the device grant.
    let web = app.add_client(ClientOptions::default()).await;
    let response = reqwest::Client::new()
        .post(app.url("/device_authorization"))
        .basic_auth(&web.client_id, web.client_secret.as_deref())
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    // An unknown client.
    let (status, _) = post(&app, "/device_authorization", &[("client_id", "nobody")]).await;
    assert_eq!(status, 401);
    // A made-up device code.
    let client = kiosk(&app).await;
    let (_, body) = poll(&app, &client, "made-up").await;
    assert_eq!(body["error"], "invalid_grant");
    // Wrong user codes are refused on the page, and guessing is throttled.
    let browser = Browser::new();
    let sign_in = browser.open(&app.url("/device")).await;
    let landing = browser.sign_in(&app, &sign_in, "21900001", PASSWORD).await;
    let mut page = browser.open(landing.redirect().location.as_str()).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let (status, next) = browser
            .submit(&app, &page, "/device", &[("user_code", "BCDF-GHJK")])
            .await
            .page();
        statuses.push(status);
        page = next;
    }
    assert!(statuses.iter().all(|s| *s == 400));
    assert!(
        page.contains("Trop de tentatives") || page.contains("Too many attempts"),
        "{page}"
    );
    // The form needs its CSRF token.
    let (status, _) = browser
        .post_form(&app.url("/device"), &[("user_code", "BCDF-GHJK")])
        .await
        .page();
    assert_eq!(status, 400);
}

#[tokio::test]
async fn decisions_count_as_guesses_and_gates_come_first() {
    let app = TestApp::spawn().await;
    app.add_identity("21900001").await;
    let browser = Browser::new();
    let sign_in = browser.open(&app.url("/device")).await;
    let landing = browser.sign_in(&app, &sign_in, "21900001", PASSWORD).await;
    let mut page = browser.open(landing.redirect().location.as_str()).await;
    // Posting a decision with a made-up code is a guess like any other.
    for _ in 0..8 {
        page = browser
            .submit(
                &app,
                &page,
                "/device",
                &[("user_code", "BCDF-GHJK"), ("decision", "allow")],
            )
            .await
            .page()
            .1;
    }
    assert!(page.contains("Trop de tentatives"), "{page}");

    // A new charter comes before any device, as before any relying party.
    app.store
        .publish_charter(
            "Charte v3".into(),
            etupass::domain::clock::Clock::now(&app.clock),
        )
        .await
        .unwrap();
    let gate = browser.open(&app.url("/device?user_code=BCDF-GHJK")).await;
    assert!(gate.contains("Charte v3"), "{gate}");
    assert_eq!(
        form_field(&gate, "request").as_deref(),
        Some("continue_to=%2Fdevice%3Fuser_code%3DBCDF-GHJK"),
        "accepting comes back to the device page"
    );
}
