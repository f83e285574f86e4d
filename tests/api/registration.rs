//! Dynamic client registration (RFC 7591) behind an administrator's initial access
//! token, and self-management of the registration (RFC 7592).

use serde_json::{json, Value};

use crate::helpers::{etupass, TestApp, TestClient, PASSWORD};
use crate::rp::{self, Browser};

/// `etupass client token`: the token is the last line of standard output.
fn initial_access_token(app: &TestApp) -> String {
    let output = etupass(app, &["client", "token", "--note", "LMS pilot"], None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .expect("the token is printed")
        .trim()
        .to_string()
}

async fn call(
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|h| h.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        challenge,
    )
}

fn lms_metadata() -> Value {
    json!({
        "client_name": "Moodle",
        "redirect_uris": [crate::helpers::REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
        "id_token_signed_response_alg": "ES256",
        "contacts": ["lms-admins@univ.example"]
    })
}

#[tokio::test]
async fn registration_needs_an_initial_access_token() {
    let app = TestApp::spawn().await;
    let register = app.url("/register");
    let (status, _, challenge) =
        call(reqwest::Method::POST, &register, None, Some(lms_metadata())).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().starts_with("Bearer"));
    let (status, body, _) = call(
        reqwest::Method::POST,
        &register,
        Some("made-up"),
        Some(lms_metadata()),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );

    // An expired token is refused too.
    let output = etupass(&app, &["client", "token", "--lifetime", "1s"], None);
    let expired = String::from_utf8(output.stdout).unwrap().trim().to_string();
    app.clock.advance(5);
    let (status, _, _) = call(
        reqwest::Method::POST,
        &register,
        Some(&expired),
        Some(lms_metadata()),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        app.store.list_clients().await.unwrap().is_empty(),
        "nothing registered"
    );
}

#[tokio::test]
async fn invalid_metadata_is_refused_with_its_reason() {
    let app = TestApp::spawn().await;
    let token = initial_access_token(&app);
    let register = app.url("/register");
    let cases = [
        (
            json!({"redirect_uris": ["http://lms.univ.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://lms.univ.example/cb#top"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": ["lms/cb"]}), "invalid_redirect_uri"),
        (
            json!({"client_name": "no redirect"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://lms.univ.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://lms.univ.example/cb"], "token_endpoint_auth_method": "tls_client_auth"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://lms.univ.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb", "https://b.example/cb"], "subject_type": "pairwise"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://lms.univ.example/cb"], "client_id": "chosen"}),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ];
    for (metadata, expected) in cases {
        let (status, body, _) = call(
            reqwest::Method::POST,
            &register,
            Some(&token),
            Some(metadata.clone()),
        )
        .await;
        assert_eq!(status, 400, "{metadata}: {body}");
        assert_eq!(body["error"], expected, "{metadata}: {body}");
        assert!(body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()));
    }
    assert!(app.store.list_clients().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_registered_client_signs_people_in_and_manages_itself() {
    let app = TestApp::spawn().await;
    app.add_identity("21900001").await;
    let token = initial_access_token(&app);
    let (status, registered, _) = call(
        reqwest::Method::POST,
        &app.url("/register"),
        Some(&token),
        Some(lms_metadata()),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    let client_id = registered["client_id"].as_str().unwrap().to_string();
    let secret = registered["client_secret"].as_str().unwrap().to_string();
    let management = registered["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let uri = registered["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(uri, app.url(&format!("/register/{client_id}")));
    assert_eq!(registered["client_secret_expires_at"], 0);
    assert_eq!(registered["id_token_signed_response_alg"], "ES256");
    assert_eq!(registered["response_types"], json!(["code"]));

    // The real relying-party library signs someone in with it (ES256 ID token).
    let client = TestClient {
        client_id: client_id.clone(),
        client_secret: Some(secret.clone()),
        redirect_uri: crate::helpers::REDIRECT_URI.to_string(),
        alg: etupass::domain::client::SigningAlg::ES256,
        auth_method: etupass::domain::client::AuthMethod::ClientSecretBasic,
    };
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["profile"], true);
    let browser = Browser::new();
    let first = browser.get(auth.url.as_str()).await.page().1;
    let consent = browser
        .sign_in(&app, &first, "21900001", PASSWORD)
        .await
        .page()
        .1;
    assert!(
        consent.contains("Moodle"),
        "a registered client always gets the consent page"
    );
    let redirect = browser.consent(&app, &consent, "allow").await.redirect();
    let signed_in = rp::exchange(&oidc, &client, auth, &redirect).await;
    assert!(signed_in.kid.is_some(), "the ID token names its key");

    // RFC 7592: read, with the registration access token only.
    let (status, read, _) = call(reqwest::Method::GET, &uri, Some(&management), None).await;
    assert_eq!(status, 200);
    assert_eq!(read["client_name"], "Moodle");
    assert!(
        read.get("client_secret").is_none(),
        "the secret is never shown again"
    );
    for wrong in [Some(token.as_str()), Some(secret.as_str()), None] {
        let (status, _, _) = call(reqwest::Method::GET, &uri, wrong, None).await;
        assert_eq!(status, 401);
    }

    // Update: the whole metadata is replaced; the secret stays the same.
    let mut changed = lms_metadata();
    changed["client_id"] = json!(client_id);
    changed["client_name"] = json!("Moodle 4.5");
    changed["redirect_uris"] = json!([
        crate::helpers::REDIRECT_URI,
        "https://lms.univ.example/auth/oidc/"
    ]);
    let (status, updated, _) = call(
        reqwest::Method::PUT,
        &uri,
        Some(&management),
        Some(changed.clone()),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_name"], "Moodle 4.5");
    assert_eq!(updated["redirect_uris"].as_array().unwrap().len(), 2);
    let mut bad = changed.clone();
    bad["redirect_uris"] = json!(["http://lms.univ.example/cb"]);
    let (status, body, _) = call(reqwest::Method::PUT, &uri, Some(&management), Some(bad)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_redirect_uri"))
    );
    let mut chosen_secret = changed.clone();
    chosen_secret["client_secret"] = json!("a-secret-the-client-picked");
    let (status, body, _) = call(
        reqwest::Method::PUT,
        &uri,
        Some(&management),
        Some(chosen_secret),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    let mut same_secret = changed.clone();
    same_secret["client_secret"] = json!(secret);
    let (status, _, _) = call(
        reqwest::Method::PUT,
        &uri,
        Some(&management),
        Some(same_secret),
    )
    .await;
    assert_eq!(status, 200, "repeating the current secret is allowed");
    let mut other_id = changed;
    other_id["client_id"] = json!("someone-else");
    let (status, _, _) = call(
        reqwest::Method::PUT,
        &uri,
        Some(&management),
        Some(other_id),
    )
    .await;
    assert_eq!(status, 400);
    let response = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        400,
        "the secret still authenticates (invalid_grant, not invalid_client)"
    );

    // Delete: the client is gone, and so is its management.
    let (status, _, _) = call(reqwest::Method::DELETE, &uri, Some(&management), None).await;
    assert_eq!(status, 204);
    let (status, _, _) = call(reqwest::Method::GET, &uri, Some(&management), None).await;
    assert_eq!(status, 401);
    assert!(app.store.find_client(&client_id).await.unwrap().is_none());

    // Each step is in the audit log.
    let output = etupass(&app, &["audit", "--event", "client_registered"], None);
    assert!(String::from_utf8_lossy(&output.stdout).contains("LMS pilot"));
}

#[tokio::test]
async fn a_registered_client_introspects_only_its_own_tokens() {
    let app = TestApp::spawn().await;
    let token = initial_access_token(&app);
    let metadata = json!({
        "client_name": "Curious",
        "grant_types": ["client_credentials"],
        "response_types": []
    });
    let (status, registered, _) = call(
        reqwest::Method::POST,
        &app.url("/register"),
        Some(&token),
        Some(metadata),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    let id = registered["client_id"].as_str().unwrap();
    let secret = registered["client_secret"].as_str().unwrap();
    let service = app
        .add_client(crate::helpers::ClientOptions {
            grant_types: vec![etupass::domain::client::GrantType::ClientCredentials],
            ..crate::helpers::ClientOptions::default()
        })
        .await;
    let http = reqwest::Client::new();
    let token_of = |client_id: String, secret: String| {
        let http = http.clone();
        let url = app.url("/token");
        async move {
            let body: Value = http
                .post(url)
                .basic_auth(client_id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["access_token"].as_str().unwrap().to_string()
        }
    };
    let others = token_of(
        service.client_id.clone(),
        service.client_secret.clone().unwrap(),
    )
    .await;
    let own = token_of(id.to_string(), secret.to_string()).await;
    let introspect = |token: String| {
        let http = http.clone();
        let url = app.url("/introspect");
        let (id, secret) = (id.to_string(), secret.to_string());
        async move {
            http.post(url)
                .basic_auth(id, Some(secret))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(introspect(others).await, json!({"active": false}));
    assert_eq!(introspect(own).await["active"], true);
}

#[tokio::test]
async fn an_initial_access_token_registers_one_client_unless_reusable() {
    let app = TestApp::spawn().await;
    let register = app.url("/register");
    let token = initial_access_token(&app);
    // Refused metadata does not spend it.
    let (status, _, _) = call(
        reqwest::Method::POST,
        &register,
        Some(&token),
        Some(
            json!({"client_name": "x".repeat(81), "redirect_uris": [crate::helpers::REDIRECT_URI]}),
        ),
    )
    .await;
    assert_eq!(status, 400, "a client_name of 81 characters");
    let (status, _, _) = call(
        reqwest::Method::POST,
        &register,
        Some(&token),
        Some(json!({"client_name": "Two\nlines", "redirect_uris": [crate::helpers::REDIRECT_URI]})),
    )
    .await;
    assert_eq!(status, 400, "a client_name of two lines");
    let (status, _, _) = call(
        reqwest::Method::POST,
        &register,
        Some(&token),
        Some(lms_metadata()),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, _) = call(
        reqwest::Method::POST,
        &register,
        Some(&token),
        Some(lms_metadata()),
    )
    .await;
    assert_eq!(status, 401, "the token was spent");
    assert_eq!(app.store.list_clients().await.unwrap().len(), 1);

    let output = etupass(&app, &["client", "token", "--reusable"], None);
    let reusable = String::from_utf8(output.stdout).unwrap().trim().to_string();
    for _ in 0..2 {
        let (status, _, _) = call(
            reqwest::Method::POST,
            &register,
            Some(&reusable),
            Some(lms_metadata()),
        )
        .await;
        assert_eq!(status, 201);
    }
}

#[tokio::test]
async fn the_consent_page_names_where_the_answer_goes() {
    let app = TestApp::spawn().await;
    app.add_identity("21900002").await;
    let token = initial_access_token(&app);
    let (_, registered, _) = call(
        reqwest::Method::POST,
        &app.url("/register"),
        Some(&token),
        Some(json!({
            "client_name": "Etupass — official university portal",
            "redirect_uris": ["http://127.0.0.1:9/callback"],
        })),
    )
    .await;
    let client = TestClient {
        client_id: registered["client_id"].as_str().unwrap().to_string(),
        client_secret: registered["client_secret"].as_str().map(str::to_string),
        redirect_uri: crate::helpers::REDIRECT_URI.to_string(),
        alg: etupass::domain::client::SigningAlg::RS256,
        auth_method: etupass::domain::client::AuthMethod::ClientSecretBasic,
    };
    let oidc = rp::oidc_client(&app, &client).await;
    let auth = rp::authorization(&oidc, &["profile"], true);
    let browser = Browser::new();
    let (_, sign_in) = browser.get(auth.url.as_str()).await.page();
    let (status, consent) = browser
        .sign_in(&app, &sign_in, "21900002", PASSWORD)
        .await
        .page();
    assert_eq!(status, 200);
    assert!(
        consent.contains("id=\"redirect-host\">127.0.0.1</strong>"),
        "{consent}"
    );
}
